// Runs the native LPM unit test: the FIB's IPv4/IPv6 longest-prefix match is
// compared with a naive reference on large random prefix sets.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const bin = 'native/build/Release/lpm_test';

describe('native LPM', () => {
  it('matches a naive longest-prefix reference on random IPv4 and IPv6 tables', async () => {
    expect(existsSync(bin)).toBe(true);
    const { stdout } = await promisify(execFile)(bin, [], { timeout: 300000, maxBuffer: 16 << 20 });
    expect(stdout).toMatch(/^\d+ passed, 0 failed$/m);
  });
});
