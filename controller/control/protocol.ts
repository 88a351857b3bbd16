// The control socket's protocol: one JSON request line, one JSON response
// line, then the server closes. Read-only commands (and the packet tracer,
// which only observes) — nothing here changes what the agent reconciles.
import type { AdjacencyEntry, Counters, FibEntry, PairInfo, PortInfo, TraceRecord } from '../../dataplane/dataplane.js';
import type { NodeDataplane } from '../api/node-dataplane.js';
import type { NodeSettings } from '../agent/selection.js';

export const DEFAULT_SOCKET = '/run/kube-lcp/agent.sock';
export const MAX_REQUEST_BYTES = 64 * 1024;

export type ShowWhat = 'pairs' | 'ports' | 'fib' | 'neighbors' | 'counters';
export const SHOW_WHAT: readonly ShowWhat[] = ['pairs', 'ports', 'fib', 'neighbors', 'counters'];

export type Request =
  | { cmd: 'show'; what: ShowWhat; table?: number; family?: 4 | 6 }
  | { cmd: 'status' }
  | { cmd: 'trace'; action: 'arm'; count: number }
  | { cmd: 'trace'; action: 'read' };

export interface PairsView {
  node: NodeDataplane;
  settings: NodeSettings & { conflict: string[] };
  pairs: PairInfo[];
}
export interface PortsView {
  ports: PortInfo[];
  pairs: PairInfo[];
}
export interface FibView {
  table: number;
  family: 4 | 6;
  tables: number[];
  entries: FibEntry[];
}
export interface NeighborsView {
  ports: PortInfo[];
  neighbors: AdjacencyEntry[];
}

/** What each request answers with. */
export interface ResponseData {
  pairs: PairsView;
  ports: PortsView;
  fib: FibView;
  neighbors: NeighborsView;
  counters: Counters;
  status: NodeDataplane;
  traceArm: { armed: number };
  traceRead: TraceRecord[];
}

export type Response = { ok: true; data: unknown } | { ok: false; error: string };

/** Checks an untrusted request (anyone allowed on the socket can send anything). */
export function parseRequest(value: unknown): Request {
  if (typeof value !== 'object' || value === null) throw new Error('request must be a JSON object');
  const r = value as Record<string, unknown>;
  if (r.cmd === 'status') return { cmd: 'status' };
  if (r.cmd === 'show') {
    const what = r.what;
    if (typeof what !== 'string' || !(SHOW_WHAT as readonly string[]).includes(what)) throw new Error(`show: what must be one of ${SHOW_WHAT.join(', ')}`);
    const out: Request = { cmd: 'show', what: what as ShowWhat };
    if (r.table !== undefined) {
      if (typeof r.table !== 'number' || !Number.isInteger(r.table) || r.table < 0 || r.table > 0xffffffff) throw new Error('table must be 0..4294967295');
      out.table = r.table;
    }
    if (r.family !== undefined) {
      if (r.family !== 4 && r.family !== 6) throw new Error('family must be 4 or 6');
      out.family = r.family;
    }
    return out;
  }
  if (r.cmd === 'trace') {
    if (r.action === 'read') return { cmd: 'trace', action: 'read' };
    if (r.action === 'arm') {
      if (typeof r.count !== 'number' || !Number.isInteger(r.count) || r.count < 1 || r.count > 1024) throw new Error('trace: count must be 1..1024');
      return { cmd: 'trace', action: 'arm', count: r.count };
    }
    throw new Error('trace: action must be arm or read');
  }
  throw new Error('cmd must be show, status or trace');
}
