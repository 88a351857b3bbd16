// A supervised list-watch cache over client-node's Watch. client-node's own
// informer (ListWatch) stalls silently and stops for good on errors other
// than 410 (client-node issues #364, #596, #958, #680), and its Watch
// swallows exceptions thrown by callbacks. This one:
//  - lists (paged), then watches from the list's resourceVersion with
//    bookmarks; a 410 (expired) anywhere means list again;
//  - on a relist, emits the differences from its cache, deletions included,
//    so an object deleted while the watch was down is still seen as deleted;
//  - has a watchdog: no event, bookmark or end of stream for watchdogMs →
//    abort and start over;
//  - retries every failure with jittered exponential backoff, for ever;
//  - catches handler errors (counted, logged; they never stop the loop);
//  - is ready only after its first complete list.
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { jittered } from './backoff.js';
import { ApiError, rawRequest } from './raw.js';

export interface WatchedObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export type EventType = 'add' | 'update' | 'delete';
export type Handler<T> = (type: EventType, obj: T, old: T | undefined) => void | Promise<void>;
export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface InformerOptions {
  /** Collection path, e.g. /apis/lcp.kubelcp.io/v1alpha1/interfacepairs. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Restart the watch after this long without any sign of life (default 120 s). */
  watchdogMs?: number;
  /** Reconnect backoff (default 250 ms .. 30 s, jittered). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  pageSize?: number;
  random?: () => number;
  log?: LogFn;
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Watches that ended with 410 Gone (resourceVersion too old). */
  expired: number;
  /** Watches the watchdog aborted. */
  stalls: number;
  errors: number;
  handlerErrors: number;
  lastEventAt: number;
  resourceVersion: string;
}

type WatchEnd = { kind: 'closed' } | { kind: 'expired' } | { kind: 'stalled' } | { kind: 'error'; err: unknown };

const noLog: LogFn = () => {};

function isGone(err: unknown): boolean {
  if (err instanceof ApiError) return err.status === 410;
  return typeof err === 'object' && err !== null && (err as { statusCode?: unknown }).statusCode === 410;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

export class SupervisedInformer<T extends WatchedObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: Handler<T>[] = [];
  private resourceVersion = '';
  private needList = true;
  private stopped = false;
  private synced = false;
  private readonly syncedPromise: Promise<void>;
  private markSynced!: () => void;
  private abortWatch: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private readonly log: LogFn;
  readonly stats: InformerStats = {
    lists: 0, watches: 0, expired: 0, stalls: 0, errors: 0, handlerErrors: 0, lastEventAt: 0, resourceVersion: '',
  };

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: InformerOptions,
  ) {
    this.log = opts.log ?? noLog;
    this.syncedPromise = new Promise((resolve) => (this.markSynced = resolve));
  }

  /** Handlers run in order, one event at a time; what they throw is caught. */
  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  start(): void {
    if (this.loopDone) return;
    this.loopDone = this.loop();
  }

  /** Resolves after the first complete list has been delivered to the handlers. */
  ready(): Promise<void> {
    return this.syncedPromise;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abortWatch?.();
    this.wake?.();
    await this.loopDone;
  }

  static keyOf(obj: WatchedObject): string {
    const m = obj.metadata ?? {};
    return m.namespace ? `${m.namespace}/${m.name ?? ''}` : (m.name ?? '');
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.needList) {
          await this.relist();
          this.needList = false;
          failures = 0;
        }
        const started = Date.now();
        const events = this.stats.lastEventAt;
        const end = await this.watchOnce();
        if (end.kind === 'closed') {
          // A watch the server ends at once, again and again (e.g. while it shuts
          // down), must not become a busy loop: only a watch that lived resets the backoff.
          if (this.stopped || Date.now() - started > 1000 || this.stats.lastEventAt !== events) {
            failures = 0;
            continue;
          }
        }
        if (end.kind === 'expired') {
          this.stats.expired++;
          this.needList = true;
          this.log('info', 'watch expired (410): listing again', { path: this.opts.path });
          continue;
        }
        if (end.kind === 'stalled') {
          this.stats.stalls++;
          this.log('warn', 'watch stalled: restarting', { path: this.opts.path });
        } else if (end.kind === 'error') throw end.err;
      } catch (err) {
        if (this.stopped) break;
        if (isGone(err)) {
          // A list's continue token or a watch's resourceVersion is too old.
          this.stats.expired++;
          this.needList = true;
          continue;
        }
        this.stats.errors++;
        this.log('warn', 'list/watch failed: retrying', { path: this.opts.path, error: String(err), failures });
      }
      await this.sleep(jittered(failures++, this.opts.backoffBaseMs ?? 250, this.opts.backoffMaxMs ?? 30_000, this.opts.random));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await rawRequest(this.kc, 'GET', this.opts.path, {
        query: {
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
          limit: String(this.opts.pageSize ?? 500),
          continue: cont,
        },
      });
      if (!isRecord(page) || !Array.isArray(page.items)) throw new Error(`list ${this.opts.path}: not a list`);
      const meta = isRecord(page.metadata) ? page.metadata : {};
      items.push(...(page.items as T[]));
      cont = typeof meta.continue === 'string' && meta.continue !== '' ? meta.continue : undefined;
      rv = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : rv;
    } while (cont !== undefined && !this.stopped);
    this.stats.lists++;
    // Deliver the difference: what the watch missed while it was down.
    const fresh = new Map(items.map((o) => [SupervisedInformer.keyOf(o), o]));
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.cache.delete(key);
        await this.emit('delete', old, undefined);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) await this.emit('add', obj, undefined);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) await this.emit('update', obj, old);
    }
    this.setResourceVersion(rv);
    if (!this.synced) {
      this.synced = true;
      this.markSynced();
    }
  }

  private setResourceVersion(rv: string): void {
    this.resourceVersion = rv;
    this.stats.resourceVersion = rv;
  }

  private watchOnce(): Promise<WatchEnd> {
    this.stats.watches++;
    return new Promise<WatchEnd>((resolve) => {
      let settled = false;
      let controller: AbortController | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      // Events are applied one at a time, in order, even when handlers are async.
      let chain = Promise.resolve();
      const finish = (end: WatchEnd): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        controller?.abort();
        this.abortWatch = undefined;
        void chain.then(() => resolve(end));
      };
      const pet = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish({ kind: 'stalled' }), this.opts.watchdogMs ?? 120_000);
      };
      this.abortWatch = () => finish({ kind: 'closed' });
      pet();
      const onEvent = (type: string, obj: unknown): void => {
        if (settled) return;
        pet();
        this.stats.lastEventAt = Date.now();
        if (type === 'ERROR') {
          const code = isRecord(obj) ? obj.code : undefined;
          finish(code === 410 ? { kind: 'expired' } : { kind: 'error', err: new Error(`watch error: ${JSON.stringify(obj)}`) });
          return;
        }
        chain = chain.then(() => this.apply(type, obj as T));
      };
      const onDone = (err: unknown): void => {
        // client-node aborts a watch after 30 s without data (a quiet collection
        // between bookmarks): that is a normal end, watch again from where we were.
        const timeout = err instanceof Error && err.name === 'TimeoutError';
        if (!err || timeout) finish({ kind: 'closed' });
        else finish(isGone(err) ? { kind: 'expired' } : { kind: 'error', err });
      };
      // Server-side timeout between 5 and 10 minutes (as client-go's reflector), so that
      // not every watch in a fleet ends at once.
      const timeoutSeconds = Math.floor(300 + 300 * (this.opts.random ?? Math.random)());
      new Watch(this.kc)
        .watch(
          this.opts.path,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
          },
          onEvent,
          onDone,
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (err: unknown) => finish({ kind: 'error', err }),
        );
    });
  }

  private async apply(type: string, obj: T): Promise<void> {
    const rv = obj.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv) this.setResourceVersion(rv);
      return;
    }
    const key = SupervisedInformer.keyOf(obj);
    const old = this.cache.get(key);
    if (type === 'ADDED' || type === 'MODIFIED') {
      this.cache.set(key, obj);
      await this.emit(old ? 'update' : 'add', obj, old);
    } else if (type === 'DELETED') {
      this.cache.delete(key);
      await this.emit('delete', obj, old);
    }
    if (rv) this.setResourceVersion(rv);
  }

  private async emit(type: EventType, obj: T, old: T | undefined): Promise<void> {
    for (const h of this.handlers) {
      try {
        await h(type, obj, old);
      } catch (err) {
        this.stats.handlerErrors++;
        this.log('error', 'informer handler failed', { path: this.opts.path, type, key: SupervisedInformer.keyOf(obj), error: String(err) });
      }
    }
  }
}
