// Runs the native netlink sync test: messages the kernel really sent
// (test/native/fixtures/*.nl) through the parser and the mirror state machine.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const bin = 'native/build/Release/nl_test';

describe('native netlink sync', () => {
  it('parses captured nexthop, RFC 8950 and encap messages and turns them into the right dataplane changes', async () => {
    expect(existsSync(bin)).toBe(true);
    const { stdout } = await promisify(execFile)(bin, ['test/native/fixtures'], { timeout: 60000 });
    expect(stdout).toMatch(/^\d+ passed, 0 failed$/m);
  });
});
