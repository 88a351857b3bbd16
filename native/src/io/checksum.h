// Finishing checksums the kernel left for "hardware" to fill in
// (CHECKSUM_PARTIAL): on veth and TAP, locally generated TCP/UDP carries only
// the pseudo-header sum in its checksum field. Before such a packet leaves by
// a port it must be complete, so the I/O layer finishes it on receive.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lcp::io {

// Internet checksum over [start, len) of pkt, including the value already in
// the field at start+offset, stored complemented at start+offset. This is what
// virtio's NEEDS_CSUM (csum_start, csum_offset) asks for.
bool finish_partial_csum(uint8_t* pkt, size_t len, size_t start, size_t offset);

// Same, but find the L4 header by parsing: Ethernet (with up to one VLAN tag)
// when l2 is true, else a bare IPv4/IPv6 packet. TCP and UDP only. Returns
// false when the packet is not something it can finish (left untouched).
bool finish_partial_csum_parsed(uint8_t* pkt, size_t len, bool l2);

// For paths that do not say whether a checksum is partial (AF_XDP on veth
// hands over CHECKSUM_PARTIAL skbs as-is): finish TCP/UDP checksums whose
// field equals the folded pseudo-header sum. Cheap (no payload read) for
// packets that do not match. Returns true if it finished one.
bool finish_if_partial_csum(uint8_t* pkt, size_t len, bool l2);

}  // namespace lcp::io
