// `npm start`: the newcomer's demo. Builds a lab of namespaces on this box
// (two peers, a "dut" netns holding the ports, a "linux" netns holding the
// mirrors), runs the embedded dataplane on it, shows traffic crossing it —
// first through Linux (ARP, glean), then natively once the netlink mirror has
// copied the neighbours Linux resolved — prints the dataplane's view, and
// removes everything on exit.
import { nsTry } from './lab/netns.js';
import { buildRouter, teardown, trafficProcess, waitForNeighbors, type Router } from './lab/router.js';
import { showAdjacencies, showCounters, showFib, showPorts, showTrace } from './show.js';

function step(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

/** Wait until the netlink mirror has copied the peers Linux resolved into the dataplane. */
async function mirroredNeighbors(r: Router): Promise<number> {
  const want = r.peers.map((p) => ({ port: p.port.index, ip: p.v4, mac: p.mac }));
  if (!(await waitForNeighbors(r.dp, want))) throw new Error('the netlink mirror did not copy the neighbours');
  return r.dp.mirrorStatus()[0]?.neighbors ?? 0;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the demo builds network namespaces: run it as root');
  let r: Router | undefined;
  const stop = async () => {
    await teardown(r);
    r = undefined;
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    step('building the lab: peers a and b, ports in netns "dut", mirrors (TAPs) in netns "linux"');
    r = await buildRouter(2);
    const [a, b] = r.peers;
    if (!a || !b) throw new Error('lab has no peers');
    process.stdout.write(showPorts(r.dp));

    step(`a (${a.v4}) pings b (${b.v4}): ARP and the first packets go through Linux (punt, glean)`);
    process.stdout.write((await nsTry(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', b.v4])).out);

    step('the netlink mirror copied the neighbours Linux resolved into the dataplane');
    process.stdout.write(`${await mirroredNeighbors(r)} neighbours mirrored\n`);
    process.stdout.write(showAdjacencies(r.dp));

    step('tracing 3 packets, then pinging again: now forwarded natively');
    r.dp.trace(3);
    process.stdout.write((await nsTry(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', b.v4])).out);
    process.stdout.write(showTrace(r.dp));

    step('1000 UDP datagrams a -> b, checked for integrity at b');
    const sink = trafficProcess(b.ns, ['udp-sink', b.v4, '5001', '1000', '5000']);
    await sink.ready;
    await trafficProcess(a.ns, ['udp-send', b.v4, '5001', '1000', '512', '8']).result;
    process.stdout.write(`${JSON.stringify(await sink.result)}\n`);

    step('the dataplane FIB and counters');
    process.stdout.write(showFib(r.dp, 0, 4));
    process.stdout.write(showCounters(r.dp));
    step('done: removing the lab');
  } finally {
    await stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
