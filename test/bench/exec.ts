// Process helpers for the benchmark. Always argv arrays (execFile/spawn),
// never a shell string: names come from code, but a shell is one quoting bug
// away from running something else as root.
import { execFile, execFileSync, spawn } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (exit ${code ?? 'signal'}): ${stderr.trim().slice(0, 500)}`);
  }
}

function label(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].join(' ').slice(0, 200);
}

/** Runs a command, resolves with stdout; rejects with CommandError. */
export function run(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    if (opts.input === undefined) {
      execFile(cmd, args, { maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000 }, (err, stdout, stderr) => {
        if (err) reject(new CommandError(label(cmd, args), typeof err.code === 'number' ? err.code : null, stderr || err.message));
        else resolve(stdout);
      });
      return;
    }
    // stdin input (e.g. `ip -batch -`): spawn and stream it.
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let errText = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (errText += d.length + errText.length < 65536 ? d : ''));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError(label(cmd, args), null, e.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new CommandError(label(cmd, args), code, errText));
    });
    child.stdin.on('error', () => undefined); // reported through 'close'
    child.stdin.end(opts.input);
  });
}

/** Synchronous variant for exit/signal handlers, where nothing async runs any more. */
export function runSync(cmd: string, args: readonly string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
