// Every limit the API schema, the agent and the dataplane enforce, defined
// once for TypeScript (the CRD schemas are generated from these too).
// native/src/core/limits.h defines the same for C++; the addon exports its
// values and test/dataplane/limits.test.ts holds the two equal.

/** What the dataplane's buffers carry; 68 is IPv4's minimum (RFC 791). */
export const MTU = { min: 68, max: 9000 } as const;
/** Linux IFNAMSIZ is 16 with the NUL. */
export const IFNAME_MAX = 15;
/** A netns name is a file name under /run/netns. */
export const NETNS_NAME_MAX = 64;
/** 802.1Q VLAN ids: 0 means untagged, 4095 is reserved. */
export const VLAN = { min: 1, max: 4094 } as const;
