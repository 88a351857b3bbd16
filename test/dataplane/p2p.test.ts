// An L3 netdev (no Ethernet header) is a point-to-point port and gets a TUN
// mirror: punt and cross-connect carry bare IP packets.
import { spawn } from 'node:child_process';

import { Dataplane } from '../../dataplane/dataplane.js';
import { Lab, describeRoot, nsx, uniq } from '../helpers/lab.js';

// The "wire" side of the L3 port: a TUN device held by this script in the
// dut netns. It writes an ICMP echo request to 10.9.0.1 into the port and
// waits for the echo reply that Linux, on the mirror, sends back out.
const wire = `
import fcntl, json, os, select, struct, subprocess, sys, time
name = sys.argv[1]
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', name.encode(), 0x0001 | 0x1000))  # TUNSETIFF, IFF_TUN|IFF_NO_PI
subprocess.run(['ip', 'link', 'set', name, 'up'], check=True)
print('ready', flush=True)
sys.stdin.readline()
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
icmp = struct.pack('!BBHHH', 8, 0, 0, 0x1234, 1) + b'kube-lcp p2p'
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0, bytes([10, 9, 0, 2]), bytes([10, 9, 0, 1]))
hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
os.write(fd, hdr + icmp)
deadline = time.time() + 5
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], deadline - time.time())
    if not r: break
    pkt = os.read(fd, 4096)
    if pkt[0] >> 4 == 4 and pkt[9] == 1 and pkt[20] == 0 and pkt[12:16] == bytes([10, 9, 0, 1]):
        print(json.dumps({'reply': True, 'payload': pkt[28:].decode(errors='replace')}), flush=True)
        sys.exit(0)
print(json.dumps({'reply': False}), flush=True)
`;

describeRoot('point-to-point ports', () => {
  const lab = new Lab();
  let dp: Dataplane | undefined;
  afterEach(async () => {
    dp?.close();
    dp = undefined;
    await lab.cleanup();
  });

  it('pairs an L3 netdev with a TUN mirror and carries bare IP both ways', async () => {
    const linux = await lab.netns('lx');
    const dut = await lab.netns('ld');
    const l3 = uniq('l3p');
    const child = spawn('ip', ['netns', 'exec', dut, 'python3', '-c', wire, l3], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const ready = new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    }));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    try {
      await ready;
      dp = Dataplane.open({ workers: 1, ownerTag: 'lab' });
      const port = dp.addPort({ name: l3, netns: dut });
      expect(port.pointToPoint).toBe(true);
      const tun = uniq('tun');
      const pair = dp.createPair(port.index, { name: tun, netns: linux });
      expect(pair.mirrorKind).toBe('tun');
      expect(() => dp!.createPair(port.index, { name: uniq('tap'), netns: linux, kind: 'tap' })).toThrow();
      dp.setPort(port.index, { up: true });
      await nsx(linux, 'ip', ['addr', 'add', '10.9.0.1/24', 'dev', tun]);
      await nsx(linux, 'ip', ['link', 'set', tun, 'up']);
      dp.addAddress(port.index, '10.9.0.1/24');
      child.stdin.write('go\n');
      await exited;
      const result = JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}') as { reply?: boolean; payload?: string };
      expect({ result, err }).toMatchObject({ result: { reply: true, payload: 'kube-lcp p2p' } });
      const c = dp.counters().ports[0];
      expect(c).toMatchObject({ rxPackets: 1, punts: 1 });
      expect(c?.injects).toBeGreaterThanOrEqual(1);
    } finally {
      child.kill();
    }
  });
});
