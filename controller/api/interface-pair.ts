// InterfacePair (lip): one dataplane port and its kernel mirror, on the nodes
// it selects. Written by users (spec) and by the cluster controller alone
// (status: the per-node results aggregated).
import { MTU } from '../../dataplane/limits.js';
import {
  conditionsSchema,
  ifNameSchema,
  labelSelectorSchema,
  macSchema,
  mtuSchema,
  netnsSchema,
  nodeNameSchema,
  objectHeaderProperties,
  type FromKubeSchema,
  type KubeSchema,
  type ObjectMeta,
} from './kube-schema.js';

const portSchema = {
  type: 'object',
  description: 'The kernel netdev the dataplane takes over on each selected node.',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { ...ifNameSchema, description: 'Netdev name, e.g. eth1 (at most 15 characters).' },
    netns: { ...netnsSchema, description: "Netns the netdev is in (a name under /run/netns); default: the agent's." },
    driver: {
      type: 'string',
      enum: ['af_packet', 'af_xdp', 'auto'],
      default: 'auto',
      description: 'Packet I/O: af_packet, af_xdp (NICs with zero-copy), or auto (af_packet on veth).',
    },
  },
  // A different netdev is a different pair: delete and create instead.
  'x-kubernetes-validations': [
    {
      rule: 'self.name == oldSelf.name',
      fieldPath: '.name',
      reason: 'FieldValueForbidden',
      message: 'is immutable: delete the pair and create another',
    },
    {
      rule: 'has(self.netns) == has(oldSelf.netns) && (!has(self.netns) || self.netns == oldSelf.netns)',
      fieldPath: '.netns',
      reason: 'FieldValueForbidden',
      message: 'is immutable: delete the pair and create another',
    },
  ],
} as const satisfies KubeSchema;

const mirrorSchema = {
  type: 'object',
  description: 'The kernel device Linux sees for the port: a TAP (multi-point port) or a TUN (point-to-point).',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { ...ifNameSchema, description: 'Interface name in Linux (at most 15 characters of A-Z a-z 0-9 _ . -).' },
    netns: {
      ...netnsSchema,
      description: "Netns to create the mirror in (a name under /run/netns); default: the node's LinuxControlPlane defaultNetns, else the agent's.",
    },
    kind: {
      type: 'string',
      enum: ['tap', 'tun'],
      description: 'tap for a multi-point (Ethernet) port, tun for a point-to-point one; default: from the port.',
    },
    mtu: { ...mtuSchema, description: `MTU of the mirror, applied to the port too (${MTU.min}-${MTU.max}); default: the port's.` },
    mac: { ...macSchema, description: "Unicast MAC of a tap mirror, xx:xx:xx:xx:xx:xx; default: the port's." },
  },
  'x-kubernetes-validations': [
    {
      rule: "!(has(self.mac) && has(self.kind) && self.kind == 'tun')",
      fieldPath: '.mac',
      reason: 'FieldValueForbidden',
      message: 'a tun mirror has no MAC address',
    },
    // Changing these would mean a new device, losing the Linux config on it.
    {
      rule: 'has(self.kind) == has(oldSelf.kind) && (!has(self.kind) || self.kind == oldSelf.kind)',
      fieldPath: '.kind',
      reason: 'FieldValueForbidden',
      message: 'is immutable: delete the pair and create another',
    },
    {
      rule: 'has(self.netns) == has(oldSelf.netns) && (!has(self.netns) || self.netns == oldSelf.netns)',
      fieldPath: '.netns',
      reason: 'FieldValueForbidden',
      message: 'is immutable: delete the pair and create another',
    },
  ],
} as const satisfies KubeSchema;

const hostConfigSchema = {
  type: 'object',
  description: 'Linux configuration the agent applies to the mirror; the dataplane then follows it like any Linux config.',
  additionalProperties: false,
  properties: {
    addresses: {
      type: 'array',
      description: 'Interface addresses in CIDR form with the host part, e.g. 10.0.0.1/24 or 2001:db8::1/64.',
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      items: {
        type: 'string',
        maxLength: 49,
        'x-kubernetes-validations': [
          { rule: 'isCIDR(self)', messageExpression: `"'" + self + "' is not an address with a prefix length, e.g. 10.0.0.1/24"` },
          // The kernel takes 0.0.0.0/0 and keeps nothing a peer could reach: refused here.
          { rule: '!isCIDR(self) || !cidr(self).ip().isUnspecified()', message: 'must not be the unspecified address (0.0.0.0 or ::)' },
        ],
      },
    },
  },
} as const satisfies KubeSchema;

export const interfacePairSpecSchema = {
  type: 'object',
  description: 'Which nodes get the pair, the port, the mirror, and host-side config of the mirror.',
  additionalProperties: false,
  required: ['port', 'mirror'],
  properties: {
    nodeName: { ...nodeNameSchema, description: 'The one node to create the pair on. Exclusive with nodeSelector.' },
    nodeSelector: {
      ...labelSelectorSchema,
      description: 'Nodes to create the pair on, by label; {} selects every node. Exclusive with nodeName. Matching no node is not an error.',
    },
    port: portSchema,
    mirror: mirrorSchema,
    hostConfig: hostConfigSchema,
  },
  'x-kubernetes-validations': [
    { rule: 'has(self.nodeName) != has(self.nodeSelector)', message: 'set exactly one of nodeName and nodeSelector' },
  ],
} as const satisfies KubeSchema;

const count = (description: string) =>
  ({ type: 'integer', format: 'int32', minimum: 0, description }) as const satisfies KubeSchema;

export const interfacePairStatusSchema = {
  type: 'object',
  description: 'Aggregated from every selected node by the cluster controller, its only writer.',
  additionalProperties: false,
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'The generation this status is for.' },
    matchedNodes: count('Nodes the pair selects.'),
    readyNodes: count('Selected nodes whose agent reports the current generation ready.'),
    progressingNodes: count('Selected nodes still converging.'),
    failedNodes: count('Selected nodes reporting a failure.'),
    staleNodes: count('Selected nodes whose agent heartbeat expired: their report is not counted.'),
    failingNodes: {
      type: 'array',
      description: 'A bounded sample of nodes that fail, with why.',
      maxItems: 10,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['node'],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['node', 'reason'],
        properties: {
          node: nodeNameSchema,
          reason: { type: 'string', maxLength: 128 },
          message: { type: 'string', maxLength: 1024 },
        },
      },
    },
    conditions: conditionsSchema,
  },
} as const satisfies KubeSchema;

export const interfacePairSchema = {
  type: 'object',
  description: 'A dataplane port and its kernel mirror (TAP/TUN) on the selected nodes, after VPP linux-cp.',
  required: ['spec'],
  properties: {
    ...objectHeaderProperties,
    spec: interfacePairSpecSchema,
    status: interfacePairStatusSchema,
  },
} as const satisfies KubeSchema;

export type InterfacePairSpec = FromKubeSchema<typeof interfacePairSpecSchema>;
export type InterfacePairStatus = FromKubeSchema<typeof interfacePairStatusSchema>;
export interface InterfacePair {
  apiVersion: 'lcp.kubelcp.io/v1alpha1';
  kind: 'InterfacePair';
  metadata: ObjectMeta;
  spec: InterfacePairSpec;
  status?: InterfacePairStatus;
}

export const interfacePairResource = {
  kind: 'InterfacePair',
  plural: 'interfacepairs',
  singular: 'interfacepair',
  shortNames: ['lip'],
  categories: ['kubelcp'],
  schema: interfacePairSchema,
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Matched', type: 'integer', jsonPath: '.status.matchedNodes', description: 'Nodes selected' },
    { name: 'Ready-Nodes', type: 'integer', jsonPath: '.status.readyNodes', description: 'Nodes ready at this generation' },
    { name: 'Failed', type: 'integer', jsonPath: '.status.failedNodes' },
    { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
    { name: 'Port', type: 'string', jsonPath: '.spec.port.name', priority: 1 },
    { name: 'Mirror', type: 'string', jsonPath: '.spec.mirror.name', priority: 1 },
    { name: 'Node', type: 'string', jsonPath: '.spec.nodeName', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
} as const;
