// Needs the full kernel (VRF): runs under `npm run test:vm`.
// A mirror enslaved to a Linux VRF puts its port in the VRF's table, with its
// addresses; the VRF's routes are mirrored into that table, so the same
// prefix forwards one way for ports in main and another for ports in the VRF.
import { eventually, nsx } from '../helpers/lab.js';
import { describeFullKernel } from '../helpers/kernel.js';
import { buildRouter, teardown, udp, type Router } from '../helpers/router.js';

describeFullKernel(['vrf'], 'Linux VRFs on the mirrors', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('moves an enslaved mirror\'s port to the VRF table and forwards the same prefix by table', async () => {
    r = await buildRouter(4);
    const [a, b, c, d] = r.peers;
    if (!a || !b || !c || !d) throw new Error('no peers');
    const ip = (args: string[]) => nsx(r!.linux, 'ip', args);
    await ip(['link', 'add', 'blue', 'type', 'vrf', 'table', '10']);
    await ip(['link', 'set', 'blue', 'up']);
    for (const p of [b, d]) await ip(['link', 'set', p.tap, 'master', 'blue']);
    const port = (i: number) => r!.dp.ports().find((x) => x.index === i);
    expect(await eventually(() => port(b.port.index)?.table === 10 && port(d.port.index)?.table === 10, 20_000)).toBe(true);
    expect(port(a.port.index)?.table).toBe(0);
    // The enslaved mirrors' addresses went with them: receive entries in table 10, none left in 0.
    const receive = (table: number, addr: string) => r!.dp.fib(table, 4).some((e) => e.prefix === `${addr}/32` && e.kind === 'receive');
    expect(await eventually(() => receive(10, b.gw4) && !receive(0, b.gw4), 20_000)).toBe(true);

    // One prefix, two answers: main sends it to a, the VRF to b.
    for (const p of [a, b]) await nsx(p.ns, 'ip', ['addr', 'add', '198.51.100.1/32', 'dev', 'lo']);
    await ip(['route', 'add', '198.51.100.0/24', 'via', a.v4]);
    await ip(['route', 'add', '198.51.100.0/24', 'via', b.v4, 'vrf', 'blue']);
    const route = (table: number) => r!.dp.fib(table, 4).find((e) => e.prefix === '198.51.100.0/24' && e.source === 'route');
    expect(await eventually(() => route(0) !== undefined && route(10) !== undefined, 20_000)).toBe(true);
    expect(route(0)?.paths).toEqual([{ port: a.port.index, via: a.v4, weight: 1 }]);
    expect(route(10)?.paths).toEqual([{ port: b.port.index, via: b.v4, weight: 1 }]);
    // The first packets glean (Linux resolves the gateway in the VRF), the rest are forwarded.
    expect((await udp(c.ns, a.ns, '198.51.100.1', 50, 8000)).received).toBeGreaterThanOrEqual(45);
    expect((await udp(d.ns, b.ns, '198.51.100.1', 50, 8000)).received).toBeGreaterThanOrEqual(45);

    // Released from the VRF, the port is back in main.
    await ip(['link', 'set', d.tap, 'nomaster']);
    expect(await eventually(() => port(d.port.index)?.table === 0, 20_000)).toBe(true);
  });
});
