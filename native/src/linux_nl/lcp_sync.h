// lcp-sync: state set on the dataplane side (port admin state, MTU) pushed to
// the port's mirror in Linux. No feedback loop: the kernel's resulting link
// event comes back to the watcher, which applies only differences to the
// port, and there are none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace lcp::linux_nl {

void push_to_mirror(const std::string& netns, const std::string& mirror, std::optional<bool> up,
                    std::optional<uint16_t> mtu);

}  // namespace lcp::linux_nl
