#include "addon/convert.h"

#include <cstdio>
#include <stdexcept>

namespace lcp::addon {

std::string get_string(const Napi::Object& obj, const char* key, bool required) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) throw Napi::TypeError::New(obj.Env(), std::string(key) + " is required");
    return "";
  }
  if (!v.IsString()) throw Napi::TypeError::New(obj.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::optional<uint32_t> get_uint(const Napi::Object& obj, const char* key, uint32_t min, uint32_t max) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsNumber()) throw Napi::TypeError::New(obj.Env(), std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != double(int64_t(d)) || d < min || d > max)
    throw Napi::RangeError::New(obj.Env(), std::string(key) + " must be an integer in " +
                                               std::to_string(min) + ".." + std::to_string(max));
  return uint32_t(d);
}

std::optional<bool> get_bool(const Napi::Object& obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsBoolean()) throw Napi::TypeError::New(obj.Env(), std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

uint32_t arg_uint(const Napi::CallbackInfo& info, size_t i, const char* what, uint32_t max) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != double(int64_t(d)) || d < 0 || d > max)
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be an integer in 0.." + std::to_string(max));
  return uint32_t(d);
}

std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Object arg_object(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsObject())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an object");
  return info[i].As<Napi::Object>();
}

std::array<uint8_t, 6> parse_mac(const std::string& s) {
  std::array<uint8_t, 6> m{};
  unsigned v[6];
  char tail;
  if (s.size() != 17 ||
      std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
    throw std::invalid_argument("invalid MAC address '" + s + "' (want xx:xx:xx:xx:xx:xx)");
  for (int i = 0; i < 6; ++i) m[i] = uint8_t(v[i]);
  return m;
}

std::string format_mac(const std::array<uint8_t, 6>& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

}  // namespace lcp::addon
