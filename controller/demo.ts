// `npm start`: the newcomer's demo. Builds a lab of namespaces on this box
// (two peers, a "dut" netns holding the ports' netdevs, a "linux" netns for
// the mirrors), writes a standalone config for it (a LinuxControlPlane and one
// InterfacePair per peer, with the mirrors' addresses), runs the agent on it
// as `lcp agent --config` would be run, and shows traffic crossing the
// dataplane — first through Linux (ARP, glean), then natively once the netlink
// mirror has copied the neighbours Linux resolved — with `lcp show` output
// over the control socket. Removes everything on exit: the agent, the lab
// (and with it the mirrors), the config, the socket and the state file.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { ask } from './control/client.js';
import { eventually, nsTry } from './lab/netns.js';
import { trafficProcess } from './lab/router.js';
import { buildStandaloneLab, standaloneConfig, type StandaloneLab } from './lab/standalone.js';
import { freePort } from './lab/free-port.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('./cli.js', import.meta.url));

function step(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

/** Runs `lcp ARGS --socket SOCK` and prints it as a user would see it. */
async function lcp(sock: string, args: string[]): Promise<void> {
  process.stdout.write(`$ lcp ${args.join(' ')}\n`);
  const { stdout } = await run(process.execPath, [cli, ...args, '--socket', sock], { timeout: 30_000 });
  process.stdout.write(stdout);
}

interface Demo {
  lab?: StandaloneLab;
  agent?: ChildProcess;
  agentLog: string;
  dir: string;
}

async function stopAgent(d: Demo): Promise<void> {
  const child = d.agent;
  d.agent = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function cleanup(d: Demo): Promise<void> {
  await stopAgent(d);
  await d.lab?.lab.cleanup(); // deleting the netns deletes the mirrors in it
  d.lab = undefined;
  rmSync(d.dir, { recursive: true, force: true }); // config, socket, state file
}


async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the demo builds network namespaces: run it as root');
  const d: Demo = { agentLog: '', dir: mkdtempSync(join(tmpdir(), 'kube-lcp-demo-')) };
  const sock = join(d.dir, 'agent.sock');
  const node = `demo-${process.pid}`;
  process.once('SIGINT', () => void cleanup(d).then(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup(d).then(() => process.exit(143)));
  try {
    step('building the lab: peers a and b, port netdevs in netns "dut", a "linux" netns for the mirrors');
    d.lab = await buildStandaloneLab(2);
    const [a, b] = d.lab.peers;
    if (!a || !b) throw new Error('lab has no peers');
    const config = join(d.dir, 'lcp.yaml');
    writeFileSync(config, standaloneConfig(d.lab, node));
    process.stdout.write(`wrote ${config}:\n${standaloneConfig(d.lab, node)}`);

    step(`running the agent standalone: lcp agent --config ${config} --node ${node}`);
    // A free loopback port for the metrics/health endpoint, so the demo never collides with an agent already on the default one.
    const metrics = `127.0.0.1:${await freePort()}`;
    d.agent = spawn(process.execPath, [cli, 'agent', '--config', config, '--node', node, '--socket', sock, '--state-dir', d.dir, '--log-level', 'warn', '--metrics-bind-address', metrics], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    d.agent.stderr?.on('data', (chunk: Buffer) => (d.agentLog += chunk.toString()));
    const ready = await eventually(async () => {
      const s = await ask.pairs(sock).catch(() => undefined);
      return (s?.node.status?.pairsReady ?? 0) === 2;
    }, 20_000, 200);
    if (!ready) throw new Error(`the agent did not make both pairs Ready:\n${d.agentLog}`);
    // The mirrors' addresses (applied by the agent) flow back into the dataplane through the netlink mirror.
    const mirrored = await eventually(async () => {
      const fib = await ask.fib(sock, 0, 4);
      return [a, b].every((p) => fib.entries.some((e) => e.prefix === `${p.gw4}/32` && e.kind === 'receive'));
    }, 10_000, 100);
    if (!mirrored) throw new Error('the netlink mirror did not bring the mirrors\' addresses into the dataplane');
    await lcp(sock, ['show', 'pairs']);
    await lcp(sock, ['show', 'ports']);

    step(`a (${a.v4}) pings b (${b.v4}): ARP and the first packets go through Linux (punt, glean)`);
    process.stdout.write((await nsTry(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', b.v4])).out);

    step('the netlink mirror copied the neighbours Linux resolved into the dataplane');
    const resolved = await eventually(async () => {
      const n = await ask.neighbors(sock);
      return [a, b].every((p) => n.neighbors.some((x) => x.nextHop === p.v4 && x.rewrite?.startsWith(p.mac.replace(/:/g, ''))));
    }, 10_000, 100);
    if (!resolved) throw new Error('the netlink mirror did not copy the neighbours');
    await lcp(sock, ['show', 'neighbors']);

    step('tracing 6 packets while pinging again: now forwarded natively');
    const pinging = nsTry(a.ns, 'ping', ['-c', '8', '-i', '0.2', '-W', '2', b.v4]);
    await new Promise((r) => setTimeout(r, 50));
    await lcp(sock, ['trace', '6', '--wait', '3']);
    process.stdout.write((await pinging).out);

    step('1000 UDP datagrams a -> b, checked for integrity at b');
    const sink = trafficProcess(b.ns, ['udp-sink', b.v4, '5001', '1000', '5000']);
    await sink.ready;
    await trafficProcess(a.ns, ['udp-send', b.v4, '5001', '1000', '512', '8']).result;
    const got = await sink.result;
    process.stdout.write(`${JSON.stringify(got)}\n`);

    step('the dataplane FIB and counters, as the agent reports them');
    await lcp(sock, ['show', 'fib']);
    await lcp(sock, ['show', 'counters']);

    step(`the metrics/health endpoint: GET http://${metrics}/readyz and the port series of /metrics`);
    const readyz = await fetch(`http://${metrics}/readyz`);
    process.stdout.write(`/readyz ${readyz.status} ${(await readyz.text()).trim()}\n`);
    const text = await (await fetch(`http://${metrics}/metrics`)).text();
    process.stdout.write(`${text.split('\n').filter((l) => /^kube_lcp_port_(rx|tx)_packets_total|^controller_runtime_reconcile_total/.test(l)).join('\n')}\n`);
    step('done: stopping the agent, removing the lab, the config, the socket and the state file');
  } finally {
    await cleanup(d);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
