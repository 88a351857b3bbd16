// Interface addresses compared the way the kernel prints them: "2001:db8:0::1/64"
// in a spec and "2001:db8::1/64" from `ip` are the same address.
import { isIP } from 'node:net';

export function canonicalCidr(cidr: string): string {
  const slash = cidr.indexOf('/');
  const addr = slash < 0 ? cidr : cidr.slice(0, slash);
  const len = slash < 0 ? '' : cidr.slice(slash);
  if (isIP(addr) !== 6) return `${addr}${len}`;
  // The WHATWG URL parser prints IPv6 hosts in RFC 5952 form, as iproute2 does.
  return `${new URL(`http://[${addr}]/`).hostname.slice(1, -1)}${len}`;
}
