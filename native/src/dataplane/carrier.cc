#include "dataplane/carrier.h"

#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vector>

#include "io/netns.h"
#include "linux_nl/socket.h"

namespace lcp {

struct CarrierWatch::Ns {
  linux_nl::RtSocket events, requests;
  explicit Ns(const std::string& where) : events(RTMGRP_LINK, 1u << 20, where), requests(0, 1u << 20, where) {}
};

namespace {
void for_links(const nlmsghdr* m, const std::string& netns, const CarrierWatch::Handler& fn) {
  if (m->nlmsg_type != RTM_NEWLINK || m->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
  auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(m));
  fn(netns, ifi->ifi_index, (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_LOWER_UP));
}
}  // namespace

CarrierWatch::CarrierWatch(Handler on_link)
    : on_link_(std::move(on_link)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "lcp-carrier");
}

CarrierWatch::~CarrierWatch() {
  stop_ = true;
  wake();
  thread_.join();
}

void CarrierWatch::wake() {
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void CarrierWatch::watch(const std::string& netns) {
  {
    std::lock_guard<std::mutex> g(mu_);
    ++refs_[netns];
    dump_due_[netns] = true;
  }
  wake();
}

void CarrierWatch::unwatch(const std::string& netns) {
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = refs_.find(netns);
    if (it != refs_.end() && --it->second <= 0) refs_.erase(it);
  }
  wake();
}

void CarrierWatch::run() {
  std::vector<pollfd> fds;
  std::vector<std::string> order;
  while (!stop_) {
    std::map<std::string, bool> dumps;
    {
      std::lock_guard<std::mutex> g(mu_);
      for (auto it = open_.begin(); it != open_.end();)
        it = refs_.count(it->first) ? std::next(it) : open_.erase(it);
      for (const auto& [ns, n] : refs_) {
        if (open_.count(ns)) continue;
        try {
          io::NetnsGuard in(ns);  // sockets belong to the netns they are opened in
          open_[ns] = std::make_unique<Ns>(io::netns_label(ns));
        } catch (const std::exception&) {
          errors_.fetch_add(1, std::memory_order_relaxed);  // a netns gone meanwhile: its port goes too
        }
      }
      dumps.swap(dump_due_);
    }
    for (const auto& [ns, due] : dumps) {
      auto it = open_.find(ns);
      if (!due || it == open_.end()) continue;
      bool intr = false;
      if (it->second->requests.dump(RTM_GETLINK, AF_UNSPEC, [&](const nlmsghdr* m) { for_links(m, ns, on_link_); }, intr))
        errors_.fetch_add(1, std::memory_order_relaxed);
    }
    fds.assign(1, pollfd{wake_.get(), POLLIN, 0});
    order.clear();
    for (const auto& [ns, s] : open_) {
      fds.push_back(pollfd{s->events.fd(), POLLIN, 0});
      order.push_back(ns);
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0) continue;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake_.get(), &v, sizeof v);
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLERR))) continue;
      const std::string& ns = order[i - 1];
      linux_nl::RtSocket& sock = open_[ns]->events;
      for (;;) {
        const ssize_t n = sock.recv();
        if (n == 0) break;
        if (n < 0) {  // ENOBUFS: events lost, so read the state again
          errors_.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard<std::mutex> g(mu_);
          dump_due_[ns] = true;
          if (n != -ENOBUFS) break;
          continue;
        }
        linux_nl::RtSocket::for_each(sock.data(), size_t(n), [&](const nlmsghdr* m) { for_links(m, ns, on_link_); });
      }
    }
  }
}

}  // namespace lcp
