// Who may import whom: the cluster side (cluster/, k8s/, api/, conditions/)
// never depends on the agent, and the dataplane facade never on the
// Kubernetes side. Read from the sources' import lines.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

function importsOf(dir: string): { file: string; from: string }[] {
  return readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => {
      const text = readFileSync(join(root, dir, f), 'utf8');
      return [...text.matchAll(/^(?:import|export)[^'"]*from '([^']+)'/gm)].map((m) => ({ file: `${dir}/${f}`, from: m[1]! }));
    });
}

describe('layers', () => {
  it.each(['controller/cluster', 'controller/k8s', 'controller/api', 'controller/conditions'])('%s does not import the agent', (dir) => {
    expect(importsOf(dir).filter((i) => i.from.includes('/agent/'))).toEqual([]);
  });

  it('dataplane/ does not import controller/', () => {
    expect(importsOf('dataplane').filter((i) => i.from.includes('controller/'))).toEqual([]);
  });
});
