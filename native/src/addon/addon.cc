// The Node-API surface of the dataplane. Small and typed; the TypeScript
// facade in dataplane/ is its only user. Every native exception becomes a JS
// exception with its message (and errno/code for system errors).
// Over 600 lines on purpose: one ObjectWrap class whose methods are each a
// short binding; its method table and its methods read best side by side.
// Host changes bind in host.cc.
#include <napi.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include <net/if.h>

#include "addon/convert.h"
#include "addon/host.h"
#include "core/limits.h"
#include "dataplane/dataplane.h"
#include "io/kernel_guard.h"
#include "io/netns.h"
#include "lcp/control_plane.h"
#include "lcp/host.h"

namespace lcp::addon {
namespace {

const char* adj_kind_name(fib::AdjKind k) {
  switch (k) {
    case fib::AdjKind::Drop: return "drop";
    case fib::AdjKind::Receive: return "receive";
    case fib::AdjKind::Glean: return "glean";
    case fib::AdjKind::Rewrite: return "rewrite";
    case fib::AdjKind::Blackhole: return "blackhole";
    case fib::AdjKind::Unreachable: return "unreachable";
    case fib::AdjKind::Prohibit: return "prohibit";
  }
  return "drop";
}

const char* route_kind_name(fib::RouteKind k) {
  switch (k) {
    case fib::RouteKind::Forward: return "forward";
    case fib::RouteKind::Blackhole: return "blackhole";
    case fib::RouteKind::Unreachable: return "unreachable";
    case fib::RouteKind::Prohibit: return "prohibit";
  }
  return "forward";
}

fib::RouteKind parse_route_kind(const Napi::Env& env, const std::string& s) {
  if (s == "forward") return fib::RouteKind::Forward;
  if (s == "blackhole") return fib::RouteKind::Blackhole;
  if (s == "unreachable") return fib::RouteKind::Unreachable;
  if (s == "prohibit") return fib::RouteKind::Prohibit;
  throw Napi::RangeError::New(env, "route kind must be forward, blackhole, unreachable or prohibit");
}

Napi::Object port_object(const Napi::Env& env, const PortView& p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", p.index);
  o.Set("name", p.name);
  o.Set("netns", p.netns);
  o.Set("driver", std::string(name(p.driver)));
  o.Set("ifindex", p.ifindex);
  o.Set("mac", format_mac(p.mac));
  o.Set("mtu", p.mtu);
  o.Set("pointToPoint", p.p2p);
  o.Set("adminUp", p.admin_up);
  o.Set("table", p.table);
  o.Set("worker", p.worker);
  o.Set("fastPath", p.fast_path);
  if (p.rx_ring_bytes) o.Set("rxRingBytes", Napi::Number::New(env, double(p.rx_ring_bytes)));
  if (p.rx_ring != RxRing::Auto) o.Set("rxRing", std::string(name(p.rx_ring)));
  if (p.parent != kInvalidIndex) {
    o.Set("parent", p.parent);
    o.Set("vlan", p.vlan);
    o.Set("tpid", p.tpid);
  }
  if (p.has_pair) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("name", p.mirror_name);
    m.Set("netns", p.mirror_netns);
    m.Set("kind", std::string(name(p.mirror_kind)));
    m.Set("ifindex", p.mirror_ifindex);
    m.Set("adopted", p.mirror_adopted);
    o.Set("mirror", m);
  }
  return o;
}

// {prefix, kind, paths: [{port, via?, weight?}]}
fib::Route parse_route(const Napi::Env& env, const Napi::Object& o) {
  fib::Route r;
  r.prefix = fib::parse_prefix(get_string(o, "prefix"));
  const std::string kind = get_string(o, "kind", false);
  r.kind = kind.empty() ? fib::RouteKind::Forward : parse_route_kind(env, kind);
  if (r.kind != fib::RouteKind::Forward) return r;
  Napi::Value pv = o.Get("paths");
  if (!pv.IsArray()) throw Napi::TypeError::New(env, "paths must be an array");
  Napi::Array paths = pv.As<Napi::Array>();
  for (uint32_t i = 0; i < paths.Length(); ++i) {
    Napi::Value e = paths.Get(i);
    if (!e.IsObject()) throw Napi::TypeError::New(env, "paths[" + std::to_string(i) + "] must be an object");
    Napi::Object po = e.As<Napi::Object>();
    fib::Path p;
    const auto port = get_uint(po, "port", 0, kMaxPorts - 1);
    if (!port) throw Napi::TypeError::New(env, "paths[" + std::to_string(i) + "].port is required");
    p.port = *port;
    const std::string via = get_string(po, "via", false);
    if (!via.empty()) {
      p.via = fib::parse_addr(via);
      p.has_via = true;
    }
    p.weight = uint16_t(get_uint(po, "weight", 1, 65535).value_or(1));
    r.paths.push_back(p);
  }
  return r;
}

// The *Async methods: one dataplane call on a libuv thread, settled as a
// Promise. Opening a port waits for a kernel RCU grace period (~10 ms),
// closing one for two or three; the agent works on several pairs at once and
// their waits overlap. `run` executes on the pool thread and returns what
// builds the JS value on the main thread. The work holds the dataplane until
// `run` has returned; close() waits for that.
class DataplaneWork final : public Napi::AsyncWorker {
 public:
  using Result = std::function<Napi::Value(Napi::Env)>;
  using Run = std::function<Result(Dataplane&)>;

  DataplaneWork(Napi::Env env, const char* name, std::shared_ptr<Dataplane> dp, Run run)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), dp_(std::move(dp)), run_(std::move(run)) {}

  /** Queues the work (it deletes itself once settled) and returns its promise. */
  static Napi::Promise start(Napi::Env env, const char* name, std::shared_ptr<Dataplane> dp, Run run) {
    auto* w = new DataplaneWork(env, name, std::move(dp), std::move(run));
    Napi::Promise promise = w->deferred_.Promise();
    w->Queue();
    return promise;
  }

  void Execute() override {
    try {
      result_ = run_(*dp_);
    } catch (...) {
      error_ = std::current_exception();
    }
    dp_.reset();
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (error_) guarded(env, [&]() -> Napi::Value { std::rethrow_exception(error_); });
      deferred_.Resolve(result_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Dataplane> dp_;
  Run run_;
  Result result_;
  std::exception_ptr error_;
};

class NativeDataplane : public Napi::ObjectWrap<NativeDataplane> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "NativeDataplane",
        {InstanceMethod<&NativeDataplane::Close>("close"),
         InstanceMethod<&NativeDataplane::AddPort>("addPort"),
         InstanceMethod<&NativeDataplane::AddPortAsync>("addPortAsync"),
         InstanceMethod<&NativeDataplane::RemovePortAsync>("removePortAsync"),
         InstanceMethod<&NativeDataplane::RemovePort>("removePort"),
         InstanceMethod<&NativeDataplane::AddSubPort>("addSubPort"),
         InstanceMethod<&NativeDataplane::RemoveSubPort>("removeSubPort"),
         InstanceMethod<&NativeDataplane::SetPort>("setPort"),
         InstanceMethod<&NativeDataplane::Ports>("ports"),
         InstanceMethod<&NativeDataplane::Port>("port"),
         InstanceMethod<&NativeDataplane::FindPort>("findPort"),
         InstanceMethod<&NativeDataplane::CreatePair>("createPair"),
         InstanceMethod<&NativeDataplane::RemovePair>("removePair"),
         InstanceMethod<&NativeDataplane::TableAdd>("tableAdd"),
         InstanceMethod<&NativeDataplane::TableDel>("tableDel"),
         InstanceMethod<&NativeDataplane::Tables>("tables"),
         InstanceMethod<&NativeDataplane::RoutesAdd>("routesAdd"),
         InstanceMethod<&NativeDataplane::RouteDel>("routeDel"),
         InstanceMethod<&NativeDataplane::AddressAdd>("addressAdd"),
         InstanceMethod<&NativeDataplane::AddressDel>("addressDel"),
         InstanceMethod<&NativeDataplane::NeighborAdd>("neighborAdd"),
         InstanceMethod<&NativeDataplane::NeighborDel>("neighborDel"),
         InstanceMethod<&NativeDataplane::FibDump>("fibDump"),
         InstanceMethod<&NativeDataplane::Adjacencies>("adjacencies"),
         InstanceMethod<&NativeDataplane::Counters>("counters"),
         InstanceMethod<&NativeDataplane::TraceArm>("traceArm"),
         InstanceMethod<&NativeDataplane::TraceRead>("traceRead"),
         InstanceMethod<&NativeDataplane::WatchNetns>("watchNetns"),
         InstanceMethod<&NativeDataplane::UnwatchNetns>("unwatchNetns"),
         InstanceMethod<&NativeDataplane::WatchStatus>("watchStatus"),
         InstanceMethod<&NativeDataplane::Drift>("drift"),
         InstanceMethod<&NativeDataplane::DriftAsync>("driftAsync"),
         InstanceMethod<&NativeDataplane::RouteCount>("routeCount"),
         InstanceMethod<&NativeDataplane::FastPathStatus>("fastPathStatus")});
  }

  explicit NativeDataplane(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeDataplane>(info) {
    guarded(info.Env(), [&]() -> Napi::Value {
      DataplaneConfig cfg;
      if (info.Length() > 0 && info[0].IsObject()) {
        Napi::Object o = info[0].As<Napi::Object>();
        cfg.workers = get_uint(o, "workers", 1, kMaxWorkers).value_or(1);
        cfg.buffers_per_worker = get_uint(o, "buffersPerWorker", 512, 1u << 20).value_or(4096);
        cfg.rx_ring_frames = get_uint(o, "rxRingSize", 256, 16384).value_or(0);
        const std::string tag = get_string(o, "ownerTag", false);
        if (!tag.empty()) cfg.owner_tag = tag;
        cfg.fast_path = get_kind(o, "fastPath", FastPathMode::Auto);
        cfg.rx_ring = get_kind(o, "rxRing", RxRing::Auto);
      }
      dp_ = std::make_shared<Dataplane>(cfg);
      cp_ = std::make_unique<ControlPlane>(*dp_);
      return info.Env().Undefined();
    });
  }

 private:
  Dataplane& dp(const Napi::Env& env) {
    if (!dp_) throw Napi::Error::New(env, "dataplane is closed");
    return *dp_;
  }
  ControlPlane& cp(const Napi::Env& env) {
    if (!cp_) throw Napi::Error::New(env, "dataplane is closed");
    return *cp_;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    cp_.reset();  // the syncs' threads call into the dataplane: they stop first
    // An *Async call in flight holds the dataplane until its add is done
    // (a grace period or two): wait, so that close() still leaves nothing behind.
    while (dp_ && dp_.use_count() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    dp_.reset();  // stops workers, gives ports back to the kernel; mirrors persist
    return info.Env().Undefined();
  }

  Napi::Value FastPathStatus(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const FastPathView v = dp(info.Env()).fast_path();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("enabled", v.enabled);
      o.Set("usable", v.usable);
      if (!v.reason.empty()) o.Set("reason", v.reason);
      o.Set("mapUpdates", double(v.map_updates));
      o.Set("mapErrors", double(v.map_errors));
      o.Set("batches", double(v.batches));
      o.Set("maxQueue", double(v.max_queue));
      o.Set("pending", double(v.pending));
      o.Set("ip4Groups", double(v.ip4_groups));
      o.Set("ip4GroupLimit", double(v.ip4_group_limit));
      if (!v.last_error.empty()) o.Set("lastError", v.last_error);
      return o;
    });
  }

  // {name, netns?, driver?, fastPath?}: what addPort and addPortAsync take.
  struct PortSpec {
    std::string name, netns;
    PortDriver driver;
    FastPathMode fast_path;
  };
  static PortSpec port_spec(const Napi::CallbackInfo& info) {
    Napi::Object o = arg_object(info, 0, "port spec");
    return PortSpec{get_string(o, "name"), get_string(o, "netns", false), get_kind(o, "driver", PortDriver::Auto),
                    get_kind(o, "fastPath", FastPathMode::Auto)};
  }

  Napi::Value AddPort(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const PortSpec p = port_spec(info);
      return port_object(info.Env(), dp(info.Env()).add_port(p.name, p.netns, p.driver, p.fast_path));
    });
  }

  Napi::Value AddPortAsync(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const PortSpec p = port_spec(info);
      dp(info.Env());  // closed: throw now, not later
      return DataplaneWork::start(info.Env(), "kube-lcp:addPort", dp_, [p](Dataplane& d) -> DataplaneWork::Result {
        PortView v = d.add_port(p.name, p.netns, p.driver, p.fast_path);
        return [v](Napi::Env env) -> Napi::Value { return port_object(env, v); };
      });
    });
  }

  Napi::Value RemovePortAsync(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t index = arg_uint(info, 0, "port");
      dp(info.Env());
      return DataplaneWork::start(info.Env(), "kube-lcp:removePort", dp_, [index](Dataplane& d) -> DataplaneWork::Result {
        d.del_port(index);
        return [](Napi::Env env) -> Napi::Value { return env.Undefined(); };
      });
    });
  }

  Napi::Value RemovePort(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      dp(info.Env()).del_port(arg_uint(info, 0, "port"));
      return info.Env().Undefined();
    });
  }

  // addSubPort(parent, vlan, tpid)
  Napi::Value AddSubPort(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t parent = arg_uint(info, 0, "parent");
      const uint32_t vlan = arg_uint(info, 1, "vlan", limits::kVlanMax);
      const uint32_t tpid = info.Length() > 2 ? arg_uint(info, 2, "tpid", 0xffff) : 0x8100;
      return port_object(info.Env(), dp(info.Env()).add_sub_port(parent, uint16_t(vlan), uint16_t(tpid)));
    });
  }

  Napi::Value RemoveSubPort(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      dp(info.Env()).del_sub_port(arg_uint(info, 0, "port"));
      return info.Env().Undefined();
    });
  }

  Napi::Value SetPort(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t port = arg_uint(info, 0, "port");
      Napi::Object o = arg_object(info, 1, "port settings");
      PortPatch patch;
      patch.up = get_bool(o, "up");
      if (auto mtu = get_uint(o, "mtu", limits::kMtuMin, limits::kMtuMax)) patch.mtu = uint16_t(*mtu);
      const std::string mac = get_string(o, "mac", false);
      if (!mac.empty()) patch.mac = parse_mac(mac);
      patch.table = get_uint(o, "table", 0, 0xffffffffu);
      cp(info.Env()).set_port(port, patch);
      return info.Env().Undefined();
    });
  }

  Napi::Value Ports(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto ports = dp(info.Env()).ports();
      Napi::Array a = Napi::Array::New(info.Env(), ports.size());
      for (size_t i = 0; i < ports.size(); ++i) a.Set(uint32_t(i), port_object(info.Env(), ports[i]));
      return a;
    });
  }

  // port(index): the port, or undefined.
  Napi::Value Port(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const std::optional<PortView> p = dp(info.Env()).port(arg_uint(info, 0, "port"));
      return p ? Napi::Value(port_object(info.Env(), *p)) : info.Env().Undefined();
    });
  }

  // findPort(name, netns): the port that took over that netdev, or undefined.
  Napi::Value FindPort(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const std::optional<PortView> p = dp(info.Env()).find_port(arg_string(info, 0, "name"), arg_string(info, 1, "netns"));
      return p ? Napi::Value(port_object(info.Env(), *p)) : info.Env().Undefined();
    });
  }

  Napi::Value CreatePair(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t port = arg_uint(info, 0, "port");
      Napi::Object o = arg_object(info, 1, "mirror spec");
      io::MirrorSpec spec;
      spec.name = get_string(o, "name");
      spec.netns = get_string(o, "netns", false);
      spec.kind = get_kind(o, "kind", MirrorKind::Auto);
      if (spec.kind == MirrorKind::Vlan) throw Napi::RangeError::New(info.Env(), "kind must be tap or tun");
      spec.mtu = get_uint(o, "mtu", limits::kMtuMin, limits::kMtuMax);
      const std::string mac = get_string(o, "mac", false);
      if (!mac.empty()) spec.mac = parse_mac(mac);
      return port_object(info.Env(), dp(info.Env()).create_pair(port, spec));
    });
  }

  Napi::Value RemovePair(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t port = arg_uint(info, 0, "port");
      const bool destroy = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
      dp(info.Env()).remove_pair(port, destroy);
      return info.Env().Undefined();
    });
  }

  Napi::Value TableAdd(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      dp(info.Env()).table_add(arg_uint(info, 0, "table"));
      return info.Env().Undefined();
    });
  }

  Napi::Value TableDel(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      dp(info.Env()).table_del(arg_uint(info, 0, "table"));
      return info.Env().Undefined();
    });
  }

  Napi::Value Tables(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto ids = dp(info.Env()).tables();
      Napi::Array a = Napi::Array::New(info.Env(), ids.size());
      for (size_t i = 0; i < ids.size(); ++i) a.Set(uint32_t(i), ids[i]);
      return a;
    });
  }

  // routesAdd(table, [{prefix, kind?, paths?}...]): one lock, one grace period.
  Napi::Value RoutesAdd(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t table = arg_uint(info, 0, "table");
      if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(info.Env(), "routes must be an array");
      Napi::Array arr = info[1].As<Napi::Array>();
      std::vector<fib::Route> routes;
      routes.reserve(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value v = arr.Get(i);
        if (!v.IsObject()) throw Napi::TypeError::New(info.Env(), "routes[" + std::to_string(i) + "] must be an object");
        try {
          routes.push_back(parse_route(info.Env(), v.As<Napi::Object>()));
        } catch (const std::invalid_argument& e) {
          throw Napi::RangeError::New(info.Env(), "routes[" + std::to_string(i) + "]: " + e.what());
        }
      }
      dp(info.Env()).routes_add(table, routes);
      return info.Env().Undefined();
    });
  }

  Napi::Value RouteDel(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t table = arg_uint(info, 0, "table");
      return Napi::Boolean::New(info.Env(), dp(info.Env()).route_del(table, fib::parse_prefix(arg_string(info, 1, "prefix"))));
    });
  }

  Napi::Value AddressAdd(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t port = arg_uint(info, 0, "port");
      dp(info.Env()).address_add(port, fib::parse_interface_address(arg_string(info, 1, "address")));
      return info.Env().Undefined();
    });
  }

  Napi::Value AddressDel(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t port = arg_uint(info, 0, "port");
      return Napi::Boolean::New(info.Env(), dp(info.Env()).address_del(port, fib::parse_interface_address(arg_string(info, 1, "address"))));
    });
  }

  Napi::Value NeighborAdd(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t port = arg_uint(info, 0, "port");
      dp(info.Env()).neighbor_add(port, fib::parse_addr(arg_string(info, 1, "ip")), parse_mac(arg_string(info, 2, "mac")));
      return info.Env().Undefined();
    });
  }

  Napi::Value NeighborDel(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t port = arg_uint(info, 0, "port");
      return Napi::Boolean::New(info.Env(), dp(info.Env()).neighbor_del(port, fib::parse_addr(arg_string(info, 1, "ip"))));
    });
  }

  Napi::Value FibDump(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t table = arg_uint(info, 0, "table");
      const uint32_t fam = arg_uint(info, 1, "family", 6);
      if (fam != 4 && fam != 6) throw Napi::RangeError::New(info.Env(), "family must be 4 or 6");
      auto entries = dp(info.Env()).fib_dump(table, fam == 4 ? fib::Family::Ip4 : fib::Family::Ip6);
      const Napi::Env env = info.Env();
      Napi::Array a = Napi::Array::New(env, entries.size());
      for (size_t i = 0; i < entries.size(); ++i) {
        const auto& e = entries[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("prefix", fib::format_prefix(e.prefix));
        o.Set("source", e.source == fib::EntrySource::Route ? "route" : "interface");
        o.Set("kind", e.source == fib::EntrySource::Route ? route_kind_name(e.kind) : adj_kind_name(e.adj_kind));
        Napi::Array paths = Napi::Array::New(env, e.paths.size());
        for (size_t k = 0; k < e.paths.size(); ++k) {
          Napi::Object p = Napi::Object::New(env);
          p.Set("port", e.paths[k].port);
          if (e.paths[k].has_via) p.Set("via", fib::format_addr(e.paths[k].via));
          p.Set("weight", e.paths[k].weight);
          paths.Set(uint32_t(k), p);
        }
        o.Set("paths", paths);
        if (e.nexthop) o.Set("nexthop", double(e.nexthop & 0xffffffffu));  // the kernel's id in its netns
        a.Set(uint32_t(i), o);
      }
      return a;
    });
  }

  Napi::Value Adjacencies(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto adjs = dp(info.Env()).adjacencies();
      const Napi::Env env = info.Env();
      Napi::Array a = Napi::Array::New(env, adjs.size());
      for (size_t i = 0; i < adjs.size(); ++i) {
        const auto& d = adjs[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("index", d.index);
        o.Set("kind", adj_kind_name(d.adj.kind));
        o.Set("refcount", d.refcount);
        if (d.adj.port != kInvalidIndex) o.Set("port", d.adj.port);
        if (d.adj.kind == fib::AdjKind::Rewrite || d.adj.kind == fib::AdjKind::Glean)
          o.Set("nextHop", fib::format_addr(d.adj.next_hop));
        if (d.adj.kind == fib::AdjKind::Rewrite) {
          std::string hex;
          char b[3];
          for (uint8_t k = 0; k < d.adj.rewrite_len; ++k) {
            std::snprintf(b, sizeof b, "%02x", d.adj.rewrite[k]);
            hex += b;
          }
          o.Set("rewrite", hex);
          o.Set("mtu", d.adj.mtu);
        }
        a.Set(uint32_t(i), o);
      }
      return a;
    });
  }

  Napi::Value Counters(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const CounterView c = dp(info.Env()).counters();
      const Napi::Env env = info.Env();
      Napi::Object o = Napi::Object::New(env);
      Napi::Array ports = Napi::Array::New(env, c.ports.size());
      for (size_t i = 0; i < c.ports.size(); ++i) {
        const auto& p = c.ports[i];
        Napi::Object po = Napi::Object::New(env);
        po.Set("port", p.port);
        po.Set("rxPackets", double(p.rx_packets));
        po.Set("rxBytes", double(p.rx_bytes));
        po.Set("txPackets", double(p.tx_packets));
        po.Set("txBytes", double(p.tx_bytes));
        po.Set("drops", double(p.drops));
        po.Set("punts", double(p.punts));
        po.Set("injects", double(p.injects));
        po.Set("fastPathRxPackets", double(p.fp_rx_packets));
        po.Set("fastPathTxPackets", double(p.fp_tx_packets));
        ports.Set(uint32_t(i), po);
      }
      o.Set("ports", ports);
      Napi::Object errors = Napi::Object::New(env);
      for (size_t e = 1; e < size_t(Error::Count); ++e) errors.Set(kErrorNames[e], double(c.errors[e]));
      o.Set("errors", errors);
      o.Set("loops", double(c.loops));
      o.Set("vectors", double(c.vectors));
      o.Set("pollSetChanges", double(c.poll_set_changes));
      return o;
    });
  }

  Napi::Value TraceArm(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      dp(info.Env()).trace_arm(arg_uint(info, 0, "count"));
      return info.Env().Undefined();
    });
  }

  Napi::Value TraceRead(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto recs = dp(info.Env()).trace_read();
      const Napi::Env env = info.Env();
      Napi::Array a = Napi::Array::New(env, recs.size());
      for (size_t i = 0; i < recs.size(); ++i) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("worker", recs[i].worker);
        o.Set("rxPort", recs[i].rx_port);
        Napi::Array nodes = Napi::Array::New(env, recs[i].nodes.size());
        for (size_t k = 0; k < recs[i].nodes.size(); ++k) nodes.Set(uint32_t(k), recs[i].nodes[k]);
        o.Set("nodes", nodes);
        std::string hex;
        char b[3];
        for (uint8_t x : recs[i].head) {
          std::snprintf(b, sizeof b, "%02x", x);
          hex += b;
        }
        o.Set("head", hex);
        a.Set(uint32_t(i), o);
      }
      return a;
    });
  }

  // watchNetns(netns, {rcvbuf?, tables?, tableMap?: [{kernel, dataplane}], ignoreProtocols?, lcpSync?, autoSubinterfaces?, batchMax?, budgetUs?, driftIntervalMs?, driftSamples?})
  Napi::Value WatchNetns(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const Napi::Env env = info.Env();
      linux_nl::WatchOptions o;
      o.netns = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
      if (info.Length() > 0 && !info[0].IsString()) throw Napi::TypeError::New(env, "netns must be a string");
      if (info.Length() > 1 && info[1].IsObject()) {
        Napi::Object opt = info[1].As<Napi::Object>();
        o.rcvbuf = get_uint(opt, "rcvbuf", 4096, 2047u << 20).value_or(o.rcvbuf);
        o.batch_max = get_uint(opt, "batchMax", 1, 1u << 20).value_or(o.batch_max);
        o.budget_us = get_uint(opt, "budgetUs", 100, 1000000).value_or(o.budget_us);
        o.drift_interval_ms = get_uint(opt, "driftIntervalMs", 0, 86400000).value_or(o.drift_interval_ms);
        o.drift_samples = get_uint(opt, "driftSamples", 0, 1000).value_or(o.drift_samples);
        o.lcp_sync = get_bool(opt, "lcpSync").value_or(false);
        o.mirror.auto_subif = get_bool(opt, "autoSubinterfaces").value_or(false);
        auto uints = [&](const char* key, uint32_t max) {
          std::vector<uint32_t> out;
          Napi::Value v = opt.Get(key);
          if (v.IsUndefined() || v.IsNull()) return out;
          if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(key) + " must be an array");
          Napi::Array a = v.As<Napi::Array>();
          for (uint32_t i = 0; i < a.Length(); ++i) {
            Napi::Value e = a.Get(i);
            if (!e.IsNumber()) throw Napi::TypeError::New(env, std::string(key) + " must hold numbers");
            const double d = e.As<Napi::Number>().DoubleValue();
            if (d != double(int64_t(d)) || d < 0 || d > max)
              throw Napi::RangeError::New(env, std::string(key) + "[" + std::to_string(i) + "] must be 0.." + std::to_string(max));
            out.push_back(uint32_t(d));
          }
          return out;
        };
        o.mirror.tables = uints("tables", 0xffffffffu);
        if (!opt.Get("ignoreProtocols").IsUndefined()) {
          o.mirror.ignore_protocols.clear();
          for (uint32_t p : uints("ignoreProtocols", 255)) o.mirror.ignore_protocols.push_back(uint8_t(p));
        }
        Napi::Value tm = opt.Get("tableMap");
        if (!tm.IsUndefined() && !tm.IsNull()) {
          if (!tm.IsArray()) throw Napi::TypeError::New(env, "tableMap must be an array");
          Napi::Array a = tm.As<Napi::Array>();
          for (uint32_t i = 0; i < a.Length(); ++i) {
            Napi::Value e = a.Get(i);
            if (!e.IsObject()) throw Napi::TypeError::New(env, "tableMap entries must be objects");
            Napi::Object eo = e.As<Napi::Object>();
            const auto k = get_uint(eo, "kernel", 0, 0xffffffffu);
            const auto d = get_uint(eo, "dataplane", 0, 0xffffffffu);
            if (!k || !d) throw Napi::TypeError::New(env, "tableMap entries need kernel and dataplane");
            o.mirror.table_map.emplace_back(*k, *d);
          }
        }
      }
      cp(env).watch(std::move(o));
      return env.Undefined();
    });
  }

  // unwatchNetns(netns, withdraw): false if it was not watched.
  Napi::Value UnwatchNetns(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const std::string netns = arg_string(info, 0, "netns");
      const bool withdraw = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
      return Napi::Boolean::New(info.Env(), cp(info.Env()).unwatch(netns, withdraw));
    });
  }

  Napi::Value WatchStatus(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const Napi::Env env = info.Env();
      const std::vector<linux_nl::WatchStatus> all = cp(env).statuses();
      Napi::Array a = Napi::Array::New(env, all.size());
      uint32_t i = 0;
      for (const linux_nl::WatchStatus& s : all) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("netns", s.netns);
        o.Set("state", s.state);
        o.Set("lastError", s.last_error);
        o.Set("events", double(s.events));
        o.Set("batches", double(s.batches));
        o.Set("resyncs", double(s.resyncs));
        o.Set("lost", double(s.lost));
        o.Set("dumpRestarts", double(s.dump_restarts));
        o.Set("parseErrors", double(s.parse_errors));
        o.Set("applyErrors", double(s.apply_errors));
        o.Set("routesApplied", double(s.routes_applied));
        o.Set("routesInstalled", double(s.routes_installed));
        o.Set("routesKnown", double(s.routes_known));
        o.Set("neighbors", double(s.neighbors));
        o.Set("addresses", double(s.addresses));
        o.Set("mirrors", double(s.mirrors));
        o.Set("nexthops", double(s.nexthops));
        o.Set("nexthopsInstalled", double(s.nexthops_installed));
        o.Set("routesUnsupported", double(s.routes_unsupported));
        o.Set("lastResyncAt", s.last_resync_at_ms);
        o.Set("lastResyncMs", s.last_resync_ms);
        o.Set("lagMs", s.lag_ms);
        o.Set("maxLagMs", s.max_lag_ms);
        o.Set("rcvbuf", double(s.rcvbuf));
        if (s.drift.checks > 0) {
          Napi::Object d = drift_object(env, s.drift.report);
          d.Set("checks", double(s.drift.checks));
          d.Set("at", s.drift.at_ms);
          d.Set("tookMs", s.drift.took_ms);
          d.Set("settled", s.drift.settled);
          d.Set("error", s.drift.error);
          o.Set("drift", d);
        } else {
          o.Set("drift", env.Null());
        }
        a.Set(i++, o);
      }
      return a;
    });
  }

  // drift(netns, maxSamples)
  Napi::Value Drift(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const Napi::Env env = info.Env();
      const std::string netns = arg_string(info, 0, "netns");
      const uint32_t max = info.Length() > 1 ? arg_uint(info, 1, "maxSamples", 10000) : 20;
      return drift_object(env, cp(env).drift(netns, max));
    });
  }

  // driftAsync(netns, maxSamples): the same check on a libuv pool thread, so
  // the JS thread stays free while a full table is dumped and compared (it
  // shares only the control mutex, for the FIB walk).
  Napi::Value DriftAsync(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const std::string netns = arg_string(info, 0, "netns");
      const uint32_t max = info.Length() > 1 ? arg_uint(info, 1, "maxSamples", 10000) : 20;
      linux_nl::MirrorOptions opts = cp(info.Env()).mirror_options(netns);
      return DataplaneWork::start(info.Env(), "kube-lcp:drift", dp_, [netns, max, opts](Dataplane& d) -> DataplaneWork::Result {
        auto r = std::make_shared<linux_nl::DriftReport>(linux_nl::check_drift(d, netns, opts, max));
        return [r](Napi::Env env) -> Napi::Value { return drift_object(env, *r); };
      });
    });
  }

  static Napi::Object drift_object(Napi::Env env, const linux_nl::DriftReport& r) {
    auto counts = [&](const linux_nl::DriftCounts& c) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("kernel", double(c.kernel));
      o.Set("dataplane", double(c.dataplane));
      o.Set("missing", double(c.missing));
      o.Set("extra", double(c.extra));
      o.Set("different", double(c.different));
      return o;
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("routes", counts(r.routes));
    o.Set("neighbors", counts(r.neighbors));
    o.Set("unsupported", double(r.unsupported));
    Napi::Array s = Napi::Array::New(env, r.samples.size());
    for (size_t i = 0; i < r.samples.size(); ++i) s.Set(uint32_t(i), r.samples[i]);
    o.Set("samples", s);
    return o;
  }

  // routeCount(table, family): cheap, for progress and benchmarks.
  Napi::Value RouteCount(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const uint32_t table = arg_uint(info, 0, "table");
      const uint32_t fam = arg_uint(info, 1, "family", 6);
      if (fam != 4 && fam != 6) throw Napi::RangeError::New(info.Env(), "family must be 4 or 6");
      return Napi::Number::New(info.Env(), double(dp(info.Env()).route_count(table, fam == 4 ? fib::Family::Ip4 : fib::Family::Ip6)));
    });
  }

  std::shared_ptr<Dataplane> dp_;  // shared with *Async work while it runs
  // Declared after dp_: destroyed (threads joined) before the dataplane.
  std::unique_ptr<ControlPlane> cp_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeDataplane", NativeDataplane::Init(env));
  exports.Set("host", host_object(env));
  Napi::Object lim = Napi::Object::New(env);
  auto range = [&](uint32_t min, uint32_t max) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("min", min);
    r.Set("max", max);
    return r;
  };
  lim.Set("mtu", range(limits::kMtuMin, limits::kMtuMax));
  lim.Set("ifNameMax", double(limits::kIfNameMax));
  lim.Set("netnsNameMax", double(limits::kNetnsNameMax));
  lim.Set("vlan", range(limits::kVlanMin, limits::kVlanMax));
  exports.Set("limits", lim);
  Napi::Array names = Napi::Array::New(env);
  for (size_t e = 1; e < size_t(Error::Count); ++e) names.Set(uint32_t(e - 1), kErrorNames[e]);
  exports.Set("errorNames", names);
  return exports;
}

}  // namespace
}  // namespace lcp::addon

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return lcp::addon::Init(env, exports); }
NODE_API_MODULE(kube_lcp, InitModule)
