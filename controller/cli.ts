#!/usr/bin/env node
// `lcp`: the node agent and the operator's commands. `lcp agent` runs the
// agent; `lcp show ...` and `lcp trace` ask the running agent over its
// control socket, like vppctl.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

import { Command, InvalidArgumentError, Option } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import { DEFAULT_CONCURRENT_RECONCILES } from './agent/agent.js';
import { DEFAULT_LEASE_NAMESPACE } from './api/lease.js';

import { startStandalone } from './agent/standalone.js';
import { makeLogger } from './agent/log.js';
import { AgentEndpoint } from './metrics/agent-endpoint.js';
import { DEFAULT_CONTROLLER_METRICS_BIND_ADDRESS, DEFAULT_METRICS_BIND_ADDRESS, parseBindAddress, type BindAddress } from './metrics/bind-address.js';
import { ask, ControlError } from './control/client.js';
import { DEFAULT_SOCKET } from './control/protocol.js';
import { showCounters, showFib, showNeighbors, showPairs, showPorts, showTrace } from './show.js';

const DEFAULT_STATE_DIR = '/run/kube-lcp';

function intArg(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`must be an integer ${min}..${max}`);
    return n;
  };
}

function labelArg(v: string, prev: Record<string, string>): Record<string, string> {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('labels are key=value');
  return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) };
}

/** A group id, or a group name looked up in /etc/group. */
function groupArg(v: string): number {
  if (/^\d+$/.test(v)) return Number(v);
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[0] === v);
  const gid = line?.split(':')[2];
  if (gid === undefined) throw new InvalidArgumentError(`no group '${v}'`);
  return Number(gid);
}

/** The kubeconfig file, or the pod's in-cluster config; the client is loaded only for cluster commands. */
async function loadKubeConfig(file: string | undefined): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster();
  return kc;
}

/** SIGTERM/SIGINT: log, stop gracefully, exit 0 (1 if stopping failed). */
function stopOnSignals(log: Logger, message: string, stop: () => Promise<void>): void {
  const shutdown = (signal: string): void => {
    log.info({ signal }, message);
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

function bindArg(v: string): BindAddress | undefined {
  try {
    return parseBindAddress(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function print(json: boolean, data: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : text());
}

const program = new Command('lcp')
  .description('kube-lcp: a Linux Control Plane for an embedded dataplane, run the Kubernetes way')
  .version('0.1.0')
  .showHelpAfterError();

program
  .command('agent')
  .description('run the node agent: against the cluster (--kubeconfig FILE, or in-cluster), or standalone with --config FILE')
  .option('--config <file>', 'standalone: a YAML file of InterfacePair / LinuxControlPlane documents, reloaded on change')
  .option('--kubeconfig <file>', 'cluster mode with this kubeconfig (default: in-cluster config when KUBERNETES_SERVICE_HOST is set)')
  .option('--namespace <ns>', 'cluster mode: namespace of the heartbeat Lease', DEFAULT_LEASE_NAMESPACE)
  .option('--node <name>', 'this node\'s name (selectors match it)', hostname().toLowerCase())
  .option('--node-label <key=value>', 'standalone: a label of this node (repeatable; cluster mode reads the Node object)', labelArg, {})
  .option('--socket <path>', 'control socket', DEFAULT_SOCKET)
  .option('--socket-group <group>', 'also let this group use the control socket (mode 0660)', groupArg)
  .option('--state-dir <dir>', 'restart count and the record of our mirrors', DEFAULT_STATE_DIR)
  .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'))
  .option('--resync-period <seconds>', 'reconcile everything this often', intArg(1, 86400), 30)
  .option('--concurrent-reconciles <n>', 'pairs reconciled at once', intArg(1, 64), DEFAULT_CONCURRENT_RECONCILES)
  .addOption(new Option('--metrics-bind-address <host:port>', 'the one TCP listener: /metrics, /healthz, /readyz (0 = none)').argParser(bindArg).default(parseBindAddress(DEFAULT_METRICS_BIND_ADDRESS), DEFAULT_METRICS_BIND_ADDRESS))
  .action(async (o: { config?: string; kubeconfig?: string; namespace: string; node: string; nodeLabel: Record<string, string>; socket: string; socketGroup?: number; stateDir: string; logLevel: 'info'; resyncPeriod: number; concurrentReconciles: number; metricsBindAddress?: BindAddress }) => {
    const inCluster = !o.config && !o.kubeconfig && !!process.env.KUBERNETES_SERVICE_HOST;
    if (!o.config && !o.kubeconfig && !inCluster) {
      process.stderr.write('lcp agent: give --config FILE (standalone), --kubeconfig FILE, or run in a pod (in-cluster config)\n');
      process.exit(2);
    }
    if (o.config && o.kubeconfig) {
      process.stderr.write('lcp agent: --config and --kubeconfig exclude each other\n');
      process.exit(2);
    }
    const log = makeLogger(o.logLevel);
    // Listening before the start: liveness answers and readiness says why not while the source syncs.
    const endpoint = o.metricsBindAddress ? await AgentEndpoint.open(o.metricsBindAddress, o.config ? 'file' : 'cluster', o.concurrentReconciles) : undefined;
    if (endpoint) log.info({ metrics: endpoint.url }, 'metrics and health listening');
    let running: { stop(): Promise<void> };
    try {
      if (o.config) {
        running = await startStandalone({
          config: o.config,
          node: { name: o.node, labels: o.nodeLabel },
          stateDir: o.stateDir,
          socket: o.socket,
          socketGid: o.socketGroup,
          log,
          resyncPeriodMs: o.resyncPeriod * 1000,
          concurrentReconciles: o.concurrentReconciles,
          endpoint,
        });
        log.info({ socket: o.socket, config: o.config }, 'ready');
      } else {
        // Loaded only for cluster mode: standalone never loads the Kubernetes client.
        const { startClusterAgent } = await import('./agent/cluster.js');
        const kc = await loadKubeConfig(o.kubeconfig);
        running = await startClusterAgent({
          kc,
          node: o.node,
          namespace: o.namespace,
          stateDir: o.stateDir,
          socket: o.socket,
          socketGid: o.socketGroup,
          log,
          resyncPeriodMs: o.resyncPeriod * 1000,
          concurrentReconciles: o.concurrentReconciles,
          endpoint,
        });
        log.info({ socket: o.socket, server: kc.getCurrentCluster()?.server, node: o.node }, 'ready (cluster mode)');
      }
    } catch (e) {
      await endpoint?.close();
      throw e;
    }
    stopOnSignals(log, 'shutting down (mirrors persist)', () => running.stop());
  });

program
  .command('controller')
  .description('run the cluster-level controller (leader-elected; the only writer of InterfacePair status)')
  .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster config)')
  .option('--namespace <ns>', 'namespace of the leader Lease and of the agents\' heartbeat Leases', DEFAULT_LEASE_NAMESPACE)
  .option('--id <name>', 'this replica\'s identity in the leader Lease (the pod name)', process.env.POD_NAME ?? `${hostname().toLowerCase()}-${process.pid}`)
  .addOption(new Option('--metrics-bind-address <host:port>', 'the one TCP listener: /metrics, /healthz, /readyz (0 = none)').argParser(bindArg).default(parseBindAddress(DEFAULT_CONTROLLER_METRICS_BIND_ADDRESS), DEFAULT_CONTROLLER_METRICS_BIND_ADDRESS))
  .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'))
  .action(async (o: { kubeconfig?: string; namespace: string; id: string; metricsBindAddress?: BindAddress; logLevel: 'info' }) => {
    const { startClusterController, CONTROLLER_LEASE, STATUS_WORKERS } = await import('./cluster/controller.js');
    const { ControllerEndpoint } = await import('./metrics/controller-endpoint.js');
    const kc = await loadKubeConfig(o.kubeconfig);
    const log = makeLogger(o.logLevel, 'lcp-controller');
    const endpoint = await ControllerEndpoint.open(o.metricsBindAddress, CONTROLLER_LEASE, STATUS_WORKERS);
    const running = await startClusterController({ kc, log, identity: o.id, namespace: o.namespace, metrics: endpoint });
    endpoint.attach(running);
    if (endpoint.url) log.info({ url: endpoint.url }, 'metrics and health endpoint listening');
    log.info({ server: kc.getCurrentCluster()?.server, id: o.id }, 'ready (waiting for leadership)');
    stopOnSignals(log, 'shutting down (leader Lease released)', async () => {
      await Promise.all([endpoint.close(), running.stop()]);
    });
  });

const show = program.command('show').description('ask the running agent, like vppctl show');
const socketOption = () => new Option('--socket <path>', 'control socket').default(DEFAULT_SOCKET);
const jsonOption = () => new Option('--json', 'JSON for scripts');

show.command('pairs').description('pairs and their conditions (the node\'s NodeDataplane)').addOption(jsonOption()).addOption(socketOption())
  .action(async (o: { json?: boolean; socket: string }) => {
    const d = await ask.pairs(o.socket);
    print(!!o.json, d.node, () => showPairs(d.node, d.settings, d.pairs));
  });
show.command('ports').description('dataplane ports and their mirrors').addOption(jsonOption()).addOption(socketOption())
  .action(async (o: { json?: boolean; socket: string }) => {
    const d = await ask.ports(o.socket);
    print(!!o.json, d, () => showPorts(d.ports, d.pairs));
  });
show.command('fib').description('a FIB table').addOption(jsonOption()).addOption(socketOption())
  .option('--table <n>', 'table id', intArg(0, 0xffffffff), 0)
  .addOption(new Option('--family <4|6>', 'address family').choices(['4', '6']).default('4'))
  .action(async (o: { json?: boolean; socket: string; table: number; family: '4' | '6' }) => {
    const d = await ask.fib(o.socket, o.table, o.family === '6' ? 6 : 4);
    print(!!o.json, d, () => showFib(d.entries, d.table, d.family));
  });
show.command('neighbors').alias('neighbours').description('resolved neighbours (rewrite adjacencies)').addOption(jsonOption()).addOption(socketOption())
  .action(async (o: { json?: boolean; socket: string }) => {
    const d = await ask.neighbors(o.socket);
    print(!!o.json, d, () => showNeighbors(d.neighbors, d.ports));
  });
show.command('counters').description('per-port counters and drops/punts by reason').addOption(jsonOption()).addOption(socketOption())
  .action(async (o: { json?: boolean; socket: string }) => {
    const d = await ask.counters(o.socket);
    print(!!o.json, d, () => showCounters(d));
  });

program
  .command('trace')
  .description('trace the next N packets received, with the nodes each one crossed')
  .argument('[count]', 'packets to trace', intArg(1, 1024), 10)
  .addOption(jsonOption())
  .addOption(socketOption())
  .option('--wait <seconds>', 'how long to wait for them', intArg(0, 3600), 5)
  .action(async (count: number, o: { json?: boolean; socket: string; wait: number }) => {
    await ask.traceArm(o.socket, count);
    const end = Date.now() + o.wait * 1000;
    let records = await ask.traceRead(o.socket);
    while (records.length < count && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
      records = await ask.traceRead(o.socket);
    }
    print(!!o.json, records, () => showTrace(records));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`lcp: ${e instanceof ControlError || e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
