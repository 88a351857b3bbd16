// Recovery of the agent in cluster mode, run as users run it (`lcp agent` from
// the built CLI, its own process) against a real API server and real kernel
// devices: killed with SIGKILL in the middle of reconciling many pairs, with
// deletes and an update made while it is down, it comes back to exactly the
// desired mirrors (nothing leaked, nothing twice) and leaves Linux config on
// surviving mirrors alone; and with the API server restarted under it
// (including etcd compacted, so its watches get 410 Gone) it keeps
// reconciling and keeps its NodeDataplane status and Lease fresh.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KubeConfig } from '@kubernetes/client-node';

import { ownerTagFor } from '../../controller/agent/agent.js';
import { agentLeaseName } from '../../controller/api/lease.js';
import { netlinkHost } from '../../dataplane/host.js';
import { ownedLinks } from '../../controller/agent/owned.js';
import { ask } from '../../controller/control/client.js';
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import type { LinuxControlPlane } from '../../controller/api/linux-control-plane.js';
import type { NodeDataplane } from '../../controller/api/node-dataplane.js';
import { applyObject, clusterPath, rawRequest } from '../../controller/k8s/raw.js';
import { describeRoot, Lab, nsx, sleep, uniq } from '../helpers/lab.js';
import { addVeths, type VethSpec } from '../helpers/veths.js';
import { startAgentProcess } from './agent-process.js';
import { FIELD_MANAGER, STARTUP_TIMEOUT_MS, startCluster, uniqueSuffix, type TestCluster } from './harness.js';
import type { Proc } from './procs.js';

const run = uniqueSuffix();
const node = `node-r-${run}`;
const namespace = `kube-lcp-${run}`;
const tag = ownerTagFor(node);
const label = { 'e2e.kubelcp.io/test': `recovery-${run}` };
/** Pairs applied at once in the crash test: enough that the agent is caught half way. */
const N = 30;
/** Spare port netdevs for pairs made later. */
const SPARE = 4;
const lcpPath = (plural: string, name?: string, sub?: string): string => clusterPath('lcp.kubelcp.io', 'v1alpha1', plural, name, sub);
const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${agentLeaseName(node)}`;

interface Lease {
  spec?: { renewTime?: string };
}

/** What one pair should look like on the node. */
interface Want {
  index: number;
  mirror: string;
  mtu?: number;
  addresses: string[];
}

describeRoot('agent recovery (cluster mode, agent in its own process)', () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  const lab = new Lab();
  let linux = '';
  let dut = '';
  const veths: VethSpec[] = [];
  const mirrors: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'lcp-agent-recovery-'));
  const socket = join(dir, 'agent.sock');
  const stateDir = join(dir, 'state');
  let agent: Proc | undefined;
  let starts = 0;
  const desired = new Map<string, Want>();

  const pairName = (i: number): string => `rec-${i}-${run}`;
  const pairObj = (w: Want): InterfacePair => ({
    apiVersion: 'lcp.kubelcp.io/v1alpha1',
    kind: 'InterfacePair',
    metadata: { name: pairName(w.index), labels: label },
    spec: {
      nodeName: node,
      port: { name: veths[w.index]!.port, netns: dut, driver: 'af_packet' },
      mirror: { name: w.mirror, ...(w.mtu !== undefined ? { mtu: w.mtu } : {}) },
      hostConfig: { addresses: w.addresses },
    },
  });
  const want = (i: number): Want => ({ index: i, mirror: mirrors[i]!, addresses: [`10.77.${i}.1/24`] });
  const put = async (k: KubeConfig, w: Want): Promise<void> => {
    await applyObject(k, lcpPath('interfacepairs', pairName(w.index)), pairObj(w), FIELD_MANAGER, true);
    desired.set(pairName(w.index), w);
  };
  const del = async (k: KubeConfig, i: number): Promise<void> => {
    await rawRequest(k, 'DELETE', lcpPath('interfacepairs', pairName(i)));
    desired.delete(pairName(i));
  };

  const startAgent = (): Proc => {
    starts += 1;
    agent = startAgentProcess({ node, kubeconfig: cluster.kubeconfigPath, stateDir, socket, namespace, logFile: join(dir, `agent-${starts}.log`) });
    return agent;
  };
  const agentLog = (): string => readFileSync(join(dir, `agent-${starts}.log`), 'utf8');
  const getNdp = async (): Promise<NodeDataplane | undefined> =>
    (await rawRequest(kc, 'GET', lcpPath('nodedataplanes', node)).catch(() => undefined)) as NodeDataplane | undefined;
  const ownedNames = async (): Promise<string[]> => (ownedLinks(netlinkHost, linux, tag)).map((l) => l.name).sort();

  /** '' when the node is exactly as desired (kernel, dataplane and NodeDataplane), else what differs. */
  async function mismatch(): Promise<string> {
    const wantMirrors = [...desired.values()].map((w) => w.mirror).sort();
    const have = await ownedNames();
    if (have.join() !== wantMirrors.join()) return `mirrors ours in ${linux}: ${have.join()} (want ${wantMirrors.join()})`;
    const list = (await rawRequest(kc, 'GET', lcpPath('interfacepairs'), { query: { labelSelector: Object.entries(label)[0]!.join('=') } })) as { items: InterfacePair[] };
    const generations = new Map(list.items.map((p) => [p.metadata.name ?? '', p.metadata.generation]));
    const entries = (await getNdp())?.status?.pairs ?? [];
    const names = entries.map((e) => e.name).sort();
    if (names.join() !== [...desired.keys()].sort().join()) return `NodeDataplane entries: ${names.join()}`;
    for (const e of entries) {
      const ready = e.conditions?.find((c) => c.type === 'Ready');
      const g = generations.get(e.name);
      if (ready?.status !== 'True' || e.observedGeneration !== g || ready.observedGeneration !== g)
        return `${e.name}: Ready=${ready?.status} (${ready?.reason}) at generation ${e.observedGeneration}, want ${g}`;
    }
    return '';
  }

  async function waitConverged(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last = await mismatch();
    while (last !== '' && Date.now() < end) {
      if (agent && !agent.running) throw new Error(`the agent exited:\n${agent.tail()}`);
      await sleep(250);
      last = await mismatch();
    }
    if (last !== '') throw new Error(`not converged after ${timeoutMs} ms: ${last}\nagent log:\n${agent?.tail(20)}`);
  }

  beforeAll(async () => {
    cluster = await startCluster();
    kc = cluster.adminConfig();
    linux = await lab.netns('rx');
    dut = await lab.netns('rd');
    const peers = await lab.netns('rp');
    for (let i = 0; i < N + SPARE; i++) {
      veths.push({ port: uniq('rb'), peer: uniq('ra') });
      mirrors.push(uniq('rm'));
    }
    await addVeths(dut, peers, veths);
    await rawRequest(kc, 'POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'kubernetes.io/hostname': node } } } });
    const lcp: LinuxControlPlane = {
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'LinuxControlPlane',
      metadata: { name: `recovery-${run}` },
      spec: { defaultNetns: linux, sync: false, nodeSelector: { matchLabels: { 'kubernetes.io/hostname': node } } },
    };
    await applyObject(kc, lcpPath('linuxcontrolplanes', lcp.metadata.name), lcp, FIELD_MANAGER, true);
  }, STARTUP_TIMEOUT_MS);

  afterAll(async () => {
    await agent?.stop();
    if (kc) {
      const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
      await quiet(rawRequest(kc, 'DELETE', lcpPath('interfacepairs'), { query: { labelSelector: Object.entries(label)[0]!.join('=') } }));
      await quiet(rawRequest(kc, 'DELETE', lcpPath('linuxcontrolplanes', `recovery-${run}`)));
      await quiet(rawRequest(kc, 'DELETE', lcpPath('nodedataplanes', node)));
      await quiet(rawRequest(kc, 'DELETE', `/api/v1/nodes/${node}`));
      await quiet(rawRequest(kc, 'DELETE', `/api/v1/namespaces/${namespace}`));
    }
    // Deleting the netns deletes every veth and mirror in them.
    await lab.cleanup();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('converges after a SIGKILL mid-reconcile, with deletes and an update made while it was down', async () => {
    const first = startAgent();
    // Running and talking to the API server: its NodeDataplane exists.
    const end = Date.now() + 60_000;
    while ((await getNdp()) === undefined) {
      if (!first.running || Date.now() > end) throw new Error(`the agent did not write its NodeDataplane:\n${first.tail()}`);
      await sleep(100);
    }

    // Many pairs at once; killed once some but not all mirrors exist.
    const wants = Array.from({ length: N }, (_, i) => want(i));
    await Promise.all(wants.map((w) => put(kc, w)));
    let seen: string[] = [];
    for (const stop = Date.now() + 60_000; Date.now() < stop; ) {
      seen = await ownedNames();
      if (seen.length >= 8) break; // enough made to delete, update and hand-configure some
      await sleep(10);
    }
    first.signal('SIGKILL');
    await first.wait();
    const made = await ownedNames();
    // If this fails the agent outran the poll: the crash was not mid-reconcile, so raise N.
    expect(made.length).toBeGreaterThan(0);
    expect(made.length).toBeLessThan(N);

    // While it is down: Linux config on a few mirrors, deletes of pairs with and
    // without a mirror yet, and an in-place update (MTU, address) of one with a mirror.
    const withMirror = wants.filter((w) => made.includes(w.mirror));
    const without = wants.filter((w) => !made.includes(w.mirror));
    const [upd, ...rest] = withMirror;
    const deleted = [...rest.slice(0, 2), without[0]!];
    const handConfigured = rest.slice(2, 5);
    expect(upd).toBeDefined();
    expect(deleted).toHaveLength(3);
    expect(handConfigured.length).toBeGreaterThan(0);
    const hand = new Map<string, string>();
    for (const [k, w] of handConfigured.entries()) {
      const a = `198.51.100.${k + 1}/32`;
      await nsx(linux, 'ip', ['addr', 'add', a, 'dev', w.mirror]);
      hand.set(w.mirror, a);
    }
    for (const w of deleted) await del(kc, w.index);
    await put(kc, { ...upd!, mtu: 1400, addresses: [`10.78.${upd!.index}.1/24`] });

    // Back up: exactly the desired mirrors, all Ready at their current generations.
    startAgent();
    await waitConverged(120_000);
    expect(await ownedNames()).toEqual([...desired.values()].map((w) => w.mirror).sort());
    for (const w of deleted) expect(netlinkHost.link(linux, w.mirror)).toBeUndefined();
    // Their ports are the kernel's again, though the agent that took them died
    // holding them: no drop filter left either way, IPv6 back on with its own address generation.
    for (const w of deleted) {
      const port = veths[w.index]!.port;
      expect({ port, filters: (await nsx(dut, 'tc', ['filter', 'show', 'dev', port, 'ingress'])).trim() }).toEqual({ port, filters: '' });
      expect({ port, filters: (await nsx(dut, 'tc', ['filter', 'show', 'dev', port, 'egress'])).trim() }).toEqual({ port, filters: '' });
      expect({ port, link: (await nsx(dut, 'ip', ['-d', 'link', 'show', 'dev', port])).match(/addrgenmode (\S+)/)?.[1] }).toEqual({ port, link: 'eui64' });
      expect({ port, ipv6Disabled: (await nsx(dut, 'sysctl', ['-n', `net.ipv6.conf.${port}.disable_ipv6`])).trim() }).toEqual({ port, ipv6Disabled: '0' });
    }
    // The dataplane holds exactly the desired ports (none twice, none of a deleted pair).
    const ports = (await ask.ports(socket)).ports.map((p) => p.name).sort();
    expect(ports).toEqual([...desired.values()].map((w) => veths[w.index]!.port).sort());
    // Linux config on surviving mirrors: the declared addresses plus what a person added, nothing else.
    for (const w of desired.values()) {
      const extra = hand.get(w.mirror);
      expect({ mirror: w.mirror, addresses: (netlinkHost.addresses(linux, w.mirror)).sort() }).toEqual({
        mirror: w.mirror,
        addresses: [...w.addresses, ...(extra ? [extra] : [])].sort(),
      });
    }
    expect((netlinkHost.link(linux, upd!.mirror))?.mtu).toBe(1400);
    const ndp = (await getNdp())!;
    expect(ndp.status?.restartCount).toBe(1);
    expect(ndp.status?.pairsReady).toBe(N - deleted.length);
  }, 300_000);

  it('keeps reconciling across API server restarts, including one that expires its watches (410)', async () => {
    if (cluster.external) return; // needs to stop the API server
    expect(agent?.running).toBe(true);
    await waitConverged(60_000);
    const [a, b, c] = [...desired.values()];
    const lease0 = ((await rawRequest(kc, 'GET', leasePath)) as Lease).spec?.renewTime;

    // Changes the agent's watches cannot see, then etcd compacted: its resourceVersions are gone.
    await cluster.restartApiServer({
      whileDown: async (other) => {
        await del(other, a!.index);
        await put(other, { ...b!, mtu: 1300 });
        await put(other, want(N));
      },
    });
    await waitConverged(120_000);
    expect((netlinkHost.link(linux, b!.mirror))?.mtu).toBe(1300);
    expect(agentLog()).toContain('watch expired (410)');

    // A plain restart, then ordinary changes through the restarted server.
    await cluster.restartApiServer();
    await put(kc, want(N + 1));
    await put(kc, { ...c!, addresses: [`10.79.${c!.index}.1/24`] });
    await del(kc, N);
    await waitConverged(120_000);
    const cAddresses = netlinkHost.addresses(linux, c!.mirror);
    expect(cAddresses).toContain(`10.79.${c!.index}.1/24`);
    expect(cAddresses).not.toContain(c!.addresses[0]);

    // The heartbeat goes on.
    const renewed = async (): Promise<string | undefined> => ((await rawRequest(kc, 'GET', leasePath)) as Lease).spec?.renewTime;
    const before = await renewed();
    expect(before).not.toBe(lease0);
    const end = Date.now() + 30_000;
    while ((await renewed()) === before && Date.now() < end) await sleep(250);
    expect(await renewed()).not.toBe(before);
  }, 400_000);
});
