// The drift check: does the dataplane hold what the kernel of a watched netns
// says it should? Dumps the netns afresh (its own socket, not the watcher's
// state), translates the dump with the same rules (a fresh MirrorState), and
// compares with the FIB's routes and neighbours on that netns's mirrors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/dataplane.h"
#include "linux_nl/state.h"

namespace lcp::linux_nl {

struct DriftCounts {
  uint64_t kernel = 0, dataplane = 0, missing = 0, extra = 0, different = 0;
};

struct DriftReport {
  DriftCounts routes, neighbors;
  // Kernel routes the dataplane cannot forward as Linux would (an encap, an
  // MPLS via...): in the kernel's count, never in the dataplane's, so they
  // show as drift rather than pass unseen. One sample names each kind.
  uint64_t unsupported = 0;
  std::vector<std::string> samples;  // at most max_samples, e.g. "missing route 0:10.9.0.0/24"
};

// Runs on the calling thread (enters the netns with a NetnsGuard for the dump).
// Dataplane routes count as this netns's when every path leaves through one
// of its mirrors' ports, or when they are drops in a table it maps to.
DriftReport check_drift(Dataplane& dp, const std::string& netns, const MirrorOptions& opts, size_t max_samples);

}  // namespace lcp::linux_nl
