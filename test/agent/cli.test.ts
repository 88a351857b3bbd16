// `lcp show --json` and `lcp trace` through the real CLI (dist/) and the
// control socket of a running agent: what they print agrees with the
// dataplane's own dumps and with the kernel.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { netlinkHost } from '../../dataplane/host.js';
import type { NodeDataplane } from '../../controller/api/node-dataplane.js';
import type { FibView, NeighborsView, PortsView } from '../../controller/control/protocol.js';
import type { Counters, TraceRecord } from '../../dataplane/dataplane.js';
import { describeRoot, eventually, nsTry } from '../helpers/lab.js';
import { AgentHarness } from './harness.js';

const run = promisify(execFile);
const cli = join(process.cwd(), 'dist', 'controller', 'cli.js');

describeRoot('lcp CLI over the control socket', () => {
  let h: AgentHarness;
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  });
  beforeEach(() => {
    h = new AgentHarness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const lcp = async <T>(...args: string[]): Promise<T> =>
    JSON.parse((await run(process.execPath, [cli, ...args, '--json', '--socket', h.socket])).stdout) as T;
  const text = async (...args: string[]): Promise<string> => (await run(process.execPath, [cli, ...args, '--socket', h.socket])).stdout;

  it('show pairs|ports|fib|neighbors|counters --json agree with the dataplane and the kernel', async () => {
    await h.build(2);
    h.write(h.configText());
    await h.start();
    const [a, b] = h.lab.peers as [typeof h.lab.peers[0] & object, typeof h.lab.peers[0] & object];
    await h.waitReady(a.pair);
    await h.waitReady(b.pair);
    const dp = h.agent.dp;
    expect(await eventually(() => dp.fib(0, 4).filter((e) => e.kind === 'receive').length >= 4)).toBe(true);
    // Traffic, so that neighbours and counters have something in them.
    expect((await nsTry(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', b.v4])).out).toContain('2 received');
    expect(await eventually(() => dp.adjacencies().filter((x) => x.kind === 'rewrite').length >= 2)).toBe(true);

    const node = await lcp<NodeDataplane>('show', 'pairs');
    expect(node.kind).toBe('NodeDataplane');
    expect(node.status?.pairsReady).toBe(2);
    for (const p of [a, b]) {
      const entry = node.status?.pairs?.find((e) => e.name === p.pair);
      const link = netlinkHost.link(h.lab.linux, p.mirror);
      const port = dp.ports().find((x) => x.name === p.portDev);
      expect(entry).toMatchObject({ mirrorIfindex: link!.ifindex, portIndex: port!.index, mtuMatch: true, macMatch: true });
      // Each port's XDP fast path state, as the dataplane reports it.
      expect(port!.fastPath).toMatch(/^(active|rx-only: |inactive: )/);
      expect(node.status?.ports?.find((x) => x.index === port!.index)?.fastPath).toBe(port!.fastPath);
    }

    const ports = await lcp<PortsView>('show', 'ports');
    expect(ports.ports).toEqual(dp.ports());
    expect(ports.pairs).toEqual(dp.pairs());

    const fib = await lcp<FibView>('show', 'fib', '--table', '0', '--family', '4');
    expect(fib.entries).toEqual(dp.fib(0, 4));
    expect(fib.entries.map((e) => e.prefix)).toEqual(expect.arrayContaining([`${a.gw4}/32`, `${b.gw4}/32`]));
    expect((await lcp<FibView>('show', 'fib', '--family', '6')).entries).toEqual(dp.fib(0, 6));

    const neigh = await lcp<NeighborsView>('show', 'neighbors');
    expect(neigh.neighbors).toEqual(dp.adjacencies().filter((x) => x.kind === 'rewrite'));
    const kernelNeigh = (await nsTry(h.lab.linux, 'ip', ['neigh', 'show', b.v4])).out;
    expect(kernelNeigh).toContain(b.mac);
    expect(neigh.neighbors.find((x) => x.nextHop === b.v4)?.rewrite?.startsWith(b.mac.replace(/:/g, ''))).toBe(true);

    const counters = await lcp<Counters>('show', 'counters');
    expect(counters.ports.map((c) => c.port).sort()).toEqual(dp.ports().map((x) => x.index).sort());
    const now = dp.counters();
    for (const c of counters.ports) expect(c.rxPackets).toBeLessThanOrEqual(now.ports.find((x) => x.port === c.port)!.rxPackets);

    // The text views a VPP user would recognise.
    expect(await text('show', 'pairs')).toMatch(new RegExp(`itf-pair: \\[\\d+\\] ${a.portDev} tap ${a.mirror}`));
    expect(await text('show', 'fib')).toContain(`${a.gw4}/32`);
    const portsText = await text('show', 'ports');
    expect(portsText.split('\n')[0]).toMatch(/\bfast-path$/);
    expect(portsText).toContain(dp.ports().find((x) => x.name === a.portDev)!.fastPath!);
  });

  it('lcp trace N shows the nodes each packet crossed', async () => {
    await h.build(2);
    h.write(h.configText());
    await h.start();
    const [a, b] = h.lab.peers as [typeof h.lab.peers[0] & object, typeof h.lab.peers[0] & object];
    await h.waitReady(a.pair);
    await h.waitReady(b.pair);
    const pinging = nsTry(a.ns, 'ping', ['-c', '10', '-i', '0.2', '-W', '2', b.v4]);
    const records = await lcp<TraceRecord[]>('trace', '8', '--wait', '3');
    await pinging;
    expect(records.length).toBeGreaterThanOrEqual(2);
    // Packets from the wire start at port-input (those Linux sends start at mirror-input).
    expect(records.some((r) => r.nodes[0] === 'port-input' && r.nodes[1] === 'ethernet-input')).toBe(true);
  });

  it('says clearly when no agent is running', async () => {
    await expect(run(process.execPath, [cli, 'show', 'pairs', '--socket', join(h.dir, 'none.sock')])).rejects.toMatchObject({
      stderr: expect.stringContaining('is the agent running?'),
    });
  });
});
