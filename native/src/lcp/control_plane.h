// The native control-plane owner: which netns are followed by a netlink sync
// (one linux_nl::Watcher each), with what options, and the checks that compare
// them with the kernel. The addon holds one of these next to the Dataplane and
// only marshals its calls; policy decisions live here and below (linux_nl/).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/dataplane.h"
#include "linux_nl/drift.h"
#include "linux_nl/watcher.h"

namespace lcp {

class ControlPlane {
 public:
  explicit ControlPlane(Dataplane& dp) : dp_(dp) {}
  // Destruction stops every sync, withdrawing nothing (each Watcher's own destructor).
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Starts following opts.netns; throws if it is followed already or cannot be entered.
  void watch(linux_nl::WatchOptions opts);
  // Stops following `netns` (`withdraw`: first removes what its sync installed).
  // False when it was not followed.
  bool unwatch(const std::string& netns, bool withdraw);
  std::vector<linux_nl::WatchStatus> statuses() const;
  // Changes a port; with lcp-sync on in its mirror's netns, the admin state
  // and MTU set here are pushed to the mirror too.
  void set_port(uint32_t port, const PortPatch& patch);
  // The kernel's tables of `netns` against the dataplane's, now, on this thread.
  linux_nl::DriftReport drift(const std::string& netns, size_t max_samples);
  // What a drift check of `netns` compares with (a copy: the check may run on
  // another thread, and the watch may end meanwhile).
  linux_nl::MirrorOptions mirror_options(const std::string& netns) const;

 private:
  Dataplane& dp_;
  std::map<std::string, std::unique_ptr<linux_nl::Watcher>> watchers_;
};

}  // namespace lcp
