// A pair's mirror takes the port's MAC and MTU unless the pair sets them;
// a MAC set on the mirror is the one peers reach the port by.
import { Dataplane } from '../../dataplane/dataplane.js';
import { Lab, describeRoot, nsTry, nsx, uniq } from '../helpers/lab.js';

describeRoot('pair settings', () => {
  const lab = new Lab();
  let dp: Dataplane | undefined;
  afterEach(async () => {
    dp?.close();
    dp = undefined;
    await lab.cleanup();
  });

  async function setup(mirror: { mac?: string; mtu?: number }) {
    const linux = await lab.netns('lx');
    const dut = await lab.netns('ld');
    const peer = await lab.netns('lp');
    const [dev, portDev] = await lab.veth(peer, dut, 'm');
    dp = Dataplane.open({ workers: 1, ownerTag: 'lab' });
    const port = dp.addPort({ name: portDev, netns: dut });
    const tap = uniq('tap');
    dp.createPair(port.index, { name: tap, netns: linux, ...mirror });
    dp.setPort(port.index, { up: true });
    return { linux, dut, peer, dev, port, tap };
  }

  it("gives the mirror the port's MAC and MTU by default", async () => {
    const { linux, port, tap } = await setup({});
    expect(await lab.mac(linux, tap)).toBe(port.mac);
    expect((await nsx(linux, 'cat', [`/sys/class/net/${tap}/mtu`])).trim()).toBe(String(port.mtu));
  });

  it('uses a MAC set on the pair for the mirror and the port alike, so peers reach Linux through it', async () => {
    const mac = '02:6c:63:70:00:01';
    const { linux, peer, dev, port, tap } = await setup({ mac, mtu: 1400 });
    expect(await lab.mac(linux, tap)).toBe(mac);
    expect((await nsx(linux, 'cat', [`/sys/class/net/${tap}/mtu`])).trim()).toBe('1400');
    expect(dp!.ports().find((p) => p.index === port.index)?.mac).toBe(mac);
    await nsx(linux, 'ip', ['addr', 'add', '10.7.0.1/24', 'dev', tap]);
    dp!.addAddress(port.index, '10.7.0.1/24');
    await nsx(peer, 'ip', ['addr', 'add', '10.7.0.2/24', 'dev', dev]);
    expect((await nsTry(peer, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.7.0.1'])).out).toContain('2 received');
    expect(await nsx(peer, 'ip', ['neigh', 'show', '10.7.0.1'])).toContain(mac);
  });
});
