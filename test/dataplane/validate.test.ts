// The facade's own checks (the agent's last word before the kernel): what the
// kernel would refuse is refused here first, naming the field.
import { checkIfName, checkMac, checkMtu, ValidationError } from '../../dataplane/validate.js';

describe('dataplane input checks', () => {
  it.each([
    ['all', /reserved by the kernel/],
    ['default', /reserved by the kernel/],
    ['..', /not a valid interface name/],
    ['abcdefghijklmnop', /not a valid interface name \(1-15/],
    ['e/1', /not a valid interface name/],
  ])('refuses the device name %s', (name, message) => {
    expect(() => checkIfName('mirror.name', name)).toThrow(ValidationError);
    expect(() => checkIfName('mirror.name', name)).toThrow(message);
  });

  it('accepts ordinary device names', () => {
    expect(checkIfName('mirror.name', 'eth1.100')).toBe('eth1.100');
    expect(checkIfName('mirror.name', 'allow')).toBe('allow');
  });

  it('refuses multicast and all-zero MACs, and lower-cases the rest', () => {
    expect(() => checkMac('mac', '01:00:5e:00:00:01')).toThrow(/multicast/);
    expect(() => checkMac('mac', '00:00:00:00:00:00')).toThrow(/all zeros/);
    expect(checkMac('mac', '02:AB:00:00:00:01')).toBe('02:ab:00:00:00:01');
  });

  it('takes MTUs in the range of dataplane/limits.ts only', () => {
    expect(checkMtu('mtu', 68)).toBe(68);
    expect(checkMtu('mtu', 9000)).toBe(9000);
    expect(() => checkMtu('mtu', 67)).toThrow(/68\.\.9000/);
    expect(() => checkMtu('mtu', 9001)).toThrow(/68\.\.9000/);
  });
});
