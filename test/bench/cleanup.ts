// Everything the benchmark creates in the kernel is registered here, so it is
// removed on normal exit, on an exception, and on SIGINT/SIGTERM alike.
// Handlers are synchronous because an exit or signal handler cannot await.
import { execFileSync } from 'node:child_process';
import { unlinkSync } from 'node:fs';

import type { Dataplane } from '../../dataplane/dataplane.js';
import type { Lab } from '../../controller/lab/netns.js';

type SyncCleanup = () => void;

const pending = new Map<number, SyncCleanup>();
let nextId = 1;
let installed = false;

function runAll(): void {
  const fns = [...pending.values()].reverse(); // undo in reverse order of creation
  pending.clear();
  for (const fn of fns) {
    try {
      fn();
    } catch {
      // keep going: one failed undo must not leave the rest behind
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, cleaning up\n`);
      runAll();
      process.exit(130);
    });
  }
}

/** Registers an undo step; call the returned function once it has been done normally. */
export function onCleanup(fn: SyncCleanup): () => void {
  install();
  const id = nextId++;
  pending.set(id, fn);
  return () => {
    pending.delete(id);
  };
}

/** Deletes a section's netns on exit or signal (synchronous best effort; the normal path awaits its lab's cleanup). */
export function deleteNetnsOnExit(names: () => readonly string[]): () => void {
  return onCleanup(() => {
    for (const ns of names()) if (ns) try { execFileSync('ip', ['netns', 'del', ns]); } catch { /* gone */ }
  });
}

/** The normal end of a section with a lab: its batch file, its dataplane, its netns, then the exit hook. */
export async function closeSection(o: { file: string; dp: Dataplane | undefined; lab: Lab; undo: () => void }): Promise<void> {
  if (o.file) try { unlinkSync(o.file); } catch { /* already gone */ }
  o.dp?.close();
  await o.lab.cleanup();
  o.undo();
}
