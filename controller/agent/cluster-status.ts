// Cluster mode's writes: this node's NodeDataplane (server-side apply of
// /status, field manager kube-lcp-agent; the object is made when missing) on
// change at a bounded rate plus a heartbeat, and a coordination.k8s.io Lease
// renewed with it. Writes are serialized; a failed one is retried at the next
// tick, never in a tight loop.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import { agentLeaseName } from '../api/lease.js';
import type { NodeDataplane } from '../api/node-dataplane.js';
import { ApiError, applyObject, clusterPath, rawRequest } from '../k8s/raw.js';
import { microTime } from '../k8s/time.js';

export const AGENT_FIELD_MANAGER = 'kube-lcp-agent';

export interface StatusWriterOptions {
  kc: KubeConfig;
  node: string;
  /** Namespace of the heartbeat Lease (made when missing). */
  namespace: string;
  status: () => NodeDataplane;
  log: Logger;
  /** At most one status write this often (default 2 s). */
  minIntervalMs?: number;
  /** Status and Lease written at least this often (default 10 s). */
  heartbeatMs?: number;
  leaseDurationSeconds?: number;
}


export class StatusWriter {
  private dirty = true;
  private lastWrite = 0;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private stopped = false;
  private objectMade = false;
  private namespaceMade = false;
  private acquired: string | undefined;
  readonly stats = { statusWrites: 0, leaseRenewals: 0, errors: 0 };

  constructor(private readonly o: StatusWriterOptions) {}

  start(): void {
    this.heartbeat = setInterval(() => this.flush(true), this.o.heartbeatMs ?? 10_000);
    this.flush(true);
  }

  /** Something changed: written now, or as soon as the rate allows. */
  changed(): void {
    this.dirty = true;
    if (this.stopped || this.timer) return;
    const wait = Math.max(0, this.lastWrite + (this.o.minIntervalMs ?? 2000) - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush(false);
    }, wait);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.timer);
    await this.writing;
  }

  private flush(beat: boolean): void {
    if (this.stopped) return;
    this.writing = this.writing.then(() => this.write(beat));
  }

  private async write(beat: boolean): Promise<void> {
    if (this.stopped || (!beat && !this.dirty)) return;
    this.dirty = false;
    this.lastWrite = Date.now();
    try {
      await this.writeStatus();
      if (beat) await this.renewLease();
    } catch (e) {
      this.dirty = true;
      this.stats.errors++;
      this.o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'status write failed; retried at the next tick');
    }
  }

  private async writeStatus(): Promise<void> {
    const ndp = this.o.status();
    const path = clusterPath('lcp.kubelcp.io', 'v1alpha1', 'nodedataplanes', this.o.node);
    if (!this.objectMade) {
      await applyObject(this.o.kc, path, { apiVersion: ndp.apiVersion, kind: ndp.kind, metadata: { name: this.o.node } }, AGENT_FIELD_MANAGER, true);
      this.objectMade = true;
    }
    try {
      await applyObject(this.o.kc, `${path}/status`, ndp, AGENT_FIELD_MANAGER, true);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) this.objectMade = false; // deleted by someone: made again next time
      throw e;
    }
    this.stats.statusWrites++;
  }

  private async renewLease(): Promise<void> {
    const { kc, namespace, node } = this.o;
    if (!this.namespaceMade) {
      try {
        await rawRequest(kc, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
      } catch (e) {
        if (!(e instanceof ApiError && (e.status === 409 || e.status === 403))) throw e; // exists, or we may not list/create: try the Lease anyway
      }
      this.namespaceMade = true;
    }
    const now = microTime(new Date());
    this.acquired ??= now;
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: agentLeaseName(node), namespace },
      spec: { holderIdentity: node, leaseDurationSeconds: this.o.leaseDurationSeconds ?? 40, acquireTime: this.acquired, renewTime: now },
    };
    const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(lease.metadata.name)}`;
    try {
      await applyObject(kc, path, lease, AGENT_FIELD_MANAGER, true);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) this.namespaceMade = false;
      throw e;
    }
    this.stats.leaseRenewals++;
  }
}
