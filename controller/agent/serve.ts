// What both modes do around a started agent: open the control socket (if
// asked) and give one idempotent stop that closes the socket first (no request
// sees a closed dataplane), then the mode's own parts, then the agent.
import { agentHandler } from '../control/handlers.js';
import { ControlServer } from '../control/server.js';
import type { Agent } from './agent.js';

export interface Served {
  control?: ControlServer;
  stop(): Promise<void>;
}

export async function serveAgent(
  agent: Agent,
  socket: { path?: string; gid?: number },
  stopOthers: () => Promise<void> = async () => undefined,
): Promise<Served> {
  let control: ControlServer | undefined;
  try {
    if (socket.path) control = await ControlServer.listen({ path: socket.path, gid: socket.gid, handle: agentHandler(agent) });
  } catch (e) {
    await stopOthers();
    await agent.stop();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  return {
    control,
    stop: () =>
      (stopping ??= (async () => {
        await control?.close();
        await stopOthers();
        await agent.stop();
      })()),
  };
}
