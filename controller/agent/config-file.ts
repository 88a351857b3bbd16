// The standalone config: one multi-document YAML file of the same kinds as
// the CRDs (InterfacePair, LinuxControlPlane), like VPP's startup config. Every
// document is validated by the agent (controller/api/validate.ts: the CRD
// schemas, their CEL rules, and the dataplane's own name checks), because no
// API server stands between the file and the agent. One bad document refuses
// the whole file: applying half of a file is a state nobody wrote.
import { parseAllDocuments } from 'yaml';

import type { InterfacePair } from '../api/interface-pair.js';
import type { LinuxControlPlane } from '../api/linux-control-plane.js';
import { parseInterfacePair, parseLinuxControlPlane } from '../api/validate.js';
import type { DesiredSnapshot, SourcedPair } from './desired.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Bounded, so a huge bad file cannot flood logs and status. */
const MAX_DOCUMENTS = 4096;

/**
 * Parses the file's text. `generations` carries the spec/generation counter of
 * each pair from the previous good load: the generation goes up only when the
 * spec changes, as an API server would count it.
 */
export function parseConfig(text: string, previous?: DesiredSnapshot): DesiredSnapshot {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) throw new ConfigError('not a YAML stream');
  if (docs.length > MAX_DOCUMENTS) throw new ConfigError(`at most ${MAX_DOCUMENTS} documents, got ${docs.length}`);
  const pairs = new Map<string, SourcedPair>();
  const controlPlanes: LinuxControlPlane[] = [];
  const lcpNames = new Set<string>();
  docs.forEach((doc, i) => {
    const where = `document ${i + 1}`;
    const err = doc.errors[0];
    if (err) throw new ConfigError(`${where}: ${err.message.split('\n')[0]}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // an empty document ("---" at the end)
    const kind = typeof value === 'object' && 'kind' in value ? String(value.kind) : '';
    const name = describeName(value);
    try {
      if (kind === 'InterfacePair') {
        const pair = parseInterfacePair(value);
        const n = pair.metadata.name ?? '';
        if (pairs.has(n)) throw new ConfigError(`InterfacePair '${n}' is defined twice`);
        pairs.set(n, { pair, generation: generationOf(pair, previous?.pairs.get(n)) });
      } else if (kind === 'LinuxControlPlane') {
        const lcp = parseLinuxControlPlane(value);
        const n = lcp.metadata.name ?? '';
        if (lcpNames.has(n)) throw new ConfigError(`LinuxControlPlane '${n}' is defined twice`);
        lcpNames.add(n);
        controlPlanes.push(lcp);
      } else {
        throw new ConfigError(`kind must be InterfacePair or LinuxControlPlane, got '${kind}'`);
      }
    } catch (e) {
      throw new ConfigError(`${where}${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return { pairs, controlPlanes };
}

function describeName(value: unknown): string {
  if (typeof value !== 'object' || value === null || !('metadata' in value)) return '';
  const meta = value.metadata;
  const n = typeof meta === 'object' && meta !== null && 'name' in meta ? meta.name : undefined;
  return typeof n === 'string' ? ` (${n.slice(0, 64)})` : '';
}

function generationOf(pair: InterfacePair, prev: SourcedPair | undefined): number {
  if (pair.metadata.generation !== undefined) return pair.metadata.generation;
  if (!prev) return 1;
  return JSON.stringify(prev.pair.spec) === JSON.stringify(pair.spec) ? prev.generation : prev.generation + 1;
}
