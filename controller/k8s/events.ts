// Kubernetes Events (events.k8s.io/v1) about our cluster-scoped objects, for
// `kubectl describe` and `kubectl events`. Written for condition transitions
// only (callers decide what a transition is); an Event is best effort: a
// failed create is logged and dropped, never retried in a loop and never in
// the way of the status it describes.
import { randomBytes } from 'node:crypto';

import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

import { microTime } from './time.js';
import { rawRequest } from './raw.js';

/**
 * Events about a cluster-scoped object must live in "default" (or
 * kube-system): the API server refuses any other namespace for them.
 */
export const CLUSTER_EVENT_NAMESPACE = 'default';
const MAX_NOTE = 1024;

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
}

export interface EventInput {
  regarding: EventTarget;
  type: 'Normal' | 'Warning';
  /** CamelCase, what happened (e.g. the condition's new reason). */
  reason: string;
  /** CamelCase, what the reporter did or saw (e.g. "ConditionChanged"). */
  action: string;
  note: string;
}

export interface EventRecorderOptions {
  kc: KubeConfig;
  /** reportingController, e.g. kube-lcp-controller. */
  controller: string;
  /** reportingInstance: the node or the replica. */
  instance: string;
  log: Logger;
}

export class EventRecorder {
  readonly stats = { sent: 0, failed: 0 };

  constructor(private readonly o: EventRecorderOptions) {}

  /** Creates the Event; resolves either way (an Event is not worth a retry loop). */
  async record(e: EventInput): Promise<void> {
    const now = new Date();
    // client-go names Events <object>.<unique hex>; 253 is the name limit.
    const name = `${e.regarding.name.slice(0, 200)}.${now.getTime().toString(16)}${randomBytes(4).toString('hex')}`;
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace: CLUSTER_EVENT_NAMESPACE },
      eventTime: microTime(now),
      reportingController: this.o.controller,
      reportingInstance: this.o.instance.slice(0, 128),
      action: e.action,
      reason: e.reason,
      type: e.type,
      note: e.note.length <= MAX_NOTE ? e.note : `${e.note.slice(0, MAX_NOTE - 3)}...`,
      regarding: {
        apiVersion: e.regarding.apiVersion,
        kind: e.regarding.kind,
        name: e.regarding.name,
        ...(e.regarding.uid ? { uid: e.regarding.uid } : {}),
      },
    };
    try {
      await rawRequest(this.o.kc, 'POST', `/apis/events.k8s.io/v1/namespaces/${CLUSTER_EVENT_NAMESPACE}/events`, { body });
      this.stats.sent++;
    } catch (err) {
      this.stats.failed++;
      this.o.log.warn({ err: err instanceof Error ? err.message : String(err), regarding: e.regarding.name, reason: e.reason }, 'event not recorded');
    }
  }
}
