// What the agent asks of Linux directly, beside the dataplane: list devices
// (to find the mirrors it owns), read a mirror's MTU/MAC/state, set them, and
// apply the host config of a pair (addresses). Always `ip` through execFile
// with a fixed argv; every name that reaches an argv was validated first
// (dataplane/validate.ts), so a spec can neither name a file nor reach a shell.
import { existsSync } from 'node:fs';

import { addon, type NativeLinkState } from '../../dataplane/native.js';
import { checkCidr, checkIfName, checkMac, checkMtu, checkNetns } from '../../dataplane/validate.js';
// Not execFile from here: a fork of an agent with many ports costs up to seconds (spawner.ts).
import { runCommand } from './spawner.js';

/** The ifalias that marks a device as created by the agent with this owner tag. */
export const ownerMark = (tag: string): string => `kube-lcp:${tag}`;

/** A device as the agent sees it: the addon's link state without disable_ipv6 (addrGenMode: "" or absent when not read). */
export type KernelLink = Omit<NativeLinkState, 'disableIpv6' | 'addrGenMode'> & Partial<Pick<NativeLinkState, 'addrGenMode'>>;

export class KernelError extends Error {
  constructor(
    message: string,
    readonly code: 'ENOENT' | 'ENODEV' | 'EIO',
  ) {
    super(message);
    this.name = 'KernelError';
  }
}

interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address?: string;
  flags?: string[];
  ifalias?: string;
  linkinfo?: { info_kind?: string };
  inet6_addr_gen_mode?: string;
}

interface IpAddr {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** Netns names are files under /run/netns ('' = the agent's own netns). */
export function netnsExists(netns: string): boolean {
  return checkNetns('netns', netns) === '' || existsSync(`/run/netns/${netns}`);
}

async function ip(netns: string, args: string[]): Promise<string> {
  const ns = checkNetns('netns', netns);
  const argv = ns ? ['-n', ns, ...args] : args;
  try {
    return await runCommand('ip', argv, { timeoutMs: 10_000, maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const text = (err.stderr || err.message).trim();
    if (/Cannot open network namespace/.test(text)) throw new KernelError(`netns '${ns}' does not exist`, 'ENOENT');
    if (/does not exist|Cannot find device/.test(text)) throw new KernelError(text, 'ENODEV');
    throw new KernelError(`ip ${argv.join(' ')}: ${text}`, 'EIO');
  }
}

function toLink(l: IpLink): KernelLink {
  return {
    ifindex: l.ifindex,
    name: l.ifname,
    mtu: l.mtu,
    mac: (l.address ?? '').toLowerCase(),
    adminUp: (l.flags ?? []).includes('UP'),
    alias: l.ifalias ?? '',
    kind: l.linkinfo?.info_kind ?? '',
    addrGenMode: l.inet6_addr_gen_mode ?? '',
  };
}

export async function listLinks(netns: string): Promise<KernelLink[]> {
  return (JSON.parse((await ip(netns, ['-j', '-d', 'link', 'show'])) || '[]') as IpLink[]).map(toLink);
}

/** Devices in netns carrying our mark: the only ones the agent may delete or change. */
export async function ownedLinks(netns: string, tag: string): Promise<KernelLink[]> {
  return (await listLinks(netns)).filter((l) => l.alias === ownerMark(tag));
}

/**
 * One device read in its netns by the addon (a netlink request and a procfs
 * read on this thread): called for every pair, where an `ip` process each
 * cost milliseconds. undefined when there is no device of that name.
 */
function linkState(netns: string, name: string): NativeLinkState | undefined {
  checkIfName('name', name);
  const ns = checkNetns('netns', netns);
  try {
    return addon.linkState(ns, name);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new KernelError(`netns '${ns}' does not exist`, 'ENOENT');
    throw new KernelError(`read link ${name} in ${ns ? `netns '${ns}'` : 'the host netns'}: ${(e as Error).message}`, 'EIO');
  }
}

/** The device, or undefined when there is none of that name. */
export async function getLink(netns: string, name: string): Promise<KernelLink | undefined> {
  const s = linkState(netns, name);
  if (!s) return undefined;
  const { disableIpv6: _, ...link } = s; // the addon's MAC is lower-case already
  return link;
}

/** Global-scope addresses of a device, as "addr/len". Link-local ones are the kernel's own. */
export async function addresses(netns: string, name: string): Promise<string[]> {
  checkIfName('name', name);
  const out = JSON.parse((await ip(netns, ['-j', 'addr', 'show', 'dev', name])) || '[]') as IpAddr[];
  return out.flatMap((l) => (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`));
}

export async function addAddress(netns: string, name: string, cidr: string): Promise<void> {
  checkIfName('name', name);
  checkCidr('address', cidr, true);
  await ip(netns, ['addr', 'replace', cidr, 'dev', name]);
}

export async function removeAddress(netns: string, name: string, cidr: string): Promise<void> {
  checkIfName('name', name);
  checkCidr('address', cidr, true);
  await ip(netns, ['addr', 'del', cidr, 'dev', name]);
}

export async function setMtu(netns: string, name: string, mtu: number): Promise<void> {
  checkIfName('name', name);
  await ip(netns, ['link', 'set', 'dev', name, 'mtu', String(checkMtu('mtu', mtu))]);
}

export async function setMac(netns: string, name: string, mac: string): Promise<void> {
  checkIfName('name', name);
  await ip(netns, ['link', 'set', 'dev', name, 'address', checkMac('mac', mac)]);
}

export async function setUp(netns: string, name: string): Promise<void> {
  checkIfName('name', name);
  await ip(netns, ['link', 'set', 'dev', name, 'up']);
}

/**
 * Deletes a device only if it still carries our mark (checked right before,
 * so a device someone renamed into the slot is left alone).
 */
export async function deleteOwnedLink(netns: string, name: string, tag: string): Promise<boolean> {
  const link = await getLink(netns, name);
  if (!link || link.alias !== ownerMark(tag)) return false;
  await ip(netns, ['link', 'del', 'dev', name]);
  return true;
}

// A port's guard, as the dataplane sets it (native/src/io/kernel_guard.cc):
// IPv6 off, and a tc ingress filter with this handle and priority running the
// program of this name. The dataplane undoes it when it gives a port back; an
// agent that died could not, so these let the next one do it.
const GUARD = { handle: '0x1c9', pref: '201', prog: 'lcp_port_drop' };

const inNetns = (netns: string, cmd: string, args: string[]): Promise<string> => {
  const ns = checkNetns('netns', netns);
  return runCommand(ns ? 'ip' : cmd, ns ? ['netns', 'exec', ns, cmd, ...args] : args, { timeoutMs: 10_000 });
};

/** disable_ipv6 of a netdev (slash form: names may hold dots); -1 when it has no IPv6 or is gone. */
export async function ipv6Disabled(netns: string, name: string): Promise<number> {
  try {
    return linkState(netns, name)?.disableIpv6 ?? -1;
  } catch {
    return -1;
  }
}

export async function setIpv6Disabled(netns: string, name: string, value: 0 | 1): Promise<void> {
  checkIfName('name', name);
  await inNetns(netns, 'sysctl', ['-q', '-w', `net/ipv6/conf/${name}/disable_ipv6=${value}`]);
}

/** Removes the dataplane's ingress and egress drop filters from a netdev, where they are (ours: handle, priority and program name). */
export async function removeGuardFilter(netns: string, name: string): Promise<boolean> {
  checkIfName('name', name);
  const ns = checkNetns('netns', netns);
  const tc = (args: string[]): Promise<string> => runCommand('tc', [...(ns ? ['-n', ns] : []), ...args], { timeoutMs: 10_000 });
  let removed = false;
  for (const dir of ['ingress', 'egress']) {
    const shown = await tc(['filter', 'show', 'dev', name, dir]).catch(() => '');
    if (!shown.includes(`handle ${GUARD.handle} ${GUARD.prog}`)) continue;
    await tc(['filter', 'del', 'dev', name, dir, 'pref', GUARD.pref, 'handle', GUARD.handle, 'bpf']);
    removed = true;
  }
  return removed;
}

/** Sets a netdev's IPv6 address generation mode (the guard sets "none"; a port given back gets its own again). */
export async function setAddrGenMode(netns: string, name: string, mode: string): Promise<void> {
  checkIfName('name', name);
  if (!/^(eui64|none|stable_secret|random)$/.test(mode)) throw new KernelError(`addrgenmode '${mode}' unknown`, 'EIO');
  await ip(netns, ['link', 'set', 'dev', name, 'addrgenmode', mode]);
}
