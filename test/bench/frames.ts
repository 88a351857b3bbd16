// Test frames: Ethernet + IPv4/IPv6 + UDP, built once per case and handed to
// the generator as hex. Sizes are L2 frame lengths without the FCS (veth has
// none): 64 is the classic minimum; 1514 carries an MTU-sized (1500 B) IP
// packet, reported as "1500".
import type { Family } from '../../dataplane/types.js';

export interface FrameSpec {
  family: Family;
  /** Frame length in bytes, Ethernet header included, no FCS. */
  length: number;
  dstMac: string;
  srcMac: string;
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
}

const ETH = 14;
const IP4 = 20;
const IP6 = 40;
const UDP = 8;

export function minFrame(family: Family): number {
  return ETH + (family === 4 ? IP4 : IP6) + UDP;
}

function macBytes(mac: string): Buffer {
  const b = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
  if (b.length !== 6 || b.some((x) => Number.isNaN(x))) throw new Error(`bad MAC ${mac}`);
  return b;
}

function ip4Bytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 ${ip}`);
  return Buffer.from(parts);
}

/** Expands "2001:db8::1" to 16 bytes (no embedded IPv4 forms; we never use them). */
export function ip6Bytes(ip: string): Buffer {
  const [head = '', tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 ${ip}`);
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
  return b;
}

function sum16(b: Buffer, start: number, end: number, acc = 0): number {
  for (let i = start; i + 1 < end; i += 2) acc += b.readUInt16BE(i);
  if ((end - start) % 2) acc += (b[end - 1] ?? 0) << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

export function buildFrame(s: FrameSpec): Buffer {
  if (s.length < minFrame(s.family)) throw new Error(`frame ${s.length} B is below the ${minFrame(s.family)} B minimum for IPv${s.family}/UDP`);
  const f = Buffer.alloc(s.length);
  macBytes(s.dstMac).copy(f, 0);
  macBytes(s.srcMac).copy(f, 6);
  f.writeUInt16BE(s.family === 4 ? 0x0800 : 0x86dd, 12);
  const l3 = ETH;
  const l4 = ETH + (s.family === 4 ? IP4 : IP6);
  const udpLen = s.length - l4;
  let pseudo: number;
  if (s.family === 4) {
    f[l3] = 0x45;
    f.writeUInt16BE(s.length - ETH, l3 + 2);
    f[l3 + 8] = 64; // TTL
    f[l3 + 9] = 17; // UDP
    ip4Bytes(s.src).copy(f, l3 + 12);
    ip4Bytes(s.dst).copy(f, l3 + 16);
    f.writeUInt16BE(0xffff - fold(sum16(f, l3, l3 + IP4)), l3 + 10);
    pseudo = sum16(f, l3 + 12, l3 + 20) + 17 + udpLen;
  } else {
    f.writeUInt32BE(0x60000000, l3);
    f.writeUInt16BE(udpLen, l3 + 4);
    f[l3 + 6] = 17;
    f[l3 + 7] = 64; // hop limit
    ip6Bytes(s.src).copy(f, l3 + 8);
    ip6Bytes(s.dst).copy(f, l3 + 24);
    pseudo = sum16(f, l3 + 8, l3 + 40) + 17 + udpLen;
  }
  f.writeUInt16BE(s.srcPort ?? 1024, l4);
  f.writeUInt16BE(s.dstPort ?? 9, l4 + 2); // discard
  f.writeUInt16BE(udpLen, l4 + 4);
  for (let i = l4 + UDP; i < s.length; i++) f[i] = i & 0xff;
  // A valid UDP checksum, so a DUT that checks it has no excuse to drop.
  const c = 0xffff - fold(sum16(f, l4, s.length, pseudo));
  f.writeUInt16BE(c === 0 ? 0xffff : c, l4 + 6);
  return f;
}
