// Which nodes an object selects: metav1.LabelSelector semantics and the
// pair's nodeName/nodeSelector. Pure; used by the agent (what applies to me)
// and by the cluster controller (which nodes a pair matches).
import type { InterfacePair } from './interface-pair.js';
import type { LinuxControlPlaneSpec } from './linux-control-plane.js';

type LabelSelector = NonNullable<LinuxControlPlaneSpec['nodeSelector']>;

/** metav1.LabelSelector semantics: every term must hold; an empty selector matches everything. */
export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = has ? labels[e.key] : undefined;
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export function pairSelectsNode(pair: InterfacePair, node: { name: string; labels: Record<string, string> }): boolean {
  if (pair.spec.nodeName !== undefined) return pair.spec.nodeName === node.name;
  return pair.spec.nodeSelector !== undefined && selectorMatches(pair.spec.nodeSelector, node.labels);
}
