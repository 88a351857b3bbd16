// The one TCP listener of a kube-lcp process: GET /metrics (Prometheus text
// format from one registry), /healthz and /readyz (200 "ok", or 503 and a
// one-line reason). node:http only; no framework. Anything else is 404, any
// other method 405. Generic: the checks and the registry are the caller's, so
// the agent and the cluster controller can each have one.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Registry } from 'prom-client';

import type { BindAddress } from './bind-address.js';

export interface CheckResult {
  ok: boolean;
  /** One line: why not, or what it is doing. */
  reason: string;
}

export interface MetricsServerOptions extends BindAddress {
  registry: Registry;
  /** Liveness: the process should be restarted when this fails. */
  healthz(): CheckResult;
  /** Readiness: the process does its job now. */
  readyz(): CheckResult;
}

export class MetricsServer {
  private constructor(
    private readonly server: Server,
    readonly address: AddressInfo,
  ) {}

  static async listen(o: MetricsServerOptions): Promise<MetricsServer> {
    const server = createServer((req, res) => void handle(o, req, res));
    // Probes and scrapes are short; keep-alive connections would otherwise hold close() up.
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: o.host, port: o.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new MetricsServer(server, server.address() as AddressInfo);
  }

  /** "http://host:port", for logs and tests. */
  get url(): string {
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
    return `http://${host}:${this.address.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function handle(o: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
  try {
    if (path === '/metrics') return send(res, 200, o.registry.contentType, await o.registry.metrics());
    if (path === '/healthz' || path === '/readyz') {
      const r = path === '/healthz' ? o.healthz() : o.readyz();
      return send(res, r.ok ? 200 : 503, 'text/plain; charset=utf-8', `${r.reason}\n`);
    }
    return send(res, 404, 'text/plain', 'not found\n');
  } catch (e) {
    // A check or a collector that throws is an answer too: not healthy.
    return send(res, 503, 'text/plain; charset=utf-8', `${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
