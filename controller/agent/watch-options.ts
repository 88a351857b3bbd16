// The node settings as netlink-mirror watch options. The API lists the
// protocols to mirror; the dataplane takes the ones to ignore, so the list is
// turned around. A key string tells when a running watch needs restarting.
import type { WatchOptions } from '../../dataplane/dataplane.js';
import type { NodeSettings } from './selection.js';

export function watchOptions(s: NodeSettings): WatchOptions {
  const opts: WatchOptions = { lcpSync: s.lcpSync };
  if (s.autoSubinterfaces) opts.autoSubinterfaces = true;
  if (s.tables) opts.tables = [...s.tables].sort((a, b) => a - b);
  if (s.protocols) {
    const keep = new Set(s.protocols);
    opts.ignoreProtocols = Array.from({ length: 256 }, (_, i) => i).filter((p) => !keep.has(p));
  }
  return opts;
}

export function watchKey(s: NodeSettings): string {
  return JSON.stringify(watchOptions(s));
}
