// `--metrics-bind-address HOST:PORT`, or "0" for no listener (the same
// convention as controller-runtime's --metrics-bind-address). IPv6 as
// [addr]:port, or bare (the port is what follows the last colon), so a
// downward-API `$(NODE_IP):9741` works for either family.
import { isIP } from 'node:net';

export interface BindAddress {
  host: string;
  port: number;
}

/** The default: loopback only. The DaemonSet runs with host networking, where 0.0.0.0 would mean every address of the node, mirrors included (docs/metrics.md). */
export const DEFAULT_METRICS_BIND_ADDRESS = '127.0.0.1:9741';

/** The controller's default: loopback too on a box; its Deployment (pod network) binds :9742. */
export const DEFAULT_CONTROLLER_METRICS_BIND_ADDRESS = '127.0.0.1:9742';

/** Parses HOST:PORT; "0" gives undefined (disabled). Throws with a message naming the value. */
export function parseBindAddress(v: string): BindAddress | undefined {
  if (v === '0') return undefined;
  const bad = (why: string): Error => new Error(`metrics bind address '${v}': ${why} (HOST:PORT, [IPv6]:PORT, or 0 to disable)`);
  const colon = v.lastIndexOf(':');
  if (colon < 0) throw bad('no port');
  let host = v.slice(0, colon);
  const portText = v.slice(colon + 1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') host = '0.0.0.0';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw bad('port must be 0..65535');
  if (isIP(host) === 0 && host !== 'localhost') throw bad('host must be an IP address');
  return { host, port: Number(portText) };
}
