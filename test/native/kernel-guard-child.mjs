// Child of kernel-guard.test.ts, run in a mount namespace where /proc/sys is
// read-only (as in an unprivileged container): takes over a port with the
// real dataplane (dist/), pairs it with a TAP, gives the mirror's address to
// the dataplane, says "ready" as one JSON line, and gives everything back
// when its stdin closes. Argument: one JSON object (see below).
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const { root, portNetns, port, mirrorNetns, mirror, mirrorMac, address } = JSON.parse(process.argv[2]);
const { Dataplane } = await import(pathToFileURL(join(root, 'dist', 'dataplane', 'dataplane.js')).href);

// The premise: this process cannot write /proc/sys.
const procSysWritable = await access('/proc/sys/net/ipv6/conf/default/disable_ipv6', constants.W_OK).then(() => true, () => false);
let dp;
try {
  dp = Dataplane.open({ workers: 1, ownerTag: 'kguard-test' });
  const p = dp.addPort({ name: port, netns: portNetns, driver: 'af_packet' });
  dp.createPair(p.index, { name: mirror, netns: mirrorNetns, mac: mirrorMac });
  dp.addAddress(p.index, address);
  dp.setPort(p.index, { up: true });
  process.stdout.write(`${JSON.stringify({ ready: true, procSysWritable })}\n`);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ ready: false, procSysWritable, error: String(e?.message ?? e) })}\n`);
  dp?.close();
  process.exit(1);
}
process.stdin.resume();
process.stdin.on('end', () => {
  dp.close(); // the port goes back to the kernel
  process.exit(0);
});
