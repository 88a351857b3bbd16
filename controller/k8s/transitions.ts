// Which conditions changed status between two versions of a list: the one
// rule both Event writers (the cluster controller and the node agent) follow,
// so that an Event means a transition and a status written again unchanged
// (a heartbeat, a resync, a new leader) says nothing. Pure.
import type { Condition } from '../api/kube-schema.js';

export interface Transition {
  type: string;
  /** The status before; `absentAs` when the condition did not exist yet. */
  from: Condition['status'];
  to: Condition;
}

/**
 * The watched conditions whose status differs. A condition that appears for
 * the first time counts as a transition from `absentAs[type]` (e.g. Ready from
 * Unknown, Degraded from False, so a healthy new object says "Ready" once and
 * never "not degraded").
 */
export function conditionTransitions(
  prev: readonly Condition[] | undefined,
  next: readonly Condition[] | undefined,
  absentAs: Readonly<Record<string, Condition['status']>>,
): Transition[] {
  const out: Transition[] = [];
  for (const [type, absent] of Object.entries(absentAs)) {
    const to = next?.find((c) => c.type === type);
    if (!to) continue;
    const from = prev?.find((c) => c.type === type)?.status ?? absent;
    if (from !== to.status) out.push({ type, from, to });
  }
  return out;
}
