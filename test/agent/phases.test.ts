// The phases that change Linux beside the dataplane, as tables: what is on
// the host and in the agent's records before, what is declared, and what the
// phase then asks of the host. Against a Host in memory (test/helpers).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pino } from 'pino';

import { deleteOwnedLink, ownedLinks, ownerMark } from '../../controller/agent/owned.js';
import { applyHostConfig, restorePort } from '../../controller/agent/pair-phases.js';
import { newScope, type AgentContext, type DesiredPair } from '../../controller/agent/pair-scope.js';
import { StateStore } from '../../controller/agent/state-store.js';
import { FakeHost } from '../helpers/fake-host.js';

const log = pino({ level: 'silent' });
let dir: string;
let state: StateStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lcp-phases-'));
  state = new StateStore(dir, 'n1');
});
afterEach(() => {
  state.close();
  rmSync(dir, { recursive: true, force: true });
});

const desired = (addresses: string[]): DesiredPair => ({
  name: 'p1',
  generation: 1,
  port: { name: 'eth1', netns: 'dut', driver: 'auto' },
  mirror: { name: 'e1', netns: 'linux' },
  addresses,
});

// The phases read only the host and the records; the dataplane is not reached.
const context = (host: FakeHost): AgentContext => ({ host, state, tag: 'n1' }) as unknown as AgentContext;

describe('applyHostConfig', () => {
  const cases: { name: string; onMirror: string[]; recorded: string[]; declared: string[]; after: string[]; calls: string[] }[] = [
    { name: 'adds what is declared', onMirror: [], recorded: [], declared: ['192.0.2.1/24', '2001:db8::1/64'], after: ['192.0.2.1/24', '2001:db8::1/64'], calls: ['add 192.0.2.1/24 linux/e1', 'add 2001:db8::1/64 linux/e1'] },
    { name: 'removes what it put there and is no longer declared, keeps what others put', onMirror: ['192.0.2.1/24', '198.51.100.7/32'], recorded: ['192.0.2.1/24'], declared: [], after: ['198.51.100.7/32'], calls: ['remove 192.0.2.1/24 linux/e1'] },
    { name: 'changes nothing when all is in place', onMirror: ['192.0.2.1/24'], recorded: ['192.0.2.1/24'], declared: ['192.0.2.1/24'], after: ['192.0.2.1/24'], calls: [] },
    { name: 'compares IPv6 in canonical form', onMirror: ['2001:db8::1/64'], recorded: ['2001:db8::1/64'], declared: ['2001:0db8:0::1/64'], after: ['2001:db8::1/64'], calls: [] },
    { name: 'replaces one declared address by another', onMirror: ['192.0.2.1/24'], recorded: ['192.0.2.1/24'], declared: ['192.0.2.2/24'], after: ['192.0.2.2/24'], calls: ['remove 192.0.2.1/24 linux/e1', 'add 192.0.2.2/24 linux/e1'] },
  ];
  it.each(cases)('$name', async (c) => {
    const host = new FakeHost().addNetns('linux').addLink('linux', 'e1', { addresses: [...c.onMirror] });
    if (c.recorded.length) state.recordMirror({ pair: 'p1', netns: 'linux', name: 'e1', addresses: c.recorded });
    const scope = newScope(desired(c.declared), context(host), log);
    expect(await applyHostConfig.run(scope)).toEqual({ done: true });
    expect(host.addresses('linux', 'e1').sort()).toEqual([...c.after].sort());
    expect(host.calls).toEqual(c.calls);
    expect(scope.obs.hostConfigured).toBe(true);
    expect(state.mirror('linux', 'e1')?.addresses.length).toBe(c.declared.length);
  });

  it('records an address as ours before it goes on the mirror (an agent killed in between takes it back)', async () => {
    const host = new FakeHost().addNetns('linux').addLink('linux', 'e1');
    const seen: (string[] | undefined)[] = [];
    const add = host.addAddress.bind(host);
    host.addAddress = (ns, name, cidr) => {
      seen.push(state.mirror(ns, name)?.addresses);
      add(ns, name, cidr);
    };
    await applyHostConfig.run(newScope(desired(['192.0.2.1/24']), context(host), log));
    expect(seen).toEqual([['192.0.2.1/24']]);
  });

  it('fails, not Ready, when the kernel keeps only one of two declared addresses (one prefix length per IPv6 address)', async () => {
    const host = new FakeHost().addNetns('linux').addLink('linux', 'e1');
    const add = host.addAddress.bind(host);
    host.addAddress = (ns, name, cidr) => {
      // As the kernel: the same IPv6 address with another length replaces it.
      const addr = cidr.split('/')[0]!;
      for (const a of host.addresses(ns, name)) if (a.split('/')[0] === addr && addr.includes(':')) host.removeAddress(ns, name, a);
      add(ns, name, cidr);
    };
    const scope = newScope(desired(['2001:db8::1/64', '2001:db8::1/128']), context(host), log);
    await expect(applyHostConfig.run(scope)).rejects.toMatchObject({ reason: 'HostConfigFailed', message: expect.stringContaining('2001:db8::1/64') });
    expect(scope.obs.hostConfigured).toBe(false);
  });

  it('fails (for the reconciler to classify) when the mirror is gone', async () => {
    const host = new FakeHost().addNetns('linux');
    await expect(applyHostConfig.run(newScope(desired(['192.0.2.1/24']), context(host), log))).rejects.toMatchObject({ code: 'ENODEV' });
  });
});

describe('restorePort', () => {
  const rec = { netns: 'dut', name: 'eth1', disableIpv6: 0, addrGenMode: 'eui64', mtu: 1500 };
  const cases: { name: string; host: () => FakeHost; calls: string[] }[] = [
    {
      name: 'gives back a port its dead agent left guarded: filters off, MTU and IPv6 as they were',
      host: () => new FakeHost().addNetns('dut').addLink('dut', 'eth1', { guarded: true, addrGenMode: 'none', disableIpv6: 1, mtu: 68 }),
      calls: ['unguard dut/eth1', 'mtu 1500 dut/eth1', 'addrgenmode eui64 dut/eth1', 'disable_ipv6 0 dut/eth1'],
    },
    { name: 'sets back the MTU a pair gave the port', host: () => new FakeHost().addNetns('dut').addLink('dut', 'eth1', { mtu: 9000 }), calls: ['mtu 1500 dut/eth1'] },
    { name: 'changes nothing on a port already as it was', host: () => new FakeHost().addNetns('dut').addLink('dut', 'eth1'), calls: [] },
    { name: 'does nothing when the netdev is gone', host: () => new FakeHost().addNetns('dut'), calls: [] },
    { name: 'does nothing when its netns is gone', host: () => new FakeHost(), calls: [] },
  ];
  it.each(cases)('$name', (c) => {
    const host = c.host();
    restorePort(host, rec, log);
    expect(host.calls).toEqual(c.calls);
  });

  it('leaves IPv6 off when it was off before the agent took the port', () => {
    const host = new FakeHost().addNetns('dut').addLink('dut', 'eth1', { disableIpv6: 1 });
    restorePort(host, { ...rec, disableIpv6: 1 }, log);
    expect(host.calls).toEqual([]);
  });
});

describe('owned devices', () => {
  it('are the ones carrying our mark, and only those are deleted', () => {
    const host = new FakeHost()
      .addNetns('linux')
      .addLink('linux', 'e1', { alias: ownerMark('n1') })
      .addLink('linux', 'e2', { alias: ownerMark('other-node') })
      .addLink('linux', 'e3');
    expect(ownedLinks(host, 'linux', 'n1').map((l) => l.name)).toEqual(['e1']);
    expect(deleteOwnedLink(host, 'linux', 'e2', 'n1')).toBe(false);
    expect(deleteOwnedLink(host, 'linux', 'e3', 'n1')).toBe(false);
    expect(deleteOwnedLink(host, 'linux', 'e1', 'n1')).toBe(true);
    expect(host.calls).toEqual(['delete linux/e1']);
  });
});
