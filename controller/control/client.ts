// Asks the running agent over its control socket (what `lcp show` and
// `lcp trace` use).
import { connect } from 'node:net';

import type { Request, Response, ResponseData } from './protocol.js';

export class ControlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlError';
  }
}

export function request(path: string, req: Request, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    sock.setEncoding('utf8');
    sock.setTimeout(timeoutMs, () => {
      sock.destroy();
      reject(new ControlError(`no answer from the agent on ${path} within ${timeoutMs} ms`));
    });
    sock.once('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (d: string) => (buf += d));
    sock.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is the agent running?' : e.code === 'EACCES' ? 'permission denied (root or the socket group)' : e.message;
      reject(new ControlError(`cannot reach the agent on ${path}: ${why}`));
    });
    sock.once('end', () => {
      try {
        const r = JSON.parse(buf) as Response;
        if (r.ok) resolve(r.data);
        else reject(new ControlError(r.error));
      } catch {
        reject(new ControlError(`bad answer from the agent on ${path}`));
      }
    });
  });
}

/** Typed helpers: the server answers each request with its ResponseData member. */
export const ask = {
  pairs: (p: string) => request(p, { cmd: 'show', what: 'pairs' }) as Promise<ResponseData['pairs']>,
  ports: (p: string) => request(p, { cmd: 'show', what: 'ports' }) as Promise<ResponseData['ports']>,
  fib: (p: string, table?: number, family?: 4 | 6) => request(p, { cmd: 'show', what: 'fib', table, family }) as Promise<ResponseData['fib']>,
  neighbors: (p: string) => request(p, { cmd: 'show', what: 'neighbors' }) as Promise<ResponseData['neighbors']>,
  counters: (p: string) => request(p, { cmd: 'show', what: 'counters' }) as Promise<ResponseData['counters']>,
  status: (p: string) => request(p, { cmd: 'status' }) as Promise<ResponseData['status']>,
  traceArm: (p: string, count: number) => request(p, { cmd: 'trace', action: 'arm', count }) as Promise<ResponseData['traceArm']>,
  traceRead: (p: string) => request(p, { cmd: 'trace', action: 'read' }) as Promise<ResponseData['traceRead']>,
};
