// Pure condition setters for one pair's entry in NodeDataplane status. They
// take what the phases observed and return conditions; they never call the
// dataplane, the kernel or an API. Their wording is the user-facing contract
// (reasons are CamelCase words programs match on; messages are for humans).
import type { PairEntry } from '../api/node-dataplane.js';
import { condition as cond, failureReason as readyFailure, isTrue, setConditions, type ConditionInput } from '../conditions/conditions.js';
import { ConditionType as T, PairReason as R } from '../conditions/reasons.js';
import type { PairObservation } from './pair-scope.js';
import type { PhaseName } from './reasons.js';

function failedIn(obs: PairObservation, phases: PhaseName[]): boolean {
  return obs.failure !== undefined && phases.includes(obs.failure.phase);
}

export function portAttachedCondition(obs: PairObservation): ConditionInput {
  const g = obs.generation;
  if (failedIn(obs, ['ensurePort'])) return cond(T.PortAttached, 'False', obs.failure!.reason, obs.failure!.message, g);
  if (!obs.port) return cond(T.PortAttached, 'Unknown', R.Pending, 'the port has not been reconciled yet', g);
  return cond(T.PortAttached, 'True', R.Attached, `netdev ${obs.port.name} is dataplane port ${obs.port.index} (${obs.port.driver})`, g);
}

export function mirrorReadyCondition(obs: PairObservation): ConditionInput {
  const g = obs.generation;
  if (failedIn(obs, ['ensureMirror'])) return cond(T.MirrorReady, 'False', obs.failure!.reason, obs.failure!.message, g);
  if (!obs.pair || !obs.link) return cond(T.MirrorReady, 'Unknown', R.WaitingForPort, 'the mirror is made once the port is attached', g);
  const how = obs.pair.adopted ? R.Adopted : R.Created;
  return cond(T.MirrorReady, 'True', how, `${obs.pair.mirrorKind} ${obs.link.name} (ifindex ${obs.link.ifindex}) ${how.toLowerCase()}`, g);
}

export function hostConfigCondition(obs: PairObservation): ConditionInput {
  const g = obs.generation;
  if (failedIn(obs, ['ensureWatch', 'applyHostConfig'])) return cond(T.HostConfigApplied, 'False', obs.failure!.reason, obs.failure!.message, g);
  if (!obs.hostConfigured) return cond(T.HostConfigApplied, 'Unknown', R.WaitingForMirror, 'host config is applied once the mirror exists', g);
  return cond(T.HostConfigApplied, 'True', R.Applied, 'declared addresses are on the mirror', g);
}

export function readyCondition(obs: PairObservation): ConditionInput {
  const g = obs.generation;
  if (obs.failure) return cond(T.Ready, 'False', obs.failure.reason, obs.failure.message, g);
  const ok = obs.port && obs.link && obs.hostConfigured && obs.watching;
  if (!ok) return cond(T.Ready, 'False', R.Reconciling, 'not all phases have run yet', g);
  return cond(T.Ready, 'True', R.Ready, `port ${obs.port!.name} and mirror ${obs.link!.name} are paired`, g);
}

export type LinkState = NonNullable<PairEntry['portState']>;

export function portState(obs: PairObservation): LinkState {
  if (!obs.port) return 'Absent';
  return obs.port.adminUp ? 'Up' : 'Down';
}

export function mirrorState(obs: PairObservation): LinkState {
  if (!obs.link) return 'Absent';
  return obs.link.adminUp ? 'Up' : 'Down';
}

/** The whole entry; `prev` keeps the transition times of conditions whose status did not change. */
export function pairEntry(name: string, obs: PairObservation, prev: PairEntry | undefined, retries: number, now: Date): PairEntry {
  const conditions = setConditions(prev?.conditions, [portAttachedCondition(obs), mirrorReadyCondition(obs), hostConfigCondition(obs), readyCondition(obs)], now);
  const entry: PairEntry = {
    name,
    observedGeneration: obs.generation,
    portState: portState(obs),
    mirrorState: mirrorState(obs),
    retries: obs.failure ? retries : 0,
    conditions,
  };
  if (obs.port) entry.portIndex = obs.port.index;
  if (obs.link) {
    entry.mirrorIfindex = obs.link.ifindex;
    if (obs.wantMtu !== undefined) entry.mtuMatch = obs.link.mtu === obs.wantMtu;
    if (obs.wantMac !== undefined) entry.macMatch = obs.link.mac === obs.wantMac;
  }
  if (obs.failure) entry.lastError = obs.failure.message;
  else if (prev?.lastError) entry.lastError = prev.lastError; // the last error stays visible after recovery
  return entry;
}

export function isReady(entry: PairEntry): boolean {
  return isTrue(entry.conditions, T.Ready);
}

/** A pair that failed (as opposed to one still converging). */
export function failureReason(entry: PairEntry): string | undefined {
  return readyFailure(entry.conditions);
}
