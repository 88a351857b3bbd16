// What the agent reads of a netdev for every pair (its link, IPv6 address
// generation mode, disable_ipv6) comes from the addon in one netlink request
// and a procfs read, not from an `ip` process each; it must say exactly what
// `ip` and sysctl say.
import { getLink, ipv6Disabled, KernelError } from '../../controller/agent/kernel.js';
import { describeRoot, Lab, nsx } from '../helpers/lab.js';

describeRoot('kernel reads of the agent', () => {
  let lab: Lab;
  beforeEach(() => {
    lab = new Lab();
  });
  afterEach(async () => {
    await lab.cleanup();
  });

  it('reads a device as `ip -d link show` and sysctl do, in its netns', async () => {
    const ns = await lab.netns('lk');
    const [a] = await lab.veth(ns, ns, 'k');
    await nsx(ns, 'ip', ['link', 'set', a, 'mtu', '1400', 'alias', 'kube-lcp:test', 'addrgenmode', 'none']);
    await nsx(ns, 'ip', ['link', 'set', a, 'up']);
    await nsx(ns, 'sysctl', ['-q', '-w', `net/ipv6/conf/${a}/disable_ipv6=1`]);
    await nsx(ns, 'ip', ['tuntap', 'add', 'dev', 'ktun0', 'mode', 'tun']);
    const ip = JSON.parse(await nsx(ns, 'ip', ['-j', '-d', 'link', 'show', 'dev', a])) as { ifindex: number; address: string }[];

    expect(await getLink(ns, a)).toEqual({
      ifindex: ip[0]!.ifindex,
      name: a,
      mtu: 1400,
      mac: ip[0]!.address,
      adminUp: true,
      alias: 'kube-lcp:test',
      kind: 'veth',
      addrGenMode: 'none',
    });
    expect(await ipv6Disabled(ns, a)).toBe(1);
    await nsx(ns, 'sysctl', ['-q', '-w', `net/ipv6/conf/${a}/disable_ipv6=0`]);
    expect(await ipv6Disabled(ns, a)).toBe(0);
    expect(await getLink(ns, 'ktun0')).toMatchObject({ name: 'ktun0', mac: '', kind: 'tun', adminUp: false, addrGenMode: 'eui64' });
  });

  it('says when there is no such device, no such netns, or a name that is no device name', async () => {
    const ns = await lab.netns('lk');
    expect(await getLink(ns, 'nosuchdev0')).toBeUndefined();
    expect(await ipv6Disabled(ns, 'nosuchdev0')).toBe(-1);
    await expect(getLink('lcp-no-such-netns', 'lo')).rejects.toThrow(KernelError);
    await expect(getLink('lcp-no-such-netns', 'lo')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(getLink(ns, '../../etc')).rejects.toThrow();
    await expect(getLink('../x', 'lo')).rejects.toThrow();
  });
});
