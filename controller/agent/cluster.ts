// Cluster mode end to end: the cluster source, the agent, the status writer
// (NodeDataplane + heartbeat Lease) and, optionally, the control socket. Used
// by `lcp agent --node NAME [--kubeconfig FILE]` and by the e2e tests.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import type { ControlServer } from '../control/server.js';
import { Agent } from './agent.js';
import { ClusterSource } from './cluster-source.js';
import { DEFAULT_LEASE_NAMESPACE, StatusWriter } from './cluster-status.js';
import { serveAgent } from './serve.js';

export { DEFAULT_LEASE_NAMESPACE };

export interface ClusterAgentOptions {
  kc: KubeConfig;
  node: string;
  stateDir: string;
  /** Namespace of the heartbeat Lease (default kube-lcp). */
  namespace?: string;
  socket?: string;
  socketGid?: number;
  log: Logger;
  resyncPeriodMs?: number;
  driftPeriodMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  statusMinIntervalMs?: number;
  heartbeatMs?: number;
}

export interface RunningClusterAgent {
  agent: Agent;
  source: ClusterSource;
  status: StatusWriter;
  control?: ControlServer;
  stop(): Promise<void>;
}

export async function startClusterAgent(o: ClusterAgentOptions): Promise<RunningClusterAgent> {
  const source = new ClusterSource(o.kc, o.node, { log: o.log });
  const agent = await Agent.start({
    source,
    node: source.identity,
    stateDir: o.stateDir,
    log: o.log,
    resyncPeriodMs: o.resyncPeriodMs,
    driftPeriodMs: o.driftPeriodMs,
    retryBaseMs: o.retryBaseMs,
    retryMaxMs: o.retryMaxMs,
  });
  const status = new StatusWriter({
    kc: o.kc,
    node: o.node,
    namespace: o.namespace ?? DEFAULT_LEASE_NAMESPACE,
    status: () => agent.nodeDataplane(),
    log: o.log,
    minIntervalMs: o.statusMinIntervalMs,
    heartbeatMs: o.heartbeatMs,
  });
  agent.onStatus(() => status.changed());
  status.start();
  const served = await serveAgent(agent, { path: o.socket, gid: o.socketGid }, () => status.stop());
  return { agent, source, status, control: served.control, stop: served.stop };
}
