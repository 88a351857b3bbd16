// manifests/ against the real API server: applied server-side (as
// `kubectl apply --server-side -k manifests/` would: the kustomization's
// resources, CRDs included), then, as each component's ServiceAccount (the
// agent's and the cluster controller's; a token from the TokenRequest API,
// not admin):
//  - every API call the component makes is allowed (SelfSubjectAccessReview);
//  - neighbouring ones it never makes are denied, and the rules the API
//    server reports for it (SelfSubjectRulesReview) are exactly its own;
//  - the cluster agent and the controller run with those tokens through a
//    pair lifecycle (root: netns, veth, TAP) with no failed write.
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';

import { startClusterAgent, type RunningClusterAgent } from '../../controller/agent/cluster.js';
import { CONTROLLER_LEASE, startClusterController, type RunningClusterController } from '../../controller/cluster/controller.js';
import { AGENT_FIELD_MANAGER } from '../../controller/agent/cluster-status.js';
import { agentLeaseName } from '../../controller/api/lease.js';
import { netlinkHost } from '../../dataplane/host.js';
import { makeLogger, silentLogger } from '../../controller/agent/log.js';
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import type { LinuxControlPlane } from '../../controller/api/linux-control-plane.js';
import type { NodeDataplane } from '../../controller/api/node-dataplane.js';
import { applyObject, clusterPath, rawRequest } from '../../controller/k8s/raw.js';
import { buildStandaloneLab, type StandaloneLab } from '../../controller/lab/standalone.js';
import { describeRoot, eventually, nsx } from '../helpers/lab.js';
import { FIELD_MANAGER, repoRoot, STARTUP_TIMEOUT_MS, startCluster, uniqueSuffix, type TestCluster } from './harness.js';

const NS = 'kube-lcp';
const SA = 'kube-lcp-agent';
const CONTROLLER_SA = 'kube-lcp-controller';
const GROUP = 'lcp.kubelcp.io';
const run = uniqueSuffix();
const node = `node-rbac-${run}`;
const lcpPath = (plural: string, name?: string, sub?: string): string => clusterPath(GROUP, 'v1alpha1', plural, name, sub);

/** The kustomization's resources, in order, directories expanded through their own kustomization. */
function kustomizeFiles(dir: string): string[] {
  const k = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!k) throw new Error(`no kustomization in ${dir}`);
  const resources = (parse(readFileSync(k, 'utf8')) as { resources?: string[] }).resources ?? [];
  return resources.flatMap((r) => {
    const p = join(dir, r);
    return statSync(p).isDirectory() ? kustomizeFiles(p) : [p];
  });
}

function manifestObjects(): KubernetesObject[] {
  return kustomizeFiles(join(repoRoot(), 'manifests')).flatMap((f) =>
    parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as KubernetesObject),
  );
}

const PLURALS: Record<string, string> = {
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  DaemonSet: 'daemonsets',
  Deployment: 'deployments',
  CustomResourceDefinition: 'customresourcedefinitions',
};

/** The REST path of a manifest's object. */
function objectPath(o: KubernetesObject): string {
  const plural = PLURALS[o.kind ?? ''];
  if (!plural) throw new Error(`manifests: no path known for kind ${o.kind}`);
  const api = (o.apiVersion ?? '').includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = o.metadata?.namespace ? `/namespaces/${o.metadata.namespace}` : '';
  return `${api}${ns}/${plural}/${o.metadata?.name}`;
}

interface Attrs {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

const show = (a: Attrs): string =>
  `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.namespace ? ` in ${a.namespace}` : ''}${a.name ? ` (${a.name})` : ''}`;

// Every call in controller/agent/cluster-source.ts and cluster-status.ts.
const NEEDED: Attrs[] = [
  { verb: 'list', group: GROUP, resource: 'interfacepairs' },
  { verb: 'watch', group: GROUP, resource: 'interfacepairs' },
  { verb: 'list', group: GROUP, resource: 'linuxcontrolplanes' },
  { verb: 'watch', group: GROUP, resource: 'linuxcontrolplanes' },
  // list/watch with fieldSelector metadata.name=<node> is authorized with that name.
  { verb: 'list', resource: 'nodes', name: node },
  { verb: 'watch', resource: 'nodes', name: node },
  // Server-side apply that creates the object: patch and create.
  { verb: 'create', group: GROUP, resource: 'nodedataplanes', name: node },
  { verb: 'patch', group: GROUP, resource: 'nodedataplanes', name: node },
  { verb: 'patch', group: GROUP, resource: 'nodedataplanes', subresource: 'status', name: node },
  { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: agentLeaseName(node) },
  { verb: 'patch', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: agentLeaseName(node) },
  // pair-events.ts: Events about cluster-scoped pairs live in "default".
  { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: 'default' },
];

// Things the agent never does.
const DENIED: Attrs[] = [
  ...['get', 'create', 'update', 'patch', 'delete', 'deletecollection'].map((verb) => ({ verb, group: GROUP, resource: 'interfacepairs' })),
  { verb: 'update', group: GROUP, resource: 'interfacepairs', subresource: 'status' },
  { verb: 'patch', group: GROUP, resource: 'interfacepairs', subresource: 'status' },
  { verb: 'patch', group: GROUP, resource: 'linuxcontrolplanes' },
  { verb: 'patch', group: GROUP, resource: 'linuxcontrolplanes', subresource: 'status' },
  { verb: 'delete', group: GROUP, resource: 'nodedataplanes', name: node },
  { verb: 'update', group: GROUP, resource: 'nodedataplanes', name: node },
  { verb: 'list', group: GROUP, resource: 'nodedataplanes' },
  { verb: 'update', group: GROUP, resource: 'nodedataplanes', subresource: 'status', name: node },
  { verb: 'get', resource: 'nodes', name: node },
  { verb: 'patch', resource: 'nodes', name: node },
  { verb: 'patch', resource: 'nodes', subresource: 'status', name: node },
  { verb: 'delete', resource: 'nodes', name: node },
  { verb: 'get', resource: 'secrets', namespace: NS },
  { verb: 'list', resource: 'secrets' },
  { verb: 'get', resource: 'configmaps', namespace: NS },
  { verb: 'create', resource: 'pods', namespace: NS },
  { verb: 'create', resource: 'pods', namespace: 'default' },
  { verb: 'create', resource: 'events', namespace: NS },
  { verb: 'create', resource: 'namespaces' },
  { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: NS, name: SA },
  { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: agentLeaseName(node) },
  { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: agentLeaseName(node) },
  { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: agentLeaseName(node) },
  { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
  { verb: 'patch', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default', name: agentLeaseName(node) },
  { verb: 'create', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
  { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { verb: 'impersonate', resource: 'serviceaccounts', namespace: NS },
  { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: NS },
  { verb: 'patch', group: 'events.k8s.io', resource: 'events', namespace: 'default' },
  { verb: 'list', group: 'events.k8s.io', resource: 'events', namespace: 'default' },
];

// Every call in controller/cluster/ (informers, leader election, status writer) and its Events.
const CONTROLLER_NEEDED: Attrs[] = [
  { verb: 'list', group: GROUP, resource: 'interfacepairs' },
  { verb: 'watch', group: GROUP, resource: 'interfacepairs' },
  { verb: 'list', group: GROUP, resource: 'nodedataplanes' },
  { verb: 'watch', group: GROUP, resource: 'nodedataplanes' },
  { verb: 'list', resource: 'nodes' },
  { verb: 'watch', resource: 'nodes' },
  { verb: 'patch', group: GROUP, resource: 'interfacepairs', subresource: 'status', name: 'any-pair' },
  { verb: 'list', group: 'coordination.k8s.io', resource: 'leases', namespace: NS },
  { verb: 'watch', group: 'coordination.k8s.io', resource: 'leases', namespace: NS },
  { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: CONTROLLER_LEASE },
  { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: NS },
  { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: CONTROLLER_LEASE },
  { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: 'default' },
];

// Things the controller never does: no spec writes, no node or NodeDataplane writes, no other Lease.
const CONTROLLER_DENIED: Attrs[] = [
  ...['get', 'create', 'update', 'patch', 'delete', 'deletecollection'].map((verb) => ({ verb, group: GROUP, resource: 'interfacepairs', name: 'any-pair' })),
  { verb: 'update', group: GROUP, resource: 'interfacepairs', subresource: 'status', name: 'any-pair' },
  { verb: 'patch', group: GROUP, resource: 'nodedataplanes', name: node },
  { verb: 'patch', group: GROUP, resource: 'nodedataplanes', subresource: 'status', name: node },
  { verb: 'create', group: GROUP, resource: 'nodedataplanes' },
  { verb: 'get', group: GROUP, resource: 'nodedataplanes', name: node },
  { verb: 'list', group: GROUP, resource: 'linuxcontrolplanes' },
  { verb: 'patch', resource: 'nodes', name: node },
  { verb: 'get', resource: 'nodes', name: node },
  { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: agentLeaseName(node) },
  { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: agentLeaseName(node) },
  { verb: 'patch', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: CONTROLLER_LEASE },
  { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: CONTROLLER_LEASE },
  { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
  { verb: 'list', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default' },
  { verb: 'get', resource: 'secrets', namespace: NS },
  { verb: 'list', resource: 'secrets' },
  { verb: 'create', resource: 'pods', namespace: NS },
  { verb: 'create', resource: 'namespaces' },
  { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: NS },
  { verb: 'create', resource: 'events', namespace: 'default' },
  { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: NS, name: CONTROLLER_SA },
  { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
  { verb: 'impersonate', resource: 'serviceaccounts', namespace: NS },
];

interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

/** A rule set as sorted "group resource verb" lines, for comparing exactly. */
const flatten = (rules: ResourceRule[]): string[] =>
  [
    ...new Set(
      rules.flatMap((r) =>
        (r.apiGroups ?? ['']).flatMap((g) => (r.resources ?? []).flatMap((res) => r.verbs.map((v) => `${g} ${res} ${v}${r.resourceNames?.length ? ` ${r.resourceNames.join(',')}` : ''}`))),
      ),
    ),
  ].sort();

describe('manifests: least-privilege RBAC for the agent and the cluster controller', () => {
  let cluster: TestCluster;
  let admin: KubeConfig;
  let sa: KubeConfig;
  let controllerSa: KubeConfig;

  /** The ServiceAccount's own token, as the kubelet would mount it. */
  const tokenConfig = async (name: string): Promise<KubeConfig> => {
    const tr = (await rawRequest(admin, 'POST', `/api/v1/namespaces/${NS}/serviceaccounts/${name}/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    })) as { status?: { token?: string } };
    const token = tr.status?.token;
    if (!token) throw new Error('TokenRequest returned no token');
    const c = admin.getCurrentCluster();
    if (!c) throw new Error('admin kubeconfig has no cluster');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: c.server, caData: c.caData, caFile: c.caFile, skipTLSVerify: c.skipTLSVerify }],
      users: [{ name, token }],
      contexts: [{ name, cluster: 'c', user: name }],
      currentContext: name,
    });
    return kc;
  };

  beforeAll(async () => {
    cluster = await startCluster();
    admin = cluster.adminConfig();
    for (const o of manifestObjects()) {
      // On a real cluster the workloads would start pods from an image that is not there: validated only.
      const dryRun = cluster.external && (o.kind === 'DaemonSet' || o.kind === 'Deployment');
      await rawRequest(admin, 'PATCH', objectPath(o), {
        body: o,
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: FIELD_MANAGER, force: 'true', dryRun: dryRun ? 'All' : undefined },
      });
    }
    sa = await tokenConfig(SA);
    controllerSa = await tokenConfig(CONTROLLER_SA);
  }, STARTUP_TIMEOUT_MS);

  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  const allowed = async (a: Attrs, as: KubeConfig = sa): Promise<boolean> => {
    const r = (await rawRequest(as, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { group: a.group ?? '', resource: a.resource, subresource: a.subresource, verb: a.verb, namespace: a.namespace, name: a.name } },
      },
    })) as { status?: { allowed?: boolean } };
    return r.status?.allowed === true;
  };

  const whoami = async (as: KubeConfig) =>
    ((await rawRequest(as, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    })) as { status?: { userInfo?: { username?: string; groups?: string[] } } }).status?.userInfo;

  /** The rules the API server reports for `as` in a namespace, past the defaults every user has. */
  const rulesOf = async (as: KubeConfig, namespace: string): Promise<string[]> => {
    const r = (await rawRequest(as, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } },
    })) as { status?: { resourceRules?: ResourceRule[] } };
    // system:basic-user: self reviews (authorization.k8s.io, authentication.k8s.io); nothing else is default.
    return flatten(r.status?.resourceRules ?? []).filter((l) => !/^(authorization|authentication)\.k8s\.io /.test(l));
  };

  it('the tokens are the ServiceAccounts, not admin', async () => {
    for (const [as, name] of [[sa, SA], [controllerSa, CONTROLLER_SA]] as const) {
      const user = await whoami(as);
      expect(user?.username).toBe(`system:serviceaccount:${NS}:${name}`);
      expect(user?.groups).not.toContain('system:masters');
    }
  });

  it('allows every call the agent makes', async () => {
    const refused: string[] = [];
    for (const a of NEEDED) if (!(await allowed(a))) refused.push(show(a));
    expect(refused).toEqual([]);
  });

  it('denies what the agent never does', async () => {
    const granted: string[] = [];
    for (const a of DENIED) if (await allowed(a)) granted.push(show(a));
    expect(granted).toEqual([]);
  });

  it('grants exactly the agent\'s rules (SelfSubjectRulesReview, past the defaults every user has)', async () => {
    const rules = (namespace: string): Promise<string[]> => rulesOf(sa, namespace);
    const cluster = [
      `${GROUP} interfacepairs list`,
      `${GROUP} interfacepairs watch`,
      `${GROUP} linuxcontrolplanes list`,
      `${GROUP} linuxcontrolplanes watch`,
      ` nodes list`,
      ` nodes watch`,
      `${GROUP} nodedataplanes create`,
      `${GROUP} nodedataplanes patch`,
      `${GROUP} nodedataplanes/status patch`,
    ];
    const leases = ['coordination.k8s.io leases create', 'coordination.k8s.io leases patch'];
    expect(await rules(NS)).toEqual([...cluster, ...leases].sort());
    expect(await rules('default')).toEqual([...cluster, 'events.k8s.io events create'].sort());
  });

  it('allows every call the cluster controller makes', async () => {
    const refused: string[] = [];
    for (const a of CONTROLLER_NEEDED) if (!(await allowed(a, controllerSa))) refused.push(show(a));
    expect(refused).toEqual([]);
  });

  it('denies what the cluster controller never does', async () => {
    const granted: string[] = [];
    for (const a of CONTROLLER_DENIED) if (await allowed(a, controllerSa)) granted.push(show(a));
    expect(granted).toEqual([]);
  });

  it('grants exactly the cluster controller\'s rules (SelfSubjectRulesReview, past the defaults every user has)', async () => {
    const cluster = [
      `${GROUP} interfacepairs list`,
      `${GROUP} interfacepairs watch`,
      `${GROUP} nodedataplanes list`,
      `${GROUP} nodedataplanes watch`,
      `${GROUP} interfacepairs/status patch`,
      ` nodes list`,
      ` nodes watch`,
    ];
    const leases = [
      'coordination.k8s.io leases list',
      'coordination.k8s.io leases watch',
      'coordination.k8s.io leases create',
      `coordination.k8s.io leases get ${CONTROLLER_LEASE}`,
      `coordination.k8s.io leases update ${CONTROLLER_LEASE}`,
    ];
    expect(await rulesOf(controllerSa, NS)).toEqual([...cluster, ...leases].sort());
    expect(await rulesOf(controllerSa, 'default')).toEqual([...cluster, 'events.k8s.io events create'].sort());
    expect(await rulesOf(controllerSa, 'kube-system')).toEqual([...cluster].sort());
  });

  it('the Deployment runs two controller replicas as non-root, read-only, with no capabilities', () => {
    const d = manifestObjects().find((o) => o.kind === 'Deployment') as KubernetesObject & {
      spec: { replicas: number; template: { spec: Record<string, unknown> & { securityContext: Record<string, unknown>; containers: Record<string, unknown>[] } } };
    };
    expect(d.spec.replicas).toBe(2);
    const pod = d.spec.template.spec;
    expect(pod).toMatchObject({ serviceAccountName: CONTROLLER_SA, securityContext: { runAsNonRoot: true } });
    expect(pod.hostNetwork).toBeUndefined();
    const ctr = pod.containers[0] as {
      command: string[];
      env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
      securityContext: { privileged?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean; capabilities: { drop: string[]; add?: string[] } };
      volumeMounts?: unknown[];
    };
    expect(ctr.command).toEqual(['lcp', 'controller', '--id', '$(POD_NAME)', '--metrics-bind-address', ':9742']);
    expect(ctr).toMatchObject({
      ports: [{ name: 'metrics', containerPort: 9742 }],
      livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' } },
      readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' } },
    });
    expect(ctr.env.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(ctr.securityContext).toMatchObject({ privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false });
    expect(ctr.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(ctr.volumeMounts).toBeUndefined();
  });

  it('the DaemonSet runs the agent without privilege, with the mounts it needs', () => {
    const ds = manifestObjects().find((o) => o.kind === 'DaemonSet') as KubernetesObject & {
      spec: { template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[]; volumes: { name: string; hostPath?: { path: string } }[] } } };
    };
    const pod = ds.spec.template.spec;
    expect(pod).toMatchObject({ serviceAccountName: SA, hostNetwork: true, hostPID: false });
    const ctr = pod.containers[0] as {
      command: string[];
      env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
      securityContext: { privileged?: boolean; capabilities: { drop: string[]; add: string[] } };
      volumeMounts: { mountPath: string; mountPropagation?: string }[];
    };
    expect(ctr.command).toEqual(['lcp', 'agent', '--node', '$(NODE_NAME)', '--metrics-bind-address', '$(NODE_IP):9741']);
    expect(ctr.env.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    // Metrics and health on the node IP (the pod IP with host networking), probed there by the kubelet.
    expect(ctr.env.find((e) => e.name === 'NODE_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.hostIP');
    expect(ctr).toMatchObject({
      ports: [{ name: 'metrics', containerPort: 9741 }],
      livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' } },
      readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' } },
    });
    expect(ctr.securityContext.privileged).toBe(false);
    expect(ctr.securityContext.capabilities.drop).toEqual(['ALL']);
    expect([...ctr.securityContext.capabilities.add].sort()).toEqual(['BPF', 'IPC_LOCK', 'NET_ADMIN', 'NET_RAW', 'SYS_ADMIN']);
    expect(ctr.volumeMounts.find((m) => m.mountPath === '/run/netns')?.mountPropagation).toBe('HostToContainer');
    expect(pod.volumes.map((v) => v.hostPath?.path).filter(Boolean).sort()).toEqual(['/dev/net/tun', '/run/kube-lcp', '/run/netns']);
  });

  describeRoot('the agent and the cluster controller with their ServiceAccount tokens', () => {
    let lab: StandaloneLab;
    let running: RunningClusterAgent | undefined;
    let controller: RunningClusterController | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'lcp-agent-rbac-'));
    const cleanups: (() => Promise<unknown>)[] = [];
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${agentLeaseName(node)}`;

    beforeAll(async () => {
      lab = await buildStandaloneLab(1);
      await rawRequest(admin, 'POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'kubernetes.io/hostname': node } } } });
      cleanups.push(() => rawRequest(admin, 'DELETE', `/api/v1/nodes/${node}`));
      const lcp: LinuxControlPlane = {
        apiVersion: 'lcp.kubelcp.io/v1alpha1',
        kind: 'LinuxControlPlane',
        metadata: { name: `rbac-${run}` },
        spec: { defaultNetns: lab.linux, sync: false, nodeSelector: { matchLabels: { 'kubernetes.io/hostname': node } } },
      };
      await applyObject(admin, lcpPath('linuxcontrolplanes', lcp.metadata.name), lcp, FIELD_MANAGER, true);
      cleanups.push(() => rawRequest(admin, 'DELETE', lcpPath('linuxcontrolplanes', lcp.metadata.name)));
      cleanups.push(() => rawRequest(admin, 'DELETE', lcpPath('nodedataplanes', node)));
      cleanups.push(() => rawRequest(admin, 'DELETE', leasePath));
      running = await startClusterAgent({
        kc: sa,
        node,
        namespace: NS,
        stateDir: dir,
        log: process.env.LCP_TEST_LOG ? makeLogger('debug') : silentLogger(),
        resyncPeriodMs: 1000,
        driftPeriodMs: 1000,
        retryBaseMs: 50,
        retryMaxMs: 500,
        statusMinIntervalMs: 200,
        heartbeatMs: 1000,
      });
      controller = await startClusterController({
        kc: controllerSa,
        identity: `rbac-${run}`,
        namespace: NS,
        log: process.env.LCP_TEST_LOG ? makeLogger('debug') : silentLogger(),
        leaseDurationMs: 3000,
        retryPeriodMs: 300,
        resyncPeriodMs: 1000,
      });
    }, STARTUP_TIMEOUT_MS);

    afterAll(async () => {
      await controller?.stop();
      await running?.stop();
      for (const f of cleanups.reverse()) await f().catch(() => undefined);
      await lab?.lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }, 120_000);

    const getNdp = async (): Promise<NodeDataplane | undefined> =>
      (await rawRequest(admin, 'GET', lcpPath('nodedataplanes', node)).catch(() => undefined)) as NodeDataplane | undefined;

    it('realize a pair, report it (node and pair status, Events), renew their Leases and clean up, with no write refused', async () => {
      const p = lab.peers[0]!;
      const name = `${p.pair}-rbac-${run}`;
      const pair: InterfacePair = {
        apiVersion: 'lcp.kubelcp.io/v1alpha1',
        kind: 'InterfacePair',
        metadata: { name },
        spec: { nodeName: node, port: { name: p.portDev, netns: lab.dut, driver: 'af_packet' }, mirror: { name: p.mirror }, hostConfig: { addresses: [`${p.gw4}/24`] } },
      };
      await applyObject(admin, lcpPath('interfacepairs', name), pair, FIELD_MANAGER, true);
      cleanups.push(() => rawRequest(admin, 'DELETE', lcpPath('interfacepairs', name)));

      // Seen through the SA's informers (list/watch), realized in the kernel.
      expect(await eventually(async () => (netlinkHost.link(lab.linux, p.mirror)) !== undefined, 30_000)).toBe(true);

      // Written with the SA's create/patch on nodedataplanes and patch on /status.
      const generation = ((await rawRequest(admin, 'GET', lcpPath('interfacepairs', name))) as InterfacePair).metadata.generation;
      const readyInApi = async (): Promise<boolean> => {
        const e = (await getNdp())?.status?.pairs?.find((x) => x.name === name);
        return e?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && e.observedGeneration === generation;
      };
      expect(await eventually(readyInApi, 30_000, 200)).toBe(true);
      const managers = (((await getNdp())!.metadata as { managedFields?: { manager?: string; subresource?: string }[] }).managedFields ?? [])
        .filter((m) => m.subresource === 'status')
        .map((m) => m.manager);
      expect(managers).toEqual([AGENT_FIELD_MANAGER]);

      // The controller (list/watch everywhere it reads, its Lease, patch of the pair's /status).
      const getPair = async (): Promise<InterfacePair> => (await rawRequest(admin, 'GET', lcpPath('interfacepairs', name))) as InterfacePair;
      const pairReady = async (want: 'True' | 'False'): Promise<boolean> => {
        const st = (await getPair()).status;
        return st?.conditions?.find((c) => c.type === 'Ready')?.status === want && st.observedGeneration === generation && st.matchedNodes === 1;
      };
      expect(await eventually(() => pairReady('True'), 30_000, 200)).toBe(true);
      expect(controller!.isLeader()).toBe(true);

      // A failure and its fix: transitions, so both write Events (create in "default").
      const lcpName = `rbac-${run}`;
      const settings = (netns: string): LinuxControlPlane => ({
        apiVersion: 'lcp.kubelcp.io/v1alpha1',
        kind: 'LinuxControlPlane',
        metadata: { name: lcpName },
        spec: { defaultNetns: netns, sync: false, nodeSelector: { matchLabels: { 'kubernetes.io/hostname': node } } },
      });
      // The failure: mirrors sent to a netns where a device of the mirror's name is someone else's (NameConflict).
      const taken = await lab.lab.netns('lxt');
      await nsx(taken, 'ip', ['tuntap', 'add', 'dev', p.mirror, 'mode', 'tap']);
      await applyObject(admin, lcpPath('linuxcontrolplanes', lcpName), settings(taken), FIELD_MANAGER, true);
      expect(await eventually(() => pairReady('False'), 30_000, 200)).toBe(true);
      await applyObject(admin, lcpPath('linuxcontrolplanes', lcpName), settings(lab.linux), FIELD_MANAGER, true);
      expect(await eventually(() => pairReady('True'), 30_000, 200)).toBe(true);
      expect(await eventually(() => running!.events.stats.sent >= 2 && controller!.stats.events.sent >= 2, 10_000, 200)).toBe(true);

      // The Lease in kube-lcp (create, then patch on renewal).
      const renewTime = async (): Promise<string | undefined> =>
        ((await rawRequest(admin, 'GET', leasePath).catch(() => undefined)) as { spec?: { renewTime?: string } } | undefined)?.spec?.renewTime;
      expect(await eventually(async () => (await renewTime()) !== undefined, 10_000, 200)).toBe(true);
      const first = await renewTime();
      expect(await eventually(async () => (await renewTime()) !== first, 10_000, 200)).toBe(true);

      // Deleted: the mirror goes and the NodeDataplane says so.
      await rawRequest(admin, 'DELETE', lcpPath('interfacepairs', name));
      expect(await eventually(async () => (netlinkHost.link(lab.linux, p.mirror)) === undefined, 30_000)).toBe(true);
      expect(await eventually(async () => (await getNdp())?.status?.pairs?.some((x) => x.name === name) !== true, 10_000, 200)).toBe(true);

      // Not one status, Lease or Event write was refused along the way.
      expect(running!.status.stats.errors).toBe(0);
      expect(running!.status.stats.leaseRenewals).toBeGreaterThanOrEqual(2);
      expect(running!.events.stats.failed).toBe(0);
      expect(controller!.stats.pairs.errors).toBe(0);
      expect(controller!.stats.pairs.writes).toBeGreaterThanOrEqual(3);
      expect(controller!.stats.elector).toMatchObject({ errors: 0, acquired: 1, lost: 0 });
      expect(controller!.stats.events.failed).toBe(0);
    }, 180_000);
  });
});
