// Kernel features some tests need and this machine's kernel may lack (it has
// no 802.1Q, VRF, bonding or dummy, and no modules). Probed once, by making
// such a device in a throwaway netns; `npm run test:vm` runs those tests
// under Debian's full kernel (scripts/vm/), and here they skip saying so.
import { execFileSync } from 'node:child_process';

import { isRoot } from '../../controller/lab/netns.js';

export type KernelFeature = 'dummy' | 'vlan' | 'vrf' | 'bond';

const DEVICES: Record<KernelFeature, string[][]> = {
  dummy: [['link', 'add', 'lcpk0', 'type', 'dummy']],
  vlan: [['link', 'add', 'lcpk0', 'type', 'veth', 'peer', 'name', 'lcpk1'], ['link', 'add', 'link', 'lcpk0', 'name', 'lcpk0.5', 'type', 'vlan', 'id', '5']],
  vrf: [['link', 'add', 'lcpk0', 'type', 'vrf', 'table', '10']],
  bond: [['link', 'add', 'lcpk0', 'type', 'bond']],
};

const known = new Map<KernelFeature, boolean>();

export function kernelHas(f: KernelFeature): boolean {
  const k = known.get(f);
  if (k !== undefined) return k;
  const ns = `lcpk-probe-${process.pid}`;
  let ok = true;
  try {
    execFileSync('ip', ['netns', 'add', ns], { stdio: 'ignore' });
    for (const args of DEVICES[f]) execFileSync('ip', ['-n', ns, ...args], { stdio: 'ignore' });
  } catch {
    ok = false;
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // never made
    }
  }
  known.set(f, ok);
  return ok;
}

/** describe() that runs only as root on a kernel with every feature, and otherwise skips naming what is missing. */
export function describeFullKernel(features: KernelFeature[], name: string, fn: () => void): void {
  if (!isRoot) return describe.skip(`${name} (skipped: needs root)`, fn);
  const missing = features.filter((f) => !kernelHas(f));
  if (missing.length === 0) return describe(name, fn);
  describe.skip(`${name} (skipped: this kernel has no ${missing.join(', ')}; run it with \`npm run test:vm\`)`, fn);
}
