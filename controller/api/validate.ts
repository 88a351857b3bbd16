// Validation of our kinds inside the agent. The API server validates what it
// stores, but the standalone file reaches the agent without it, and an agent
// must not trust its input anyway: a netns or device name is a path and a
// kernel object. So every object is checked against the same schema constants
// the CRDs are made of, CEL rules included (each has its TypeScript twin
// below, looked up by its exact text, so a rule without one cannot slip by),
// and then through dataplane/validate.ts, the checks the dataplane applies.
import { checkCidr, checkIfName, checkMac, checkMtu, checkNetns, ValidationError } from '../../dataplane/validate.js';
import { GROUP_VERSION, LABEL_KEY_RE, LABEL_KEYS_RULE, nodeNameSchema, type KubeSchema } from './kube-schema.js';
import { interfacePairSchema, type InterfacePair } from './interface-pair.js';
import { linuxControlPlaneSchema, type LinuxControlPlane } from './linux-control-plane.js';
import { nodeDataplaneSchema, type NodeDataplane } from './node-dataplane.js';

export { ValidationError };

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: Json, k: string): boolean => isObject(o) && o[k] !== undefined;


/** CEL rule text → the same predicate in TypeScript. Transition rules (oldSelf) are the API server's alone. */
const celTwins: Record<string, (self: Json) => boolean> = {
  "self != '.' && self != '..'": (s) => s !== '.' && s !== '..',
  "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0":
    (s) => {
      const values = isObject(s) && Array.isArray(s.values) ? s.values.length : 0;
      return isObject(s) && (s.operator === 'In' || s.operator === 'NotIn') ? values > 0 : values === 0;
    },
  "!(has(self.mac) && has(self.kind) && self.kind == 'tun')": (s) => !(has(s, 'mac') && isObject(s) && s.kind === 'tun'),
  'isCIDR(self)': (s) => {
    try {
      checkCidr('', String(s), true);
      return true;
    } catch {
      return false;
    }
  },
  "self.matches('^.[02468aceACE]')": (s) => typeof s === 'string' && /^.[02468aceACE]/.test(s),
  '!isCIDR(self) || !cidr(self).ip().isUnspecified()': (s) => {
    const addr = String(s).split('/')[0]!.toLowerCase();
    return !(/^0+(\.0+){3}$/.test(addr) || (addr.includes(':') && /^[0:]+$/.test(addr)));
  },
  "self != 'all' && self != 'default'": (s) => s !== 'all' && s !== 'default',
  "self != '00:00:00:00:00:00'": (s) => s !== '00:00:00:00:00:00',
  [LABEL_KEYS_RULE]: (s) => isObject(s) && Object.keys(s).every((k) => k.length <= 317 && LABEL_KEY_RE.test(k)),
  'has(self.nodeName) != has(self.nodeSelector)': (s) => has(s, 'nodeName') !== has(s, 'nodeSelector'),
};

/** Whether the agent can check a CEL rule itself (transition rules are the API server's alone). */
export function hasCelTwin(rule: string): boolean {
  return /\boldSelf\b/.test(rule) || Object.hasOwn(celTwins, rule);
}

const isSchemaList = (s: KubeSchema | readonly KubeSchema[]): s is readonly KubeSchema[] => Array.isArray(s);

/** The same words as a rule's CEL messageExpression, where it has one. */
const celMessageTwins: Record<string, (self: Json) => string> = {
  'isCIDR(self)': (s) => `'${String(s)}' is not an address with a prefix length, e.g. 10.0.0.1/24`,
};

function fail(path: string, message: string): never {
  throw new ValidationError(`${path || '<root>'}: ${message}`);
}

function checkRules(schema: KubeSchema, value: Json, path: string): void {
  if (typeof schema !== 'object') return;
  for (const r of schema['x-kubernetes-validations'] ?? []) {
    if (/\boldSelf\b/.test(r.rule)) continue;
    const twin = Object.hasOwn(celTwins, r.rule) ? celTwins[r.rule] : undefined;
    if (!twin) fail(path, `no TypeScript twin for CEL rule "${r.rule}" (add one to controller/api/validate.ts)`);
    if (twin(value)) continue;
    const message = r.message ?? celMessageTwins[r.rule]?.(value) ?? `'${String(value)}' fails "${r.rule}"`;
    fail(path + (r.fieldPath ?? ''), message);
  }
}

/** Checks a value against the structural-schema subset our constants use. */
export function checkSchema(schema: KubeSchema, value: Json, path = ''): void {
  if (typeof schema !== 'object') return;
  const allowed: readonly unknown[] | undefined = Array.isArray(schema.enum) ? schema.enum : undefined;
  if (allowed && !allowed.includes(value))
    fail(path, `must be one of ${allowed.map((e) => JSON.stringify(e)).join(', ')}, got ${JSON.stringify(value)}`);
  switch (schema.type) {
    case 'object': {
      if (!isObject(value)) fail(path, 'must be an object');
      const props = schema.properties ?? {};
      // A key whose value is undefined is absent, as it would be in JSON.
      for (const k of schema.required ?? []) if (value[k] === undefined) fail(path ? `${path}.${k}` : k, 'is required');
      if (schema.maxProperties !== undefined && Object.keys(value).length > schema.maxProperties)
        fail(path, `at most ${schema.maxProperties} entries`);
      for (const [k, v] of Object.entries(value)) {
        // hasOwn: a key such as "constructor" must not find Object.prototype's.
        const sub = Object.hasOwn(props, k) ? props[k] : typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
        const at = path ? `${path}.${k}` : k;
        if (v === undefined) continue;
        // Unknown fields are an error (the API server would drop them silently; a file author wants to know).
        if (sub === undefined) {
          if (schema.properties !== undefined || schema.additionalProperties === false) fail(at, 'unknown field');
          continue;
        }
        checkSchema(sub, v, at);
      }
      break;
    }
    case 'array': {
      if (!Array.isArray(value)) fail(path, 'must be a list');
      if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(path, `at most ${schema.maxItems} items`);
      const items = schema.items;
      if (items !== undefined && !isSchemaList(items)) value.forEach((v, i) => checkSchema(items, v, `${path}[${i}]`));
      const listType = schema['x-kubernetes-list-type'];
      const keys = schema['x-kubernetes-list-map-keys'] ?? [];
      if (listType === 'set' || listType === 'map') {
        const seen = new Set<string>();
        for (const v of value) {
          const id = JSON.stringify(listType === 'set' ? v : keys.map((k) => (isObject(v) ? v[k] : undefined)));
          if (seen.has(id)) fail(path, `duplicate entry ${id}`);
          seen.add(id);
        }
      }
      break;
    }
    case 'string':
      if (typeof value !== 'string') fail(path, 'must be a string');
      if (schema.minLength !== undefined && value.length < schema.minLength) fail(path, `must have at least ${schema.minLength} characters`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) fail(path, `must have at most ${schema.maxLength} characters`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) fail(path, `'${value}' must match ${schema.pattern}`);
      if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) fail(path, `'${value}' is not a date-time`);
      break;
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || (schema.type === 'integer' && !Number.isInteger(value))) fail(path, `must be an ${schema.type}`);
      if (schema.minimum !== undefined && value < schema.minimum) fail(path, `must be >= ${schema.minimum}, got ${value}`);
      if (schema.maximum !== undefined && value > schema.maximum) fail(path, `must be <= ${schema.maximum}, got ${value}`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') fail(path, 'must be true or false');
      break;
  }
  checkRules(schema, value, path);
}

function checkHeader(value: Json, kind: string): void {
  if (!isObject(value)) fail('', 'must be an object');
  if (value.apiVersion !== GROUP_VERSION) fail('apiVersion', `must be ${GROUP_VERSION}`);
  if (value.kind !== kind) fail('kind', `must be ${kind}`);
  const meta = value.metadata;
  if (!isObject(meta)) fail('metadata', 'is required');
  checkSchema(nodeNameSchema, meta.name, 'metadata.name');
}

export function parseInterfacePair(value: Json): InterfacePair {
  checkHeader(value, 'InterfacePair');
  checkSchema(interfacePairSchema, value);
  const pair = value as InterfacePair; // checked against its schema just above
  const { port, mirror, hostConfig } = pair.spec;
  // The dataplane's own checks, so the two layers can never disagree silently.
  checkIfName('spec.port.name', port.name);
  checkNetns('spec.port.netns', port.netns);
  checkIfName('spec.mirror.name', mirror.name);
  checkNetns('spec.mirror.netns', mirror.netns);
  if (mirror.mtu !== undefined) checkMtu('spec.mirror.mtu', mirror.mtu);
  if (mirror.mac !== undefined) checkMac('spec.mirror.mac', mirror.mac);
  hostConfig?.addresses?.forEach((a, i) => checkCidr(`spec.hostConfig.addresses[${i}]`, a, true));
  return pair;
}

export function parseLinuxControlPlane(value: Json): LinuxControlPlane {
  checkHeader(value, 'LinuxControlPlane');
  checkSchema(linuxControlPlaneSchema, value);
  const lcp = value as LinuxControlPlane; // checked against its schema just above
  checkNetns('spec.defaultNetns', lcp.spec.defaultNetns);
  return lcp;
}

export function parseNodeDataplane(value: Json): NodeDataplane {
  checkHeader(value, 'NodeDataplane');
  checkSchema(nodeDataplaneSchema, value);
  return value as NodeDataplane; // checked against its schema just above
}
