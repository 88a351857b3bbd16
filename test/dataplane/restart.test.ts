// A restarted dataplane re-adopts its mirrors: the TAP persists with the
// addresses and routes Linux has on it, and forwarding resumes.
import { Dataplane } from '../../dataplane/dataplane.js';
import { describeRoot, eventually, nsTry, nsx, sh } from '../helpers/lab.js';
import { buildRouter, teardown, waitForMirror, type Router } from '../helpers/router.js';

describeRoot('restart', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('re-adopts mirrors after a restart, with Linux addresses on them intact', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    await nsx(r.linux, 'ip', ['route', 'add', '203.0.113.0/24', 'via', p.v4]);
    expect((await nsTry(p.ns, 'ping', ['-c', '1', '-W', '2', p.gw4])).out).toContain('1 received');
    r.dp.close(); // the agent goes away; the TAP must not
    expect(await nsx(r.linux, 'ip', ['-o', 'addr', 'show', 'dev', p.tap])).toContain(`${p.gw4}/24`);

    r.dp = Dataplane.open({ workers: 1, ownerTag: 'lab' });
    const port = r.dp.addPort({ name: p.port.name, netns: r.dut });
    const pair = r.dp.createPair(port.index, { name: p.tap, netns: r.linux });
    expect(pair.adopted).toBe(true);
    r.dp.setPort(port.index, { up: true });
    // The mirror resyncs from Linux: the address and the route come back by themselves.
    r.dp.watchNetns(r.linux);
    await waitForMirror(r.dp, r.linux, [`${p.gw4}/32`]);
    expect(await eventually(() => r!.dp.fib(0, 4).some((e) => e.prefix === '203.0.113.0/24' && e.source === 'route'))).toBe(true);
    const addrs = await nsx(r.linux, 'ip', ['-o', 'addr', 'show', 'dev', p.tap]);
    expect(addrs).toContain(`${p.gw4}/24`);
    expect(await nsx(r.linux, 'ip', ['route', 'show', '203.0.113.0/24'])).toContain(p.v4);
    expect((await nsTry(p.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', p.gw4])).out).toContain('2 received');
  });

  it('refuses a mirror name taken by a device it does not own, and leaves that device alone', async () => {
    r = await buildRouter(1);
    const [p] = r.peers;
    if (!p) throw new Error('no peer');
    await sh('ip', ['-n', r.linux, 'link', 'add', 'foreign0', 'type', 'veth', 'peer', 'name', 'foreign1']);
    await sh('ip', ['-n', r.linux, 'addr', 'add', '192.0.2.9/32', 'dev', 'foreign0']);
    r.dp.removePair(p.port.index, { deleteMirror: true });
    expect(() => r!.dp.createPair(p.port.index, { name: 'foreign0', netns: r!.linux })).toThrow(/foreign0.*(taken|not own)/);
    expect(await nsx(r.linux, 'ip', ['-o', 'addr', 'show', 'dev', 'foreign0'])).toContain('192.0.2.9/32');
  });
});
