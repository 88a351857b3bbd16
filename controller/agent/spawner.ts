// Short commands (`ip`) run through one long-lived helper process instead of
// a fork of the agent each. Why: every dataplane port maps a 4 MiB AF_PACKET
// ring, and such mappings (VM_MIXEDMAP) have their page tables copied on each
// fork(). Measured on the 2-vCPU VM: one exec of `true` took 3.5 ms with no
// ports, 29 ms with 100 and 150 ms with 200, and reconciling 200 pairs took
// 146 s (test/bench/pairs.ts). The helper is a small Node process, so its
// forks stay cheap however many ports the agent has. It takes argv arrays
// (execFile, never a shell), one JSON line per request, and exits when the
// agent does (its stdin closes). If it dies it is started again on the next
// call; what was in flight fails like a failed command.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';

// CommonJS on purpose: `node -e` runs it as a script whatever package.json says.
const HELPER = `
const { execFile } = require('node:child_process');
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const r = JSON.parse(line);
  execFile(r.cmd, r.args, { timeout: r.timeoutMs, maxBuffer: r.maxBuffer }, (err, stdout, stderr) => {
    process.stdout.write(JSON.stringify({ id: r.id, failed: !!err, stdout, stderr, message: err ? err.message : '' }) + '\\n');
  });
});
rl.on('close', () => process.exit(0));
`;

export interface SpawnOptions {
  timeoutMs?: number;
  maxBuffer?: number;
}

/** A failed command: `stderr` as execFile's error has it. */
export class CommandFailed extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'CommandFailed';
  }
}

interface Reply {
  id: number;
  failed: boolean;
  stdout: string;
  stderr: string;
  message: string;
}

type Pending = { resolve: (stdout: string) => void; reject: (e: Error) => void };

class Spawner {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;

  run(cmd: string, args: readonly string[], o: SpawnOptions = {}): Promise<string> {
    const child = this.child ?? this.start();
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.keepAlive(true);
      child.stdin?.write(`${JSON.stringify({ id, cmd, args, timeoutMs: o.timeoutMs ?? 10_000, maxBuffer: o.maxBuffer ?? 64 << 20 })}\n`);
    });
  }

  private start(): ChildProcess {
    const child = spawn(process.execPath, ['-e', HELPER], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = child;
    child.stdin?.on('error', () => undefined); // reported through 'exit'
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as Reply;
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      this.keepAlive(this.pending.size > 0);
      if (r.failed) p.reject(new CommandFailed(r.message, r.stderr));
      else p.resolve(r.stdout);
    });
    const gone = (why: string): void => {
      if (this.child !== child) return;
      this.child = undefined;
      for (const p of this.pending.values()) p.reject(new CommandFailed(`command helper ${why}`, ''));
      this.pending.clear();
    };
    child.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
    child.on('error', (e) => gone(`failed: ${e.message}`));
    this.keepAlive(false);
    return child;
  }

  /** The helper keeps the agent's event loop alive only while a command is in flight. */
  private keepAlive(on: boolean): void {
    const c = this.child;
    if (!c) return;
    // A child's pipes are net.Sockets (typed as plain streams).
    for (const s of [c.stdin, c.stdout] as (Socket | null)[]) {
      if (on) s?.ref();
      else s?.unref();
    }
    if (on) c.ref();
    else c.unref();
  }
}

const spawner = new Spawner();

/** Runs cmd with args (no shell) through the helper; resolves with stdout, rejects with CommandFailed. */
export function runCommand(cmd: string, args: readonly string[], o: SpawnOptions = {}): Promise<string> {
  return spawner.run(cmd, args, o);
}
