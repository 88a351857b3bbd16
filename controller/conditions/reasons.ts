// Every condition type and reason kube-lcp writes, in one place. Reasons are
// CamelCase words that programs (kubectl wait, kstatus, alerting) match on:
// they are the API contract, so none is written as a literal elsewhere.

export const ConditionType = {
  Ready: 'Ready',
  Degraded: 'Degraded',
  Progressing: 'Progressing',
  // A pair's entry in NodeDataplane status.
  PortAttached: 'PortAttached',
  MirrorReady: 'MirrorReady',
  HostConfigApplied: 'HostConfigApplied',
  // The node itself.
  DataplaneReady: 'DataplaneReady',
  MirrorInSync: 'MirrorInSync',
  ConfigValid: 'ConfigValid',
  SettingsResolved: 'SettingsResolved',
} as const;

/** Why a pair is not Ready on a node: what only the node can know. */
export const FailureReason = {
  PortNotFound: 'PortNotFound',
  NetnsNotFound: 'NetnsNotFound',
  NameConflict: 'NameConflict',
  PortInUse: 'PortInUse',
  DriverUnavailable: 'DriverUnavailable',
  InvalidSpec: 'InvalidSpec',
  HostConfigFailed: 'HostConfigFailed',
  WatchFailed: 'WatchFailed',
  DataplaneError: 'DataplaneError',
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];

/** A pair's entry on a node, while it is not failing. */
export const PairReason = {
  Pending: 'Pending',
  Attached: 'Attached',
  WaitingForPort: 'WaitingForPort',
  Adopted: 'Adopted',
  Created: 'Created',
  WaitingForMirror: 'WaitingForMirror',
  Applied: 'Applied',
  Reconciling: 'Reconciling',
  Ready: 'Ready',
} as const;

/** The node's own conditions in NodeDataplane status. */
export const NodeReason = {
  NotRunning: 'NotRunning',
  RestartPending: 'RestartPending',
  Running: 'Running',
  NetnsGone: 'NetnsGone',
  Syncing: 'Syncing',
  Drift: 'Drift',
  UnsupportedRoutes: 'UnsupportedRoutes',
  NothingToMirror: 'NothingToMirror',
  Synced: 'Synced',
  Invalid: 'Invalid',
  Loaded: 'Loaded',
  Conflict: 'Conflict',
  DefaultNetnsNotFound: 'DefaultNetnsNotFound',
  SettingsRefused: 'SettingsRefused',
  Resolved: 'Resolved',
  Defaults: 'Defaults',
  DataplaneNotReady: 'DataplaneNotReady',
  Starting: 'Starting',
  PairsNotReady: 'PairsNotReady',
  NoPairs: 'NoPairs',
  AllPairsReady: 'AllPairsReady',
  ConfigInvalid: 'ConfigInvalid',
  SettingsConflict: 'SettingsConflict',
  PairsFailed: 'PairsFailed',
  AsExpected: 'AsExpected',
} as const;

/** An InterfacePair's status across the nodes it selects (the cluster controller). */
export const ClusterReason = {
  NoMatchingNodes: 'NoMatchingNodes',
  AllNodesReady: 'AllNodesReady',
  PartiallyReady: 'PartiallyReady',
  NodesProgressing: 'NodesProgressing',
  Converged: 'Converged',
  SomeNodesFailed: 'SomeNodesFailed',
  NodeAgentMissing: 'NodeAgentMissing',
  StaleNodeStatus: 'StaleNodeStatus',
  NoFailures: 'NoFailures',
} as const;
export type StaleReason = typeof ClusterReason.NodeAgentMissing | typeof ClusterReason.StaleNodeStatus;
