// `npm start` runs to completion and leaves nothing behind: no netns, no
// temp dir (config, socket, state file), no agent process.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

import { describeRoot, sh } from '../helpers/lab.js';

const run = promisify(execFile);
const demo = join(process.cwd(), 'dist', 'controller', 'demo.js');

const netns = async (): Promise<string[]> => (await sh('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
const demoDirs = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('kube-lcp-demo-'));

describeRoot('npm start (the demo)', () => {
  it('runs the agent standalone on a lab, shows traffic and lcp show output, and leaves nothing behind', async () => {
    if (!existsSync(demo)) throw new Error(`${demo} is missing: run \`npm run build\` first`);
    const dirsBefore = demoDirs();
    const child = run(process.execPath, [demo], { timeout: 120_000, maxBuffer: 16 << 20 });
    // The lab's netns names carry the demo's pid (controller/lab/netns.ts uniq): other runs on the box may make their own.
    const tag = ((child.child.pid ?? 0) % 10000).toString(36);
    const { stdout } = await child;
    expect(stdout).toContain('$ lcp show pairs');
    expect(stdout).toMatch(/peer-a\s+True\s+Ready/);
    expect(stdout).toContain('"intact":1000');
    expect(stdout).toMatch(/\/readyz 200/);
    expect(stdout).toMatch(/^kube_lcp_port_rx_packets_total\{[^}]*\} [1-9]\d*$/m);
    expect(stdout).toMatch(/packet \d+ \(worker \d+, rx port \d+\): port-input -> ethernet-input -> /);
    expect((await netns()).filter((n) => new RegExp(`^(lx|ld|lp)${tag}`).test(n))).toEqual([]);
    // Its own temp dir (config, socket, state file) is gone; other demos on the box may come and go.
    const dir = /wrote (\S+)\/lcp\.yaml/.exec(stdout)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
    expect(demoDirs()).not.toContain(basename(dir!));
    expect(dirsBefore).not.toContain(basename(dir!));
    const agents = await sh('ps', ['-eo', 'args']);
    expect(agents).not.toContain(`--config ${dir}/lcp.yaml`);
  }, 150_000);
});
