// LinuxControlPlane: how the control plane behaves on the nodes it selects
// (linux-cp's startup settings, per node selector). Where two objects select
// one node with the same priority, nothing is merged: the agent reports the
// conflict and keeps its previous settings.
import {
  conditionsSchema,
  labelSelectorSchema,
  netnsSchema,
  objectHeaderProperties,
  type FromKubeSchema,
  type KubeSchema,
  type ObjectMeta,
} from './kube-schema.js';

const idList = (description: string, maximum: number) =>
  ({
    type: 'array',
    description,
    maxItems: 64,
    'x-kubernetes-list-type': 'set',
    items: { type: 'integer', format: 'int64', minimum: 0, maximum },
  }) as const satisfies KubeSchema;

export const linuxControlPlaneSpecSchema = {
  type: 'object',
  description: 'Control-plane settings for the selected nodes.',
  additionalProperties: false,
  properties: {
    nodeSelector: { ...labelSelectorSchema, description: 'Nodes these settings apply to; absent or {} selects every node.' },
    priority: {
      type: 'integer',
      format: 'int32',
      default: 0,
      minimum: -1000,
      maximum: 1000,
      description: 'Where several objects select a node, the highest priority wins; a tie is reported as a conflict, not merged.',
    },
    defaultNetns: { ...netnsSchema, description: 'Netns for mirrors whose pair names none (a name under /run/netns).' },
    sync: {
      type: 'boolean',
      default: false,
      description: 'lcp-sync: push dataplane-side state (link state, MTU) of a port to its mirror.',
    },
    autoSubinterfaces: {
      type: 'boolean',
      default: false,
      description: 'Create dataplane sub-interfaces for VLAN devices made on a mirror in Linux.',
    },
    routes: {
      type: 'object',
      description: 'Which kernel routes are copied into the dataplane.',
      additionalProperties: false,
      properties: {
        tables: idList('Kernel route table ids to mirror (each becomes a dataplane table); empty: all.', 4294967295),
        protocols: idList('Route protocols to mirror (rtm_protocol numbers, e.g. 4 static, 12 bird); empty: all.', 255),
      },
    },
    dataplane: {
      type: 'object',
      description: 'Dataplane sizing, applied when the agent (re)opens the dataplane.',
      additionalProperties: false,
      properties: {
        workers: { type: 'integer', format: 'int32', minimum: 1, maximum: 64, description: 'Worker threads polling ports.' },
        buffersPerWorker: {
          type: 'integer',
          format: 'int32',
          minimum: 512,
          maximum: 1048576,
          description: 'Packet buffers each worker owns.',
        },
        rxRingSize: {
          type: 'integer',
          format: 'int32',
          enum: [256, 512, 1024, 2048, 4096, 8192, 16384],
          description: 'AF_PACKET receive ring per port, in 2 KiB frames (default 2048, 4 MiB); lower it for many ports. Applied when the dataplane opens.',
        },
      },
    },
  },
} as const satisfies KubeSchema;

export const linuxControlPlaneStatusSchema = {
  type: 'object',
  description: 'Which nodes these settings reach.',
  additionalProperties: false,
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    matchedNodes: { type: 'integer', format: 'int32', minimum: 0, description: 'Nodes selected.' },
    conflictingNodes: {
      type: 'array',
      description: 'A bounded sample of nodes also selected by another object of the same priority.',
      maxItems: 10,
      'x-kubernetes-list-type': 'set',
      items: { type: 'string', maxLength: 253 },
    },
    conditions: conditionsSchema,
  },
} as const satisfies KubeSchema;

export const linuxControlPlaneSchema = {
  type: 'object',
  description: 'Linux control plane settings (default netns, lcp-sync, route mirroring, dataplane sizing) for selected nodes.',
  required: ['spec'],
  properties: {
    ...objectHeaderProperties,
    spec: linuxControlPlaneSpecSchema,
    status: linuxControlPlaneStatusSchema,
  },
} as const satisfies KubeSchema;

export type LinuxControlPlaneSpec = FromKubeSchema<typeof linuxControlPlaneSpecSchema>;
export type LinuxControlPlaneStatus = FromKubeSchema<typeof linuxControlPlaneStatusSchema>;
export interface LinuxControlPlane {
  apiVersion: 'lcp.kubelcp.io/v1alpha1';
  kind: 'LinuxControlPlane';
  metadata: ObjectMeta;
  spec: LinuxControlPlaneSpec;
  status?: LinuxControlPlaneStatus;
}

export const linuxControlPlaneResource = {
  kind: 'LinuxControlPlane',
  plural: 'linuxcontrolplanes',
  singular: 'linuxcontrolplane',
  shortNames: ['lcp'],
  categories: ['kubelcp'],
  schema: linuxControlPlaneSchema,
  printerColumns: [
    { name: 'Priority', type: 'integer', jsonPath: '.spec.priority' },
    { name: 'Netns', type: 'string', jsonPath: '.spec.defaultNetns' },
    { name: 'Sync', type: 'boolean', jsonPath: '.spec.sync' },
    { name: 'Matched', type: 'integer', jsonPath: '.status.matchedNodes' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
} as const;
