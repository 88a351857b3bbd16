// The standalone file: the same kinds as the CRDs, validated by the agent.
import { parseConfig } from '../../controller/agent/config-file.js';

const pair = (name: string, extra = '') => `apiVersion: lcp.kubelcp.io/v1alpha1
kind: InterfacePair
metadata: { name: ${name} }
spec:
  nodeName: n1
  port: { name: eth1, netns: dut }
  mirror: { name: e1 }${extra}
`;
const lcp = (name: string) => `apiVersion: lcp.kubelcp.io/v1alpha1
kind: LinuxControlPlane
metadata: { name: ${name} }
spec: { defaultNetns: linux, sync: true }
`;

describe('parseConfig', () => {
  it('reads pairs and control planes from one multi-document file', () => {
    const s = parseConfig(`${pair('a')}---\n${lcp('x')}---\n`);
    expect([...s.pairs.keys()]).toEqual(['a']);
    expect(s.controlPlanes.map((l) => l.metadata.name)).toEqual(['x']);
    expect(s.pairs.get('a')?.generation).toBe(1);
  });

  it('counts a generation only when the spec changes', () => {
    const one = parseConfig(pair('a'));
    expect(parseConfig(pair('a'), one).pairs.get('a')?.generation).toBe(1);
    expect(parseConfig(pair('a', '\n  hostConfig: { addresses: [10.0.0.1/24] }'), one).pairs.get('a')?.generation).toBe(2);
  });

  it('refuses broken YAML with the document number', () => {
    expect(() => parseConfig(`${pair('a')}---\nkind: [oops\n`)).toThrow(/document 2/);
  });

  it('refuses a netns name that is a path', () => {
    expect(() => parseConfig(pair('a').replace('netns: dut', 'netns: ../../etc'))).toThrow(/document 1 \(a\).*netns/);
  });

  it('refuses a name defined twice and unknown kinds', () => {
    expect(() => parseConfig(`${pair('a')}---\n${pair('a')}`)).toThrow(/defined twice/);
    expect(() => parseConfig('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n')).toThrow(/kind must be/);
  });

  it('refuses unknown fields (a typo must not be ignored silently)', () => {
    expect(() => parseConfig(pair('a').replace('mirror: { name: e1 }', 'mirror: { name: e1, mtuu: 1400 }'))).toThrow(/mtuu.*unknown field/);
  });
});
