// `npm start`: the newcomer's demo. Builds a lab of namespaces on this box
// (two peers, a "dut" netns holding the ports, a "linux" netns holding the
// mirrors), runs the embedded dataplane on it, shows traffic crossing it —
// first through Linux (ARP, glean), then natively once the neighbours are
// known — prints the dataplane's view, and removes everything on exit.
import { nsTry, nsx } from './lab/netns.js';
import { buildRouter, teardown, trafficProcess, type Router } from './lab/router.js';
import { showAdjacencies, showCounters, showFib, showPorts, showTrace } from './show.js';

function step(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

/** Copy what Linux resolved on the mirrors into the dataplane (the netlink mirror's job, done by hand here). */
async function copyNeighbors(r: Router): Promise<number> {
  let n = 0;
  for (const p of r.peers) {
    const out = await nsx(r.linux, 'ip', ['-j', 'neigh', 'show', 'dev', p.tap]);
    for (const e of JSON.parse(out || '[]') as { dst: string; lladdr?: string; state?: string[] }[]) {
      if (!e.lladdr || e.state?.includes('FAILED') || e.state?.includes('INCOMPLETE')) continue;
      r.dp.addNeighbor(p.port.index, e.dst, e.lladdr);
      n++;
    }
  }
  return n;
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

    step('copying the neighbours Linux resolved into the dataplane (what the netlink mirror will do)');
    process.stdout.write(`${await copyNeighbors(r)} neighbours copied\n`);
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
