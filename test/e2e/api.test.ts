// The API contract against a real kube-apiserver (test/e2e/harness.ts): the
// CRDs install, valid objects apply through client-node, invalid ones are
// refused by the server's OpenAPI and CEL rules with messages a person can act
// on, status is a subresource, printer columns make `kubectl get` useful.
import { ApiException, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import type { ObjectMeta } from '../../controller/api/kube-schema.js';
import type { LinuxControlPlane } from '../../controller/api/linux-control-plane.js';
import type { NodeDataplane } from '../../controller/api/node-dataplane.js';
import { applyObject, ApiError, clusterPath, rawRequest } from '../../controller/k8s/raw.js';
import { FIELD_MANAGER, STARTUP_TIMEOUT_MS, startCluster, uniqueSuffix, type TestCluster } from './harness.js';

const GROUP = 'lcp.kubelcp.io';
const VERSION = 'v1alpha1';
const run = uniqueSuffix();
const lipPath = (name?: string, sub?: string): string => clusterPath(GROUP, VERSION, 'interfacepairs', name, sub);

let cluster: TestCluster;
let objects: KubernetesObjectApi;
const created: KubernetesObject[] = [];

const pair = (name: string, spec: Partial<InterfacePair['spec']> = {}): InterfacePair => ({
  apiVersion: 'lcp.kubelcp.io/v1alpha1',
  kind: 'InterfacePair',
  metadata: { name: `${name}-${run}` },
  spec: { nodeName: 'node-a', port: { name: 'eth1', netns: 'dut' }, mirror: { name: 'e1', netns: 'linux' }, ...spec },
});

/** Server-side apply through client-node, as `kubectl apply --server-side` does. */
// client-node types metadata timestamps as Date (its deserializer makes them);
// ours are the wire's strings, hence the one cast.
type Obj = { apiVersion: string; kind: string; metadata: ObjectMeta };
async function apply<T extends Obj>(obj: T): Promise<T> {
  const k8sObj = obj as unknown as KubernetesObject;
  const out = await objects.patch(k8sObj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  if (!created.some((c) => c.kind === obj.kind && c.metadata?.name === obj.metadata.name)) created.push(k8sObj);
  return out as unknown as T;
}

/** The API server's message for a refused apply. */
async function refusal(obj: Obj, code = 422): Promise<string> {
  try {
    await apply(obj);
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    const message = (body as { message: string }).message;
    expect([err.code, message]).toEqual([code, message]);
    return message;
  }
  throw new Error(`${obj.kind} ${obj.metadata.name} was accepted`);
}

beforeAll(async () => {
  cluster = await startCluster();
  objects = KubernetesObjectApi.makeApiClient(cluster.adminConfig());
}, STARTUP_TIMEOUT_MS);

afterAll(async () => {
  if (!cluster) return;
  try {
    for (const obj of created.reverse()) await objects.delete(obj).catch(() => undefined);
  } finally {
    await cluster.stop();
  }
}, 60_000);

describe('the CRDs', () => {
  it('serve all three kinds, cluster-scoped, with short names and status subresources', async () => {
    const list = (await rawRequest(cluster.adminConfig(), 'GET', `/apis/${GROUP}/${VERSION}`)) as {
      resources: { name: string; namespaced: boolean; shortNames?: string[]; kind: string }[];
    };
    const byName = new Map(list.resources.map((r) => [r.name, r]));
    expect(byName.get('interfacepairs')).toMatchObject({ kind: 'InterfacePair', namespaced: false, shortNames: ['lip'] });
    expect(byName.get('nodedataplanes')).toMatchObject({ kind: 'NodeDataplane', namespaced: false, shortNames: ['ndp'] });
    expect(byName.get('linuxcontrolplanes')).toMatchObject({ kind: 'LinuxControlPlane', namespaced: false });
    for (const r of ['interfacepairs', 'nodedataplanes', 'linuxcontrolplanes']) expect(byName.has(`${r}/status`)).toBe(true);
  });
});

describe('valid objects', () => {
  it('apply server-side through client-node and come back with defaults', async () => {
    const p = pair('valid', {
      mirror: { name: 'e1', netns: 'linux', kind: 'tap', mtu: 9000, mac: '02:00:00:00:00:01' },
      hostConfig: { addresses: ['10.0.0.1/24', '2001:db8::1/64'] },
    });
    const out = await apply(p);
    expect(out.metadata.generation).toBe(1);
    expect(out.spec.port.driver).toBe('auto');
    expect(out.spec.hostConfig?.addresses).toEqual(['10.0.0.1/24', '2001:db8::1/64']);
  });

  it('take a label selector, including one that matches no node', async () => {
    const p = pair('selector', { nodeName: undefined, nodeSelector: { matchLabels: { 'kubelcp.io/no-such-label': 'x' } } });
    delete p.spec.nodeName;
    await expect(apply(p)).resolves.toBeDefined();
  });

  it('let a LinuxControlPlane and a NodeDataplane be applied, status through its subresource only', async () => {
    const lcp: LinuxControlPlane = {
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'LinuxControlPlane',
      metadata: { name: `default-${run}` },
      spec: { defaultNetns: 'linux', sync: true, routes: { tables: [254], protocols: [12] }, dataplane: { workers: 2 } },
    };
    const gotLcp = await apply(lcp);
    expect(gotLcp.spec.priority).toBe(0);

    const name = `node-a-${run}`;
    const ndp: NodeDataplane = { apiVersion: 'lcp.kubelcp.io/v1alpha1', kind: 'NodeDataplane', metadata: { name } };
    await apply(ndp);
    const status: NodeDataplane['status'] = {
      agentVersion: '0.1.0',
      pairsTotal: 2,
      pairsReady: 1,
      routes: 42,
      restartCount: 0,
      pairs: [{ name: 'p1', observedGeneration: 1, conditions: [] }],
      conditions: [{ type: 'Ready', status: 'False', reason: 'PairsNotReady', message: '1 of 2', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 }],
    };
    const kc = cluster.adminConfig();
    const ndpPath = clusterPath(GROUP, VERSION, 'nodedataplanes', name);
    // Status on the main resource is dropped (the subresource owns it) ...
    await applyObject(kc, ndpPath, { ...ndp, status }, 'kube-lcp-agent');
    expect(((await rawRequest(kc, 'GET', ndpPath)) as NodeDataplane).status).toBeUndefined();
    // ... and written through /status with the agent's own field manager.
    await applyObject(kc, `${ndpPath}/status`, { ...ndp, status }, 'kube-lcp-agent');
    const got = (await rawRequest(kc, 'GET', ndpPath)) as NodeDataplane;
    expect(got.status?.pairsReady).toBe(1);
    expect(got.status?.conditions?.[0]?.reason).toBe('PairsNotReady');
  });
});

describe('invalid specs are refused by the API server', () => {
  it.each<[string, Partial<InterfacePair['spec']> | Record<string, unknown>, string]>([
    ['a 16-character mirror name', { mirror: { name: 'abcdefghijklmnop' } }, 'spec.mirror.name: Too long: may not be more than 15'],
    ['a slash in a mirror name', { mirror: { name: 'e/1' } }, 'spec.mirror.name: Invalid value: "e/1"'],
    ['a shell metacharacter in a port name', { port: { name: 'eth1;reboot' } }, 'spec.port.name: Invalid value: "eth1;reboot"'],
    ['a path as a netns', { port: { name: 'eth1', netns: '../../proc/1/ns/net' } }, 'spec.port.netns: Invalid value'],
    ['".." as a netns', { mirror: { name: 'e1', netns: '..' } }, "spec.mirror.netns: Invalid value: \"..\": must not be '.' or '..'"],
    ['an unknown mirror kind', { mirror: { name: 'e1', kind: 'veth' } }, 'spec.mirror.kind: Unsupported value: "veth"'],
    ['an unknown driver', { port: { name: 'eth1', driver: 'dpdk' } }, 'spec.port.driver: Unsupported value: "dpdk"'],
    ['an MTU of 9001', { mirror: { name: 'e1', mtu: 9001 } }, 'spec.mirror.mtu: Invalid value: 9001'],
    ['an MTU of 67', { mirror: { name: 'e1', mtu: 67 } }, 'spec.mirror.mtu: Invalid value: 67'],
    ['a malformed MAC', { mirror: { name: 'e1', mac: '02-00-00-00-00-01' } }, 'spec.mirror.mac: Invalid value: "02-00-00-00-00-01"'],
    ['a multicast MAC', { mirror: { name: 'e1', mac: '01:00:5e:00:00:01' } }, 'spec.mirror.mac: Invalid value: "01:00:5e:00:00:01": must be a unicast MAC'],
    ['a MAC on a tun mirror', { mirror: { name: 'e1', kind: 'tun', mac: '02:00:00:00:00:01' } }, 'spec.mirror.mac: Forbidden: a tun mirror has no MAC address'],
    ['both nodeName and nodeSelector', { nodeSelector: {} }, 'spec: Invalid value: set exactly one of nodeName and nodeSelector'],
    ['an address without a prefix length', { hostConfig: { addresses: ['10.0.0.1'] } }, "'10.0.0.1' is not an address with a prefix length"],
    ['an IPv6 prefix length of 129', { hostConfig: { addresses: ['2001:db8::1/129'] } }, "'2001:db8::1/129' is not an address"],
    ['In without values', { nodeName: undefined, nodeSelector: { matchExpressions: [{ key: 'k', operator: 'In' }] } }, 'In and NotIn need values'],
    ['the mirror name "all"', { mirror: { name: 'all' } }, "spec.mirror.name: Invalid value: \"all\": must not be 'all' or 'default'"],
    ['the port name "default"', { port: { name: 'default' } }, "spec.port.name: Invalid value: \"default\": must not be 'all' or 'default'"],
    ['an all-zero MAC', { mirror: { name: 'e1', mac: '00:00:00:00:00:00' } }, 'spec.mirror.mac: Invalid value: "00:00:00:00:00:00": must not be all zeros'],
    ['0.0.0.0/0 as an address', { hostConfig: { addresses: ['0.0.0.0/0'] } }, 'must not be the unspecified address'],
    [':: as an address', { hostConfig: { addresses: ['::/64'] } }, 'must not be the unspecified address'],
    ['a label key that is no label key', { nodeName: undefined, nodeSelector: { matchLabels: { 'bad key!': 'x' } } }, 'keys must be label keys'],
    ['a label value that is no label value', { nodeName: undefined, nodeSelector: { matchLabels: { role: 'a b' } } }, 'spec.nodeSelector.matchLabels.role: Invalid value: "a b"'],
    ['an expression key that is no label key', { nodeName: undefined, nodeSelector: { matchExpressions: [{ key: '-k', operator: 'Exists' }] } }, 'spec.nodeSelector.matchExpressions[0].key: Invalid value: "-k"'],
    ['an expression value that is no label value', { nodeName: undefined, nodeSelector: { matchExpressions: [{ key: 'k', operator: 'In', values: ['x/y'] }] } }, 'spec.nodeSelector.matchExpressions[0].values[0]: Invalid value: "x/y"'],
  ])('refuses %s', async (_what, spec, message) => {
    const p = pair('bad', spec as Partial<InterfacePair['spec']>);
    if ((spec as { nodeName?: unknown }).nodeName === undefined && 'nodeName' in spec) delete p.spec.nodeName;
    expect(await refusal(p)).toContain(message);
  });

  it('refuses a duplicate address (server-side apply refuses duplicates in a set, before validation, with a 500)', async () => {
    const p = pair('dup', { hostConfig: { addresses: ['10.0.0.1/24', '10.0.0.1/24'] } });
    expect(await refusal(p, 500)).toMatch(/\.spec\.hostConfig\.addresses: duplicate entries for key \[="10\.0\.0\.1\/24"\]/);
  });

  it('refuses a pair with neither nodeName nor nodeSelector', async () => {
    const p = pair('nonode');
    delete p.spec.nodeName;
    expect(await refusal(p)).toContain('set exactly one of nodeName and nodeSelector');
  });

  it('refuses changes that would replace the mirror or the port, and allows MTU changes in place', async () => {
    const p = pair('immutable', { mirror: { name: 'e1', netns: 'linux', kind: 'tap' } });
    await apply(p);
    const changed = (spec: Partial<InterfacePair['spec']>): InterfacePair => ({ ...p, spec: { ...p.spec, ...spec } });
    expect(await refusal(changed({ mirror: { name: 'e1', netns: 'linux', kind: 'tun' } }))).toContain(
      'spec.mirror.kind: Forbidden: is immutable',
    );
    expect(await refusal(changed({ mirror: { name: 'e1', netns: 'other', kind: 'tap' } }))).toContain(
      'spec.mirror.netns: Forbidden: is immutable',
    );
    expect(await refusal(changed({ mirror: { name: 'e1', kind: 'tap' } }))).toContain('spec.mirror.netns: Forbidden: is immutable');
    expect(await refusal(changed({ port: { name: 'eth2', netns: 'dut' } }))).toContain('spec.port.name: Forbidden: is immutable');
    expect(await refusal(changed({ port: { name: 'eth1', netns: 'other' } }))).toContain('spec.port.netns: Forbidden: is immutable');
    const out = await apply(changed({ mirror: { name: 'e1', netns: 'linux', kind: 'tap', mtu: 1400 } }));
    expect(out.spec.mirror.mtu).toBe(1400);
    expect(out.metadata.generation).toBe(2);
  });

  it('refuses an out-of-range LinuxControlPlane', async () => {
    const lcp: LinuxControlPlane = {
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'LinuxControlPlane',
      metadata: { name: `bad-${run}` },
      spec: { defaultNetns: 'a/b', routes: { protocols: [256] } },
    };
    const msg = await refusal(lcp);
    expect(msg).toContain('spec.defaultNetns: Invalid value: "a/b"');
    expect(msg).toContain('spec.routes.protocols[0]: Invalid value: 256');
  });
});

describe('printer columns', () => {
  interface Table {
    columnDefinitions: { name: string }[];
    rows: { cells: unknown[] }[];
  }
  const table = (path: string): Promise<Table> =>
    rawRequest(cluster.adminConfig(), 'GET', path, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }) as Promise<Table>;

  it('make `kubectl get lip` a fleet view', async () => {
    await apply(pair('columns'));
    const t = await table(lipPath(`columns-${run}`));
    expect(t.columnDefinitions.map((c) => c.name)).toEqual(
      ['Name', 'Ready', 'Matched', 'Ready-Nodes', 'Failed', 'Reason', 'Port', 'Mirror', 'Node', 'Age'],
    );
    expect(t.rows[0]?.cells.slice(6, 9)).toEqual(['eth1', 'e1', 'node-a']);
  });

  it('show per-node pairs, routes and restarts for `kubectl get ndp`', async () => {
    const name = `columns-${run}`;
    const ndp: NodeDataplane = { apiVersion: 'lcp.kubelcp.io/v1alpha1', kind: 'NodeDataplane', metadata: { name } };
    await apply(ndp);
    const status: NodeDataplane['status'] = {
      pairsTotal: 2,
      pairsReady: 1,
      routes: 42,
      conditions: [{ type: 'Ready', status: 'False', reason: 'PairsNotReady', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }],
    };
    const path = clusterPath(GROUP, VERSION, 'nodedataplanes', name);
    await applyObject(cluster.adminConfig(), `${path}/status`, { ...ndp, status }, 'kube-lcp-agent');
    const t = await table(path);
    expect(t.columnDefinitions.map((c) => c.name)).toEqual(
      ['Name', 'Ready', 'Pairs-Ready', 'Pairs', 'Routes', 'Last-Sync', 'Restarts', 'Version', 'Age'],
    );
    expect(t.rows[0]?.cells.slice(1, 5)).toEqual(['False', 1, 2, 42]);
  });
});

describe('RBAC', () => {
  it('is on: a user with no role binding may not list pairs', async () => {
    if (cluster.external) return; // needs the test CA to mint a user
    const kc = cluster.userConfig('nobody', []);
    await expect(rawRequest(kc, 'GET', lipPath())).rejects.toMatchObject({ status: 403 } satisfies Partial<ApiError>);
  });
});
