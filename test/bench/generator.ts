// TypeScript side of test/bench/xdpgen.c: builds it once into a cache and
// wraps its subcommands. See xdpgen.c for why the generator uses
// BPF_PROG_TEST_RUN live frames instead of AF_PACKET.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './exec.js';

/** Repository root, from dist/test/bench/generator.js (or test/bench/generator.ts). */
export const REPO_ROOT = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const up = here.split('/').includes('dist') ? '../../..' : '../..';
  return resolve(here, up);
})();

const SOURCE = join(REPO_ROOT, 'test/bench/xdpgen.c');
const BINARY = join(REPO_ROOT, 'node_modules/.cache/kube-lcp-bench/xdpgen');

export interface GenResult {
  sent: number;
  seconds: number;
  pps: number;
  frameBytes: number;
}

export interface SinkCount {
  packets: number;
  bytes: number;
}

function parseJson<T>(text: string, what: string, check: (v: Record<string, unknown>) => T): T {
  const line = text.trim().split('\n').pop() ?? '';
  const v: unknown = JSON.parse(line);
  if (typeof v !== 'object' || v === null) throw new Error(`${what}: unexpected output ${line}`);
  return check(v as Record<string, unknown>);
}

function num(v: Record<string, unknown>, k: string): number {
  const x = v[k];
  if (typeof x !== 'number') throw new Error(`xdpgen: missing number '${k}'`);
  return x;
}

export class XdpGen {
  private constructor(readonly path: string) {}

  /** Compiles xdpgen.c (gcc + libbpf) unless the cached binary is newer than the source. */
  static async build(): Promise<XdpGen> {
    if (!existsSync(BINARY) || statSync(BINARY).mtimeMs < statSync(SOURCE).mtimeMs) {
      mkdirSync(dirname(BINARY), { recursive: true });
      await run('gcc', ['-O2', '-Wall', '-o', BINARY, SOURCE, '-lbpf']);
    }
    return new XdpGen(BINARY);
  }

  private exec(args: string[]): Promise<string> {
    return run(this.path, args);
  }

  async gen(o: { netns: string; dev: string; frame: Buffer; seconds?: number; count?: number; cpu: number; batch?: number }): Promise<GenResult> {
    const args = ['gen', '--netns', o.netns, '--dev', o.dev, '--frame', o.frame.toString('hex'), '--cpu', String(o.cpu)];
    if (o.count !== undefined) args.push('--count', String(o.count));
    else args.push('--seconds', String(o.seconds ?? 3));
    if (o.batch !== undefined) args.push('--batch', String(o.batch));
    return parseJson(await this.exec(args), 'gen', (v) => ({
      sent: num(v, 'sent'),
      seconds: num(v, 'seconds'),
      pps: num(v, 'pps'),
      frameBytes: num(v, 'frame_bytes'),
    }));
  }

  async attachSink(netns: string, dev: string): Promise<void> {
    await this.exec(['sink', '--netns', netns, '--dev', dev]);
  }

  async attachPass(netns: string, dev: string): Promise<void> {
    await this.exec(['pass', '--netns', netns, '--dev', dev]);
  }

  async attachRedirect(netns: string, dev: string, to: string, rewrite?: { dstMac: string; srcMac: string }): Promise<void> {
    const args = ['redirect', '--netns', netns, '--dev', dev, '--to', to];
    if (rewrite) args.push('--dst-mac', rewrite.dstMac, '--src-mac', rewrite.srcMac);
    await this.exec(args);
  }

  async detach(netns: string, dev: string): Promise<void> {
    await this.exec(['detach', '--netns', netns, '--dev', dev]);
  }

  async count(netns: string, dev: string): Promise<SinkCount> {
    return parseJson(await this.exec(['count', '--netns', netns, '--dev', dev]), 'count', (v) => ({
      packets: num(v, 'packets'),
      bytes: num(v, 'bytes'),
    }));
  }
}
