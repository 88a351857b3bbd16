// The native tests' one assertion: prints "ok"/"FAIL" per check and counts,
// so each binary ends with "N passed, M failed" (what the jest wrappers read).
#pragma once

#include <cstdio>
#include <string>

namespace lcp::test {

inline int g_passed = 0, g_failed = 0;

inline void check(bool ok, const std::string& name, const std::string& detail = "") {
  if (ok) {
    ++g_passed;
    std::printf("ok   %s\n", name.c_str());
  } else {
    ++g_failed;
    std::printf("FAIL %s%s%s\n", name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  }
}

}  // namespace lcp::test
