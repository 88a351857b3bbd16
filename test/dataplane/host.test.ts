// The agent's host changes go over netlink from the addon (no `ip`
// processes); what they read and write must be exactly what `ip` and sysctl
// show, in the named netns, with errno-based errors.
import { Dataplane } from '../../dataplane/dataplane.js';
import { HostError, netlinkHost as host } from '../../dataplane/host.js';
import { describeRoot, Lab, nsx } from '../helpers/lab.js';
import { ipBatch } from '../helpers/veths.js';

interface IpAddr {
  addr_info: { local: string; prefixlen: number; scope: string }[];
}

describeRoot('host changes over netlink', () => {
  let lab: Lab;
  beforeEach(() => {
    lab = new Lab();
  });
  afterEach(async () => {
    await lab.cleanup();
  });

  const ipAddresses = async (ns: string, dev: string): Promise<string[]> =>
    (JSON.parse(await nsx(ns, 'ip', ['-j', 'addr', 'show', 'dev', dev])) as IpAddr[])
      .flatMap((l) => l.addr_info)
      .filter((a) => a.scope !== 'link')
      .map((a) => `${a.local}/${a.prefixlen}`)
      .sort();

  it('reads a device as `ip -d link show` and sysctl do, in its netns', async () => {
    const ns = await lab.netns('lk');
    const [a, b] = await lab.veth(ns, ns, 'k');
    await nsx(ns, 'ip', ['link', 'set', a, 'mtu', '1400', 'alias', 'kube-lcp:test', 'addrgenmode', 'none']);
    await nsx(ns, 'ip', ['link', 'set', a, 'up']);
    await nsx(ns, 'sysctl', ['-q', '-w', `net/ipv6/conf/${a}/disable_ipv6=1`]);
    await nsx(ns, 'ip', ['tuntap', 'add', 'dev', 'ktun0', 'mode', 'tun']);
    const ip = JSON.parse(await nsx(ns, 'ip', ['-j', '-d', 'link', 'show', 'dev', a])) as { ifindex: number; address: string }[];

    expect(host.link(ns, a)).toEqual({
      ifindex: ip[0]!.ifindex,
      name: a,
      mtu: 1400,
      mac: ip[0]!.address,
      adminUp: true,
      alias: 'kube-lcp:test',
      kind: 'veth',
      addrGenMode: 'none',
    });
    expect(host.ipv6Disabled(ns, a)).toBe(1);
    await nsx(ns, 'sysctl', ['-q', '-w', `net/ipv6/conf/${a}/disable_ipv6=0`]);
    expect(host.ipv6Disabled(ns, a)).toBe(0);
    expect(host.link(ns, 'ktun0')).toMatchObject({ name: 'ktun0', mac: '', kind: 'tun', adminUp: false, addrGenMode: 'eui64' });
    expect(host.links(ns).map((l) => l.name).sort()).toEqual([a, b, 'ktun0', 'lo'].sort());
  });

  it('adds, replaces and removes addresses as `ip addr replace|del` would', async () => {
    const ns = await lab.netns('la');
    const [a] = await lab.veth(ns, ns, 'a');
    host.addAddress(ns, a, '192.0.2.1/24');
    host.addAddress(ns, a, '2001:db8::1/64');
    host.addAddress(ns, a, '2001:db8::1/64'); // again: no error, no second copy
    expect(host.addresses(ns, a).sort()).toEqual(await ipAddresses(ns, a));
    expect(host.addresses(ns, a).sort()).toEqual(['192.0.2.1/24', '2001:db8::1/64']);
    host.removeAddress(ns, a, '192.0.2.1/24');
    expect(await ipAddresses(ns, a)).toEqual(['2001:db8::1/64']);
    expect(() => host.removeAddress(ns, a, '192.0.2.1/24')).toThrow(HostError);
  });

  it('sets MTU, MAC and admin state, and deletes a device', async () => {
    const ns = await lab.netns('lm');
    const [a] = await lab.veth(ns, ns, 'm');
    await nsx(ns, 'ip', ['link', 'set', a, 'down']);
    host.setMtu(ns, a, 1280);
    host.setMac(ns, a, '02:00:5e:00:00:42');
    host.setUp(ns, a);
    host.setAddrGenMode(ns, a, 'random');
    host.setIpv6Disabled(ns, a, 1);
    const ip = JSON.parse(await nsx(ns, 'ip', ['-j', '-d', 'link', 'show', 'dev', a])) as { mtu: number; address: string; flags: string[]; inet6_addr_gen_mode: string }[];
    expect(ip[0]).toMatchObject({ mtu: 1280, address: '02:00:5e:00:00:42', inet6_addr_gen_mode: 'random' });
    expect(ip[0]!.flags).toContain('UP');
    expect((await nsx(ns, 'sysctl', ['-n', `net.ipv6.conf.${a}.disable_ipv6`])).trim()).toBe('1');
    host.deleteLink(ns, a);
    expect(host.link(ns, a)).toBeUndefined();
  });

  it('finds and removes the drop filters a dataplane put on a port', async () => {
    const ns = await lab.netns('lg');
    const [a] = await lab.veth(ns, ns, 'g');
    const dp = Dataplane.open({ workers: 1 });
    try {
      await dp.addPortAsync({ name: a, netns: ns, driver: 'af_packet' });
      expect(await nsx(ns, 'tc', ['filter', 'show', 'dev', a, 'ingress'])).toContain('lcp_port_drop');
      expect(host.removeStaleGuard(ns, a)).toBe(true);
      expect(await nsx(ns, 'tc', ['filter', 'show', 'dev', a, 'ingress'])).not.toContain('lcp_port_drop');
      expect(await nsx(ns, 'tc', ['filter', 'show', 'dev', a, 'egress'])).not.toContain('lcp_port_drop');
      expect(host.removeStaleGuard(ns, a)).toBe(false);
    } finally {
      dp.close();
    }
  });

  it('lists devices and addresses while the netns changes under the dump (interrupted dumps are asked again, then taken as `ip` does)', async () => {
    const ns = await lab.netns('lc');
    const [a] = await lab.veth(ns, ns, 'c');
    // 300 veth pairs made and deleted while we list: many dumps see NLM_F_DUMP_INTR.
    const lines = Array.from({ length: 300 }, (_, i) => `link add lcpc${i}a type veth peer name lcpc${i}b`);
    const churn = ipBatch(ns, [...lines, ...lines.map((_, i) => `link del lcpc${i}a`)]);
    let done = false;
    void churn.finally(() => (done = true));
    let lists = 0;
    while (!done) {
      expect(host.links(ns).some((l) => l.name === a)).toBe(true);
      host.addresses(ns, a);
      lists += 1;
      await new Promise((r) => setImmediate(r));
    }
    await churn;
    expect(lists).toBeGreaterThan(0);
  });

  it('says when there is no such device, no such netns, or a name that is no device name', async () => {
    const ns = await lab.netns('lk');
    expect(host.link(ns, 'nosuchdev0')).toBeUndefined();
    expect(host.ipv6Disabled(ns, 'nosuchdev0')).toBe(-1);
    expect(() => host.link('lcp-no-such-netns', 'lo')).toThrow(HostError);
    expect(() => host.link('lcp-no-such-netns', 'lo')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => host.setMtu(ns, 'nosuchdev0', 1500)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    expect(() => host.addAddress(ns, 'nosuchdev0', '192.0.2.1/24')).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    expect(() => host.setAddrGenMode(ns, 'lo', 'sometimes')).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(host.netnsExists(ns)).toBe(true);
    expect(host.netnsExists('lcp-no-such-netns')).toBe(false);
    expect(() => host.link(ns, '../../etc')).toThrow();
    expect(() => host.link('../x', 'lo')).toThrow();
  });
});
