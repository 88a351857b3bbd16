// The cluster desired-state source: supervised informers on InterfacePairs,
// LinuxControlPlanes and this node's Node object (its labels feed the
// selectors). Ready only after all three first lists. Like the file source it
// only says what changed; the reconciler reads the snapshot. Every object is
// validated again (the agent trusts no input); an invalid one is left out and
// reported through error().
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import type { InterfacePair } from '../api/interface-pair.js';
import type { ObjectMeta } from '../api/kube-schema.js';
import type { LinuxControlPlane } from '../api/linux-control-plane.js';
import { parseInterfacePair, parseLinuxControlPlane } from '../api/validate.js';
import { SupervisedInformer, type LogFn } from '../k8s/informer.js';
import { clusterPath } from '../k8s/raw.js';
import { changedPairs, emptySnapshot, type DesiredSnapshot, type DesiredStateSource, type NodeIdentity, type SourceChange, type SourcedPair } from './desired.js';

const GROUP = 'lcp.kubelcp.io';
const VERSION = 'v1alpha1';
const MAX_ERROR = 1024;

/** The part of a core/v1 Node the agent reads. */
export interface NodeObject {
  metadata?: { name?: string; labels?: Record<string, string>; resourceVersion?: string };
}

interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: unknown;
}

export interface ClusterSourceOptions {
  log?: Logger;
  watchdogMs?: number;
}

/** Only what the reconciler reads: a status or managedFields change is no change. */
function specOnly(o: KubeObject): unknown {
  const m = o.metadata ?? {};
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: { name: m.name, ...(m.generation !== undefined ? { generation: m.generation } : {}), ...(m.labels ? { labels: m.labels } : {}) },
    spec: o.spec,
  };
}

export class ClusterSource implements DesiredStateSource {
  readonly kind = 'cluster';
  private readonly pairs: SupervisedInformer<InterfacePair>;
  private readonly planes: SupervisedInformer<LinuxControlPlane>;
  private readonly nodes: SupervisedInformer<NodeObject>;
  private current: DesiredSnapshot = emptySnapshot;
  private lastError: string | undefined;
  private labels: Record<string, string> = {};
  private synced = false;
  private onChange: (change: SourceChange) => void = () => undefined;
  /**
   * Each cached object's parse, kept as long as the informer keeps that very
   * object (an update replaces it). Without it every event re-validated every
   * pair: 1,000 pairs applied at once cost a million parses.
   */
  private readonly parsed = new WeakMap<object, { pair: InterfacePair } | { error: string }>();

  /** This node as the selectors see it; its labels follow the Node object. */
  readonly identity: NodeIdentity;

  constructor(
    kc: KubeConfig,
    readonly nodeName: string,
    private readonly opts: ClusterSourceOptions = {},
  ) {
    const log: LogFn = (level, msg, fields) => opts.log?.[level](fields ?? {}, msg);
    const common = { log, watchdogMs: opts.watchdogMs };
    this.pairs = new SupervisedInformer(kc, { ...common, path: clusterPath(GROUP, VERSION, 'interfacepairs') });
    this.planes = new SupervisedInformer(kc, { ...common, path: clusterPath(GROUP, VERSION, 'linuxcontrolplanes') });
    this.nodes = new SupervisedInformer(kc, {
      ...common,
      path: clusterPath('', 'v1', 'nodes'),
      fieldSelector: `metadata.name=${nodeName}`,
    });
    const self = this;
    this.identity = {
      name: nodeName,
      get labels(): Record<string, string> {
        return self.labels;
      },
    };
    for (const inf of [this.pairs, this.planes, this.nodes] as const) inf.on(() => this.refresh());
  }

  async start(onChange: (change: SourceChange) => void): Promise<void> {
    this.onChange = onChange;
    this.pairs.start();
    this.planes.start();
    this.nodes.start();
    await Promise.all([this.pairs.ready(), this.planes.ready(), this.nodes.ready()]);
    this.synced = true;
    this.refresh();
    this.opts.log?.info({ pairs: this.current.pairs.size, controlPlanes: this.current.controlPlanes.length, labels: this.labels }, 'cluster state synced');
  }

  async stop(): Promise<void> {
    await Promise.all([this.pairs.stop(), this.planes.stop(), this.nodes.stop()]);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  snapshot(): DesiredSnapshot {
    return this.current;
  }

  /** A pair's uid (the snapshot keeps specs only), for Events about it. */
  pairUid(name: string): string | undefined {
    return this.pairs.get(name)?.metadata?.uid;
  }

  error(): string | undefined {
    return this.lastError;
  }

  /** Rebuilds the snapshot from the caches and reports the difference (nothing before the first lists). */
  private refresh(): void {
    if (!this.synced) return;
    const errors: string[] = [];
    const pairs = new Map<string, SourcedPair>();
    for (const o of this.pairs.list()) {
      let r = this.parsed.get(o);
      if (!r) {
        try {
          r = { pair: parseInterfacePair(specOnly(o)) };
        } catch (e) {
          r = { error: `InterfacePair ${o.metadata.name ?? '?'}: ${e instanceof Error ? e.message : String(e)}` };
        }
        this.parsed.set(o, r);
      }
      if ('error' in r) errors.push(r.error);
      else pairs.set(r.pair.metadata.name ?? '', { pair: r.pair, generation: o.metadata.generation ?? 1 });
    }
    const controlPlanes: LinuxControlPlane[] = [];
    for (const o of this.planes.list().sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))) {
      try {
        controlPlanes.push(parseLinuxControlPlane(specOnly(o)));
      } catch (e) {
        errors.push(`LinuxControlPlane ${o.metadata.name ?? '?'}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const labels = this.nodes.get(this.nodeName)?.metadata?.labels ?? {};
    const labelsMoved = JSON.stringify(labels) !== JSON.stringify(this.labels);
    this.labels = { ...labels };
    const next: DesiredSnapshot = { pairs, controlPlanes };
    const error = errors.length > 0 ? errors.join('; ').slice(0, MAX_ERROR) : undefined;
    const errorMoved = error !== this.lastError;
    this.lastError = error;
    // New labels may select other pairs and settings: everything is looked at again.
    const change: SourceChange = {
      pairs: labelsMoved ? [...new Set([...this.current.pairs.keys(), ...pairs.keys()])] : changedPairs(this.current, next),
      controlPlanes: labelsMoved || errorMoved || JSON.stringify(this.current.controlPlanes) !== JSON.stringify(controlPlanes),
    };
    this.current = next;
    if (change.pairs.length > 0 || change.controlPlanes) this.onChange(change);
  }
}
