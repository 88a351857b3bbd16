#include "addon/host.h"

#include <net/if.h>

#include "addon/convert.h"
#include "lcp/host.h"

namespace lcp::addon {

namespace {

std::string str(const Napi::CallbackInfo& info, size_t i, const char* what) { return arg_string(info, i, what); }

Napi::Object link_object(Napi::Env env, const io::LinkDetails& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", l.info.ifindex);
  o.Set("name", l.name);
  o.Set("mtu", l.info.mtu);
  o.Set("mac", l.info.p2p ? std::string() : format_mac(l.info.mac));  // as `ip` shows a TUN: none
  o.Set("adminUp", (l.flags & IFF_UP) != 0);
  o.Set("alias", l.alias);
  o.Set("kind", l.kind);
  return o;
}

using Body = Napi::Value (*)(const Napi::CallbackInfo&);

template <Body body>
Napi::Value bind(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value { return body(info); });
}

// (netns, name) -> undefined: the common shape of a change.
template <void (*change)(const std::string&, const std::string&)>
Napi::Value on_link(const Napi::CallbackInfo& info) {
  change(str(info, 0, "netns"), str(info, 1, "name"));
  return info.Env().Undefined();
}

Napi::Value netns_exists(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), host::netns_exists(str(info, 0, "netns")));
}

Napi::Value links(const Napi::CallbackInfo& info) {
  const auto all = host::links(str(info, 0, "netns"));
  Napi::Array a = Napi::Array::New(info.Env(), all.size());
  for (size_t i = 0; i < all.size(); ++i) a.Set(uint32_t(i), link_object(info.Env(), all[i]));
  return a;
}

// link(netns, name): the link with its IPv6 addr_gen_mode and disable_ipv6, or undefined.
Napi::Value link(const Napi::CallbackInfo& info) {
  const auto s = host::link(str(info, 0, "netns"), str(info, 1, "name"));
  if (!s) return info.Env().Undefined();
  Napi::Object o = link_object(info.Env(), s->link);
  o.Set("addrGenMode", host::addr_gen_mode_name(s->addr_gen_mode));
  o.Set("disableIpv6", s->disable_ipv6);
  return o;
}

Napi::Value addresses(const Napi::CallbackInfo& info) {
  const auto all = host::addresses(str(info, 0, "netns"), str(info, 1, "name"));
  Napi::Array a = Napi::Array::New(info.Env(), all.size());
  for (size_t i = 0; i < all.size(); ++i) a.Set(uint32_t(i), all[i]);
  return a;
}

Napi::Value add_address(const Napi::CallbackInfo& info) {
  host::add_address(str(info, 0, "netns"), str(info, 1, "name"), str(info, 2, "address"));
  return info.Env().Undefined();
}

Napi::Value delete_address(const Napi::CallbackInfo& info) {
  host::delete_address(str(info, 0, "netns"), str(info, 1, "name"), str(info, 2, "address"));
  return info.Env().Undefined();
}

Napi::Value set_mtu(const Napi::CallbackInfo& info) {
  host::set_mtu(str(info, 0, "netns"), str(info, 1, "name"), arg_uint(info, 2, "mtu"));
  return info.Env().Undefined();
}

Napi::Value set_mac(const Napi::CallbackInfo& info) {
  host::set_mac(str(info, 0, "netns"), str(info, 1, "name"), parse_mac(str(info, 2, "mac")));
  return info.Env().Undefined();
}

void set_up(const std::string& netns, const std::string& name) { host::set_up(netns, name); }
void delete_link(const std::string& netns, const std::string& name) { host::delete_link(netns, name); }

Napi::Value set_addr_gen_mode(const Napi::CallbackInfo& info) {
  host::set_addr_gen_mode(str(info, 0, "netns"), str(info, 1, "name"), str(info, 2, "mode"));
  return info.Env().Undefined();
}

Napi::Value set_ipv6_disabled(const Napi::CallbackInfo& info) {
  if (info.Length() < 3 || !info[2].IsBoolean()) throw Napi::TypeError::New(info.Env(), "disabled must be a boolean");
  host::set_ipv6_disabled(str(info, 0, "netns"), str(info, 1, "name"), info[2].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value remove_stale_guard(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), host::remove_stale_guard(str(info, 0, "netns"), str(info, 1, "name")));
}

}  // namespace

Napi::Object host_object(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  auto fn = [&](const char* name, Napi::Function::Callback cb) { o.Set(name, Napi::Function::New(env, cb, name)); };
  fn("netnsExists", bind<netns_exists>);
  fn("links", bind<links>);
  fn("link", bind<link>);
  fn("addresses", bind<addresses>);
  fn("addAddress", bind<add_address>);
  fn("deleteAddress", bind<delete_address>);
  fn("setMtu", bind<set_mtu>);
  fn("setMac", bind<set_mac>);
  fn("setUp", bind<on_link<set_up>>);
  fn("deleteLink", bind<on_link<delete_link>>);
  fn("setAddrGenMode", bind<set_addr_gen_mode>);
  fn("setIpv6Disabled", bind<set_ipv6_disabled>);
  fn("removeStaleGuard", bind<remove_stale_guard>);
  return o;
}

}  // namespace lcp::addon
