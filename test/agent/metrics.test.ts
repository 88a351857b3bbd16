// The agent's one TCP listener: /metrics exposes the documented series
// (docs/metrics.md) with the values of known traffic, /healthz and /readyz
// mean what they say, and `--metrics-bind-address 0` leaves the agent with
// no TCP listener at all.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { DEFAULT_CONCURRENT_RECONCILES } from '../../controller/agent/agent.js';
import { ask } from '../../controller/control/client.js';
import { AGENT_CONTROLLER, AgentEndpoint } from '../../controller/metrics/agent-endpoint.js';
import { describeRoot, eventually, nsx, sh } from '../helpers/lab.js';
import { parseExposition, sample, type Exposition } from '../helpers/prom.js';
import { AgentHarness } from './harness.js';

const cli = join(process.cwd(), 'dist', 'controller', 'cli.js');

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

async function scrape(endpoint: AgentEndpoint): Promise<Exposition> {
  const r = await get(`${endpoint.url}/metrics`);
  expect(r.status).toBe(200);
  return parseExposition(r.body);
}

/** Metric names in docs/metrics.md's tables (first column, in backticks). */
function documented(): string[] {
  const doc = readFileSync(join(process.cwd(), 'docs', 'metrics.md'), 'utf8');
  return [...doc.matchAll(/^\| `([a-z_:]+)`/gm)].map((m) => m[1]!);
}

/** TCP sockets in LISTEN state held by `pid` (from its fds and /proc/<pid>/net/tcp{,6}). */
function tcpListeners(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  // The agent's main thread enters the lab's netns for a moment now and then
  // (mirror and port setup), and /proc/<pid>/net follows that thread: read the
  // tables through every thread, so one of them shows the netns it bound in.
  const out = new Set<string>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    for (const f of ['tcp', 'tcp6']) {
      let table: string;
      try {
        table = readFileSync(`/proc/${pid}/task/${task}/net/${f}`, 'utf8');
      } catch {
        continue; // the thread ended meanwhile
      }
      for (const line of table.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[3] === '0A' && inodes.has(cols[9] ?? '')) out.add(`${f} ${cols[1]}`);
      }
    }
  }
  return [...out];
}

describeRoot('metrics and health endpoint', () => {
  let h: AgentHarness;
  let endpoint: AgentEndpoint | undefined;
  beforeEach(() => {
    h = new AgentHarness();
  });
  afterEach(async () => {
    await endpoint?.close();
    endpoint = undefined;
    await h.cleanup();
  });
  /** One pair, an agent with a metrics endpoint, the pair Ready. */
  const startReady = async () => {
    await h.build(1);
    h.write(h.configText());
    const e = await AgentEndpoint.open({ host: '127.0.0.1', port: 0 }, 'file', DEFAULT_CONCURRENT_RECONCILES);
    endpoint = e;
    await h.start({ endpoint: e });
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    return { p, e };
  };

  it('exposes the documented series, with port, punt and reconcile values that match known traffic', async () => {
    const { p, e } = await startReady();
    expect(await eventually(() => h.agent.dp.mirrorStatus().some((w) => w.netns === h.lab.linux && w.state === 'synced'), 10_000)).toBe(true);
    const port = { port: p.portDev, netns: h.lab.dut, pair: p.pair };

    const before = await scrape(e);
    // Every documented series is there, and every kube-lcp, workqueue and controller-runtime family is documented.
    const docs = documented();
    expect(docs.length).toBeGreaterThan(30);
    for (const name of docs) expect([name, before.types.has(name)]).toEqual([name, true]);
    const ours = [...before.types.keys()].filter((n) => /^(kube_lcp_|workqueue_|controller_runtime_)/.test(n));
    expect(ours.filter((n) => !docs.includes(n))).toEqual([]);
    expect(before.types.get('kube_lcp_port_rx_packets_total')).toBe('counter');

    // Five echo requests to the mirror's address: received on the port, punted
    // to Linux as "receive", answered by Linux through the mirror and the port.
    const count = 5;
    const out = await nsx(p.ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', p.gw4]);
    expect(out).toContain(`${count} received`);
    const after = await scrape(e);
    const delta = (name: string, labels: Record<string, string>): number => sample(after, name, labels) - sample(before, name, labels);

    expect(delta('kube_lcp_errors_total', { reason: 'punt_receive' })).toBe(count);
    expect(delta('kube_lcp_port_rx_packets_total', port)).toBeGreaterThanOrEqual(count);
    expect(delta('kube_lcp_port_rx_bytes_total', port)).toBeGreaterThanOrEqual(count * 98); // 14 + 20 + 8 + 56 bytes each
    expect(delta('kube_lcp_port_punts_total', port)).toBeGreaterThanOrEqual(count);
    expect(delta('kube_lcp_port_injects_total', port)).toBeGreaterThanOrEqual(count);
    expect(delta('kube_lcp_port_tx_packets_total', port)).toBeGreaterThanOrEqual(count);
    // The scrape reads the dataplane's own counters: never more than they say a moment later.
    const now = h.agent.dp.counters().ports.find((c) => c.port === h.agent.dp.ports()[0]!.index)!;
    expect(sample(after, 'kube_lcp_port_rx_packets_total', port)).toBeLessThanOrEqual(now.rxPackets);
    expect(sample(after, 'kube_lcp_port_rx_packets_total', port)).toBeGreaterThan(0);
    // What was punted never took the XDP fast path; the series is the dataplane's own figure.
    expect(sample(after, 'kube_lcp_port_fast_path_rx_packets_total', port)).toBe(h.agent.dp.counters().ports.find((c) => c.port === now.port)!.fastPathRxPackets ?? 0);
    expect(sample(after, 'kube_lcp_port_up', port)).toBe(1);
    expect(sample(after, 'kube_lcp_dataplane_up')).toBe(1);

    // The netlink mirror of the mirrors' netns: synced, events read, the first dump done.
    expect(sample(after, 'kube_lcp_mirror_state', { netns: h.lab.linux, state: 'synced' })).toBe(1);
    expect(sample(after, 'kube_lcp_mirror_events_total', { netns: h.lab.linux })).toBeGreaterThan(0);
    expect(sample(after, 'kube_lcp_mirror_resyncs_total', { netns: h.lab.linux })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'kube_lcp_fib_routes', { table: '0', family: 'ipv4' })).toBe(h.agent.dp.routeCount(0, 4));

    // Reconciler and queue, under controller-runtime's names: the node key and the pair key at least.
    const c = { controller: AGENT_CONTROLLER };
    expect(sample(after, 'controller_runtime_reconcile_total', { ...c, result: 'success' })).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'controller_runtime_reconcile_total', { ...c, result: 'error' })).toBe(0);
    expect(sample(after, 'controller_runtime_reconcile_errors_total', c)).toBe(0);
    expect(sample(after, 'controller_runtime_max_concurrent_reconciles', c)).toBe(DEFAULT_CONCURRENT_RECONCILES);
    expect(sample(after, 'controller_runtime_reconcile_time_seconds_count', c)).toBeGreaterThanOrEqual(2);
    const q = { name: AGENT_CONTROLLER, controller: AGENT_CONTROLLER };
    expect(sample(after, 'workqueue_adds_total', q)).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'workqueue_work_duration_seconds_count', q)).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'workqueue_depth', { ...q, priority: '' })).toBeGreaterThanOrEqual(0);
    // Process metrics of the agent's own registry.
    expect(after.types.get('process_cpu_user_seconds_total')).toBe('counter');
  });

  it('says when Linux has routes the dataplane cannot forward: a gauge per netns and MirrorInSync=False', async () => {
    const { p, e } = await startReady();
    const unsupported = async (): Promise<number> => sample(await scrape(e), 'kube_lcp_mirror_routes_unsupported', { netns: h.lab.linux });
    expect(await eventually(async () => (await unsupported()) === 0, 10_000)).toBe(true);
    // An IP-in-IP encap route: Linux forwards it; the dataplane has no encap, so it must not claim to.
    await nsx(h.lab.linux, 'ip', ['route', 'add', '10.202.0.0/16', 'encap', 'ip', 'id', '5', 'dst', p.v4, 'dev', p.mirror]);
    expect(await eventually(async () => (await unsupported()) === 1, 10_000)).toBe(true);
    expect(await h.nodeCondition('MirrorInSync')).toMatchObject({ status: 'False', reason: 'UnsupportedRoutes' });
    await nsx(h.lab.linux, 'ip', ['route', 'del', '10.202.0.0/16']);
    expect(await eventually(async () => (await unsupported()) === 0, 10_000)).toBe(true);
    expect(await h.nodeCondition('MirrorInSync')).toMatchObject({ status: 'True' });
  });

  it('counts a failing pair as reconcile errors and queue retries', async () => {
    await h.build(1);
    h.write(h.configText((y) => y.replace(/port:\n {4}name: \S+/, 'port:\n    name: nosuchdev0')));
    endpoint = await AgentEndpoint.open({ host: '127.0.0.1', port: 0 }, 'file', DEFAULT_CONCURRENT_RECONCILES);
    await h.start({ endpoint });
    await h.waitReady(h.lab.peers[0]!.pair, 'False', 'PortNotFound');
    const c = { controller: AGENT_CONTROLLER };
    // Retries follow with backoff; wait for a second failure to be counted.
    expect(await eventually(async () => sample(await scrape(endpoint!), 'controller_runtime_reconcile_errors_total', c) >= 2, 10_000)).toBe(true);
    const m = await scrape(endpoint);
    expect(sample(m, 'controller_runtime_reconcile_total', { ...c, result: 'error' })).toBe(sample(m, 'controller_runtime_reconcile_errors_total', c));
    expect(sample(m, 'workqueue_retries_total', { name: AGENT_CONTROLLER, controller: AGENT_CONTROLLER })).toBeGreaterThanOrEqual(1);
  });

  it('answers /readyz 503 until the first sync, then 200; /healthz is 200 throughout', async () => {
    await h.build(1);
    // The config is a FIFO: the file source's first load blocks until the test writes it.
    await sh('mkfifo', [h.config]);
    endpoint = await AgentEndpoint.open({ host: '127.0.0.1', port: 0 }, 'file', DEFAULT_CONCURRENT_RECONCILES);
    const starting = h.start({ endpoint });
    const early = await get(`${endpoint.url}/readyz`);
    expect(early.status).toBe(503);
    expect(early.body).toMatch(/first sync of the file source/);
    expect((await get(`${endpoint.url}/healthz`)).status).toBe(200);
    expect(sample(await scrape(endpoint), 'kube_lcp_dataplane_up')).toBe(0);

    // Hold the writing end (it opens once the loader is waiting), put a plain
    // file in the FIFO's place for later reloads, then feed the first load.
    const text = h.configText();
    const fifo = await open(h.config, 'w');
    writeFileSync(`${h.config}.new`, text);
    renameSync(`${h.config}.new`, h.config);
    await fifo.writeFile(text);
    await fifo.close();
    await starting;
    expect(await eventually(async () => (await get(`${endpoint!.url}/readyz`)).status === 200, 15_000)).toBe(true);
    expect(h.agent.firstSyncDone).toBe(true);
    expect((await get(`${endpoint.url}/readyz`)).body).toBe('ok\n');
    expect((await get(`${endpoint.url}/healthz`)).status).toBe(200);
    expect(sample(await scrape(endpoint), 'kube_lcp_dataplane_up')).toBe(1);
    expect((await get(`${endpoint.url}/nothing`)).status).toBe(404);

    await h.stop();
    await expect(fetch(`${endpoint.url}/healthz`)).rejects.toThrow(); // closed with the agent
  });

  it('`lcp agent` opens exactly one TCP listener, on the address given, and none with --metrics-bind-address 0', async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
    await h.build(1);
    h.write(h.configText());
    const run = async (bind: string): Promise<string[]> => {
      const agent = spawn(process.execPath, [cli, 'agent', '--config', h.config, '--node', h.node, '--socket', h.socket, '--state-dir', h.dir, '--log-level', 'warn', '--metrics-bind-address', bind], { stdio: 'ignore' });
      try {
        expect(await eventually(async () => (await ask.pairs(h.socket).catch(() => undefined)) !== undefined, 15_000)).toBe(true);
        return tcpListeners(agent.pid!);
      } finally {
        const exited = new Promise((r) => agent.once('exit', r));
        agent.kill('SIGTERM');
        await exited;
      }
    };
    expect(await run('0')).toEqual([]);
    const one = await run('127.0.0.1:0');
    expect(one).toHaveLength(1);
    expect(one[0]).toMatch(/^tcp 0100007F:/); // 127.0.0.1, little-endian hex
    // A bad address is refused before anything starts.
    const bad = await promisify(execFile)(process.execPath, [cli, 'agent', '--config', h.config, '--metrics-bind-address', 'nope']).catch((e: { stderr: string }) => e);
    expect('stderr' in bad && bad.stderr).toMatch(/metrics bind address 'nope'/);
  });
});
