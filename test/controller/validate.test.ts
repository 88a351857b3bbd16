// The agent's own validation (controller/api/validate.ts): the schema and its
// CEL rules, applied to objects that never passed an API server.
import { hasCelTwin, parseInterfacePair, parseLinuxControlPlane, parseNodeDataplane, ValidationError } from '../../controller/api/validate.js';
import { resources } from '../../controller/api/crds.js';
import type { InterfacePair } from '../../controller/api/interface-pair.js';

const pair = (spec: Record<string, unknown>, name = 'p1'): Record<string, unknown> => ({
  apiVersion: 'lcp.kubelcp.io/v1alpha1',
  kind: 'InterfacePair',
  metadata: { name },
  spec: { nodeName: 'node-a', port: { name: 'eth1' }, mirror: { name: 'e1' }, ...spec },
});

const refused = (obj: unknown): string => {
  try {
    parseInterfacePair(obj);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('InterfacePair validation in the agent', () => {
  it('accepts a full valid pair and returns it typed', () => {
    const p: InterfacePair = parseInterfacePair(
      pair({
        port: { name: 'eth1', netns: 'dut', driver: 'af_xdp' },
        mirror: { name: 'e1', netns: 'linux', kind: 'tap', mtu: 9000, mac: '02:00:00:00:00:01' },
        hostConfig: { addresses: ['10.0.0.1/24', '2001:db8::1/64'] },
      }),
    );
    expect(p.spec.mirror.mtu).toBe(9000);
  });

  it('accepts a label selector instead of a node name, including the empty one', () => {
    expect(() => parseInterfacePair(pair({ nodeName: undefined, nodeSelector: {} }))).not.toThrow();
    expect(() =>
      parseInterfacePair(pair({ nodeName: undefined, nodeSelector: { matchExpressions: [{ key: 'k', operator: 'Exists' }] } })),
    ).not.toThrow();
  });

  it.each([
    ['a path in a netns name', { port: { name: 'eth1', netns: '../../etc/passwd' } }, 'spec.port.netns'],
    ['".." as a netns name', { mirror: { name: 'e1', netns: '..' } }, "spec.mirror.netns: must not be '.' or '..'"],
    ['a slash in a mirror name', { mirror: { name: 'a/b' } }, 'spec.mirror.name'],
    ['a 16-character mirror name', { mirror: { name: 'abcdefghijklmnop' } }, 'at most 15 characters'],
    ['a shell metacharacter in a port name', { port: { name: 'eth1;reboot' } }, 'spec.port.name'],
    ['an unknown mirror kind', { mirror: { name: 'e1', kind: 'tapx' } }, 'must be one of "tap", "tun"'],
    ['an MTU above 9000', { mirror: { name: 'e1', mtu: 9001 } }, 'must be <= 9000'],
    ['an MTU below 68', { mirror: { name: 'e1', mtu: 67 } }, 'must be >= 68'],
    ['a fractional MTU', { mirror: { name: 'e1', mtu: 1500.5 } }, 'must be an integer'],
    ['a malformed MAC', { mirror: { name: 'e1', mac: '02:00:00:00:00' } }, 'spec.mirror.mac'],
    ['a multicast MAC', { mirror: { name: 'e1', mac: '01:00:5e:00:00:01' } }, 'unicast'],
    ['a MAC on a tun mirror', { mirror: { name: 'e1', kind: 'tun', mac: '02:00:00:00:00:01' } }, 'spec.mirror.mac: a tun mirror has no MAC'],
    ['both nodeName and nodeSelector', { nodeSelector: {} }, 'exactly one of nodeName and nodeSelector'],
    ['neither nodeName nor nodeSelector', { nodeName: undefined }, 'exactly one of nodeName and nodeSelector'],
    ['an address without a prefix length', { hostConfig: { addresses: ['10.0.0.1'] } }, "'10.0.0.1' is not an address with a prefix length"],
    ['an IPv4 prefix longer than 32', { hostConfig: { addresses: ['10.0.0.1/33'] } }, 'addresses[0]'],
    ['a duplicate address', { hostConfig: { addresses: ['10.0.0.1/24', '10.0.0.1/24'] } }, 'duplicate entry'],
    ['an unknown field', { mirror: { name: 'e1', colour: 'blue' } }, 'spec.mirror.colour: unknown field'],
    ['a field named like an Object.prototype member', { mirror: { name: 'e1', constructor: 'x' } }, 'spec.mirror.constructor: unknown field'],
    ['In without values', { nodeName: undefined, nodeSelector: { matchExpressions: [{ key: 'k', operator: 'In' }] } }, 'need values'],
    ['the mirror name "all"', { mirror: { name: 'all' } }, "spec.mirror.name: must not be 'all' or 'default'"],
    ['the port name "default"', { port: { name: 'default' } }, "spec.port.name: must not be 'all' or 'default'"],
    ['an all-zero MAC', { mirror: { name: 'e1', mac: '00:00:00:00:00:00' } }, 'must not be all zeros'],
    ['0.0.0.0/0 as an address', { hostConfig: { addresses: ['0.0.0.0/0'] } }, 'must not be the unspecified address'],
    [':: as an address', { hostConfig: { addresses: ['::/64'] } }, 'must not be the unspecified address'],
    ['a label key that is no label key', { nodeName: undefined, nodeSelector: { matchLabels: { 'bad key!': 'x' } } }, 'keys must be label keys'],
    ['a label value that is no label value', { nodeName: undefined, nodeSelector: { matchLabels: { role: 'a b' } } }, 'spec.nodeSelector.matchLabels.role'],
    ['an expression key that is no label key', { nodeName: undefined, nodeSelector: { matchExpressions: [{ key: '-k', operator: 'Exists' }] } }, 'matchExpressions[0].key'],
    ['an expression value that is no label value', { nodeName: undefined, nodeSelector: { matchExpressions: [{ key: 'k', operator: 'In', values: ['x/y'] }] } }, 'values[0]'],
  ])('refuses %s', (_what, spec, message) => {
    expect(refused(pair(spec))).toContain(message);
  });

  it('refuses a missing port, a wrong kind and a wrong apiVersion', () => {
    expect(refused(pair({ port: undefined }))).toContain('spec.port: is required');
    expect(refused({ ...pair({}), kind: 'Pod' })).toContain('kind: must be InterfacePair');
    expect(refused({ ...pair({}), apiVersion: 'v1' })).toContain('apiVersion');
    expect(refused(pair({}, 'Bad_Name'))).toContain('metadata.name');
    expect(refused('a string')).toContain('must be an object');
  });
});

describe('LinuxControlPlane and NodeDataplane validation in the agent', () => {
  const lcp = (spec: Record<string, unknown>): Record<string, unknown> => ({
    apiVersion: 'lcp.kubelcp.io/v1alpha1',
    kind: 'LinuxControlPlane',
    metadata: { name: 'default' },
    spec,
  });

  it('accepts settings and refuses a bad netns, ring size or protocol', () => {
    expect(parseLinuxControlPlane(lcp({ defaultNetns: 'linux', sync: true, routes: { tables: [254], protocols: [12] } })).spec.sync).toBe(true);
    expect(() => parseLinuxControlPlane(lcp({ defaultNetns: 'a/b' }))).toThrow(/spec.defaultNetns/);
    expect(() => parseLinuxControlPlane(lcp({ dataplane: { rxRingSize: 1000 } }))).toThrow(/rxRingSize: must be one of/);
    expect(() => parseLinuxControlPlane(lcp({ routes: { protocols: [256] } }))).toThrow(/protocols\[0\]: must be <= 255/);
  });

  it('checks a NodeDataplane status, conditions included', () => {
    const ndp = (status: unknown) => ({ apiVersion: 'lcp.kubelcp.io/v1alpha1', kind: 'NodeDataplane', metadata: { name: 'node-a' }, status });
    const cond = { type: 'Ready', status: 'True', reason: 'AllPairsReady', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' };
    expect(() => parseNodeDataplane(ndp({ pairsTotal: 1, conditions: [cond] }))).not.toThrow();
    expect(() => parseNodeDataplane(ndp({ conditions: [cond, cond] }))).toThrow(/duplicate entry/);
    expect(() => parseNodeDataplane(ndp({ conditions: [{ ...cond, status: 'Maybe' }] }))).toThrow(/status: must be one of/);
  });
});

describe('CEL rules', () => {
  it('each has a TypeScript twin, so the agent checks what the API server checks', () => {
    const rules: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(walk);
      if (typeof v !== 'object' || v === null) return;
      for (const [k, sub] of Object.entries(v)) {
        if (k === 'x-kubernetes-validations') for (const r of sub as { rule: string }[]) rules.push(r.rule);
        else walk(sub);
      }
    };
    resources.forEach((r) => walk(r.schema));
    expect(rules.length).toBeGreaterThan(5);
    expect(rules.filter((r) => !hasCelTwin(r))).toEqual([]);
  });
});
