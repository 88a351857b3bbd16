// Control-plane scale (issue 4): N InterfacePairs (default 1,000) for one node
// applied at once against a real API server (the e2e harness's etcd +
// kube-apiserver), reconciled by the agent run as users run it (`lcp agent`
// from the built CLI, a child process, so its RSS is its own) on N real port
// netdevs (veths in a bench netns). Measures the time until every per-node
// entry in the node's NodeDataplane is Ready at the pair's generation, the API
// requests the agent made meanwhile (counted by the API server, see
// pairs-api.ts), the agent's peak RSS, and the same for deleting them all
// (until no entry, no mirror and no port is left). The cluster controller runs
// in this process (admin identity, not counted as the agent's) and the time
// until every InterfacePair itself says Ready=True is measured too.
// Flags: --pairs=N (default 1000), --pairs-timeout=S (per wait, default 300):
// a wait that times out is reported with how far it got.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ownerTagFor } from '../../controller/agent/agent.js';
import { silentLogger } from '../../controller/agent/log.js';
import { startClusterController, type RunningClusterController } from '../../controller/cluster/controller.js';
import { netlinkHost } from '../../dataplane/host.js';
import { ownedLinks } from '../../controller/agent/owned.js';
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import type { NodeDataplane } from '../../controller/api/node-dataplane.js';
import { ask } from '../../controller/control/client.js';
import { applyObject, clusterPath, rawRequest } from '../../controller/k8s/raw.js';
import { sh } from '../../controller/lab/netns.js';
import { procStatusKiB, startAgentProcess } from '../e2e/agent-process.js';
import { FIELD_MANAGER, startCluster, type TestCluster } from '../e2e/harness.js';
import type { Proc } from '../e2e/procs.js';
import { addVeths } from '../helpers/veths.js';
import { onCleanup } from './cleanup.js';
import { agentIdentity, bounded, dispatched } from './pairs-api.js';
import type { BenchSection, Metric, SectionResult } from './sections.js';
import { sleep } from './exec.js';

const NODE = 'lcpb-node';
const USER = 'kube-lcp-bench-agent';
const NETNS = { linux: 'lcpb-pairs-lx', dut: 'lcpb-pairs-dut', peer: 'lcpb-pairs-peer' };
const LABEL = 'bench.kubelcp.io/pairs';
/** Requests in flight while applying (a GitOps tool or kubectl apply of a big file is about this parallel). */
const CONCURRENCY = 16;
const TARGET_S = 30;
const lcpPath = (plural: string, name?: string): string => clusterPath('lcp.kubelcp.io', 'v1alpha1', plural, name);

const delNetns = (): void => {
  for (const ns of Object.values(NETNS)) try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* not there */ }
};

interface Progress {
  ready: number;
  entries: number;
}

function progress(ndp: NodeDataplane | undefined, generations: ReadonlyMap<string, number>): Progress {
  const entries = ndp?.status?.pairs ?? [];
  let ready = 0;
  for (const e of entries) {
    const r = e.conditions?.find((c) => c.type === 'Ready');
    const g = generations.get(e.name);
    if (r?.status === 'True' && e.observedGeneration === g && r.observedGeneration === g) ready++;
  }
  return { ready, entries: entries.length };
}

const secs = (ms: number): number => Math.round(ms / 100) / 10;

/** InterfacePairs whose own status says Ready=True at their current generation (the cluster controller's aggregate). */
function pairsReady(items: readonly InterfacePair[]): number {
  let n = 0;
  for (const p of items) {
    const r = p.status?.conditions?.find((c) => c.type === 'Ready');
    if (r?.status === 'True' && p.status?.observedGeneration === p.metadata.generation) n++;
  }
  return n;
}

export const pairsSection: BenchSection = {
  name: 'pairs',
  async run(opts): Promise<SectionResult> {
    const flag = [...opts.flags].find((f) => f.startsWith('pairs='));
    const n = flag ? Number(flag.slice('pairs='.length)) : 1000;
    const tflag = [...opts.flags].find((f) => f.startsWith('pairs-timeout='));
    const timeoutMs = (tflag ? Number(tflag.slice('pairs-timeout='.length)) : 300) * 1000;
    if (!(n >= 1 && n <= 4096)) throw new Error('--pairs=N: 1..4096 (NodeDataplane holds at most 4096 entries)');
    // State under /run like the agent's default (/run/kube-lcp, tmpfs): it is rewritten a few times per pair.
    const dir = mkdtempSync(join(existsSync('/run') ? '/run' : tmpdir(), 'lcpb-pairs-'));
    let cluster: TestCluster | undefined;
    let agent: Proc | undefined;
    let controller: RunningClusterController | undefined;
    delNetns(); // a previous run killed hard
    const undo = onCleanup(() => {
      if (agent?.pid) try { process.kill(agent.pid, 'SIGKILL'); } catch { /* gone */ }
      delNetns();
    });
    try {
      opts.log(`pairs: starting etcd + kube-apiserver, ${n} veth pairs`);
      cluster = await startCluster();
      const admin = cluster.adminConfig();
      for (const ns of Object.values(NETNS)) await sh('ip', ['netns', 'add', ns]);
      const ports = Array.from({ length: n }, (_, i) => ({ port: `bp${i}`, peer: `bq${i}` }));
      await addVeths(NETNS.dut, NETNS.peer, ports);

      await rawRequest(admin, 'POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE } } } });
      // The settings a user would give a 2-core box with many ports: one worker, and
      // the smallest AF_PACKET RX ring (256 frames, 512 KiB instead of 4 MiB a port).
      await applyObject(admin, lcpPath('linuxcontrolplanes', 'bench'), {
        apiVersion: 'lcp.kubelcp.io/v1alpha1',
        kind: 'LinuxControlPlane',
        metadata: { name: 'bench' },
        spec: { defaultNetns: NETNS.linux, sync: false, dataplane: { workers: 1, rxRingSize: 256 }, nodeSelector: { matchLabels: { 'kubernetes.io/hostname': NODE } } },
      }, FIELD_MANAGER, true);
      const kubeconfig = join(dir, 'agent.kubeconfig');
      await agentIdentity(cluster, admin, USER, kubeconfig);
      const socket = join(dir, 'agent.sock');
      agent = startAgentProcess({ node: NODE, kubeconfig, stateDir: join(dir, 'state'), socket, namespace: 'kube-lcp-bench', logFile: join(dir, 'agent.log') });
      const a = agent;
      const getNdp = async (): Promise<NodeDataplane | undefined> =>
        (await rawRequest(admin, 'GET', lcpPath('nodedataplanes', NODE), { timeoutMs: 60_000 }).catch(() => undefined)) as NodeDataplane | undefined;
      /** True once cond holds; false after ms (the caller reports how far it got). */
      const waitFor = async (what: string, ms: number, cond: () => Promise<boolean>): Promise<boolean> => {
        const end = Date.now() + ms;
        while (!(await cond())) {
          if (!a.running) throw new Error(`the agent exited while waiting for ${what}:\n${a.tail()}`);
          if (Date.now() > end) {
            opts.log(`pairs: timed out after ${ms / 1000} s waiting for ${what}; agent log:\n${a.tail(5)}`);
            return false;
          }
          await sleep(1000);
        }
        return true;
      };
      if (!(await waitFor('the agent to write its NodeDataplane', 60_000, async () => (await getNdp()) !== undefined))) throw new Error('the agent wrote no NodeDataplane');
      controller = await startClusterController({ kc: admin, log: silentLogger(), identity: 'bench', namespace: 'kube-lcp-bench' });
      await controller.synced();
      const listPairs = async (): Promise<InterfacePair[]> =>
        ((await rawRequest(admin, 'GET', lcpPath('interfacepairs'), { query: { labelSelector: LABEL }, timeoutMs: 60_000 })) as { items: InterfacePair[] }).items;
      const pid = a.pid ?? 0;
      const rssIdleKiB = procStatusKiB(pid, 'VmRSS') ?? 0;

      // Apply: N pairs at once (bounded in flight), then wait until the node says all are Ready.
      opts.log(`pairs: applying ${n} InterfacePairs`);
      const generations = new Map<string, number>();
      const req0 = await dispatched(admin, USER);
      const t0 = performance.now();
      await bounded(ports.map((p, i) => ({ ...p, i })), CONCURRENCY, async ({ port, i }) => {
        const name = `bench-${i}`;
        const pair: InterfacePair = {
          apiVersion: 'lcp.kubelcp.io/v1alpha1',
          kind: 'InterfacePair',
          metadata: { name, labels: { [LABEL]: 'yes' } },
          spec: { nodeName: NODE, port: { name: port, netns: NETNS.dut, driver: 'af_packet' }, mirror: { name: `bm${i}` }, hostConfig: { addresses: [`10.${100 + (i >> 8)}.${i & 255}.1/31`] } },
        };
        const got = (await applyObject(admin, lcpPath('interfacepairs', name), pair, FIELD_MANAGER, true)) as InterfacePair;
        generations.set(name, got.metadata.generation ?? 1);
      });
      const applied = performance.now() - t0;
      let last: Progress = { ready: 0, entries: 0 };
      const nodeOk = await waitFor(`${n} entries Ready in NodeDataplane`, timeoutMs, async () => {
        last = progress(await getNdp(), generations);
        return last.ready === n;
      });
      const ready = performance.now() - t0;
      const req1 = await dispatched(admin, USER);
      let pairLevel = 0;
      const pairOk = nodeOk && (await waitFor(`${n} InterfacePairs Ready`, timeoutMs, async () => (pairLevel = pairsReady(await listPairs())) === n));
      const pairsReadyMs = performance.now() - t0;
      const rssReadyKiB = procStatusKiB(pid, 'VmRSS') ?? 0;
      const mirrors = (ownedLinks(netlinkHost, NETNS.linux, ownerTagFor(NODE))).length;
      const dpPorts = (await ask.ports(socket)).ports.length;
      opts.log(`pairs: ${nodeOk ? `${n} Ready in ${secs(ready)} s` : `${last.ready}/${n} Ready after ${secs(ready)} s`} (${mirrors} mirrors, ${dpPorts} ports)`);

      // Delete them all, one request per object as `kubectl delete lip -l` does (a deletecollection
      // of 1,000 timed out in the API server on a busy machine), and wait until nothing is left.
      const req2 = await dispatched(admin, USER);
      const t2 = performance.now();
      await bounded([...generations.keys()], CONCURRENCY, async (name) => {
        await rawRequest(admin, 'DELETE', lcpPath('interfacepairs', name), { timeoutMs: 120_000 });
      });
      let left = { entries: n, ports: n, mirrors: n };
      const deleteOk = await waitFor('every pair removed', timeoutMs, async () => {
        left = { entries: progress(await getNdp(), generations).entries, ports: (await ask.ports(socket)).ports.length, mirrors: (ownedLinks(netlinkHost, NETNS.linux, ownerTagFor(NODE))).length };
        return left.entries === 0 && left.ports === 0 && left.mirrors === 0;
      });
      const deleted = performance.now() - t2;
      const req3 = await dispatched(admin, USER);
      // VmHWM is updated lazily by the kernel: never below a VmRSS we saw.
      const hwmKiB = Math.max(procStatusKiB(pid, 'VmHWM') ?? 0, rssReadyKiB);
      await a.stop();

      const mib = (kib: number): number => Math.round(kib / 102.4) / 10;
      const orNull = (ok: boolean, ms: number): number | null => (ok ? secs(ms) : null);
      const nodeS = orNull(nodeOk, ready);
      const metrics: Record<string, Metric> = {
        pairs_count: n,
        pairs_apply_submit_seconds: secs(applied),
        pairs_ready_seconds: nodeS,
        pairs_ready_at_timeout: nodeOk ? null : last.ready,
        pairs_pair_level_ready_seconds: orNull(pairOk, pairsReadyMs),
        pairs_pair_level_ready_at_timeout: pairOk ? null : pairLevel,
        pairs_ready_target_seconds: TARGET_S,
        pairs_ready_within_target: nodeS !== null && nodeS <= TARGET_S,
        pairs_per_second: nodeOk ? Math.round((n / (ready / 1000)) * 10) / 10 : null,
        pairs_agent_requests_startup: req0,
        pairs_agent_requests: req1 - req0,
        pairs_agent_requests_per_pair: Math.round(((req1 - req0) / n) * 100) / 100,
        pairs_delete_seconds: orNull(deleteOk, deleted),
        pairs_delete_left_at_timeout: deleteOk ? null : JSON.stringify(left),
        pairs_delete_agent_requests: req3 - req2,
        pairs_agent_rss_idle_mib: mib(rssIdleKiB),
        pairs_agent_rss_ready_mib: mib(rssReadyKiB),
        pairs_agent_rss_peak_mib: mib(hwmKiB),
        pairs_mirrors: mirrors,
        pairs_ports: dpPorts,
      };
      const shown = (ok: boolean, ms: number, partial: string): string => (ok ? String(secs(ms)) : `> ${secs(ms)} (${partial})`);
      return {
        tables: [{
          title: `Pairs: ${n} InterfacePairs applied at once (agent as a child process, 1 worker; cluster controller in the bench)`,
          header: ['phase', 'seconds', 'agent API requests', 'agent RSS MiB', 'notes'],
          rows: [
            ['apply -> all node entries Ready', shown(nodeOk, ready, `${last.ready}/${n} Ready`), String(req1 - req0), `${mib(rssReadyKiB)} (peak ${mib(hwmKiB)})`,
              `${nodeS !== null && nodeS <= TARGET_S ? 'within' : 'OVER'} the ${TARGET_S} s target; submitting took ${secs(applied)} s`],
            ['apply -> all InterfacePairs Ready', nodeOk ? shown(pairOk, pairsReadyMs, `${pairLevel}/${n} Ready`) : 'not measured', '', '', 'the cluster controller\'s aggregate (pair status)'],
            ['delete all -> nothing left', shown(deleteOk, deleted, JSON.stringify(left)), String(req3 - req2), '', 'no entry, port or mirror left'],
          ],
          notes: [
            'Node entries Ready = every per-node entry in NodeDataplane Ready=True at the pair\'s generation.',
            `Requests: apiserver_flowcontrol_dispatched_requests_total of a FlowSchema matching only the agent's user (watches count once); ${req0} from its start to idle.`,
            `RSS: /proc/<agent>/status; idle ${mib(rssIdleKiB)} MiB before the pairs. Each port has a 512 KiB AF_PACKET RX ring (rxRingSize 256).`,
          ],
        }],
        metrics,
      };
    } finally {
      await controller?.stop();
      await agent?.stop();
      await cluster?.stop();
      delNetns();
      undo();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
