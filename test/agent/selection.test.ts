// Which pairs and settings apply to a node.
import type { InterfacePair } from '../../controller/api/interface-pair.js';
import type { LinuxControlPlane } from '../../controller/api/linux-control-plane.js';
import { nodeDesired } from '../../controller/agent/node-desired.js';
import { watchKey, watchOptions } from '../../controller/agent/watch-options.js';
import { defaultSettings, resolveSettings } from '../../controller/agent/selection.js';
import { pairSelectsNode, selectorMatches } from '../../controller/api/selectors.js';

const node = { name: 'n1', labels: { role: 'edge', zone: 'a' } };
const lcp = (name: string, priority?: number, matchLabels?: Record<string, string>): LinuxControlPlane => ({
  apiVersion: 'lcp.kubelcp.io/v1alpha1', kind: 'LinuxControlPlane', metadata: { name },
  spec: { priority, defaultNetns: `ns-${name}`, nodeSelector: matchLabels ? { matchLabels } : undefined },
});
const pair = (name: string, spec: Partial<InterfacePair['spec']>): InterfacePair => ({
  apiVersion: 'lcp.kubelcp.io/v1alpha1', kind: 'InterfacePair', metadata: { name },
  spec: { port: { name: 'eth1' }, mirror: { name: 'e1' }, ...spec },
});

describe('selectors', () => {
  it('follow metav1.LabelSelector semantics', () => {
    expect(selectorMatches(undefined, node.labels)).toBe(true);
    expect(selectorMatches({}, node.labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { role: 'edge' } }, node.labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { role: 'core' } }, node.labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, node.labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, node.labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, node.labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, node.labels)).toBe(false);
  });
  it('select pairs by nodeName or by label', () => {
    expect(pairSelectsNode(pair('p', { nodeName: 'n1' }), node)).toBe(true);
    expect(pairSelectsNode(pair('p', { nodeName: 'n2' }), node)).toBe(false);
    expect(pairSelectsNode(pair('p', { nodeSelector: { matchLabels: { zone: 'a' } } }), node)).toBe(true);
  });
});

describe('resolveSettings', () => {
  it('takes the highest priority', () => {
    const r = resolveSettings([lcp('low', 1), lcp('high', 5)], node, defaultSettings);
    expect(r.settings.from).toBe('high');
    expect(r.settings.defaultNetns).toBe('ns-high');
    expect(r.conflict).toEqual([]);
  });
  it('reports a tie and keeps the previous settings instead of merging', () => {
    const previous = { ...defaultSettings, from: 'old', defaultNetns: 'ns-old' };
    const r = resolveSettings([lcp('x'), lcp('y'), lcp('z', -1)], node, previous);
    expect(r.conflict).toEqual(['x', 'y']);
    expect(r.settings).toBe(previous);
  });
  it('carries autoSubinterfaces into the watch options (a change restarts the watch)', () => {
    const on = { ...lcp('auto'), spec: { ...lcp('auto').spec, autoSubinterfaces: true } };
    const s = resolveSettings([on], node, defaultSettings).settings;
    expect(s.autoSubinterfaces).toBe(true);
    expect(watchOptions(s)).toMatchObject({ autoSubinterfaces: true });
    expect(watchKey(s)).not.toBe(watchKey(resolveSettings([lcp('auto')], node, defaultSettings).settings));
    expect(watchOptions(resolveSettings([lcp('off')], node, defaultSettings).settings).autoSubinterfaces).toBeUndefined();
  });
  it('ignores objects that select other nodes; none at all means defaults', () => {
    expect(resolveSettings([lcp('other', 9, { role: 'core' })], node, defaultSettings).settings).toEqual(defaultSettings);
  });
});

describe('nodeDesired', () => {
  it('fills the mirror netns from the settings and refuses a second claim on one port or mirror', () => {
    const pairs = new Map([
      ['a', { pair: pair('a', { nodeName: 'n1' }), generation: 1 }],
      ['b', { pair: pair('b', { nodeName: 'n1', mirror: { name: 'e2' } }), generation: 1 }],
      ['c', { pair: pair('c', { nodeName: 'n1', port: { name: 'eth3' } }), generation: 1 }],
      ['d', { pair: pair('d', { nodeName: 'n2', port: { name: 'eth4' } }), generation: 1 }],
    ]);
    const d = nodeDesired({ pairs, controlPlanes: [] }, node, { ...defaultSettings, defaultNetns: 'linux' });
    expect([...d.pairs.keys()]).toEqual(['a', 'b', 'c']);
    expect(d.pairs.get('a')?.mirror.netns).toBe('linux');
    expect(d.conflicts.get('b')?.reason).toBe('PortInUse');
    expect(d.conflicts.get('c')?.reason).toBe('NameConflict');
    expect(d.conflicts.has('a')).toBe(false);
  });

  it('lets the pair that holds a port keep it against a newcomer first by name', () => {
    const pairs = new Map([
      ['a-new', { pair: pair('a-new', { nodeName: 'n1', mirror: { name: 'e9' } }), generation: 1 }],
      ['z-old', { pair: pair('z-old', { nodeName: 'n1' }), generation: 1 }],
    ]);
    const d = nodeDesired({ pairs, controlPlanes: [] }, node, defaultSettings, new Set(['z-old']));
    expect(d.conflicts.has('z-old')).toBe(false);
    expect(d.conflicts.get('a-new')).toMatchObject({ reason: 'PortInUse', message: 'port eth1 is already claimed by pair z-old' });
  });

  it("refuses a pair whose port is another pair's mirror, or the other way round, or both at once", () => {
    const pairs = new Map([
      ['a', { pair: pair('a', { nodeName: 'n1', port: { name: 'eth1' }, mirror: { name: 'e1', netns: 'linux' } }), generation: 1 }],
      ['b', { pair: pair('b', { nodeName: 'n1', port: { name: 'e1', netns: 'linux' }, mirror: { name: 'e2' } }), generation: 1 }],
      ['c', { pair: pair('c', { nodeName: 'n1', port: { name: 'eth3' }, mirror: { name: 'eth1', netns: '' } }), generation: 1 }],
      ['d', { pair: pair('d', { nodeName: 'n1', port: { name: 'x0' }, mirror: { name: 'x0', netns: '' } }), generation: 1 }],
    ]);
    const d = nodeDesired({ pairs, controlPlanes: [] }, node, defaultSettings);
    expect(d.conflicts.has('a')).toBe(false);
    expect(d.conflicts.get('b')).toMatchObject({ reason: 'PortInUse', message: 'port e1@linux is already claimed by pair a as its mirror' });
    expect(d.conflicts.get('c')).toMatchObject({ reason: 'NameConflict', message: 'mirror eth1 is already claimed by pair a as its port' });
    expect(d.conflicts.get('d')).toMatchObject({ reason: 'NameConflict' });
  });
});
