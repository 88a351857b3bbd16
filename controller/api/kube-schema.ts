// The pieces every schema of ours is made of: the Kubernetes extensions to
// JSON Schema (typed, so a misspelt x-kubernetes-* key fails to compile), and
// shared fragments (names, conditions, label selectors). Each fragment is an
// `as const` value: the CRD YAML, the TypeScript types (json-schema-to-ts) and
// the agent's own validation all read these same objects.
import type { ExtendedJSONSchema, FromExtendedSchema } from 'json-schema-to-ts';

import { IFNAME_MAX, MTU, NETNS_NAME_MAX } from '../../dataplane/limits.js';

/** One CEL rule (apiextensions.k8s.io/v1 ValidationRule). */
export interface CelRule {
  readonly rule: string;
  readonly message?: string;
  readonly messageExpression?: string;
  readonly reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  readonly fieldPath?: string;
  readonly optionalOldSelf?: boolean;
}

/** The structural-schema extensions the API server understands. */
export type KubeExtensions = {
  'x-kubernetes-validations': readonly CelRule[];
  'x-kubernetes-list-type': 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys': readonly string[];
  'x-kubernetes-map-type': 'granular' | 'atomic';
  'x-kubernetes-preserve-unknown-fields': boolean;
  'x-kubernetes-int-or-string': boolean;
  'x-kubernetes-embedded-resource': boolean;
};

export type KubeSchema = ExtendedJSONSchema<KubeExtensions>;

/**
 * The type of objects valid under a schema. Defaulted properties stay
 * optional: the standalone file is not defaulted by an API server.
 */
export type FromKubeSchema<S extends KubeSchema> = FromExtendedSchema<
  KubeExtensions,
  S,
  { keepDefaultedPropertiesOptional: true }
>;

export const API_GROUP = 'lcp.kubelcp.io';
export const API_VERSION = 'v1alpha1';
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}` as const;

// Linux IFNAMSIZ is 16 with the NUL; the same set as dataplane/validate.ts.
// RE2 (the API server) has no look-ahead, so "." and ".." are refused by CEL;
// so are "all" and "default", the kernel's own names under net.ipv*.conf
// (it refuses them for a device: EINVAL).
export const ifNameSchema = {
  type: 'string',
  minLength: 1,
  maxLength: IFNAME_MAX,
  pattern: '^[A-Za-z0-9_.-]+$',
  'x-kubernetes-validations': [
    { rule: "self != '.' && self != '..'", message: "must not be '.' or '..'" },
    { rule: "self != 'all' && self != 'default'", message: "must not be 'all' or 'default' (the kernel keeps those names for net.ipv4.conf.all/default)" },
  ],
} as const satisfies KubeSchema;

// A netns is a file name under /run/netns: a path separator or ".." would let
// a spec name any file, so neither is allowed (dataplane/validate.ts agrees).
export const netnsSchema = {
  type: 'string',
  minLength: 1,
  maxLength: NETNS_NAME_MAX,
  pattern: '^[A-Za-z0-9_.-]+$',
  'x-kubernetes-validations': [{ rule: "self != '.' && self != '..'", message: "must not be '.' or '..'" }],
} as const satisfies KubeSchema;

/** Unicast MAC, colon-separated. The group bit gets a rule of its own for a message that says so. */
export const macSchema = {
  type: 'string',
  pattern: '^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$',
  maxLength: 17,
  'x-kubernetes-validations': [
    {
      rule: "self.matches('^.[02468aceACE]')",
      message: 'must be a unicast MAC address (first octet even), e.g. 02:00:00:00:00:01',
    },
    { rule: "self != '00:00:00:00:00:00'", message: 'must not be all zeros (the kernel refuses it for a device)' },
  ],
} as const satisfies KubeSchema;

/** What the dataplane's buffers carry (dataplane/validate.ts checkMtu). */
export const mtuSchema = { type: 'integer', minimum: MTU.min, maximum: MTU.max } as const satisfies KubeSchema;

/** An RFC 1123 subdomain, as Kubernetes names nodes. */
export const nodeNameSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 253,
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
} as const satisfies KubeSchema;

// Label syntax (k8s.io/apimachinery validation): a value is empty or 1-63
// alphanumerics with - _ . inside; a key is [DNS-subdomain prefix/]name, the
// name like a value but not empty.
const LABEL_NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const LABEL_VALUE_PATTERN = `^(${LABEL_NAME})?$`;
const LABEL_KEY_PATTERN = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?${LABEL_NAME}$`;
/** The one CEL rule over a label map's keys (CEL has no schema for map keys). */
export const LABEL_KEYS_RULE = `self.all(k, size(k) <= 317 && k.matches('${LABEL_KEY_PATTERN}'))`;
export const LABEL_KEY_RE = new RegExp(LABEL_KEY_PATTERN);
const labelValueSchema = { type: 'string', maxLength: 63, pattern: LABEL_VALUE_PATTERN } as const satisfies KubeSchema;

/** metav1.LabelSelector. An empty selector matches every node. */
export const labelSelectorSchema = {
  type: 'object',
  description: 'A label selector over Node objects (metav1.LabelSelector). An empty selector selects every node.',
  additionalProperties: false,
  properties: {
    matchLabels: {
      type: 'object',
      additionalProperties: labelValueSchema,
      maxProperties: 32,
      'x-kubernetes-validations': [
        { rule: LABEL_KEYS_RULE, message: 'keys must be label keys: [prefix/]name, the name 1-63 of A-Z a-z 0-9 - _ . starting and ending alphanumeric' },
      ],
    },
    matchExpressions: {
      type: 'array',
      maxItems: 32,
      'x-kubernetes-list-type': 'atomic',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['key', 'operator'],
        properties: {
          key: { type: 'string', minLength: 1, maxLength: 317, pattern: LABEL_KEY_PATTERN },
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: {
            type: 'array',
            maxItems: 64,
            'x-kubernetes-list-type': 'atomic',
            items: labelValueSchema,
          },
        },
        'x-kubernetes-validations': [
          {
            rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
            message: 'In and NotIn need values; Exists and DoesNotExist take none',
          },
        ],
      },
    },
  },
  'x-kubernetes-map-type': 'atomic',
} as const satisfies KubeSchema;

/** metav1.Condition, field for field (the API server's own limits). */
export const conditionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: {
      type: 'string',
      maxLength: 316,
      pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
      description: 'Condition type, e.g. Ready.',
    },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description: 'The .metadata.generation the condition was set from.',
    },
    lastTransitionTime: {
      type: 'string',
      format: 'date-time',
      description: 'When the status last changed.',
    },
    reason: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      description: 'A CamelCase word for programs, e.g. PortNotFound.',
    },
    message: { type: 'string', maxLength: 32768, description: 'For humans.' },
  },
} as const satisfies KubeSchema;

export const conditionsSchema = {
  type: 'array',
  description: 'Conditions, one per type (metav1.Condition).',
  maxItems: 16,
  items: conditionSchema,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
} as const satisfies KubeSchema;

export type Condition = FromKubeSchema<typeof conditionSchema>;

/** apiVersion, kind, metadata: left to the API server, as every CRD does. */
export const objectHeaderProperties = {
  apiVersion: { type: 'string', description: 'lcp.kubelcp.io/v1alpha1' },
  kind: { type: 'string' },
  metadata: { type: 'object' },
} as const;

/** What the root object's metadata is known to have once read back. */
export interface ObjectMeta {
  name?: string;
  generation?: number;
  resourceVersion?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}
