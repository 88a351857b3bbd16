// The agent's metrics and health endpoint in cluster mode, against a real API
// server: /readyz turns 200 once the informers listed and the pair was
// reconciled, and /metrics labels the port with the InterfacePair's name and
// counts the reconciles under controller-runtime's names.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KubeConfig } from '@kubernetes/client-node';

import { DEFAULT_CONCURRENT_RECONCILES } from '../../controller/agent/agent.js';
import { startClusterAgent, type RunningClusterAgent } from '../../controller/agent/cluster.js';
import { silentLogger } from '../../controller/agent/log.js';
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import type { LinuxControlPlane } from '../../controller/api/linux-control-plane.js';
import { applyObject, clusterPath, rawRequest } from '../../controller/k8s/raw.js';
import { buildStandaloneLab, type StandaloneLab } from '../../controller/lab/standalone.js';
import { AGENT_CONTROLLER, AgentEndpoint } from '../../controller/metrics/agent-endpoint.js';
import { describeRoot, eventually } from '../helpers/lab.js';
import { parseExposition, sample } from '../helpers/prom.js';
import { FIELD_MANAGER, STARTUP_TIMEOUT_MS, startCluster, uniqueSuffix, type TestCluster } from './harness.js';

const run = uniqueSuffix();
const node = `node-m-${run}`;
const namespace = `kube-lcp-m-${run}`;
const lcpPath = (plural: string, name?: string): string => clusterPath('lcp.kubelcp.io', 'v1alpha1', plural, name);

describeRoot('agent metrics and health (cluster mode)', () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  let lab: StandaloneLab;
  let endpoint: AgentEndpoint | undefined;
  let running: RunningClusterAgent | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lcp-agent-metrics-'));
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    cluster = await startCluster();
    kc = cluster.adminConfig();
    lab = await buildStandaloneLab(1);
    await rawRequest(kc, 'POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'kubernetes.io/hostname': node } } } });
    cleanups.push(() => rawRequest(kc, 'DELETE', `/api/v1/nodes/${node}`));
    const lcp: LinuxControlPlane = {
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'LinuxControlPlane',
      metadata: { name: `lab-m-${run}` },
      spec: { defaultNetns: lab.linux, sync: false, nodeSelector: { matchLabels: { 'kubernetes.io/hostname': node } } },
    };
    await applyObject(kc, lcpPath('linuxcontrolplanes', lcp.metadata.name), lcp, FIELD_MANAGER, true);
    cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('linuxcontrolplanes', lcp.metadata.name)));
    cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('nodedataplanes', node)));
    cleanups.push(() => rawRequest(kc, 'DELETE', `/api/v1/namespaces/${namespace}`));
  }, STARTUP_TIMEOUT_MS);

  afterAll(async () => {
    await running?.stop();
    await endpoint?.close();
    if (kc) for (const f of cleanups.reverse()) await f().catch(() => undefined);
    await lab?.lab.cleanup();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('is ready after the informers listed and the pair was reconciled, with the pair in the port labels', async () => {
    const p = lab.peers[0]!;
    const name = `${p.pair}-${run}`;
    const pair: InterfacePair = {
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'InterfacePair',
      metadata: { name },
      spec: { nodeName: node, port: { name: p.portDev, netns: lab.dut, driver: 'af_packet' }, mirror: { name: p.mirror } },
    };
    await applyObject(kc, lcpPath('interfacepairs', name), pair, FIELD_MANAGER, true);
    cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('interfacepairs', name)));

    endpoint = await AgentEndpoint.open({ host: '127.0.0.1', port: 0 }, 'cluster', DEFAULT_CONCURRENT_RECONCILES);
    const before = await fetch(`${endpoint.url}/readyz`);
    expect(before.status).toBe(503);
    expect(await before.text()).toMatch(/first sync of the cluster source/);
    running = await startClusterAgent({
      kc, node, namespace, stateDir: dir, log: silentLogger(),
      resyncPeriodMs: 1000, retryBaseMs: 50, retryMaxMs: 500, statusMinIntervalMs: 200, heartbeatMs: 1000,
      endpoint,
    });
    expect(await eventually(async () => (await fetch(`${endpoint!.url}/readyz`)).status === 200, 30_000)).toBe(true);
    const m = parseExposition(await (await fetch(`${endpoint.url}/metrics`)).text());
    expect(sample(m, 'kube_lcp_port_up', { port: p.portDev, netns: lab.dut, pair: name })).toBe(1);
    expect(sample(m, 'controller_runtime_reconcile_total', { controller: AGENT_CONTROLLER, result: 'success' })).toBeGreaterThanOrEqual(2);
    expect(sample(m, 'workqueue_adds_total', { name: AGENT_CONTROLLER, controller: AGENT_CONTROLLER })).toBeGreaterThanOrEqual(2);
  });
});
