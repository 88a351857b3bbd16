// Pure condition setters for one pair's entry in NodeDataplane status. They
// take what the phases observed and return conditions; they never call the
// dataplane, the kernel or an API. Their wording is the user-facing contract
// (reasons are CamelCase words programs match on; messages are for humans).
import type { Condition } from '../api/kube-schema.js';
import type { NodeDataplaneStatus } from '../api/node-dataplane.js';
import type { PairObservation } from './pair-scope.js';
import { bounded, type PhaseName } from './reasons.js';

export type PairEntry = NonNullable<NodeDataplaneStatus['pairs']>[number];
export type ConditionStatus = Condition['status'];
/** A condition before it gets its transition time. */
export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** Replaces (or adds) a condition; the transition time only moves when the status does (metav1 semantics). */
export function setCondition(list: readonly Condition[], c: ConditionInput, now: Date): Condition[] {
  const prev = list.find((x) => x.type === c.type);
  const lastTransitionTime = prev && prev.status === c.status ? prev.lastTransitionTime : now.toISOString();
  const next: Condition = { ...c, message: bounded(c.message), lastTransitionTime };
  return prev ? list.map((x) => (x.type === c.type ? next : x)) : [...list, next];
}

const cond = (type: string, status: ConditionStatus, reason: string, message: string, gen: number): ConditionInput => ({
  type,
  status,
  reason,
  message,
  observedGeneration: gen,
});

function failedIn(obs: PairObservation, phases: PhaseName[]): boolean {
  return obs.failure !== undefined && phases.includes(obs.failure.phase);
}

export function portAttachedCondition(obs: PairObservation): ConditionInput {
  const g = obs.generation;
  if (failedIn(obs, ['ensurePort'])) return cond('PortAttached', 'False', obs.failure!.reason, obs.failure!.message, g);
  if (!obs.port) return cond('PortAttached', 'Unknown', 'Pending', 'the port has not been reconciled yet', g);
  return cond('PortAttached', 'True', 'Attached', `netdev ${obs.port.name} is dataplane port ${obs.port.index} (${obs.port.driver})`, g);
}

export function mirrorReadyCondition(obs: PairObservation): ConditionInput {
  const g = obs.generation;
  if (failedIn(obs, ['ensureMirror'])) return cond('MirrorReady', 'False', obs.failure!.reason, obs.failure!.message, g);
  if (!obs.pair || !obs.link) return cond('MirrorReady', 'Unknown', 'WaitingForPort', 'the mirror is made once the port is attached', g);
  const how = obs.pair.adopted ? 'Adopted' : 'Created';
  return cond('MirrorReady', 'True', how, `${obs.pair.mirrorKind} ${obs.link.name} (ifindex ${obs.link.ifindex}) ${how.toLowerCase()}`, g);
}

export function hostConfigCondition(obs: PairObservation): ConditionInput {
  const g = obs.generation;
  if (failedIn(obs, ['ensureWatch', 'applyHostConfig'])) return cond('HostConfigApplied', 'False', obs.failure!.reason, obs.failure!.message, g);
  if (!obs.hostConfigured) return cond('HostConfigApplied', 'Unknown', 'WaitingForMirror', 'host config is applied once the mirror exists', g);
  return cond('HostConfigApplied', 'True', 'Applied', 'declared addresses are on the mirror', g);
}

export function readyCondition(obs: PairObservation): ConditionInput {
  const g = obs.generation;
  if (obs.failure) return cond('Ready', 'False', obs.failure.reason, obs.failure.message, g);
  const ok = obs.port && obs.link && obs.hostConfigured && obs.watching;
  if (!ok) return cond('Ready', 'False', 'Reconciling', 'not all phases have run yet', g);
  return cond('Ready', 'True', 'Ready', `port ${obs.port!.name} and mirror ${obs.link!.name} are paired`, g);
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
  let conditions: Condition[] = prev?.conditions ? [...prev.conditions] : [];
  for (const c of [portAttachedCondition(obs), mirrorReadyCondition(obs), hostConfigCondition(obs), readyCondition(obs)])
    conditions = setCondition(conditions, c, now);
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
  return entry.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** A pair that failed (as opposed to one still converging). */
export function failureReason(entry: PairEntry): string | undefined {
  const r = entry.conditions?.find((c) => c.type === 'Ready');
  return r && r.status === 'False' && r.reason !== 'Reconciling' ? r.reason : undefined;
}
