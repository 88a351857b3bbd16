// Error formatting shared by the whole I/O layer.
#include "io/packet_io.h"

#include <cstring>

namespace lcp::io {

IoError make_error(const std::string& what, const std::string& object, int err) {
  std::string msg = what;
  if (!object.empty()) msg += ": " + object;
  msg += ": ";
  msg += std::strerror(err);
  return IoError(msg, err);
}

}  // namespace lcp::io
