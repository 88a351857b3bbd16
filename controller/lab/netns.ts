// Lab building blocks for the demo and the tests: network namespaces and veth
// pairs with unique names, always removed. Commands run through execFile
// (never a shell string), as root.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

let seq = 0;
/** A short unique name (interface names are at most 15 chars). */
export function uniq(prefix: string): string {
  seq += 1;
  return `${prefix}${(process.pid % 10000).toString(36)}${seq.toString(36)}`.slice(0, 15);
}

export async function sh(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: opts.timeoutMs ?? 30000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.stdout || err.message}`);
  }
}

/** Run a command inside a netns; resolves with stdout, rejects with stderr. */
export function nsx(ns: string, cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Like nsx, but resolves with the exit code and output instead of throwing. */
export async function nsTry(ns: string, cmd: string, args: string[], timeoutMs = 30000): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: timeoutMs });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, out: (err.stdout ?? '') + (err.stderr ?? '') };
  }
}

export class Lab {
  private readonly namespaces: string[] = [];

  async netns(prefix = 'lt'): Promise<string> {
    const name = uniq(prefix);
    await sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await nsx(name, 'ip', ['link', 'set', 'lo', 'up']);
    return name;
  }

  /** A veth pair with one end in each netns. Returns the two names. */
  async veth(nsA: string, nsB: string, prefix = 'v'): Promise<[string, string]> {
    const a = uniq(`${prefix}a`);
    const b = uniq(`${prefix}b`);
    await sh('ip', ['link', 'add', a, 'netns', nsA, 'type', 'veth', 'peer', 'name', b, 'netns', nsB]);
    await nsx(nsA, 'ip', ['link', 'set', a, 'up']);
    await nsx(nsB, 'ip', ['link', 'set', b, 'up']);
    return [a, b];
  }

  async mac(ns: string, dev: string): Promise<string> {
    const out = await nsx(ns, 'cat', [`/sys/class/net/${dev}/address`]);
    return out.trim();
  }

  async stat(ns: string, dev: string, counter: string): Promise<number> {
    return Number((await nsx(ns, 'cat', [`/sys/class/net/${dev}/statistics/${counter}`])).trim());
  }

  /** Deleting a netns deletes every device in it (veths, persistent TAPs). */
  async cleanup(): Promise<void> {
    for (const ns of this.namespaces.splice(0)) {
      await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `fn` until it returns true or the time is up. */
export async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return true;
    await sleep(stepMs);
  }
  return fn();
}
