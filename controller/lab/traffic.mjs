// Traffic endpoints for tests, run inside a netns with `ip netns exec NS node traffic.mjs ...`.
// Every payload is derived from its sequence number, so the receiver can tell
// that each datagram / byte stream arrived intact. Prints one JSON line.
import dgram from 'node:dgram';
import net from 'node:net';
import { createHash } from 'node:crypto';

const [mode, ...args] = process.argv.slice(2);

function payload(seq, size) {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (seq * 31 + i * 7) & 0xff;
  b.writeUInt32BE(seq, 0);
  return b;
}

function done(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
  process.exit(0);
}

if (mode === 'udp-sink') {
  // udp-sink <bindaddr> <port> <expected> <timeoutMs>
  const [addr, port, expected, timeoutMs] = args;
  // A large receive buffer (capped by net.core.rmem_max) so a sink that is
  // briefly descheduled on a busy machine does not drop what arrived intact.
  const sock = dgram.createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
  let received = 0, intact = 0;
  const sources = new Set();
  sock.on('message', (msg, rinfo) => {
    received++;
    sources.add(rinfo.port);
    if (msg.length >= 4 && payload(msg.readUInt32BE(0), msg.length).equals(msg)) intact++;
    if (received >= Number(expected)) done({ received, intact, flows: sources.size });
  });
  sock.bind(Number(port), addr, () => process.stdout.write('ready\n'));
  setTimeout(() => done({ received, intact, flows: sources.size }), Number(timeoutMs));
} else if (mode === 'udp-send') {
  // udp-send <dst> <port> <count> <size> <flows>: flows = distinct source ports
  const [dst, port, count, size, flows] = args;
  const socks = [];
  for (let f = 0; f < Number(flows); f++) socks.push(dgram.createSocket(dst.includes(':') ? 'udp6' : 'udp4'));
  let sent = 0;
  const sendNext = () => {
    if (sent >= Number(count)) {
      setTimeout(() => { socks.forEach((s) => s.close()); done({ sent }); }, 200);
      return;
    }
    const seq = sent++;
    // Paced (25 datagrams, then 2 ms) so a busy receiver's socket buffer
    // does not overflow: the test is about the dataplane, not the sink.
    const next = () => (seq % 25 === 24 ? setTimeout(sendNext, 2) : setImmediate(sendNext));
    socks[seq % socks.length].send(payload(seq, Number(size)), Number(port), dst, next);
  };
  sendNext();
} else if (mode === 'tcp-sink') {
  // tcp-sink <bindaddr> <port> <timeoutMs>: sha256 of everything received on one connection
  const [addr, port, timeoutMs] = args;
  const server = net.createServer((c) => {
    const h = createHash('sha256');
    let bytes = 0;
    c.on('data', (d) => { h.update(d); bytes += d.length; });
    c.on('end', () => done({ bytes, sha256: h.digest('hex') }));
  });
  server.listen(Number(port), addr, () => process.stdout.write('ready\n'));
  setTimeout(() => done({ bytes: 0, sha256: '', timeout: true }), Number(timeoutMs));
} else if (mode === 'tcp-send') {
  // tcp-send <dst> <port> <bytes>
  const [dst, port, total] = args;
  const h = createHash('sha256');
  const c = net.connect(Number(port), dst, () => {
    let left = Number(total), seq = 0;
    const write = () => {
      while (left > 0) {
        const chunk = payload(seq++, Math.min(left, 16384));
        left -= chunk.length;
        h.update(chunk);
        if (!c.write(chunk)) return c.once('drain', write);
      }
      c.end(() => done({ bytes: Number(total), sha256: h.digest('hex') }));
    };
    write();
  });
  c.on('error', (e) => { process.stderr.write(String(e) + '\n'); process.exit(1); });
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
