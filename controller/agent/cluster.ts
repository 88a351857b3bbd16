// Cluster mode end to end: the cluster source, the agent, the status writer
// (NodeDataplane + heartbeat Lease), Events on the pairs whose Ready
// condition changes here (pair-events.ts) and, optionally, the control socket. Used
// by `lcp agent --node NAME [--kubeconfig FILE]` and by the e2e tests.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import { DEFAULT_LEASE_NAMESPACE } from '../api/lease.js';
import type { ControlServer } from '../control/server.js';
import { EventRecorder } from '../k8s/events.js';
import type { AgentEndpoint } from '../metrics/agent-endpoint.js';
import { Agent } from './agent.js';
import { ClusterSource } from './cluster-source.js';
import { AGENT_FIELD_MANAGER, StatusWriter } from './cluster-status.js';
import { PairEvents } from './pair-events.js';
import { agentStartOptions, serveAgent } from './serve.js';


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
  /** Pairs reconciled at once (default DEFAULT_CONCURRENT_RECONCILES). */
  concurrentReconciles?: number;
  statusMinIntervalMs?: number;
  heartbeatMs?: number;
  /** How long the heartbeat Lease says the agent counts as alive without renewal (default 40 s). */
  leaseDurationSeconds?: number;
  /** Metrics and health listener, opened by the caller before the start (so probes answer during the informers' first lists); closed by stop() — or by the caller if the start fails. */
  endpoint?: AgentEndpoint;
}

export interface RunningClusterAgent {
  agent: Agent;
  source: ClusterSource;
  status: StatusWriter;
  /** Events on pairs whose Ready condition changed on this node. */
  events: EventRecorder;
  control?: ControlServer;
  stop(): Promise<void>;
}

export async function startClusterAgent(o: ClusterAgentOptions): Promise<RunningClusterAgent> {
  const source = new ClusterSource(o.kc, o.node, { log: o.log });
  const agent = await Agent.start(agentStartOptions(o, source, source.identity));
  const events = new EventRecorder({ kc: o.kc, controller: AGENT_FIELD_MANAGER, instance: o.node, log: o.log });
  const pairEvents = new PairEvents(o.node, (e) => events.record(e), (name) => source.pairUid(name));
  const status = new StatusWriter({
    kc: o.kc,
    node: o.node,
    namespace: o.namespace ?? DEFAULT_LEASE_NAMESPACE,
    status: () => {
      const ndp = agent.nodeDataplane();
      pairEvents.observe(ndp);
      return ndp;
    },
    log: o.log,
    minIntervalMs: o.statusMinIntervalMs,
    heartbeatMs: o.heartbeatMs,
    leaseDurationSeconds: o.leaseDurationSeconds,
  });
  agent.onStatus(() => status.changed());
  status.start();
  const served = await serveAgent(agent, { path: o.socket, gid: o.socketGid }, () => status.stop(), o.endpoint);
  return { agent, source, status, events, control: served.control, stop: served.stop };
}
