// The control socket: unix only, 0600, one JSON request and answer, refuses
// what it does not understand, never removes a file that is not a stale socket.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { request } from '../../controller/control/client.js';
import { ControlServer } from '../../controller/control/server.js';
import type { Request } from '../../controller/control/protocol.js';

describe('control socket', () => {
  let dir: string;
  let server: ControlServer | undefined;
  const seen: Request[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lcp-ctl-'));
    seen.length = 0;
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  const listen = (path = join(dir, 'agent.sock')) =>
    ControlServer.listen({ path, handle: (req) => (seen.push(req), { echo: req }) });

  it('answers a request and is mode 0600', async () => {
    server = await listen();
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
    expect(await request(server.path, { cmd: 'show', what: 'fib', table: 2, family: 6 })).toEqual({ echo: { cmd: 'show', what: 'fib', table: 2, family: 6 } });
  });

  it('refuses unknown commands and bad arguments without calling the handler', async () => {
    server = await listen();
    await expect(request(server.path, { cmd: 'delete' } as unknown as Request)).rejects.toThrow(/cmd must be/);
    await expect(request(server.path, { cmd: 'show', what: 'fib', family: 5 } as unknown as Request)).rejects.toThrow(/family/);
    expect(seen).toEqual([]);
  });

  it('replaces a stale socket but not a live one, and never a regular file', async () => {
    const path = join(dir, 'agent.sock');
    server = await listen(path);
    await expect(listen(path)).rejects.toThrow(/another agent/);
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    await expect(listen(file)).rejects.toThrow(/not a socket/);
    await server.close();
    server = await listen(path); // the old one was closed and removed; a fresh one binds
    expect(await request(path, { cmd: 'status' })).toEqual({ echo: { cmd: 'status' } });
  });

  it('says the agent is not running when nothing listens', async () => {
    await expect(request(join(dir, 'none.sock'), { cmd: 'status' })).rejects.toThrow(/is the agent running/);
  });

  it('removes its socket file on close', async () => {
    server = await listen();
    const path = server.path;
    await server.close();
    server = undefined;
    expect(() => statSync(path)).toThrow();
  });
});
