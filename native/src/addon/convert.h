// Validation of everything that crosses from JS: wrong types and values
// become JS exceptions with a message naming the field, never a crash.
#pragma once

#include <napi.h>

#include <array>
#include <cstdint>
#include <optional>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/kinds.h"
#include "io/packet_io.h"

namespace lcp::addon {

// Throws Napi::TypeError unless obj[key] is present with the right type.
std::string get_string(const Napi::Object& obj, const char* key, bool required = true);
std::optional<uint32_t> get_uint(const Napi::Object& obj, const char* key, uint32_t min, uint32_t max);
std::optional<bool> get_bool(const Napi::Object& obj, const char* key);
uint32_t arg_uint(const Napi::CallbackInfo& info, size_t i, const char* what, uint32_t max = 0xffffffffu);
std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* what);
Napi::Object arg_object(const Napi::CallbackInfo& info, size_t i, const char* what);

std::array<uint8_t, 6> parse_mac(const std::string& s);  // throws std::invalid_argument

// obj[key] as one of an enum's names (core/kinds.h); `fallback` when absent.
template <typename E>
E get_kind(const Napi::Object& obj, const char* key, E fallback) {
  const std::string s = get_string(obj, key, false);
  if (s.empty()) return fallback;
  if (const std::optional<E> e = parse<E>(s)) return *e;
  std::string names;
  for (std::string_view n : kinds::names<E>())
    if (!n.empty()) names += (names.empty() ? "" : ", ") + std::string(n);
  throw Napi::RangeError::New(obj.Env(), std::string(key) + " must be one of " + names + ", got '" + s + "'");
}
std::string format_mac(const std::array<uint8_t, 6>& m);

// Runs a binding's body; every native exception becomes a JS one with its
// message: io::IoError with errno and code ("ENODEV"), invalid_argument as
// a RangeError.
template <typename Fn>
Napi::Value guarded(const Napi::Env& env, Fn&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const io::IoError& e) {
    Napi::Error err = Napi::Error::New(env, e.what());
    err.Set("errno", Napi::Number::New(env, e.err()));
    const char* name = strerrorname_np(e.err());
    err.Set("code", Napi::String::New(env, name ? name : "EIO"));
    throw err;
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(env, e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace lcp::addon
