// FRR daemons (Debian's frr package) run per netns by a test: each instance
// has its own directory for configs, pid files, vty sockets and the zebra API
// socket, so several run side by side and none touches /etc/frr or /run/frr.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { nsx, sleep } from './lab.js';

const DAEMONS = '/usr/lib/frr';
export const frrInstalled = existsSync(join(DAEMONS, 'zebra')) && existsSync('/usr/bin/vtysh');

export interface Frr {
  ns: string;
  dir: string;
  vtysh(...commands: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** The frr user owns the directory: the daemons drop to it (their vty group is frrvty, fixed at build time). */
function frrIds(): { uid: number; gid: number } {
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('frr:'));
  const f = passwd?.split(':');
  if (!f?.[2] || !f[3]) throw new Error('no frr user (is the frr package installed?)');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** Starts zebra and the given daemons (name -> config text) in `ns`; resolves once each answers vtysh. */
export async function startFrr(ns: string, configs: { zebra?: string; staticd?: string; bgpd?: string }): Promise<Frr> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-lcp-frr-'));
  const { uid, gid } = frrIds();
  chownSync(dir, uid, gid);
  const names = ['zebra', ...(['staticd', 'bgpd'] as const).filter((d) => configs[d] !== undefined)];
  const frr: Frr = {
    ns,
    dir,
    vtysh: (...commands) => nsx(ns, 'vtysh', ['--vty_socket', dir, ...commands.flatMap((c) => ['-c', c])]),
    async stop() {
      for (const d of names) {
        const pidFile = join(dir, `${d}.pid`);
        if (!existsSync(pidFile)) continue;
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        try { process.kill(pid, 'SIGTERM'); } catch { continue; }
        for (let i = 0; i < 50; i++) {
          try { process.kill(pid, 0); } catch { break; }
          await sleep(20);
        }
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const d of names) {
      const conf = join(dir, `${d}.conf`);
      writeFileSync(conf, `hostname ${ns}\n${configs[d as keyof typeof configs] ?? ''}\n`);
      // -d: daemonise (the pid file says who to stop); -P 0: no vty TCP port.
      execFileSync('ip', ['netns', 'exec', ns, join(DAEMONS, d), '-d', '-i', join(dir, `${d}.pid`), '-z', join(dir, 'zserv.api'),
        '--vty_socket', dir, '-f', conf, '-P', '0', '--log', `file:${join(dir, `${d}.log`)}`], { stdio: 'pipe' });
    }
    for (const d of names) {
      let up = false;
      for (let i = 0; i < 100 && !up; i++) {
        up = existsSync(join(dir, `${d}.vty`));
        if (!up) await sleep(50);
      }
      if (!up) throw new Error(`frr ${d} in ${ns} did not open its vty socket`);
    }
    return frr;
  } catch (e) {
    await frr.stop();
    throw e;
  }
}
