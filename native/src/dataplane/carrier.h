// Port carrier onto the mirror: a port's netdev losing carrier (cable, peer
// down) turns its mirror NO-CARRIER (TUNSETCARRIER), and back, so BGP's and
// BFD's "check link", OSPF and the kernel's own nexthop flush react in Linux
// as on a real interface. One thread follows RTM_NEWLINK in every netns that
// holds a port (a notification and a request socket each, opened there).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "io/fd.h"

namespace lcp {

class CarrierWatch {
 public:
  // Called on the watch's thread for every link of a watched netns, on each
  // event and after each dump: (netns, ifindex, carrier = IFF_UP && IFF_LOWER_UP).
  using Handler = std::function<void(const std::string& netns, int ifindex, bool carrier)>;
  explicit CarrierWatch(Handler on_link);
  ~CarrierWatch();
  CarrierWatch(const CarrierWatch&) = delete;
  CarrierWatch& operator=(const CarrierWatch&) = delete;

  // Reference-counted per netns; watch() also asks for a dump there, so a
  // port added to a watched netns gets its current state. Never blocks.
  void watch(const std::string& netns);
  void unwatch(const std::string& netns);
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  struct Ns;
  void run();
  void wake();

  Handler on_link_;
  std::mutex mu_;
  std::map<std::string, int> refs_;       // wanted netns -> ports in it (under mu_)
  std::map<std::string, bool> dump_due_;  // under mu_
  std::map<std::string, std::unique_ptr<Ns>> open_;  // the thread's own
  io::UniqueFd wake_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> errors_{0};
  std::thread thread_;
};

}  // namespace lcp
