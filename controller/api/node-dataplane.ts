// NodeDataplane (ndp): one per node, named after it, written only by that
// node's agent (server-side apply, its own field manager). It has no spec:
// it is what the node observed, never what anyone wants.
import {
  conditionsSchema,
  ifNameSchema,
  macSchema,
  netnsSchema,
  objectHeaderProperties,
  type FromKubeSchema,
  type KubeSchema,
  type ObjectMeta,
} from './kube-schema.js';

const int64 = (description: string) =>
  ({ type: 'integer', format: 'int64', minimum: 0, description }) as const satisfies KubeSchema;
const int32 = (description: string) =>
  ({ type: 'integer', format: 'int32', minimum: 0, description }) as const satisfies KubeSchema;
const time = (description: string) => ({ type: 'string', format: 'date-time', description }) as const satisfies KubeSchema;

const pairEntrySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', maxLength: 253, description: 'The InterfacePair.' },
    observedGeneration: int64('The pair generation this entry was reconciled from.'),
    portIndex: int32('Dataplane port index.'),
    mirrorIfindex: int32('Kernel ifindex of the mirror.'),
    portState: { type: 'string', enum: ['Up', 'Down', 'Absent'] },
    mirrorState: { type: 'string', enum: ['Up', 'Down', 'Absent'] },
    mtuMatch: { type: 'boolean', description: 'The mirror MTU equals the spec (or the port) MTU.' },
    macMatch: { type: 'boolean', description: 'The mirror MAC equals the spec (or the port) MAC.' },
    lastError: { type: 'string', maxLength: 1024 },
    retries: int32('Consecutive failed reconciles.'),
    conditions: conditionsSchema,
  },
} as const satisfies KubeSchema;

const portSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['index', 'name'],
  properties: {
    index: int32('Dataplane port index.'),
    name: ifNameSchema,
    netns: { type: 'string', maxLength: netnsSchema.maxLength },
    driver: { type: 'string', enum: ['af_packet', 'af_xdp'] },
    mac: { type: 'string', maxLength: macSchema.maxLength },
    mtu: int32('MTU.'),
    up: { type: 'boolean' },
    pointToPoint: { type: 'boolean' },
    table: int64('Dataplane table (VRF) of the port.'),
    fastPath: {
      type: 'string',
      maxLength: 512,
      description: "The port's XDP fast path: 'active', 'rx-only: <why>' (forwards from it, not to it) or 'inactive: <why>' (the graph forwards).",
    },
  },
} as const satisfies KubeSchema;

const fibEntrySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['table', 'family'],
  properties: {
    table: int64('Table id.'),
    family: { type: 'integer', enum: [4, 6] },
    routes: int64('Routes in the table.'),
  },
} as const satisfies KubeSchema;

export const nodeDataplaneStatusSchema = {
  type: 'object',
  description: 'What the agent on this node observed, written on change and at a bounded rate.',
  additionalProperties: false,
  properties: {
    agentVersion: { type: 'string', maxLength: 64 },
    startTime: time('When the agent process started.'),
    restartCount: int32('Agent restarts seen on this node.'),
    lastUpdateTime: time('When this status was last written.'),
    pairsTotal: int32('Pairs selecting this node.'),
    pairsReady: int32('Of those, Ready.'),
    routes: int64('Routes in the dataplane FIB, all tables and families.'),
    // The lists are atomic: the node's agent is their one writer and applies
    // them whole, and a map-type list would make server-side apply record
    // every entry's every field in managedFields again, which about doubled
    // the object (1,000 pairs: 2.1 MB, over the API server's request limit).
    ports: {
      type: 'array',
      description: 'Dataplane ports, by index.',
      maxItems: 4096,
      'x-kubernetes-list-type': 'atomic',
      items: portSchema,
    },
    pairs: {
      type: 'array',
      description: 'One entry per pair selecting this node, by name.',
      maxItems: 4096,
      'x-kubernetes-list-type': 'atomic',
      items: pairEntrySchema,
    },
    fib: {
      type: 'array',
      description: 'Routes per table and family.',
      maxItems: 512,
      'x-kubernetes-list-type': 'atomic',
      items: fibEntrySchema,
    },
    neighbors: {
      type: 'object',
      additionalProperties: false,
      properties: { ip4: int64('IPv4 neighbours.'), ip6: int64('IPv6 neighbours.') },
    },
    mirror: {
      type: 'object',
      description: 'The netlink mirror (Linux to dataplane).',
      additionalProperties: false,
      properties: {
        lagMilliseconds: int64('Age of the oldest netlink update not yet applied.'),
        lastResyncTime: time('When the last full resync ended.'),
        resyncs: int64('Resyncs since the agent started (a lost netlink message causes one).'),
        driftRoutes: int64('Routes that differ between Linux and the dataplane at the last check.'),
      },
    },
    counters: {
      type: 'object',
      additionalProperties: false,
      properties: {
        rxPackets: int64('Packets received on ports.'),
        txPackets: int64('Packets sent on ports.'),
        drops: int64('Packets dropped.'),
        punts: int64('Packets punted to mirrors.'),
        injects: int64('Packets from mirrors sent out of ports.'),
      },
    },
    conditions: { ...conditionsSchema, description: 'DataplaneReady, MirrorInSync, Ready, Degraded.' },
  },
} as const satisfies KubeSchema;

export const nodeDataplaneSchema = {
  type: 'object',
  description: "The dataplane of one node as its agent sees it; named after the node, written only by that node's agent.",
  properties: {
    ...objectHeaderProperties,
    status: nodeDataplaneStatusSchema,
  },
} as const satisfies KubeSchema;

export type NodeDataplaneStatus = FromKubeSchema<typeof nodeDataplaneStatusSchema>;
/** One pair's entry in a node's status. */
export type PairEntry = NonNullable<NodeDataplaneStatus['pairs']>[number];
export interface NodeDataplane {
  apiVersion: 'lcp.kubelcp.io/v1alpha1';
  kind: 'NodeDataplane';
  metadata: ObjectMeta;
  status?: NodeDataplaneStatus;
}

export const nodeDataplaneResource = {
  kind: 'NodeDataplane',
  plural: 'nodedataplanes',
  singular: 'nodedataplane',
  shortNames: ['ndp'],
  categories: ['kubelcp'],
  schema: nodeDataplaneSchema,
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Pairs-Ready', type: 'integer', jsonPath: '.status.pairsReady' },
    { name: 'Pairs', type: 'integer', jsonPath: '.status.pairsTotal' },
    { name: 'Routes', type: 'integer', jsonPath: '.status.routes' },
    { name: 'Last-Sync', type: 'date', jsonPath: '.status.mirror.lastResyncTime' },
    { name: 'Restarts', type: 'integer', jsonPath: '.status.restartCount' },
    { name: 'Version', type: 'string', jsonPath: '.status.agentVersion', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
} as const;
