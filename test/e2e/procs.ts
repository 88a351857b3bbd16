// Child processes of the test control plane: logs to files, stop with TERM
// then KILL, and a last-resort kill when the Node process exits, so a failed
// test run never leaves an etcd or apiserver behind (Ctrl-C reaches them
// directly: they share the terminal's process group).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

const live = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

export class Proc {
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    bin: string,
    args: string[],
    readonly logFile: string,
  ) {
    hookExit();
    const fd = openSync(logFile, 'a');
    this.child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    live.add(this.child);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this.child);
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(this.exitCode);
      });
      this.child.once('error', () => {
        live.delete(this.child);
        this.exitCode = -1;
        resolve(-1);
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last lines of its log, for error messages. */
  tail(lines = 30): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Sends a signal and does not wait (SIGKILL for crash tests); wait() resolves on exit. */
  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** Resolves when the process exits (for tests of crashes). */
  wait(): Promise<number | null> {
    return this.exited;
  }
}

export { freePort } from '../../controller/lab/free-port.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
