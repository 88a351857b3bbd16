// Needs the full kernel (802.1Q): runs under `npm run test:vm`.
// autoSubinterfaces, as lcpng's auto-subint: a VLAN device made on a mirror in
// Linux makes the port's sub-port for that tag and pairs the two, so tagged
// traffic reaches Linux on the VLAN device and Linux answers tagged through
// the port; deleting the device removes the sub-port.
import { eventually, nsTry, nsx } from '../helpers/lab.js';
import { describeFullKernel } from '../helpers/kernel.js';
import { buildRouter, teardown, type Router } from '../helpers/router.js';

describeFullKernel(['vlan'], 'auto sub-interfaces (a VLAN device on a mirror)', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  for (const [proto, tpid] of [['802.1Q', 'dot1q'], ['802.1ad', 'dot1ad']] as const) {
    it(`makes the ${proto} sub-port and its pairing from the Linux device, forwards tagged traffic to Linux and back, and removes it with the device`, async () => {
      r = await buildRouter(1);
      const [a] = r.peers;
      if (!a) throw new Error('no peer');
      r.dp.unwatchNetns(r.linux, { withdraw: false });
      r.dp.watchNetns(r.linux, { autoSubinterfaces: true });
      const vdev = `${a.tap}.100`;
      await nsx(r.linux, 'ip', ['link', 'add', 'link', a.tap, 'name', vdev, 'type', 'vlan', 'proto', proto, 'id', '100']);
      await nsx(r.linux, 'ip', ['addr', 'add', '10.100.0.1/24', 'dev', vdev]);
      await nsx(r.linux, 'ip', ['link', 'set', vdev, 'up']);
      // The peer's end, tagged the same way.
      const pdev = `${a.dev}.100`;
      await nsx(a.ns, 'ip', ['link', 'add', 'link', a.dev, 'name', pdev, 'type', 'vlan', 'proto', proto, 'id', '100']);
      await nsx(a.ns, 'ip', ['addr', 'add', '10.100.0.2/24', 'dev', pdev]);
      await nsx(a.ns, 'ip', ['link', 'set', pdev, 'up']);

      const sub = () => r!.dp.ports().find((p) => p.parent === a.port.index && p.vlan === 100);
      expect(await eventually(() => sub() !== undefined && r!.dp.pair(sub()!.index)?.mirrorName === vdev, 20_000)).toBe(true);
      expect(sub()).toMatchObject({ tpid });
      expect(r.dp.pair(sub()!.index)).toMatchObject({ mirrorName: vdev, mirrorKind: 'vlan' });
      // The VLAN device's address is the sub-port's: a receive entry, and Linux answers through it.
      expect(await eventually(() => r!.dp.fib(0, 4).some((e) => e.prefix === '10.100.0.1/32' && e.kind === 'receive'), 20_000)).toBe(true);
      expect((await nsTry(a.ns, 'ping', ['-c', '3', '-i', '0.5', '-W', '5', '10.100.0.1'])).out).toContain('3 received');

      await nsx(r.linux, 'ip', ['link', 'del', vdev]);
      expect(await eventually(() => sub() === undefined, 20_000)).toBe(true);
    });
  }
});
