// Synthetic full tables for the "1M routes" cases: deterministic (same
// prefixes every run), with a prefix-length mix shaped like the Internet
// table (IPv4 mostly /24, IPv6 mostly /48) so an LPM sees realistic depth,
// and never covering the bench's own subnets or the traffic's destination.
import type { Family } from '../../dataplane/types.js';

/** xorshift32: fast and reproducible; quality is irrelevant here. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function pick(r: number, table: readonly (readonly [number, number])[]): number {
  let acc = 0;
  const u = (r % 1000) / 1000;
  for (const [len, share] of table) {
    acc += share;
    if (u < acc) return len;
  }
  return table[table.length - 1]?.[0] ?? 24;
}

const V4_LENGTHS = [[24, 0.6], [23, 0.1], [22, 0.12], [21, 0.05], [20, 0.05], [19, 0.03], [18, 0.02], [17, 0.015], [16, 0.015]] as const;
const V6_LENGTHS = [[48, 0.7], [44, 0.07], [40, 0.06], [36, 0.04], [32, 0.13]] as const;

/** IPv4 prefixes, excluding 0/8, 10/8 (bench subnets), 127/8, 198.18/15 (traffic), 224/3. */
export function ip4Prefixes(n: number, seed = 0x1234567): string[] {
  const next = rng(seed);
  const seen = new Set<number>();
  const out: string[] = [];
  while (out.length < n) {
    const len = pick(next(), V4_LENGTHS);
    const addr = (next() & (0xffffffff << (32 - len))) >>> 0;
    const a = addr >>> 24;
    const b = (addr >>> 16) & 0xff;
    if (a === 0 || a === 10 || a === 127 || a >= 224 || (a === 198 && (b & 0xfe) === 18)) continue;
    const key = addr * 64 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(`${a}.${b}.${(addr >>> 8) & 0xff}.${addr & 0xff}/${len}`);
  }
  return out;
}

/** IPv6 prefixes in 2000::/3 of length <= 48, excluding 2001:db8::/32 (traffic + bench). */
export function ip6Prefixes(n: number, seed = 0x7654321): string[] {
  const next = rng(seed);
  const seen = new Set<string>();
  const out: string[] = [];
  while (out.length < n) {
    const len = pick(next(), V6_LENGTHS);
    const hi = ((next() & 0x1fffffff) | 0x20000000) >>> 0; // first 32 bits, inside 2000::/3
    const g3 = len > 32 ? (next() & 0xffff & (0xffff << (48 - len))) : 0;
    const g1 = hi >>> 16;
    const g2 = hi & 0xffff;
    if (g1 === 0x2001 && g2 === 0x0db8) continue;
    const p = `${g1.toString(16)}:${g2.toString(16)}:${g3.toString(16)}::/${len}`;
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
  }
  return out;
}

export function prefixes(family: Family, n: number): string[] {
  return family === 4 ? ip4Prefixes(n) : ip6Prefixes(n);
}
