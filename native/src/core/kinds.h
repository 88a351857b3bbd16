// The kinds that cross layers, as enum classes: the port's driver, the
// mirror's device kind, the AF_PACKET ring layout, the fast-path mode.
// Strings exist only at the edges (the addon, messages): name() and parse()
// here are the one mapping.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace lcp {

enum class PortDriver : uint8_t { Auto, AfPacket, AfXdp };
// Vlan: a sub-port's VLAN device on its parent's mirror (reported, never asked for).
enum class MirrorKind : uint8_t { Auto, Tap, Tun, Vlan };
// Auto: v2 where the XDP fast path takes the port's receive, v3 where the graph forwards.
enum class RxRing : uint8_t { Auto, V2, V3 };
enum class FastPathMode : uint8_t { Auto, Off };

namespace kinds {
inline constexpr std::array<std::string_view, 3> kPortDriver{"auto", "af_packet", "af_xdp"};
inline constexpr std::array<std::string_view, 4> kMirrorKind{"", "tap", "tun", "vlan"};
inline constexpr std::array<std::string_view, 3> kRxRing{"auto", "v2", "v3"};
inline constexpr std::array<std::string_view, 2> kFastPathMode{"auto", "off"};

template <typename E> constexpr const auto& names();
template <> constexpr const auto& names<PortDriver>() { return kPortDriver; }
template <> constexpr const auto& names<MirrorKind>() { return kMirrorKind; }
template <> constexpr const auto& names<RxRing>() { return kRxRing; }
template <> constexpr const auto& names<FastPathMode>() { return kFastPathMode; }
}  // namespace kinds

template <typename E>
constexpr std::string_view name(E e) {
  return kinds::names<E>()[size_t(e)];
}

// nullopt for anything else (the caller names the field in its error).
template <typename E>
constexpr std::optional<E> parse(std::string_view s) {
  const auto& n = kinds::names<E>();
  for (size_t i = 0; i < n.size(); ++i)
    if (n[i] == s) return E(i);
  return std::nullopt;
}

}  // namespace lcp
