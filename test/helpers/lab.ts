// Test-side helpers: the lab itself lives in controller/lab (the demo uses it too).
import { isRoot } from '../../controller/lab/netns.js';

export * from '../../controller/lab/netns.js';

/** describe() that skips, saying why, when not root. */
export const describeRoot: jest.Describe = isRoot
  ? describe
  : (((name: string, fn: () => void) =>
      describe.skip(`${name} (skipped: needs root for netns/veth/TAP)`, fn)) as unknown as jest.Describe);
