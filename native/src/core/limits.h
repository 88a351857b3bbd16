// Every limit the dataplane enforces, defined once for C++. dataplane/limits.ts
// defines the same for TypeScript (and the CRD schemas); the addon exports
// these as `limits` and test/dataplane/limits.test.ts holds the two equal.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lcp::limits {

inline constexpr uint32_t kMtuMin = 68;     // IPv4's minimum (RFC 791)
inline constexpr uint32_t kMtuMax = 9000;   // what the dataplane's buffers carry
inline constexpr size_t kIfNameMax = 15;    // IFNAMSIZ with the NUL is 16
inline constexpr size_t kNetnsNameMax = 64; // a file name under /run/netns
inline constexpr uint16_t kVlanMin = 1;     // 0 is untagged
inline constexpr uint16_t kVlanMax = 4094;  // 4095 is reserved

}  // namespace lcp::limits
