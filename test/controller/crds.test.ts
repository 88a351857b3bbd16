// crds/*.yaml is generated from controller/api; this fails when they differ,
// so the YAML in the repo is always what the TypeScript says.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { crdFiles, customResourceDefinition, resources, structural } from '../../controller/api/crds.js';

const crdDir = join(process.cwd(), 'crds');

describe('generated CRDs', () => {
  it('crds/ holds exactly what `npm run gen:crds` writes (run it after changing controller/api)', () => {
    const expected = crdFiles();
    const onDisk = readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).sort();
    expect(onDisk).toEqual(expected.map((f) => f.file).sort());
    for (const { file, text } of expected) expect(readFileSync(join(crdDir, file), 'utf8')).toBe(text);
  });

  it('declares every kind cluster-scoped with a status subresource and a short name where the design asks', () => {
    const byKind = new Map(resources.map((r) => [r.kind, parse(crdFiles().find((f) => f.file.includes(r.plural))!.text)]));
    for (const crd of byKind.values()) {
      expect(crd.spec.scope).toBe('Cluster');
      expect(crd.spec.group).toBe('lcp.kubelcp.io');
      expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
    }
    expect(byKind.get('InterfacePair').spec.names.shortNames).toEqual(['lip']);
    expect(byKind.get('NodeDataplane').spec.names.shortNames).toEqual(['ndp']);
  });

  it('leaves additionalProperties:false out of the structural schema, and only that', () => {
    const s = structural({ type: 'object', additionalProperties: false, properties: { a: { type: 'object', additionalProperties: { type: 'string' } } } });
    expect(s).toEqual({ type: 'object', properties: { a: { type: 'object', additionalProperties: { type: 'string' } } } });
    const text = JSON.stringify(resources.map(customResourceDefinition));
    expect(text).not.toContain('"additionalProperties":false');
  });

  it('gives every field a description or a self-explanatory type (kubectl explain)', () => {
    const r = resources.find((x) => x.kind === 'InterfacePair')!;
    const spec = (r.schema as { properties: { spec: { properties: Record<string, { description?: string }> } } }).properties.spec;
    for (const [name, prop] of Object.entries(spec.properties)) expect([name, typeof prop.description]).toEqual([name, 'string']);
  });
});
