// Why a pair is not Ready, as a condition reason: what only the node can know.
// Errors from the dataplane and the host (netlink) are classified by the
// phase they happened in and their errno code, never by parsing prose.
import { ValidationError } from '../../dataplane/validate.js';

export type FailureReason =
  | 'PortNotFound'
  | 'NetnsNotFound'
  | 'NameConflict'
  | 'PortInUse'
  | 'DriverUnavailable'
  | 'InvalidSpec'
  | 'HostConfigFailed'
  | 'WatchFailed'
  | 'DataplaneError';

export type PhaseName = 'ensurePort' | 'ensureMirror' | 'ensureWatch' | 'applyHostConfig' | 'setUp' | 'release';

export interface Failure {
  reason: FailureReason;
  message: string;
  phase: PhaseName;
}

/** Condition messages and lastError are bounded (the schema allows 1024; logs stay readable). */
export const MAX_MESSAGE = 512;

export function bounded(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= MAX_MESSAGE ? oneLine : `${oneLine.slice(0, MAX_MESSAGE - 3)}...`;
}

/** A failure a phase names itself (e.g. a conflict it detected). */
export class PhaseError extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'PhaseError';
  }
}

function codeOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

export function classify(e: unknown, phase: PhaseName, driver: string): Failure {
  const message = bounded(e instanceof Error ? e.message : String(e));
  const at = (reason: FailureReason): Failure => ({ reason, message, phase });
  if (e instanceof PhaseError) return at(e.reason);
  if (e instanceof ValidationError) return at('InvalidSpec');
  const code = codeOf(e);
  if (code === 'ENOENT') return at('NetnsNotFound');
  switch (phase) {
    case 'ensurePort':
      if (code === 'ENODEV') return at('PortNotFound');
      // An AF_XDP socket the kernel or the NIC refuses: the netdev is there, the driver is not.
      if (driver === 'af_xdp' && code !== undefined) return at('DriverUnavailable');
      if (/already a port/.test(message)) return at('PortInUse');
      return at('DataplaneError');
    case 'ensureMirror':
      if (code === 'EEXIST' || /already pairs port/.test(message)) return at('NameConflict');
      // The dataplane refuses a tap on a point-to-point port and the reverse.
      if (/needs a (tap|tun) mirror|mirror kind/.test(message)) return at('InvalidSpec');
      return at('DataplaneError');
    case 'ensureWatch':
      return at('WatchFailed');
    case 'applyHostConfig':
      return at('HostConfigFailed');
    default:
      return at('DataplaneError');
  }
}
