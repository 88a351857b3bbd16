// What the agent asks of Linux beside the dataplane: list and read devices
// (to find the mirrors it owns), set a mirror's MTU, MAC, admin state and
// addresses, delete a device, and give back a port whose agent died holding
// it. One interface, so the agent's phases can run against a fake in unit
// tests; the real one is netlink from the addon (native/src/lcp/host.cc),
// errno-based, no `ip` processes. Every name is validated before it reaches
// the kernel (validate.ts here, and again natively).
import { addon, type NativeLinkState } from './native.js';
import { checkCidr, checkIfName, checkMac, checkMtu, checkNetns } from './validate.js';

/** A device as the agent sees it (addrGenMode: "" or absent when not read). */
export type HostLink = Omit<NativeLinkState, 'disableIpv6' | 'addrGenMode'> & Partial<Pick<NativeLinkState, 'addrGenMode'>>;

export type HostErrorCode = 'ENOENT' | 'ENODEV' | 'EIO';

/** A failed host change or read: ENOENT no such netns, ENODEV no such device, EIO anything else. */
export class HostError extends Error {
  constructor(
    message: string,
    readonly code: HostErrorCode,
    /** The kernel's errno name (EBUSY, EPERM, ...), when it said one. */
    readonly errno?: string,
  ) {
    super(message);
    this.name = 'HostError';
  }
}

export interface Host {
  /** '' is the agent's own netns; others are files under /run/netns. */
  netnsExists(netns: string): boolean;
  links(netns: string): HostLink[];
  /** undefined when there is no device of that name. */
  link(netns: string, name: string): HostLink | undefined;
  /** disable_ipv6 of a device; -1 when it has no IPv6 or is gone. */
  ipv6Disabled(netns: string, name: string): number;
  /** Global-scope addresses as "addr/len" (link-local ones are the kernel's own). */
  addresses(netns: string, name: string): string[];
  /** Adds, or replaces the same address with another length (`ip addr replace`). */
  addAddress(netns: string, name: string, cidr: string): void;
  removeAddress(netns: string, name: string, cidr: string): void;
  setMtu(netns: string, name: string, mtu: number): void;
  setMac(netns: string, name: string, mac: string): void;
  setUp(netns: string, name: string): void;
  deleteLink(netns: string, name: string): void;
  /** eui64 | none | stable_secret | random: the guard sets none; a port given back gets its own again. */
  setAddrGenMode(netns: string, name: string, mode: string): void;
  setIpv6Disabled(netns: string, name: string, value: 0 | 1): void;
  /** Removes the dataplane's drop filters a dead agent left on a port; true if there were any. */
  removeStaleGuard(netns: string, name: string): boolean;
}

function failed(e: unknown, netns: string): HostError {
  const code = (e as { code?: string }).code;
  const message = e instanceof Error ? e.message : String(e);
  if (code === 'ENOENT') return new HostError(`netns '${netns}' does not exist`, 'ENOENT', code);
  if (code === 'ENODEV') return new HostError(message, 'ENODEV', code);
  return new HostError(message, 'EIO', code);
}

/** One addon call with the netns and names checked first and its error classified. */
function call<T>(netns: string, name: string | undefined, fn: (ns: string) => T): T {
  const ns = checkNetns('netns', netns);
  if (name !== undefined) checkIfName('name', name);
  try {
    return fn(ns);
  } catch (e) {
    throw failed(e, ns);
  }
}

const native = addon.host;

export const netlinkHost: Host = {
  netnsExists: (netns) => native.netnsExists(checkNetns('netns', netns)),
  links: (netns) => call(netns, undefined, (ns) => native.links(ns)),
  link(netns, name) {
    const s = call(netns, name, (ns) => native.link(ns, name));
    if (!s) return undefined;
    const { disableIpv6: _, ...link } = s;
    return link;
  },
  ipv6Disabled(netns, name) {
    try {
      return call(netns, name, (ns) => native.link(ns, name))?.disableIpv6 ?? -1;
    } catch {
      return -1;
    }
  },
  addresses: (netns, name) => call(netns, name, (ns) => native.addresses(ns, name)),
  addAddress: (netns, name, cidr) => call(netns, name, (ns) => (checkCidr('address', cidr, true), native.addAddress(ns, name, cidr))),
  removeAddress: (netns, name, cidr) => call(netns, name, (ns) => (checkCidr('address', cidr, true), native.deleteAddress(ns, name, cidr))),
  setMtu: (netns, name, mtu) => call(netns, name, (ns) => native.setMtu(ns, name, checkMtu('mtu', mtu))),
  setMac: (netns, name, mac) => call(netns, name, (ns) => native.setMac(ns, name, checkMac('mac', mac))),
  setUp: (netns, name) => call(netns, name, (ns) => native.setUp(ns, name)),
  deleteLink: (netns, name) => call(netns, name, (ns) => native.deleteLink(ns, name)),
  setAddrGenMode: (netns, name, mode) => call(netns, name, (ns) => native.setAddrGenMode(ns, name, mode)),
  setIpv6Disabled: (netns, name, value) => call(netns, name, (ns) => native.setIpv6Disabled(ns, name, value === 1)),
  removeStaleGuard: (netns, name) => call(netns, name, (ns) => native.removeStaleGuard(ns, name)),
};
