// The standalone desired-state source: a YAML file, reloaded on change. The
// directory is watched rather than the file, because editors and config
// management replace files by rename, which ends a watch on the old inode.
// Changes are debounced (an editor's save is several events). A file that
// fails to read, parse or validate keeps the last good state in force and
// is reported through error().
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

import type { Logger } from 'pino';

import { parseConfig } from './config-file.js';
import { changedPairs, emptySnapshot, type DesiredSnapshot, type DesiredStateSource, type SourceChange } from './desired.js';

export interface FileSourceOptions {
  debounceMs?: number;
  log?: Logger;
}

/** Longest error kept: it ends up in status and in `lcp show`. */
const MAX_ERROR = 1024;

export class FileSource implements DesiredStateSource {
  readonly kind = 'file';
  private current: DesiredSnapshot = emptySnapshot;
  private lastError: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onChange: (change: SourceChange) => void = () => undefined;
  private loading: Promise<void> = Promise.resolve();
  private readonly path: string;

  constructor(
    path: string,
    private readonly opts: FileSourceOptions = {},
  ) {
    this.path = resolve(path);
  }

  async start(onChange: (change: SourceChange) => void): Promise<void> {
    this.onChange = onChange;
    const file = basename(this.path);
    this.watcher = watch(dirname(this.path), (_event, name) => {
      if (name === null || name === file) this.schedule();
    });
    this.watcher.on('error', (e) => this.opts.log?.error({ err: e }, 'config watch failed'));
    await this.reload();
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearTimeout(this.timer);
    await this.loading;
  }

  snapshot(): DesiredSnapshot {
    return this.current;
  }

  error(): string | undefined {
    return this.lastError;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), this.opts.debounceMs ?? 200);
  }

  /** Loads are serialized so an older read can never land after a newer one. */
  reload(): Promise<void> {
    this.loading = this.loading.then(() => this.load());
    return this.loading;
  }

  private async load(): Promise<void> {
    let next: DesiredSnapshot;
    try {
      next = parseConfig(await readFile(this.path, 'utf8'), this.current);
    } catch (e) {
      const message = (e instanceof Error ? e.message : String(e)).slice(0, MAX_ERROR);
      const first = this.lastError !== message;
      this.lastError = message;
      if (first) {
        this.opts.log?.error({ file: this.path, error: message }, 'config refused; keeping the last good state');
        this.onChange({ pairs: [], controlPlanes: true }); // the node status reports it
      }
      return;
    }
    const hadError = this.lastError !== undefined;
    this.lastError = undefined;
    const change: SourceChange = {
      pairs: changedPairs(this.current, next),
      controlPlanes: hadError || JSON.stringify(this.current.controlPlanes) !== JSON.stringify(next.controlPlanes),
    };
    this.current = next;
    this.opts.log?.info({ file: this.path, pairs: next.pairs.size, controlPlanes: next.controlPlanes.length, changed: change.pairs.length }, 'config loaded');
    if (change.pairs.length > 0 || change.controlPlanes) this.onChange(change);
  }
}
