// Plain JSON requests to the API server with a KubeConfig's credentials.
// Why not only client-node's typed clients: they pass bodies through their
// model serializer, which drops keys it does not know under their JSON names
// (a CRD's `x-kubernetes-validations` and `enum` vanish on the way), and they
// have no server-side apply of a status subresource. Here a body is sent
// exactly as given.
import { request } from 'node:https';
import { request as requestHttp, type RequestOptions } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** The Status object the server sent, when it sent one. */
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface RawOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
  query?: Record<string, string | undefined>;
  timeoutMs?: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

export async function rawRequest(kc: KubeConfig, method: string, path: string, opts: RawOptions = {}): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const options: RequestOptions & { headers: Record<string, string> } = {
    method,
    headers: { Accept: opts.accept ?? 'application/json' },
    timeout: opts.timeoutMs ?? 30_000,
  };
  if (payload !== undefined) {
    options.headers['Content-Type'] = opts.contentType ?? 'application/json';
    options.headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  await kc.applyToHTTPSOptions(options);
  const send = url.protocol === 'https:' ? request : requestHttp;
  const text = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
  let body: unknown = text.text;
  try {
    body = text.text === '' ? undefined : JSON.parse(text.text);
  } catch {
    // not JSON: keep the text for the error message
  }
  if (text.status >= 200 && text.status < 300) return body;
  const status = isRecord(body) ? body : {};
  const message = typeof status.message === 'string' ? status.message : String(text.text).slice(0, 500);
  const reason = typeof status.reason === 'string' ? status.reason : '';
  throw new ApiError(text.status, reason, `${method} ${path}: ${text.status} ${message}`, body);
}

/** The REST path of a cluster-scoped object (or its collection, without a name). */
export function clusterPath(group: string, version: string, plural: string, name?: string, subresource?: string): string {
  const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  return [base, plural, name, subresource].filter((s) => s !== undefined).join('/');
}

/** Server-side apply: `obj` is the caller's whole intent for the fields it owns (one field manager each). */
export function applyObject(
  kc: KubeConfig,
  path: string,
  obj: unknown,
  fieldManager: string,
  force = false,
): Promise<unknown> {
  return rawRequest(kc, 'PATCH', path, {
    body: obj,
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager, force: force ? 'true' : undefined },
  });
}
