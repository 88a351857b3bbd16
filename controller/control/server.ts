// The agent's control socket: a unix socket only (no TCP listener), mode 0600
// (root) or 0660 with a configured group, one JSON request and one JSON
// response per connection. Like vppctl's CLI socket, it is how a person on
// the node asks the running agent what it sees.
import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

import { MAX_REQUEST_BYTES, parseRequest, type Request, type Response } from './protocol.js';

export interface ControlServerOptions {
  path: string;
  /** A group allowed to use the socket too (mode 0660); default: root only (0600). */
  gid?: number;
  handle(req: Request): unknown;
}

/** True when something answers on the socket (another agent is running). */
function inUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class ControlServer {
  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  static async listen(opts: ControlServerOptions): Promise<ControlServer> {
    mkdirSync(dirname(opts.path), { recursive: true, mode: 0o755 });
    let st: ReturnType<typeof lstatSync> | undefined;
    try {
      st = lstatSync(opts.path);
    } catch {
      st = undefined;
    }
    if (st) {
      // Only a stale socket is removed: never a file someone put there, never a live agent's socket.
      if (!st.isSocket()) throw new Error(`${opts.path} exists and is not a socket`);
      if (await inUse(opts.path)) throw new Error(`another agent is listening on ${opts.path}`);
      unlinkSync(opts.path);
    }
    const server = createServer((sock) => serve(sock, opts.handle));
    // bind() happens inside listen() synchronously: the umask makes the socket 0600 from its first instant.
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.path, () => resolve());
      });
    } finally {
      process.umask(old);
    }
    if (opts.gid !== undefined) {
      chownSync(opts.path, 0, opts.gid);
      chmodSync(opts.path, 0o660);
    } else {
      chmodSync(opts.path, 0o600);
    }
    return new ControlServer(server, opts.path);
  }

  /** Stops accepting, ends the connections, removes the socket file. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function serve(sock: Socket, handle: (req: Request) => unknown): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.setTimeout(10_000, () => sock.destroy());
  const reply = (r: Response): void => {
    sock.end(`${JSON.stringify(r)}\n`);
  };
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_REQUEST_BYTES) {
      reply({ ok: false, error: 'request too large' });
      return;
    }
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    sock.removeAllListeners('data');
    try {
      const req = parseRequest(JSON.parse(buf.slice(0, nl)));
      reply({ ok: true, data: handle(req) });
    } catch (e) {
      reply({ ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  });
  sock.on('error', () => sock.destroy());
}
