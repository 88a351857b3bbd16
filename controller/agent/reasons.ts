// Why a pair is not Ready, as a condition reason: what only the node can know.
// Errors from the dataplane and the host (netlink) are classified by the
// phase they happened in and their errno code, never by parsing prose.
import { ValidationError } from '../../dataplane/validate.js';
import { bounded } from '../conditions/conditions.js';
import { FailureReason } from '../conditions/reasons.js';

export type PhaseName = 'ensurePort' | 'ensureMirror' | 'ensureWatch' | 'applyHostConfig' | 'setUp' | 'release';

export interface Failure {
  reason: FailureReason;
  message: string;
  phase: PhaseName;
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
  if (e instanceof ValidationError) return at(FailureReason.InvalidSpec);
  const code = codeOf(e);
  if (code === 'ENOENT') return at(FailureReason.NetnsNotFound);
  switch (phase) {
    case 'ensurePort':
      if (code === 'ENODEV') return at(FailureReason.PortNotFound);
      // An AF_XDP socket the kernel or the NIC refuses: the netdev is there, the driver is not.
      if (driver === 'af_xdp' && code !== undefined) return at(FailureReason.DriverUnavailable);
      if (/already a port/.test(message)) return at(FailureReason.PortInUse);
      return at(FailureReason.DataplaneError);
    case 'ensureMirror':
      if (code === 'EEXIST' || /already pairs port/.test(message)) return at(FailureReason.NameConflict);
      // The dataplane refuses a tap on a point-to-point port and the reverse.
      if (/needs a (tap|tun) mirror|mirror kind/.test(message)) return at(FailureReason.InvalidSpec);
      return at(FailureReason.DataplaneError);
    case 'ensureWatch':
      return at(FailureReason.WatchFailed);
    case 'applyHostConfig':
      return at(FailureReason.HostConfigFailed);
    default:
      return at(FailureReason.DataplaneError);
  }
}
