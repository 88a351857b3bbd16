// The agent as users run it: `lcp agent --node NAME --kubeconfig FILE` from
// the built CLI, in a child process of its own, so that a test can SIGKILL it
// mid-reconcile and a benchmark can read its true peak RSS. Needs `npm run
// build:ts` (dist/) and the native addon.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { repoRoot } from './harness.js';
import { Proc } from './procs.js';

export interface AgentProcessOptions {
  node: string;
  kubeconfig: string;
  stateDir: string;
  /** Control socket (the default /run/kube-lcp/agent.sock would clash with a real agent). */
  socket: string;
  /** Namespace of the heartbeat Lease. */
  namespace: string;
  /** stdout and stderr (pino JSON) go here. */
  logFile: string;
  resyncPeriodS?: number;
  logLevel?: 'debug' | 'info' | 'warn';
  /** --metrics-bind-address; default '0' (none), so agents of concurrent runs never race for the default port. */
  metricsBindAddress?: string;
}

/** The Node 22 the project runs on (node_modules/.bin/node), else the one running us. */
function nodeBin(root: string): string {
  const bundled = join(root, 'node_modules', '.bin', 'node');
  return existsSync(bundled) ? bundled : process.execPath;
}

export function startAgentProcess(o: AgentProcessOptions): Proc {
  const root = repoRoot();
  const cli = join(root, 'dist', 'controller', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build:ts first`);
  return new Proc('lcp-agent', nodeBin(root), [
    cli, 'agent',
    '--node', o.node,
    '--kubeconfig', o.kubeconfig,
    '--namespace', o.namespace,
    '--state-dir', o.stateDir,
    '--socket', o.socket,
    '--log-level', o.logLevel ?? 'info',
    '--resync-period', String(o.resyncPeriodS ?? 30),
    '--metrics-bind-address', o.metricsBindAddress ?? '0',
  ], o.logFile);
}

/** A field of /proc/PID/status in KiB (VmRSS, VmHWM, ...); undefined once the process is gone. */
export function procStatusKiB(pid: number, field: string): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.split(/\s+/)[1]) : undefined;
  } catch {
    return undefined;
  }
}
