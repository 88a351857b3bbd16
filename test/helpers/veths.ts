// Many veth pairs at once, for tests and benchmarks that need tens to
// thousands of port netdevs: one `ip -batch` makes them all (a process per
// device would take seconds per hundred) and one more per netns sets them up.
import { spawn } from 'node:child_process';

export interface VethSpec {
  /** The end the dataplane takes over (in the port netns). */
  port: string;
  /** The other end (in the peer netns). */
  peer: string;
}

/** Runs `ip [-n netns] -batch -` with these lines on stdin; rejects with ip's stderr. */
export function ipBatch(netns: string | undefined, lines: readonly string[], timeoutMs = 300_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = [...(netns ? ['-n', netns] : []), '-batch', '-'];
    const child = spawn('ip', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`ip ${args.join(' ')} (${lines.length} lines) failed (exit ${code ?? 'signal'}): ${err.trim()}`));
    });
    child.stdin.on('error', () => undefined); // reported through 'close'
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}

/** Creates the veth pairs between two existing netns and sets both ends up. */
export async function addVeths(portNs: string, peerNs: string, specs: readonly VethSpec[]): Promise<void> {
  await ipBatch(undefined, specs.map((s) => `link add ${s.port} netns ${portNs} type veth peer name ${s.peer} netns ${peerNs}`));
  await ipBatch(portNs, specs.map((s) => `link set ${s.port} up`));
  await ipBatch(peerNs, specs.map((s) => `link set ${s.peer} up`));
}
