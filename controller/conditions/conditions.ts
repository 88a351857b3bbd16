// metav1.Condition handling shared by the agent (NodeDataplane entries) and
// the cluster controller (InterfacePair status): building, setting with
// transition times, and reading. Pure; the types and reasons are reasons.ts.
import type { Condition } from '../api/kube-schema.js';
import { ConditionType, PairReason } from './reasons.js';

export type ConditionStatus = Condition['status'];
/** A condition before it gets its transition time. */
export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** Condition messages and lastError are bounded (the schema allows 1024; logs stay readable). */
export const MAX_MESSAGE = 512;

export function bounded(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= MAX_MESSAGE ? oneLine : `${oneLine.slice(0, MAX_MESSAGE - 3)}...`;
}

/** A condition; observedGeneration only for objects that have a generation of their own. */
export function condition(type: string, status: ConditionStatus, reason: string, message: string, observedGeneration?: number): ConditionInput {
  return observedGeneration === undefined ? { type, status, reason, message } : { type, status, reason, message, observedGeneration };
}

/** Replaces (or adds) a condition; the transition time only moves when the status does (metav1 semantics). */
export function setCondition(list: readonly Condition[], c: ConditionInput, now: Date): Condition[] {
  const prev = list.find((x) => x.type === c.type);
  const lastTransitionTime = prev && prev.status === c.status ? prev.lastTransitionTime : now.toISOString();
  const next: Condition = { ...c, message: bounded(c.message), lastTransitionTime };
  return prev ? list.map((x) => (x.type === c.type ? next : x)) : [...list, next];
}

/** Sets each in turn onto `prev`. */
export function setConditions(prev: readonly Condition[] | undefined, cs: readonly ConditionInput[], now: Date): Condition[] {
  let out: Condition[] = prev ? [...prev] : [];
  for (const c of cs) out = setCondition(out, c, now);
  return out;
}

export function findCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}

export function isTrue(list: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(list, type)?.status === 'True';
}

/** The reason a Ready=False condition gives when it failed (as opposed to one still converging). */
export function failureReason(list: readonly Condition[] | undefined): string | undefined {
  const r = findCondition(list, ConditionType.Ready);
  return r && r.status === 'False' && r.reason !== PairReason.Reconciling ? r.reason : undefined;
}
