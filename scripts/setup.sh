#!/usr/bin/env bash
# Sets up a fresh machine for kube-lcp: Debian packages, Node 22 (from the npm
# registry, as a devDependency: npm scripts then run on it), npm packages, and
# the build (native addon against Node 22's headers, offline; TypeScript).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  iproute2 iputils-ping ethtool tcpdump iperf3 python3   # lab and tests
  g++ make libmnl-dev libbpf-dev                          # native addon
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
fi

if [[ ! -x node_modules/.bin/node || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: building (node $(node_modules/.bin/node --version))"
npm run --silent build
