#include "lcp/control_plane.h"

#include <stdexcept>

#include "io/netns.h"
#include "linux_nl/lcp_sync.h"

namespace lcp {

void ControlPlane::watch(linux_nl::WatchOptions opts) {
  if (watchers_.count(opts.netns)) throw std::runtime_error(io::netns_label(opts.netns) + " is already watched");
  const std::string netns = opts.netns;
  watchers_.emplace(netns, std::make_unique<linux_nl::Watcher>(dp_, std::move(opts)));
}

bool ControlPlane::unwatch(const std::string& netns, bool withdraw) {
  auto it = watchers_.find(netns);
  if (it == watchers_.end()) return false;
  it->second->stop(withdraw);
  watchers_.erase(it);
  return true;
}

std::vector<linux_nl::WatchStatus> ControlPlane::statuses() const {
  std::vector<linux_nl::WatchStatus> out;
  out.reserve(watchers_.size());
  for (const auto& [netns, w] : watchers_) out.push_back(w->status());
  return out;
}

void ControlPlane::set_port(uint32_t port, const PortPatch& patch) {
  dp_.set_port(port, patch);
  if (!patch.up && !patch.mtu) return;
  const std::optional<PortView> v = dp_.port(port);
  if (!v || !v->has_pair) return;
  auto w = watchers_.find(v->mirror_netns);
  if (w != watchers_.end() && w->second->options().lcp_sync)
    linux_nl::push_to_mirror(v->mirror_netns, v->mirror_name, patch.up, patch.mtu);
}

linux_nl::DriftReport ControlPlane::drift(const std::string& netns, size_t max_samples) {
  return linux_nl::check_drift(dp_, netns, mirror_options(netns), max_samples);
}

linux_nl::MirrorOptions ControlPlane::mirror_options(const std::string& netns) const {
  auto it = watchers_.find(netns);
  if (it == watchers_.end()) throw std::runtime_error(io::netns_label(netns) + " is not watched");
  return it->second->options().mirror;
}

}  // namespace lcp
