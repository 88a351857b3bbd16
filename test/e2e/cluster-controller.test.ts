// The cluster controller against a real API server, with two real agents
// (node-a and node-b, in this process, each with its own mirror netns through
// its own LinuxControlPlane) and two controller replicas: one InterfacePair
// selecting both nodes by label gets its aggregated status (counts, sample of
// failing nodes, Ready/Progressing/Degraded, observedGeneration) from the
// leader alone; Events mark transitions only; a stopped agent is reported
// stale; the standby takes over when the leader stops.
//
// One kernel plays two nodes: the pair names one port netdev, so both agents
// take over the same veth end (each with its own dataplane and its own mirror
// in its own netns). What differs per node is the LinuxControlPlane, which is
// how node-b is made to fail (its mirrors sent into node-a's netns, where node-a's
// mirror of the same name is: NameConflict).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KubeConfig } from '@kubernetes/client-node';

import { startClusterAgent, type RunningClusterAgent } from '../../controller/agent/cluster.js';
import { AGENT_FIELD_MANAGER } from '../../controller/agent/cluster-status.js';
import { agentLeaseName } from '../../controller/api/lease.js';
import { netlinkHost } from '../../dataplane/host.js';
import { makeLogger, silentLogger } from '../../controller/agent/log.js';
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import type { LinuxControlPlane } from '../../controller/api/linux-control-plane.js';
import { CONTROLLER_FIELD_MANAGER, CONTROLLER_LEASE, startClusterController, type RunningClusterController } from '../../controller/cluster/controller.js';
import { applyObject, clusterPath, rawRequest } from '../../controller/k8s/raw.js';
import { buildStandaloneLab, type StandaloneLab } from '../../controller/lab/standalone.js';
import { describeRoot, eventually, sleep } from '../helpers/lab.js';
import { FIELD_MANAGER, STARTUP_TIMEOUT_MS, startCluster, uniqueSuffix, type TestCluster } from './harness.js';

const run = uniqueSuffix();
const nodeA = `node-a-${run}`;
const nodeB = `node-b-${run}`;
const namespace = `kube-lcp-${run}`;
const pairName = `uplink-${run}`;
const lcpPath = (plural: string, name?: string, sub?: string): string => clusterPath('lcp.kubelcp.io', 'v1alpha1', plural, name, sub);
const log = () => (process.env.LCP_TEST_LOG ? makeLogger('debug') : silentLogger());

interface EventObject {
  reason?: string;
  type?: string;
  action?: string;
  note?: string;
  reportingController?: string;
  reportingInstance?: string;
  regarding?: { name?: string; kind?: string; uid?: string };
  eventTime?: string;
  metadata?: { name?: string; creationTimestamp?: string };
}

describeRoot('cluster controller', () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  let lab: StandaloneLab;
  let linuxB: string;
  const agents = new Map<string, RunningClusterAgent>();
  const controllers: RunningClusterController[] = [];
  const dirs: string[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  const lcpFor = (node: string, netns: string): LinuxControlPlane => ({
    apiVersion: 'lcp.kubelcp.io/v1alpha1',
    kind: 'LinuxControlPlane',
    metadata: { name: `${node}-settings` },
    spec: { defaultNetns: netns, sync: false, nodeSelector: { matchLabels: { 'kubernetes.io/hostname': node } } },
  });

  const startAgent = async (node: string): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), `lcp-ctrl-${node}-`));
    dirs.push(dir);
    agents.set(node, await startClusterAgent({
      kc, node, namespace, stateDir: dir, log: log(),
      resyncPeriodMs: 1000, driftPeriodMs: 5000, retryBaseMs: 50, retryMaxMs: 500,
      statusMinIntervalMs: 200, heartbeatMs: 500,
      // Long enough that a loaded machine never lets a live agent's Lease lapse (a stale flap
      // would add transitions); the stale test waits this long once.
      leaseDurationSeconds: 8,
    }));
  };

  const startController = async (id: string): Promise<RunningClusterController> => {
    const c = await startClusterController({ kc, log: log(), identity: id, namespace, leaseDurationMs: 2000, retryPeriodMs: 200, resyncPeriodMs: 1000 });
    controllers.push(c);
    return c;
  };

  beforeAll(async () => {
    cluster = await startCluster();
    kc = cluster.adminConfig();
    lab = await buildStandaloneLab(1);
    linuxB = await lab.lab.netns('lx');
    for (const node of [nodeA, nodeB]) {
      await rawRequest(kc, 'POST', '/api/v1/nodes', {
        body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'lcp-e2e': run, 'kubernetes.io/hostname': node } } },
      });
      cleanups.push(() => rawRequest(kc, 'DELETE', `/api/v1/nodes/${node}`));
      cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('nodedataplanes', node)));
      const lcp = lcpFor(node, node === nodeA ? lab.linux : linuxB);
      await applyObject(kc, lcpPath('linuxcontrolplanes', lcp.metadata.name), lcp, FIELD_MANAGER, true);
      cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('linuxcontrolplanes', lcp.metadata.name)));
    }
    cleanups.push(() => rawRequest(kc, 'DELETE', `/api/v1/namespaces/${namespace}`));
    await startAgent(nodeA);
    await startAgent(nodeB);
    // Both agents have reported once (NodeDataplane and heartbeat Lease): until then a node
    // has no agent as far as anyone can tell, which the controller would rightly say.
    const reported = async (node: string): Promise<boolean> =>
      (await rawRequest(kc, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${agentLeaseName(node)}`).then(() => true, () => false)) &&
      (await rawRequest(kc, 'GET', lcpPath('nodedataplanes', node)).then(() => true, () => false));
    if (!(await eventually(async () => (await reported(nodeA)) && (await reported(nodeB)), 30_000, 100))) throw new Error('agents did not report');
    await startController('replica-1');
    await startController('replica-2');
  }, STARTUP_TIMEOUT_MS);

  afterAll(async () => {
    for (const c of controllers) await c.stop().catch(() => undefined);
    for (const a of agents.values()) await a.stop().catch(() => undefined);
    if (kc) for (const f of cleanups.reverse()) await f().catch(() => undefined);
    await lab?.lab.cleanup();
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 120_000);

  const getPair = async (): Promise<InterfacePair> => (await rawRequest(kc, 'GET', lcpPath('interfacepairs', pairName))) as InterfacePair;
  const condition = (p: InterfacePair, type: string) => p.status?.conditions?.find((c) => c.type === type);
  /** Waits until the stored pair satisfies `ok`; fails with the last status seen. */
  const waitPair = async (ok: (p: InterfacePair) => boolean, timeoutMs = 30_000): Promise<InterfacePair> => {
    let last: InterfacePair | undefined;
    const met = await eventually(async () => ok((last = await getPair())), timeoutMs, 200);
    if (!met) throw new Error(`pair status never matched; last: ${JSON.stringify(last?.status, null, 1)}`);
    return last!;
  };
  const events = async (): Promise<EventObject[]> => {
    const list = (await rawRequest(kc, 'GET', '/apis/events.k8s.io/v1/namespaces/default/events')) as { items: EventObject[] };
    return list.items
      .filter((e) => e.regarding?.name === pairName)
      .sort((a, b) => (a.eventTime ?? '').localeCompare(b.eventTime ?? ''));
  };
  const leaders = (): RunningClusterController[] => controllers.filter((c) => c.isLeader());

  it('reports a pair selecting both nodes Ready=True AllNodesReady with counts and the current observedGeneration', async () => {
    const p = lab.peers[0]!;
    const pair: InterfacePair = {
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'InterfacePair',
      metadata: { name: pairName },
      spec: { nodeSelector: { matchLabels: { 'lcp-e2e': run } }, port: { name: p.portDev, netns: lab.dut, driver: 'af_packet' }, mirror: { name: p.mirror } },
    };
    await applyObject(kc, lcpPath('interfacepairs', pairName), pair, FIELD_MANAGER, true);
    cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('interfacepairs', pairName)));
    const generation = (await getPair()).metadata.generation;

    const done = await waitPair((x) => condition(x, 'Ready')?.status === 'True' && x.status?.readyNodes === 2);
    expect(done.status).toMatchObject({ observedGeneration: generation, matchedNodes: 2, readyNodes: 2, progressingNodes: 0, failedNodes: 0, staleNodes: 0 });
    expect(condition(done, 'Ready')).toMatchObject({ reason: 'AllNodesReady', observedGeneration: generation });
    expect(condition(done, 'Progressing')).toMatchObject({ status: 'False' });
    expect(condition(done, 'Degraded')).toMatchObject({ status: 'False' });
    expect(done.status?.failingNodes).toBeUndefined();
    // Both mirrors are real, one per node, each in its node's netns.
    expect(netlinkHost.link(lab.linux, p.mirror)).toBeDefined();
    expect(netlinkHost.link(linuxB, p.mirror)).toBeDefined();
    // The controller is the only writer of the pair's status.
    const managers = ((done.metadata as { managedFields?: { manager?: string; subresource?: string }[] }).managedFields ?? [])
      .filter((m) => m.subresource === 'status')
      .map((m) => m.manager);
    expect(managers).toEqual([CONTROLLER_FIELD_MANAGER]);
    // Two replicas, one leader.
    expect(leaders()).toHaveLength(1);
  }, 120_000);

  it('a node that fails makes the pair Ready=False and Degraded SomeNodesFailed naming it; fixing it recovers', async () => {
    // node-b's mirrors now belong in node-a's netns, where node-a's mirror of the same name is
    // (another owner's: never taken). A netns that does not exist would be refused instead,
    // the working mirrors kept (test/agent/agent.test.ts).
    const broken = lcpFor(nodeB, lab.linux);
    await applyObject(kc, lcpPath('linuxcontrolplanes', broken.metadata.name), broken, FIELD_MANAGER, true);
    const failed = await waitPair((x) => x.status?.failedNodes === 1);
    expect(failed.status).toMatchObject({ matchedNodes: 2, readyNodes: 1, failedNodes: 1, staleNodes: 0 });
    expect(condition(failed, 'Ready')).toMatchObject({ status: 'False', reason: 'PartiallyReady' });
    expect(condition(failed, 'Ready')?.message).toContain(`${nodeB} (NameConflict)`);
    expect(condition(failed, 'Degraded')).toMatchObject({ status: 'True', reason: 'SomeNodesFailed' });
    expect(condition(failed, 'Degraded')?.message).toContain(nodeB);
    expect(failed.status?.failingNodes).toEqual([expect.objectContaining({ node: nodeB, reason: 'NameConflict' })]);

    await applyObject(kc, lcpPath('linuxcontrolplanes', broken.metadata.name), lcpFor(nodeB, linuxB), FIELD_MANAGER, true);
    const fixed = await waitPair((x) => condition(x, 'Ready')?.status === 'True');
    expect(fixed.status).toMatchObject({ readyNodes: 2, failedNodes: 0 });
    expect(condition(fixed, 'Degraded')).toMatchObject({ status: 'False' });
    expect(fixed.status?.failingNodes).toBeUndefined();
  }, 120_000);

  it('records Events for condition transitions only, never again for an unchanged status', async () => {
    // An Event follows the status write it describes: wait for the last transitions' Events.
    let all: EventObject[] = [];
    await eventually(async () => {
      all = await events();
      const recovered = all.filter((e) => e.reportingController === CONTROLLER_FIELD_MANAGER && e.action === 'DegradedChanged' && e.reason === 'NoFailures');
      const fromNodeB = all.filter((e) => e.reportingInstance === nodeB && e.reportingController === AGENT_FIELD_MANAGER);
      return recovered.length >= 1 && fromNodeB.length >= 2;
    }, 10_000, 200);
    const fromController = all.filter((e) => e.reportingController === CONTROLLER_FIELD_MANAGER);
    const summary = fromController.map((e) => `${e.action} ${e.reason} ${e.type}`);
    const context = `controller events:\n${fromController.map((e) => `  ${e.note}`).join('\n')}`;
    if (summary.filter((x) => x.startsWith('DegradedChanged')).length !== 2) throw new Error(context);
    // The failure and the recovery, each once.
    expect(summary.filter((s) => s === 'DegradedChanged SomeNodesFailed Warning')).toHaveLength(1);
    expect(summary.filter((s) => s.startsWith('DegradedChanged NoFailures'))).toHaveLength(1);
    expect(summary.filter((s) => s.startsWith('ReadyChanged AllNodesReady'))).toHaveLength(2);
    // About the pair itself (its uid: `kubectl describe lip` finds them).
    const uid = (await getPair()).metadata.uid;
    expect(fromController.every((e) => e.regarding?.kind === 'InterfacePair' && e.regarding.uid === uid)).toBe(true);
    // Each event is a change: the same condition never "changes" to the same status twice in a row.
    const last = new Map<string, string>();
    for (const e of fromController) {
      const to = / -> (\w+):/.exec(e.note ?? '')?.[1] ?? '?';
      expect(`${e.action}=${last.get(e.action ?? '')}`).not.toBe(`${e.action}=${to}`);
      last.set(e.action ?? '', to);
    }
    // node-b's agent said so too, once each way, as itself.
    const fromB = all.filter((e) => e.reportingController === AGENT_FIELD_MANAGER && e.reportingInstance === nodeB);
    expect(fromB.map((e) => `${e.reason} ${e.type}`)).toEqual(['NameConflict Warning', 'Ready Normal']);
    expect(all.filter((e) => e.reportingInstance === nodeA && e.reason === 'NameConflict')).toEqual([]);

    // Heartbeats, status rewrites and resyncs (1 s here) go by: nothing new to say.
    await sleep(4000);
    const seen = new Set(all.map((e) => e.metadata?.name));
    const later = (await events()).filter((e) => !seen.has(e.metadata?.name));
    expect(later.map((e) => `${e.reportingInstance} ${e.action} ${e.reason}: ${e.note}`)).toEqual([]);
  }, 60_000);

  it('elects one leader of two replicas; when it stops, the other takes over and keeps writing status', async () => {
    expect(leaders()).toHaveLength(1);
    const leader = leaders()[0]!;
    const standby = controllers.find((c) => c !== leader)!;
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${CONTROLLER_LEASE}`;
    const holder = async (): Promise<string | undefined> =>
      ((await rawRequest(kc, 'GET', leasePath)) as { spec?: { holderIdentity?: string } }).spec?.holderIdentity;
    const first = await holder();
    expect(['replica-1', 'replica-2']).toContain(first);

    await leader.stop();
    expect(await eventually(() => standby.isLeader(), 15_000, 100)).toBe(true);
    expect(await holder()).not.toBe(first);
    expect(await holder()).toMatch(/^replica-[12]$/);

    // A spec change (new generation) is aggregated by the new leader.
    const before = (await getPair()).metadata.generation ?? 0;
    await applyObject(kc, lcpPath('interfacepairs', pairName), {
      apiVersion: 'lcp.kubelcp.io/v1alpha1', kind: 'InterfacePair', metadata: { name: pairName },
      spec: {
        nodeSelector: { matchLabels: { 'lcp-e2e': run } },
        port: { name: lab.peers[0]!.portDev, netns: lab.dut, driver: 'af_packet' },
        mirror: { name: lab.peers[0]!.mirror, mtu: 1400 },
      },
    }, FIELD_MANAGER, true);
    const updated = await waitPair((x) => x.status?.observedGeneration === before + 1 && condition(x, 'Ready')?.status === 'True');
    expect(updated.status).toMatchObject({ matchedNodes: 2, readyNodes: 2 });
    expect(condition(updated, 'Ready')?.observedGeneration).toBe(before + 1);
  }, 60_000);

  it('a pair matching no node is Ready (NoMatchingNodes); labelling a node brings it in, unlabelling takes it out', async () => {
    const name = `spare-${run}`;
    const label = `lcp-e2e-spare-${run}`;
    await applyObject(kc, lcpPath('interfacepairs', name), {
      apiVersion: 'lcp.kubelcp.io/v1alpha1', kind: 'InterfacePair', metadata: { name },
      spec: { nodeSelector: { matchLabels: { [label]: 'yes' } }, port: { name: `nope${run}`.slice(0, 15), netns: lab.dut }, mirror: { name: `sp${run}`.slice(0, 15) } },
    }, FIELD_MANAGER, true);
    cleanups.push(() => rawRequest(kc, 'DELETE', lcpPath('interfacepairs', name)));
    const spare = async (): Promise<InterfacePair> => (await rawRequest(kc, 'GET', lcpPath('interfacepairs', name))) as InterfacePair;
    const labelNode = (value: string | null) =>
      rawRequest(kc, 'PATCH', `/api/v1/nodes/${nodeA}`, { body: { metadata: { labels: { [label]: value } } }, contentType: 'application/merge-patch+json' });

    expect(await eventually(async () => condition(await spare(), 'Ready')?.reason === 'NoMatchingNodes', 30_000, 200)).toBe(true);
    const none = await spare();
    expect(none.status).toMatchObject({ matchedNodes: 0, readyNodes: 0 });
    expect(condition(none, 'Ready')?.status).toBe('True');
    expect(condition(none, 'Degraded')?.status).toBe('False');

    await labelNode('yes');
    // node-a's agent now has it too, and cannot find that port: it is matched and failed there.
    expect(await eventually(async () => (await spare()).status?.failedNodes === 1, 30_000, 200)).toBe(true);
    expect((await spare()).status).toMatchObject({ matchedNodes: 1, failingNodes: [expect.objectContaining({ node: nodeA, reason: 'PortNotFound' })] });

    await labelNode(null);
    expect(await eventually(async () => (await spare()).status?.matchedNodes === 0, 30_000, 200)).toBe(true);
    expect(condition(await spare(), 'Ready')?.reason).toBe('NoMatchingNodes');
  }, 90_000);

  it('reports a node whose agent stopped as stale, not ready', async () => {
    await agents.get(nodeB)!.stop();
    agents.delete(nodeB);
    const stale = await waitPair((x) => x.status?.staleNodes === 1);
    expect(stale.status).toMatchObject({ matchedNodes: 2, readyNodes: 1, staleNodes: 1, failedNodes: 0 });
    expect(condition(stale, 'Ready')).toMatchObject({ status: 'False', reason: 'PartiallyReady' });
    expect(condition(stale, 'Ready')?.message).toContain(`${nodeB} (StaleNodeStatus)`);
    expect(condition(stale, 'Degraded')).toMatchObject({ status: 'True', reason: 'StaleNodeStatus' });
    expect(stale.status?.failingNodes).toEqual([expect.objectContaining({ node: nodeB, reason: 'StaleNodeStatus' })]);
  }, 60_000);
});
