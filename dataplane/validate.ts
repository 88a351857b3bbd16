// Input checks shared by the dataplane facade and the agent. The native side
// checks again (never trust), but here the messages name the field.
import { isIP } from 'node:net';

import { IFNAME_MAX, MTU, NETNS_NAME_MAX } from './limits.js';

export class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}

// Linux IFNAMSIZ is 16 including the NUL; no '/', ':' or whitespace.
const IFNAME = new RegExp(`^[A-Za-z0-9_.-]{1,${IFNAME_MAX}}$`);
// Netns names are file names under /run/netns: no separators, no '..'.
const NETNS = new RegExp(`^[A-Za-z0-9_.-]{1,${NETNS_NAME_MAX}}$`);
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function checkIfName(field: string, name: string): string {
  if (!IFNAME.test(name) || name === '.' || name === '..')
    throw new ValidationError(`${field}: '${name}' is not a valid interface name (1-${IFNAME_MAX} of A-Z a-z 0-9 _ . -)`);
  // The kernel's own names under net.ipv*.conf: it refuses them for a device (EINVAL).
  if (name === 'all' || name === 'default') throw new ValidationError(`${field}: '${name}' is reserved by the kernel (net.ipv4.conf.${name})`);
  return name;
}

export function checkNetns(field: string, name: string | undefined): string {
  if (name === undefined || name === '') return '';
  if (!NETNS.test(name) || name === '.' || name === '..')
    throw new ValidationError(`${field}: '${name}' is not a valid netns name (1-${NETNS_NAME_MAX} of A-Z a-z 0-9 _ . -)`);
  return name;
}

export function checkMac(field: string, mac: string): string {
  if (!MAC.test(mac)) throw new ValidationError(`${field}: '${mac}' is not a MAC address (xx:xx:xx:xx:xx:xx)`);
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) throw new ValidationError(`${field}: '${mac}' is a multicast MAC address`);
  if (/^(00:){5}00$/.test(mac)) throw new ValidationError(`${field}: '${mac}' is all zeros`);
  return mac.toLowerCase();
}

export function checkMtu(field: string, mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < MTU.min || mtu > MTU.max)
    throw new ValidationError(`${field}: MTU must be an integer in ${MTU.min}..${MTU.max}, got ${mtu}`);
  return mtu;
}

export function checkIp(field: string, ip: string): 4 | 6 {
  const v = isIP(ip);
  if (v === 0) throw new ValidationError(`${field}: '${ip}' is not an IP address`);
  return v as 4 | 6;
}

/** "a.b.c.d/len" or "x::y/len"; hostBits: whether bits past len may be set (interface addresses). */
export function checkCidr(field: string, cidr: string, hostBits: boolean): { family: 4 | 6; len: number } {
  const slash = cidr.indexOf('/');
  if (slash < 0) throw new ValidationError(`${field}: '${cidr}' needs a prefix length`);
  const family = checkIp(field, cidr.slice(0, slash));
  const lenText = cidr.slice(slash + 1);
  const len = Number(lenText);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || len > max)
    throw new ValidationError(`${field}: '${cidr}' prefix length must be 0..${max}`);
  if (!hostBits && !hostBitsClear(cidr.slice(0, slash), family, len))
    throw new ValidationError(`${field}: '${cidr}' has host bits set past /${len}`);
  return { family, len };
}

function hostBitsClear(addr: string, family: 4 | 6, len: number): boolean {
  const bytes = family === 4 ? addr.split('.').map(Number) : ip6Bytes(addr);
  for (let bit = len; bit < bytes.length * 8; bit++) {
    if (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

function ip6Bytes(addr: string): number[] {
  const [head = '', tail] = addr.split('::');
  const part = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let groups = part(head);
  let tailGroups = tail === undefined ? [] : part(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const fix = (gs: string[]): string[] =>
    gs.flatMap((g) => {
      if (!g.includes('.')) return [g];
      const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  groups = fix(groups);
  tailGroups = fix(tailGroups);
  const fill = tail === undefined ? [] : new Array<string>(8 - groups.length - tailGroups.length).fill('0');
  return [...groups, ...fill, ...tailGroups].flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}
