// The agent in cluster mode against a real API server and real kernel
// devices: an InterfacePair applied for this node becomes a mirror in its
// netns, the node's NodeDataplane (written by the agent, server-side apply on
// /status) reports it Ready at the current generation, the heartbeat Lease is
// renewed, and deleting the pair removes the mirror and gives the port back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KubeConfig } from '@kubernetes/client-node';

import { startClusterAgent, type RunningClusterAgent } from '../../controller/agent/cluster.js';
import { AGENT_FIELD_MANAGER } from '../../controller/agent/cluster-status.js';
import { agentLeaseName } from '../../controller/api/lease.js';
import { netlinkHost } from '../../dataplane/host.js';
import { ownerMark } from '../../controller/agent/owned.js';
import { ownerTagFor } from '../../controller/agent/agent.js';
import { makeLogger, silentLogger } from '../../controller/agent/log.js';
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import type { LinuxControlPlane } from '../../controller/api/linux-control-plane.js';
import type { NodeDataplane } from '../../controller/api/node-dataplane.js';
import { applyObject, clusterPath, rawRequest } from '../../controller/k8s/raw.js';
import { buildStandaloneLab, type StandaloneLab } from '../../controller/lab/standalone.js';
import { describeRoot, eventually, nsx } from '../helpers/lab.js';
import { FIELD_MANAGER, STARTUP_TIMEOUT_MS, startCluster, uniqueSuffix, type TestCluster } from './harness.js';

const run = uniqueSuffix();
const node = `node-x-${run}`;
const namespace = `kube-lcp-${run}`;
const lcpPath = (plural: string, name?: string, sub?: string): string => clusterPath('lcp.kubelcp.io', 'v1alpha1', plural, name, sub);
const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${agentLeaseName(node)}`;

interface Lease {
  spec?: { holderIdentity?: string; renewTime?: string };
  metadata: { managedFields?: { manager?: string }[] };
}

describeRoot('agent (cluster mode)', () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  let lab: StandaloneLab;
  let running: RunningClusterAgent | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lcp-agent-cluster-'));
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    cluster = await startCluster();
    kc = cluster.adminConfig();
    lab = await buildStandaloneLab(1);
    // No kubelet here: the test makes this node's Node object, with the labels selectors see.
    await rawRequest(kc, 'POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { role: 'test', 'kubernetes.io/hostname': node } } } });
    cleanups.push(() => rawRequest(kc, 'DELETE', `/api/v1/nodes/${node}`));
    const lcp: LinuxControlPlane = {
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'LinuxControlPlane',
      metadata: { name: `lab-${run}` },
      spec: { defaultNetns: lab.linux, sync: false, nodeSelector: { matchLabels: { 'kubernetes.io/hostname': node } } },
    };
    await applyObject(kc, lcpPath('linuxcontrolplanes', lcp.metadata.name), lcp, FIELD_MANAGER, true);
    cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('linuxcontrolplanes', lcp.metadata.name)));
    cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('nodedataplanes', node)));
    cleanups.push(() => rawRequest(kc, 'DELETE', `/api/v1/namespaces/${namespace}`));
    running = await startClusterAgent({
      kc,
      node,
      namespace,
      stateDir: dir,
      log: process.env.LCP_TEST_LOG ? makeLogger('debug') : silentLogger(),
      resyncPeriodMs: 1000,
      driftPeriodMs: 1000,
      retryBaseMs: 50,
      retryMaxMs: 500,
      statusMinIntervalMs: 200,
      heartbeatMs: 1000,
    });
  }, STARTUP_TIMEOUT_MS);

  afterAll(async () => {
    await running?.stop();
    if (kc) for (const f of cleanups.reverse()) await f().catch(() => undefined);
    await lab?.lab.cleanup();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  const getNdp = async (): Promise<NodeDataplane | undefined> =>
    (await rawRequest(kc, 'GET', lcpPath('nodedataplanes', node)).catch(() => undefined)) as NodeDataplane | undefined;

  it('applies a pair as a mirror, reports it Ready in its NodeDataplane, renews the Lease, and cleans up on delete', async () => {
    const p = lab.peers[0]!;
    const name = `${p.pair}-${run}`;
    const pair: InterfacePair = {
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'InterfacePair',
      metadata: { name },
      spec: { nodeName: node, port: { name: p.portDev, netns: lab.dut, driver: 'af_packet' }, mirror: { name: p.mirror }, hostConfig: { addresses: [`${p.gw4}/24`] } },
    };
    await applyObject(kc, lcpPath('interfacepairs', name), pair, FIELD_MANAGER, true);
    cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('interfacepairs', name)));

    // The mirror, in the LinuxControlPlane's netns, with its name and our mark.
    expect(await eventually(async () => (netlinkHost.link(lab.linux, p.mirror)) !== undefined, 30_000)).toBe(true);
    expect(netlinkHost.link(lab.linux, p.mirror)).toMatchObject({ name: p.mirror, alias: ownerMark(ownerTagFor(node)) });
    expect(running!.agent.dp.ports().map((x) => x.name)).toEqual([p.portDev]);

    // The NodeDataplane in the API server says so, at the pair's current generation.
    const stored = (await rawRequest(kc, 'GET', lcpPath('interfacepairs', name))) as InterfacePair;
    const generation = stored.metadata.generation;
    expect(generation).toBeGreaterThanOrEqual(1);
    const readyInApi = async (): Promise<boolean> => {
      const e = (await getNdp())?.status?.pairs?.find((x) => x.name === name);
      const ready = e?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && e?.observedGeneration === generation && ready.observedGeneration === generation;
    };
    expect(await eventually(readyInApi, 30_000, 200)).toBe(true);
    const ndp = (await getNdp())!;
    expect(ndp.metadata.name).toBe(node);
    expect(ndp.status?.pairsReady).toBe(1);
    const managers = ((ndp.metadata as { managedFields?: { manager?: string; subresource?: string }[] }).managedFields ?? [])
      .filter((m) => m.subresource === 'status')
      .map((m) => m.manager);
    expect(managers).toEqual([AGENT_FIELD_MANAGER]);

    // The heartbeat Lease exists, is held by this node and is renewed.
    const lease1 = (await rawRequest(kc, 'GET', leasePath)) as Lease;
    expect(lease1.spec?.holderIdentity).toBe(node);
    expect(await eventually(async () => ((await rawRequest(kc, 'GET', leasePath)) as Lease).spec?.renewTime !== lease1.spec?.renewTime, 10_000, 200)).toBe(true);

    // Deleting the pair removes the mirror and gives the port back to the kernel.
    await rawRequest(kc, 'DELETE', lcpPath('interfacepairs', name));
    expect(await eventually(async () => (netlinkHost.link(lab.linux, p.mirror)) === undefined, 30_000)).toBe(true);
    expect(await eventually(() => running!.agent.dp.ports().length === 0, 10_000)).toBe(true);
    // Its sockets close off the event loop (kernel grace periods): IPv6 comes back just after.
    expect(await eventually(async () => (await nsx(lab.dut, 'sysctl', ['-n', `net.ipv6.conf.${p.portDev}.disable_ipv6`])).trim() === '0', 5_000)).toBe(true);
    expect(await eventually(async () => (await getNdp())?.status?.pairs?.some((x) => x.name === name) !== true, 10_000, 200)).toBe(true);
  }, 180_000);
});
