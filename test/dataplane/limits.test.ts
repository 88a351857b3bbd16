// Each limit is written once per language (dataplane/limits.ts,
// native/src/core/limits.h); the addon exports the native ones, and here the
// two must agree, or the API would admit what the dataplane refuses.
import { IFNAME_MAX, MTU, NETNS_NAME_MAX, VLAN } from '../../dataplane/limits.js';
import { addon } from '../../dataplane/native.js';

describe('limits', () => {
  it('are the same in TypeScript and in the native dataplane', () => {
    expect(addon.limits).toEqual({ mtu: MTU, ifNameMax: IFNAME_MAX, netnsNameMax: NETNS_NAME_MAX, vlan: VLAN });
  });
});
