// The agents' heartbeat Leases (coordination.k8s.io): written by each agent,
// read by the cluster controller to tell a live node from a silent one.

/** Namespace of the heartbeat Leases unless told otherwise. */
export const DEFAULT_LEASE_NAMESPACE = 'kube-lcp';
export const AGENT_LEASE_PREFIX = 'kube-lcp-agent-';

export const agentLeaseName = (node: string): string => `${AGENT_LEASE_PREFIX}${node}`.slice(0, 253);
