// What both modes do around a started agent: open the control socket (if
// asked), hand the agent to the metrics/health endpoint (opened before the
// agent, so probes answer during the first sync), and give one idempotent
// stop that closes the listeners first (no request sees a closed dataplane),
// then the mode's own parts, then the agent.
import { agentHandler } from '../control/handlers.js';
import { ControlServer } from '../control/server.js';
import type { AgentEndpoint } from '../metrics/agent-endpoint.js';
import type { Agent, AgentOptions } from './agent.js';

/** What both modes hand Agent.start as it is (the rest of its options). */
export type AgentTuning = Pick<AgentOptions, 'stateDir' | 'log' | 'resyncPeriodMs' | 'driftPeriodMs' | 'retryBaseMs' | 'retryMaxMs' | 'concurrentReconciles'> & {
  endpoint?: AgentEndpoint;
};

/** A mode's options as Agent.start takes them: the tuning, and the endpoint's hooks as its metrics. */
export function agentStartOptions(o: AgentTuning, source: AgentOptions['source'], node: AgentOptions['node']): AgentOptions {
  const { stateDir, log, resyncPeriodMs, driftPeriodMs, retryBaseMs, retryMaxMs, concurrentReconciles, endpoint } = o;
  return {
    source,
    node,
    stateDir,
    log,
    resyncPeriodMs,
    driftPeriodMs,
    retryBaseMs,
    retryMaxMs,
    concurrentReconciles,
    metrics: endpoint && { queue: endpoint.queue, reconcile: endpoint.reconcile },
  };
}

export interface Served {
  control?: ControlServer;
  stop(): Promise<void>;
}

export async function serveAgent(
  agent: Agent,
  socket: { path?: string; gid?: number },
  stopOthers: () => Promise<void> = async () => undefined,
  endpoint?: AgentEndpoint,
): Promise<Served> {
  let control: ControlServer | undefined;
  try {
    if (socket.path) control = await ControlServer.listen({ path: socket.path, gid: socket.gid, handle: agentHandler(agent) });
  } catch (e) {
    await endpoint?.close();
    await stopOthers();
    await agent.stop();
    throw e;
  }
  endpoint?.attach(agent);
  let stopping: Promise<void> | undefined;
  return {
    control,
    stop: () =>
      (stopping ??= (async () => {
        await control?.close();
        await endpoint?.close();
        await stopOthers();
        await agent.stop();
      })()),
  };
}
