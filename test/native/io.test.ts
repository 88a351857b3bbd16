// Runs the native host-I/O checks (root): AF_PACKET and AF_XDP ports on veth
// (rx/tx, kernel kept off the port and given back), TAP/TUN mirrors (create,
// persist, adopt, refuse foreign names), netns guard and netlink helpers.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

import { describeRoot } from '../helpers/lab.js';

const bin = 'native/build/Release/io_smoke';

describeRoot('native host I/O', () => {
  it('passes every port, mirror, netns and netlink check', async () => {
    expect(existsSync(bin)).toBe(true);
    const { stdout } = await promisify(execFile)(bin, [], { timeout: 300000, maxBuffer: 16 << 20 });
    expect(stdout).toMatch(/^\d+ passed, 0 failed$/m);
  });
});
