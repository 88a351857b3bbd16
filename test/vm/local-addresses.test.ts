// Needs the full kernel (a dummy device): runs under `npm run test:vm`.
// Routers keep their router-id and anycast or loopback addresses on a dummy
// device as often as on lo; either way the dataplane must punt packets for
// them to Linux, which answers.
import { eventually, nsTry, nsx } from '../helpers/lab.js';
import { describeFullKernel } from '../helpers/kernel.js';
import { buildRouter, teardown, type Router } from '../helpers/router.js';

describeFullKernel(['dummy'], 'addresses on a dummy device in the mirrored netns', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('get receive entries, so Linux answers packets for them; deleting the address or the device removes them', async () => {
    r = await buildRouter(1);
    const [a] = r.peers;
    if (!a) throw new Error('no peer');
    await nsx(r.linux, 'ip', ['link', 'add', 'lcpd0', 'type', 'dummy']);
    await nsx(r.linux, 'ip', ['link', 'set', 'lcpd0', 'up']);
    await nsx(r.linux, 'ip', ['addr', 'add', '192.0.2.251/32', 'dev', 'lcpd0']);
    await nsx(r.linux, 'ip', ['addr', 'add', '2001:db8:251::1/128', 'dev', 'lcpd0']);
    const local = (family: 4 | 6, prefix: string) => r!.dp.fib(0, family).find((e) => e.prefix === prefix && e.kind === 'receive');
    expect(await eventually(() => local(4, '192.0.2.251/32') !== undefined && local(6, '2001:db8:251::1/128') !== undefined, 20_000)).toBe(true);
    expect((await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.5', '-W', '5', '192.0.2.251'])).out).toContain('2 received');
    expect((await nsTry(a.ns, 'ping', ['-6', '-c', '2', '-i', '0.5', '-W', '5', '2001:db8:251::1'])).out).toContain('2 received');
    await nsx(r.linux, 'ip', ['addr', 'del', '192.0.2.251/32', 'dev', 'lcpd0']);
    expect(await eventually(() => local(4, '192.0.2.251/32') === undefined, 20_000)).toBe(true);
    await nsx(r.linux, 'ip', ['link', 'del', 'lcpd0']);
    expect(await eventually(() => local(6, '2001:db8:251::1/128') === undefined, 20_000)).toBe(true);
    expect(r.dp.drift(r.linux).routes).toMatchObject({ missing: 0, extra: 0, different: 0 });
  });
});
