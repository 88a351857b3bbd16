// Standalone mode end to end: the file source, the agent, the control socket.
// Used by `lcp agent --config` and by tests that run an agent in-process.
import type { Logger } from 'pino';

import type { ControlServer } from '../control/server.js';
import type { AgentEndpoint } from '../metrics/agent-endpoint.js';
import { Agent } from './agent.js';
import type { NodeIdentity } from './desired.js';
import { FileSource } from './file-source.js';
import { agentStartOptions, serveAgent } from './serve.js';

export interface StandaloneOptions {
  config: string;
  node: NodeIdentity;
  stateDir: string;
  /** Control socket path; undefined = none (tests may not want one). */
  socket?: string;
  socketGid?: number;
  log: Logger;
  debounceMs?: number;
  resyncPeriodMs?: number;
  driftPeriodMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Pairs reconciled at once (default DEFAULT_CONCURRENT_RECONCILES). */
  concurrentReconciles?: number;
  /** Metrics and health listener, opened by the caller before the start (so probes answer during it); closed by stop() — or by the caller if the start fails. */
  endpoint?: AgentEndpoint;
}

export interface RunningAgent {
  agent: Agent;
  source: FileSource;
  control?: ControlServer;
  /** Socket closed first (no request sees a closed dataplane), then the queue drained and the dataplane closed. */
  stop(): Promise<void>;
}

export async function startStandalone(o: StandaloneOptions): Promise<RunningAgent> {
  const source = new FileSource(o.config, { debounceMs: o.debounceMs, log: o.log });
  const agent = await Agent.start(agentStartOptions(o, source, o.node));
  const served = await serveAgent(agent, { path: o.socket, gid: o.socketGid }, undefined, o.endpoint);
  return { agent, source, control: served.control, stop: served.stop };
}
