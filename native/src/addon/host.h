// The `host` object of the addon: lcp::host bound for JS (synchronous, each a
// netlink round trip or two in the named netns).
#pragma once

#include <napi.h>

namespace lcp::addon {

Napi::Object host_object(Napi::Env env);

}  // namespace lcp::addon
