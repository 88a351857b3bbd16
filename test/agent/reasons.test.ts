// Why a pair is not Ready, as a table: an error, the phase it happened in
// and the port's driver give one condition reason, by errno code and phase,
// never by the prose of a message (except the dataplane's own refusals).
import { classify, PhaseError, type PhaseName } from '../../controller/agent/reasons.js';
import { FailureReason } from '../../controller/conditions/reasons.js';
import { HostError } from '../../dataplane/host.js';
import { ValidationError } from '../../dataplane/validate.js';

const sysError = (code: string, message = `${code} happened`): Error => Object.assign(new Error(message), { code });

describe('classify', () => {
  const cases: { error: unknown; phase: PhaseName; driver?: string; reason: FailureReason }[] = [
    { error: new HostError("netns 'x' does not exist", 'ENOENT'), phase: 'applyHostConfig', reason: FailureReason.NetnsNotFound },
    { error: sysError('ENOENT'), phase: 'ensurePort', reason: FailureReason.NetnsNotFound },
    { error: sysError('ENODEV'), phase: 'ensurePort', reason: FailureReason.PortNotFound },
    { error: sysError('EOPNOTSUPP'), phase: 'ensurePort', driver: 'af_xdp', reason: FailureReason.DriverUnavailable },
    { error: sysError('EOPNOTSUPP'), phase: 'ensurePort', driver: 'af_packet', reason: FailureReason.DataplaneError },
    { error: new Error('netdev eth1 is already a port'), phase: 'ensurePort', reason: FailureReason.PortInUse },
    { error: sysError('EEXIST'), phase: 'ensureMirror', reason: FailureReason.NameConflict },
    { error: new Error('port 3 needs a tap mirror'), phase: 'ensureMirror', reason: FailureReason.InvalidSpec },
    { error: new ValidationError('mtu: MTU must be an integer in 68..9000, got 9001'), phase: 'ensureMirror', reason: FailureReason.InvalidSpec },
    { error: sysError('EPERM'), phase: 'ensureWatch', reason: FailureReason.WatchFailed },
    { error: new HostError('add address: Permission denied', 'EIO', 'EPERM'), phase: 'applyHostConfig', reason: FailureReason.HostConfigFailed },
    { error: new PhaseError(FailureReason.PortInUse, 'port eth1 is claimed by pair p0'), phase: 'ensurePort', reason: FailureReason.PortInUse },
    { error: 'a string', phase: 'setUp', reason: FailureReason.DataplaneError },
  ];
  it.each(cases)('$phase: $error.message -> $reason', ({ error, phase, driver, reason }) => {
    const f = classify(error, phase, driver ?? 'af_packet');
    expect(f).toMatchObject({ reason, phase });
    expect(f.message.length).toBeGreaterThan(0);
  });
});
