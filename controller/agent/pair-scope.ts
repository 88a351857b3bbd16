// Everything a phase needs, nothing global: the desired pair (defaults filled
// in from the node's settings), the agent's handles, and the observations the
// phases make, from which the status is computed.
import type { Logger } from 'pino';

import type { Dataplane, MirrorKind, PairInfo, PortDriver, PortInfo } from '../../dataplane/dataplane.js';
import type { Host, HostLink } from '../../dataplane/host.js';
import type { SourcedPair } from './desired.js';
import type { Failure } from './reasons.js';
import type { NodeSettings } from './selection.js';
import type { StateStore } from './state-store.js';

export interface DesiredPair {
  name: string;
  generation: number;
  port: { name: string; netns: string; driver: PortDriver };
  mirror: { name: string; netns: string; kind?: MirrorKind; mtu?: number; mac?: string };
  addresses: string[];
}

/** What the agent holds across reconciles (in memory; the state store holds what must survive a restart). */
export interface AgentContext {
  dp: Dataplane;
  /** Linux beside the dataplane: the mirrors' devices and addresses (netlink; a fake in unit tests). */
  host: Host;
  /** The owner tag in our ifalias mark. */
  tag: string;
  state: StateStore;
  settings(): NodeSettings;
  /** Watched netns -> the watch options key it was started with. */
  watches: Map<string, string>;
  /** Pair name -> the dataplane port index it holds. */
  claims: Map<string, number>;
}

/** What the phases saw; pure inputs of the status setters. */
export interface PairObservation {
  generation: number;
  port?: PortInfo;
  pair?: PairInfo;
  /** The mirror as the kernel has it. */
  link?: HostLink;
  /** Desired MTU/MAC of the mirror: the spec's, else the port's. */
  wantMtu?: number;
  wantMac?: string;
  hostConfigured: boolean;
  watching: boolean;
  failure?: Failure;
}

export interface PairScope {
  desired: DesiredPair;
  ctx: AgentContext;
  log: Logger;
  obs: PairObservation;
}

export function desiredPair(name: string, sp: SourcedPair, settings: NodeSettings): DesiredPair {
  const { port, mirror, hostConfig } = sp.pair.spec;
  return {
    name,
    generation: sp.generation,
    port: { name: port.name, netns: port.netns ?? '', driver: port.driver ?? 'auto' },
    mirror: {
      name: mirror.name,
      netns: mirror.netns ?? settings.defaultNetns,
      kind: mirror.kind,
      mtu: mirror.mtu,
      mac: mirror.mac?.toLowerCase(),
    },
    addresses: [...(hostConfig?.addresses ?? [])],
  };
}

export function newScope(desired: DesiredPair, ctx: AgentContext, log: Logger): PairScope {
  return { desired, ctx, log, obs: { generation: desired.generation, hostConfigured: false, watching: false } };
}
