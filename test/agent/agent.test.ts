// The node agent in standalone mode, against real netns, veths and TAPs:
// a file of InterfacePairs becomes ports and mirrors, changes and deletions
// follow, what only the node can know becomes a condition with a reason, and
// it never touches what it does not own.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import pino from 'pino';

import { netlinkHost } from '../../dataplane/host.js';
import { ownerMark } from '../../controller/agent/owned.js';
import { ownerTagFor } from '../../controller/agent/agent.js';
import { describeRoot, eventually, nsx, sh, uniq } from '../helpers/lab.js';
import { AgentHarness } from './harness.js';

describeRoot('agent (standalone)', () => {
  let h: AgentHarness;
  beforeEach(() => {
    h = new AgentHarness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  async function startWith(peers: number, edit?: (y: string) => string): Promise<void> {
    await h.build(peers);
    h.write(h.configText(edit));
    await h.start();
  }

  it('measures drift off the JS thread: a route only the dataplane has turns MirrorInSync False, and back', async () => {
    await startWith(1);
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    expect(await eventually(async () => (await h.nodeCondition('MirrorInSync')).status === 'True', 10_000)).toBe(true);
    const port = h.agent.dp.ports().find((x) => x.name === p.portDev)!;
    // Not in Linux: the next check (every second here) finds it extra.
    h.agent.dp.addRoute({ prefix: '198.18.0.0/24', paths: [{ port: port.index, via: p.v4 }] });
    expect(await eventually(() => h.agent.lastDriftRoutes === 1, 10_000)).toBe(true);
    expect(await h.nodeCondition('MirrorInSync')).toMatchObject({ status: 'False', reason: 'Drift' });
    h.agent.dp.removeRoute(0, '198.18.0.0/24');
    expect(await eventually(() => h.agent.lastDriftRoutes === 0, 10_000)).toBe(true);
    expect(await h.nodeCondition('MirrorInSync')).toMatchObject({ status: 'True' });
  });

  it('makes the mirror with the right name, MTU and MAC, attaches the port, and reports the pair Ready', async () => {
    const mac = '02:6c:63:70:00:07';
    await startWith(1, (y) => y.replace(/mirror:\n {4}name: (\S+)/, `mirror:\n    name: $1\n    mtu: 1400\n    mac: "${mac}"`));
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    const link = netlinkHost.link(h.lab.linux, p.mirror);
    expect(link).toMatchObject({ name: p.mirror, mtu: 1400, mac, alias: ownerMark(ownerTagFor(h.node)) });
    const port = h.agent.dp.ports().find((x) => x.name === p.portDev);
    expect(port).toMatchObject({ netns: h.lab.dut, mtu: 1400, mac, adminUp: true });
    expect(h.agent.dp.pairs()).toEqual([expect.objectContaining({ port: port!.index, mirrorName: p.mirror, mirrorNetns: h.lab.linux })]);
    expect(h.entry(p.pair)).toMatchObject({ portIndex: port!.index, mirrorIfindex: link!.ifindex, mtuMatch: true, macMatch: true, observedGeneration: 1 });
    // The declared addresses are on the mirror and came back into the dataplane through the netlink mirror.
    expect(netlinkHost.addresses(h.lab.linux, p.mirror)).toEqual(expect.arrayContaining([`${p.gw4}/24`, `${p.gw6}/64`]));
    expect(await eventually(() => h.agent.dp.fib(0, 4).some((e) => e.prefix === `${p.gw4}/32` && e.kind === 'receive'))).toBe(true);
  });

  it('reconciles pairs side by side, and sweeps what is no pair\'s alone', async () => {
    await h.build(6);
    h.write(h.configText());
    // Every reconcile logs its start and its end (debug), in the order they happen.
    const lines: { msg: string; key?: string }[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string; key?: string }) });
    await h.start({ log, concurrentReconciles: 4, resyncPeriodMs: 300 });
    for (const p of h.lab.peers) await h.waitReady(p.pair);
    await new Promise((r) => setTimeout(r, 1000)); // a few resyncs: every key again, the node key too
    const active = new Set<string>();
    let mostPairs = 0;
    let nodeRuns = 0;
    for (const { msg, key } of lines) {
      if (!key) continue;
      if (msg === 'reconciling') {
        if (key === 'node') {
          expect([...active]).toEqual([]); // the node sweep never overlaps a pair's reconcile
          nodeRuns += 1;
        } else {
          expect(active.has('node')).toBe(false);
        }
        active.add(key);
        mostPairs = Math.max(mostPairs, active.size);
      } else if (msg === 'reconciled') {
        active.delete(key);
      }
    }
    expect(nodeRuns).toBeGreaterThan(1);
    expect(mostPairs).toBeGreaterThan(1);
    expect(mostPairs).toBeLessThanOrEqual(4);
  });

  it('changes MTU and addresses in place: same device, old addresses it set removed, ones it did not set kept', async () => {
    await startWith(1);
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    const before = netlinkHost.link(h.lab.linux, p.mirror);
    await nsx(h.lab.linux, 'ip', ['addr', 'add', '192.0.2.9/32', 'dev', p.mirror]); // an operator's own
    h.write(h.configText((y) => y.replace(/mirror:\n {4}name: (\S+)/, 'mirror:\n    name: $1\n    mtu: 1300').replace(`${p.gw4}/24`, '10.99.0.1/24')));
    expect(await eventually(() => h.entry(p.pair)?.observedGeneration === 2, 10_000)).toBe(true);
    await h.waitReady(p.pair);
    const after = netlinkHost.link(h.lab.linux, p.mirror);
    expect(after).toMatchObject({ ifindex: before!.ifindex, mtu: 1300 });
    expect(h.agent.dp.ports()[0]?.mtu).toBe(1300);
    const addrs = netlinkHost.addresses(h.lab.linux, p.mirror);
    expect(addrs).toEqual(expect.arrayContaining(['10.99.0.1/24', '192.0.2.9/32']));
    expect(addrs).not.toContain(`${p.gw4}/24`);
  });

  it('records an address as its own before putting it on the mirror (killed in between, it still takes it back later)', async () => {
    await startWith(1);
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    h.write(h.configText((y) => y.replace(`${p.gw4}/24`, '10.99.0.1/24')));
    expect(await eventually(() => h.entry(p.pair)?.observedGeneration === 2, 10_000)).toBe(true);
    await h.waitReady(p.pair);
    // The journal's records of this mirror, in order: the new address is recorded with the old
    // ones still there (before `ip addr replace`), then the declared set alone (after the removal).
    const journal = readFileSync(join(h.dir, `agent-${h.node}.state.json.journal`), 'utf8');
    const records = journal.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string; rec?: { name: string; addresses?: string[] } })
      .filter((o) => o.op === 'mirror' && o.rec?.name === p.mirror).map((o) => o.rec!.addresses ?? []);
    const ahead = records.findIndex((a) => a.includes('10.99.0.1/24'));
    expect(records[ahead]).toEqual(expect.arrayContaining([`${p.gw4}/24`, '10.99.0.1/24']));
    expect(records.at(-1)).not.toContain(`${p.gw4}/24`);
  });

  it('gives the port back with the MTU it had when a pair with an MTU of its own is deleted (even 68, which took its IPv6)', async () => {
    // No IPv6 address in the spec: below 1280 the kernel takes IPv6 off the mirror too.
    const noIpv6 = (y: string) => y.replace(new RegExp(`\\n *- ${h.lab.peers[0]!.gw6}/64`), '');
    await startWith(1, (y) => noIpv6(y).replace(/mirror:\n {4}name: (\S+)/, 'mirror:\n    name: $1\n    mtu: 68'));
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    expect(netlinkHost.link(h.lab.dut, p.portDev)?.mtu).toBe(68);
    h.write(h.configText((y) => y.split('---\n').filter((d) => !d.includes(`name: ${p.pair}`)).join('---\n')));
    expect(await eventually(() => netlinkHost.link(h.lab.dut, p.portDev)?.mtu === 1500, 10_000)).toBe(true);
    // Back above 1280, the kernel gives the netdev its IPv6 (and a link-local) again.
    expect(await eventually(async () => (await nsx(h.lab.dut, 'ip', ['-6', 'addr', 'show', 'dev', p.portDev, 'scope', 'link'])).includes('fe80::'), 10_000)).toBe(true);
  });

  it('gives the port back and deletes the mirror when the pair is deleted', async () => {
    await startWith(2);
    const [a, b] = h.lab.peers as [typeof h.lab.peers[0] & object, typeof h.lab.peers[0] & object];
    await h.waitReady(a.pair);
    await h.waitReady(b.pair);
    h.write(h.configText((y) => y.split('---\n').filter((d) => !d.includes(`name: ${b.pair}`)).join('---\n')));
    expect(await eventually(async () => (netlinkHost.link(h.lab.linux, b.mirror)) === undefined, 10_000)).toBe(true);
    // The port goes just after its mirror: closing its sockets waits for kernel grace periods, off the event loop.
    expect(await eventually(() => h.agent.dp.ports().length === 1, 10_000)).toBe(true);
    expect(h.agent.dp.ports().map((x) => x.name)).toEqual([a.portDev]);
    expect(h.entry(b.pair)).toBeUndefined();
    // The netdev is the kernel's again: IPv6 (disabled while it was a port) is back. The port's
    // sockets close off the event loop (kernel grace periods), just after its mirror went.
    const ipv6Disabled = async () => (await nsx(h.lab.dut, 'sysctl', ['-n', `net.ipv6.conf.${b.portDev}.disable_ipv6`])).trim();
    expect(await eventually(async () => (await ipv6Disabled()) === '0', 5_000)).toBe(true);
    expect(netlinkHost.link(h.lab.linux, a.mirror)).toBeDefined();
  });

  it('cleans up at start a pair removed from the file while it was stopped', async () => {
    await startWith(2);
    const [a, b] = h.lab.peers as [typeof h.lab.peers[0] & object, typeof h.lab.peers[0] & object];
    await h.waitReady(a.pair);
    await h.waitReady(b.pair);
    await h.stop();
    expect(netlinkHost.link(h.lab.linux, b.mirror)).toBeDefined(); // mirrors persist across a stop
    h.write(h.configText((y) => y.split('---\n').filter((d) => !d.includes(`name: ${b.pair}`)).join('---\n')));
    await h.start();
    await h.waitReady(a.pair);
    expect(await eventually(async () => (netlinkHost.link(h.lab.linux, b.mirror)) === undefined, 10_000)).toBe(true);
    // The port goes just after its mirror: closing its sockets waits for kernel grace periods, off the event loop.
    expect(await eventually(() => h.agent.dp.ports().length === 1, 10_000)).toBe(true);
    expect(h.agent.dp.ports().map((x) => x.name)).toEqual([a.portDev]);
  });

  it('re-adopts mirrors after a restart with their Linux addresses, and counts the restart', async () => {
    await startWith(1);
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    const before = netlinkHost.link(h.lab.linux, p.mirror);
    await nsx(h.lab.linux, 'ip', ['addr', 'add', '198.51.100.1/32', 'dev', p.mirror]);
    await h.stop();
    await h.start();
    await h.waitReady(p.pair);
    expect(h.agent.dp.pairs()[0]?.adopted).toBe(true);
    expect((netlinkHost.link(h.lab.linux, p.mirror))?.ifindex).toBe(before!.ifindex);
    expect(netlinkHost.addresses(h.lab.linux, p.mirror)).toEqual(expect.arrayContaining([`${p.gw4}/24`, '198.51.100.1/32']));
    expect(h.agent.nodeDataplane().status?.restartCount).toBe(1);
    expect(h.entry(p.pair)?.conditions?.find((c) => c.type === 'MirrorReady')?.reason).toBe('Adopted');
  });

  it('makes a mirror deleted by hand again (level-triggered)', async () => {
    await startWith(1);
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    const before = netlinkHost.link(h.lab.linux, p.mirror);
    await sh('ip', ['-n', h.lab.linux, 'link', 'del', p.mirror]);
    expect(await eventually(async () => {
      const now = netlinkHost.link(h.lab.linux, p.mirror);
      return now !== undefined && now.ifindex !== before!.ifindex;
    }, 10_000)).toBe(true);
    // Made anew by the reconcile that noticed, host config included.
    expect(await eventually(async () => (netlinkHost.addresses(h.lab.linux, p.mirror)).includes(`${p.gw4}/24`), 10_000)).toBe(true);
    await h.waitReady(p.pair);
  });

  it('reports PortNotFound for a missing netdev and recovers by itself when it appears', async () => {
    await startWith(1, (y) => y.replace(/port:\n {4}name: \S+/, 'port:\n    name: latevth0'));
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair, 'False', 'PortNotFound');
    expect((await h.nodeCondition('Degraded')).reason).toBe('PairsFailed');
    expect(h.entry(p.pair)?.retries).toBeGreaterThan(0);
    await sh('ip', ['-n', h.lab.dut, 'link', 'add', 'latevth0', 'type', 'veth', 'peer', 'name', 'latevth1']);
    await h.waitReady(p.pair);
    expect(h.agent.dp.ports()[0]?.name).toBe('latevth0');
  });

  it('reports NetnsNotFound for a missing mirror netns and recovers when it is made', async () => {
    const ns = uniq('lcpns');
    h.trackNetns(ns);
    await startWith(1, (y) => y.replace(/defaultNetns: \S+/, `defaultNetns: ${ns}`));
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair, 'False', 'NetnsNotFound');
    await sh('ip', ['netns', 'add', ns]);
    await h.waitReady(p.pair);
    expect(netlinkHost.link(ns, p.mirror)).toBeDefined();
  });

  it('reports NameConflict for a mirror name taken by a foreign device, leaves it alone, recovers when it goes', async () => {
    await h.build(1);
    const p = h.lab.peers[0]!;
    await sh('ip', ['-n', h.lab.linux, 'link', 'add', p.mirror, 'type', 'veth', 'peer', 'name', `${p.mirror}x`.slice(0, 15)]);
    await nsx(h.lab.linux, 'ip', ['addr', 'add', '192.0.2.77/32', 'dev', p.mirror]);
    h.write(h.configText());
    await h.start();
    await h.waitReady(p.pair, 'False', 'NameConflict');
    const foreign = netlinkHost.link(h.lab.linux, p.mirror);
    expect(foreign).toMatchObject({ kind: 'veth', alias: '' });
    expect(netlinkHost.addresses(h.lab.linux, p.mirror)).toEqual(['192.0.2.77/32']);
    await sh('ip', ['-n', h.lab.linux, 'link', 'del', p.mirror]);
    await h.waitReady(p.pair);
    expect((netlinkHost.link(h.lab.linux, p.mirror))?.kind).toBe('tun');
  });

  it('keeps the last good state on broken YAML or an invalid spec, and says why', async () => {
    await startWith(1);
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    const good = netlinkHost.link(h.lab.linux, p.mirror);
    h.write(`${h.configText()}---\nkind: [broken\n`);
    expect(await eventually(async () => (await h.nodeCondition('ConfigValid')).status === 'False', 5000)).toBe(true);
    h.write(h.configText((y) => y.replace(`netns: ${h.lab.dut}`, 'netns: ../../proc/1/ns')));
    expect(await eventually(async () => /netns/.test((await h.nodeCondition('ConfigValid')).message ?? ''), 5000)).toBe(true);
    expect((await h.nodeCondition('Degraded')).reason).toBe('ConfigInvalid');
    await new Promise((r) => setTimeout(r, 1500)); // a resync period passes: nothing may change
    expect(h.ready(p.pair).status).toBe('True');
    expect((netlinkHost.link(h.lab.linux, p.mirror))?.ifindex).toBe(good!.ifindex);
    h.write(h.configText());
    expect(await eventually(async () => (await h.nodeCondition('ConfigValid')).status === 'True', 5000)).toBe(true);
  });

  it('reports two LinuxControlPlanes that tie for the node instead of merging them', async () => {
    await startWith(1, (y) => `${y}---\napiVersion: lcp.kubelcp.io/v1alpha1\nkind: LinuxControlPlane\nmetadata: { name: zz-other }\nspec: { defaultNetns: elsewhere, nodeSelector: { matchLabels: { role: test } } }\n`);
    const c = await h.nodeCondition('SettingsResolved');
    expect(c).toMatchObject({ status: 'False', reason: 'Conflict' });
    expect(c.message).toContain('lab, zz-other');
    expect(h.agent.nodeSettings.conflict).toEqual(['lab', 'zz-other']);
  });

  it('keeps working mirrors when a LinuxControlPlane names a defaultNetns the node does not have, says so, and takes it once it exists', async () => {
    await startWith(1);
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    const before = netlinkHost.link(h.lab.linux, p.mirror);
    const missing = uniq('lmiss');
    h.write(h.configText((y) => y.replace(/defaultNetns: \S+/, `defaultNetns: ${missing}`)));
    expect(await eventually(async () => (await h.nodeCondition('SettingsResolved')).reason === 'DefaultNetnsNotFound', 10_000)).toBe(true);
    expect(await h.nodeCondition('Degraded')).toMatchObject({ status: 'True', reason: 'SettingsRefused' });
    expect((await h.nodeCondition('SettingsResolved')).message).toContain(`defaultNetns '${missing}' does not exist`);
    // Nothing was torn down: the same mirror, the pair still Ready.
    expect(netlinkHost.link(h.lab.linux, p.mirror)?.ifindex).toBe(before!.ifindex);
    expect(h.ready(p.pair).status).toBe('True');
    // Once the netns exists the settings apply (the resync, every second here, looks again).
    await sh('ip', ['netns', 'add', missing]);
    h.trackNetns(missing);
    expect(await eventually(async () => (await h.nodeCondition('SettingsResolved')).reason === 'Resolved', 15_000)).toBe(true);
    expect(await eventually(() => netlinkHost.link(missing, p.mirror) !== undefined, 15_000)).toBe(true);
  });

  it('never deletes a device carrying another owner\'s mark', async () => {
    await startWith(1);
    const p = h.lab.peers[0]!;
    await h.waitReady(p.pair);
    const other = uniq('oth');
    await sh('ip', ['-n', h.lab.linux, 'tuntap', 'add', 'dev', other, 'mode', 'tap']);
    await sh('ip', ['-n', h.lab.linux, 'link', 'set', 'dev', other, 'alias', 'kube-lcp:someone-else']);
    h.write(h.configText((y) => y.split('---\n').filter((d) => !d.includes(`name: ${p.pair}`)).join('---\n')));
    expect(await eventually(async () => (netlinkHost.link(h.lab.linux, p.mirror)) === undefined, 10_000)).toBe(true);
    expect(netlinkHost.link(h.lab.linux, other)).toBeDefined();
  });
});
