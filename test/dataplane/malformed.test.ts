// Malformed frames are counted by reason and dropped; the dataplane keeps
// forwarding afterwards.
import { describeRoot, nsTry, nsx } from '../helpers/lab.js';
import { buildRouter, learnNeighbors, teardown, type Router } from '../helpers/router.js';

// Sends raw frames from the peer's veth: each case is a hex string of an
// Ethernet frame whose destination is the port's MAC.
function sender(dev: string, frames: string[]): string {
  return [
    'import socket, binascii',
    's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
    `s.bind((${JSON.stringify(dev)}, 0))`,
    `for f in ${JSON.stringify(frames)}: s.send(binascii.unhexlify(f))`,
  ].join('\n');
}

function ip4Header(opts: { ihl?: number; total?: number; badSum?: boolean }): string {
  const ihl = opts.ihl ?? 5;
  const h = Buffer.alloc(20);
  h[0] = 0x40 | ihl;
  h.writeUInt16BE(opts.total ?? 28, 2);
  h[8] = 64;
  h[9] = 17;
  Buffer.from([10, 1, 0, 2]).copy(h, 12);
  Buffer.from([10, 2, 0, 2]).copy(h, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += h.readUInt16BE(i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  h.writeUInt16BE((~sum & 0xffff) ^ (opts.badSum ? 0x1111 : 0), 10);
  return h.toString('hex');
}

describeRoot('malformed frames', () => {
  let r: Router | undefined;
  afterEach(async () => {
    await teardown(r);
    r = undefined;
  });

  it('counts and drops truncated, bad-IHL, bad-checksum and bad-length packets, then keeps forwarding', async () => {
    r = await buildRouter(2);
    await learnNeighbors(r);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('no peers');
    const eth = (type: string) => a.port.mac.replace(/:/g, '') + a.mac.replace(/:/g, '') + type;
    const udp8 = '1f4013890008' + '0000';
    const frames = [
      eth('0800') + '4500001c',                                  // IPv4 header cut short
      eth('0800') + ip4Header({ ihl: 3 }) + udp8,                 // IHL below 5
      eth('0800') + ip4Header({ badSum: true }) + udp8,           // wrong header checksum
      eth('0800') + ip4Header({ total: 1400 }) + udp8,            // total length past the frame
      eth('0800') + ip4Header({ ihl: 15 }) + udp8,                // header longer than the packet
      eth('86dd') + '6000000005dc1140' + '00'.repeat(32),         // IPv6 payload length past the frame
      eth('86dd') + '600000',                                     // IPv6 header cut short
      eth('0800') + '55' + ip4Header({}).slice(2) + udp8,          // version 5 in an IPv4 frame
    ];
    const before = r.dp.counters().errors;
    await nsx(a.ns, 'python3', ['-c', sender(a.dev, frames)]);
    await new Promise((res) => setTimeout(res, 300));
    const after = r.dp.counters().errors;
    const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(delta('ip4_truncated')).toBe(2);
    expect(delta('ip4_bad_ihl')).toBe(1);
    expect(delta('ip4_bad_checksum')).toBe(1);
    expect(delta('ip4_bad_length')).toBe(1);
    expect(delta('ip6_bad_length')).toBe(1);
    expect(delta('ip6_truncated')).toBe(1);
    expect(delta('ip4_bad_version')).toBe(1);
    // Nothing malformed reached the peer or Linux, and forwarding goes on.
    const ping = await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', b.v4]);
    expect(ping.out).toContain('2 received');
  });
});
