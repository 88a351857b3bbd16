// A Host in memory, for the agent's phases in unit tests: devices per netns
// with their addresses, and a log of every change asked of it. Errors as the
// netlink host raises them (ENOENT no netns, ENODEV no device).
import { HostError, type Host, type HostLink } from '../../dataplane/host.js';

interface FakeLink extends HostLink {
  addresses: string[];
  disableIpv6: number;
  guarded: boolean;
}

export class FakeHost implements Host {
  readonly calls: string[] = [];
  private readonly netns = new Map<string, Map<string, FakeLink>>([['', new Map()]]);
  private nextIndex = 10;

  addNetns(ns: string): this {
    this.netns.set(ns, new Map());
    return this;
  }

  addLink(ns: string, name: string, o: Partial<FakeLink> = {}): this {
    this.ns(ns).set(name, {
      ifindex: this.nextIndex++,
      name,
      mtu: 1500,
      mac: '02:00:00:00:00:01',
      adminUp: false,
      alias: '',
      kind: 'tun',
      addrGenMode: 'eui64',
      addresses: [],
      disableIpv6: 0,
      guarded: false,
      ...o,
    });
    return this;
  }

  state(ns: string, name: string): FakeLink | undefined {
    return this.netns.get(ns)?.get(name);
  }

  private ns(ns: string): Map<string, FakeLink> {
    const m = this.netns.get(ns);
    if (!m) throw new HostError(`netns '${ns}' does not exist`, 'ENOENT');
    return m;
  }

  private dev(ns: string, name: string): FakeLink {
    const l = this.ns(ns).get(name);
    if (!l) throw new HostError(`link '${name}' in netns '${ns}': No such device`, 'ENODEV');
    return l;
  }

  private change(what: string, ns: string, name: string): FakeLink {
    const l = this.dev(ns, name);
    this.calls.push(`${what} ${ns}/${name}`);
    return l;
  }

  netnsExists(ns: string): boolean {
    return this.netns.has(ns);
  }
  links(ns: string): HostLink[] {
    return [...this.ns(ns).values()].map(({ addresses: _a, disableIpv6: _d, guarded: _g, ...l }) => l);
  }
  link(ns: string, name: string): HostLink | undefined {
    const l = this.ns(ns).get(name);
    if (!l) return undefined;
    const { addresses: _a, disableIpv6: _d, guarded: _g, ...link } = l;
    return link;
  }
  ipv6Disabled(ns: string, name: string): number {
    return this.netns.get(ns)?.get(name)?.disableIpv6 ?? -1;
  }
  addresses(ns: string, name: string): string[] {
    return [...this.dev(ns, name).addresses];
  }
  addAddress(ns: string, name: string, cidr: string): void {
    const l = this.change(`add ${cidr}`, ns, name);
    if (!l.addresses.includes(cidr)) l.addresses.push(cidr);
  }
  removeAddress(ns: string, name: string, cidr: string): void {
    const l = this.change(`remove ${cidr}`, ns, name);
    if (!l.addresses.includes(cidr)) throw new HostError(`delete address: Cannot assign requested address`, 'EIO', 'EADDRNOTAVAIL');
    l.addresses = l.addresses.filter((a) => a !== cidr);
  }
  setMtu(ns: string, name: string, mtu: number): void {
    this.change(`mtu ${mtu}`, ns, name).mtu = mtu;
  }
  setMac(ns: string, name: string, mac: string): void {
    this.change(`mac ${mac}`, ns, name).mac = mac;
  }
  setUp(ns: string, name: string): void {
    this.change('up', ns, name).adminUp = true;
  }
  deleteLink(ns: string, name: string): void {
    this.change('delete', ns, name);
    this.ns(ns).delete(name);
  }
  setAddrGenMode(ns: string, name: string, mode: string): void {
    this.change(`addrgenmode ${mode}`, ns, name).addrGenMode = mode;
  }
  setIpv6Disabled(ns: string, name: string, value: 0 | 1): void {
    this.change(`disable_ipv6 ${value}`, ns, name).disableIpv6 = value;
  }
  removeStaleGuard(ns: string, name: string): boolean {
    const l = this.dev(ns, name);
    if (!l.guarded) return false;
    this.calls.push(`unguard ${ns}/${name}`);
    l.guarded = false;
    return true;
  }
}
