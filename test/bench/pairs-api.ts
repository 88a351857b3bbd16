// The API side of the pairs benchmark: an identity of the agent's own, so the
// API server itself counts the agent's requests, and a bounded-concurrency
// apply/delete. Why a FlowSchema: kube-apiserver's apiserver_request_total has
// no user label, and it also counts the server's own loopback traffic; API
// Priority and Fairness classifies every request (watches included) by user
// before it runs, and apiserver_flowcontrol_dispatched_requests_total has a
// flow_schema label. A FlowSchema that matches only the agent's user therefore
// counts exactly the agent's requests; the benchmark's own (admin, in
// system:masters) go to the built-in "exempt" schema and are not counted.
import { writeFileSync } from 'node:fs';

import type { KubeConfig } from '@kubernetes/client-node';

import { applyObject, rawRequest } from '../../controller/k8s/raw.js';
import type { TestCluster } from '../e2e/harness.js';

const MANAGER = 'kube-lcp-bench';

/** Makes the agent's user (cluster-admin through RBAC, not system:masters), its FlowSchema and its kubeconfig file. */
export async function agentIdentity(cluster: TestCluster, admin: KubeConfig, user: string, kubeconfigFile: string): Promise<void> {
  await applyObject(admin, `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${user}`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: user },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  }, MANAGER, true);
  await applyObject(admin, `/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas/${user}`, {
    apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
    kind: 'FlowSchema',
    metadata: { name: user },
    spec: {
      // Before global-default (9900), after nothing that could match a plain user.
      matchingPrecedence: 500,
      priorityLevelConfiguration: { name: 'global-default' },
      rules: [{
        subjects: [{ kind: 'User', user: { name: user } }],
        resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], clusterScope: true, namespaces: ['*'] }],
        nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
      }],
    },
  }, MANAGER, true);
  writeFileSync(kubeconfigFile, cluster.userConfig(user).exportConfig(), { mode: 0o600 });
}

/** Requests the API server has dispatched for one FlowSchema so far (from its /metrics). */
export async function dispatched(admin: KubeConfig, flowSchema: string): Promise<number> {
  const text = String(await rawRequest(admin, 'GET', '/metrics', { accept: 'text/plain' }));
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_flowcontrol_dispatched_requests_total{') || !line.includes(`flow_schema="${flowSchema}"`)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Runs fn over items with at most `limit` in flight. */
export async function bounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
