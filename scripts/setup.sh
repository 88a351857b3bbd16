#!/usr/bin/env bash
# Sets up a fresh machine for kube-lcp: Debian packages, Node 22 (from the npm
# registry, as a devDependency: npm scripts then run on it), npm packages, and
# the build (native addon against Node 22's headers, offline; TypeScript), and
# the e2e control plane: Debian's etcd, kube-apiserver built from its Go module
# once per pinned version (cached in ~/.cache/kube-lcp/k8s/, skipped when present).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  iproute2 iputils-ping ethtool tcpdump iperf3 python3   # lab and tests
  g++ make libmnl-dev libbpf-dev                          # native addon
  clang llvm                                              # XDP fast path: clang -target bpf, llvm-strip
  etcd-server openssl                                     # e2e: etcd, test PKI
  bird2 frr                                               # routing daemon tests (run per netns by the tests)
  qemu-system-x86 busybox-static kmod cpio                # full-kernel VM tests (npm run test:vm, scripts/vm/)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts an etcd on :2379 where systemd runs; the tests start their own.
  if [[ " ${missing[*]} " == *" etcd-server "* && -d /run/systemd/system ]]; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
  # Likewise Debian's bird: test/dataplane/bird.test.ts runs its own per netns.
  if [[ " ${missing[*]} " == *" bird2 "* && -d /run/systemd/system ]]; then
    systemctl disable --now bird >/dev/null 2>&1 || true
  fi
  # And Debian's frr: test/helpers/frr.ts runs zebra, staticd and bgpd per netns.
  if [[ " ${missing[*]} " == *" frr "* && -d /run/systemd/system ]]; then
    systemctl disable --now frr >/dev/null 2>&1 || true
  fi
fi

if [[ ! -x node_modules/.bin/node || package-lock.json -nt node_modules/.package-lock.json ]]; then
  # `npm install` (which follows package-lock.json), not `npm ci`: the registry
  # reachable here serves no packages for other platforms, so the lock cannot
  # list every optional platform binding and `npm ci` refuses it as out of sync.
  echo "setup: npm install (from package-lock.json)"
  npm install --no-audit --no-fund --loglevel=error
fi

echo "setup: building (node $(node_modules/.bin/node --version))"
npm run --silent build

# kube-apiserver for the e2e tests (test/e2e/apiserver): ~4-6 min on 2 cores the
# first time (module downloads included), then instant.
bash scripts/build-apiserver.sh >/dev/null
