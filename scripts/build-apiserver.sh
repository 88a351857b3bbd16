#!/usr/bin/env bash
# Builds the binaries the e2e tests need from Go modules (Go module proxy),
# once per pinned version, into ~/.cache/kube-lcp/k8s/<version>/ (outside the
# checkout, so fresh clones on the same machine reuse it; KUBE_LCP_CACHE moves it). Re-runs
# return at once when the binary is there. Prints the binary's path last.
#   kube-apiserver: test/e2e/apiserver (k8s.io/kubernetes, version in its go.mod)
set -euo pipefail
cd "$(dirname "$0")/.."
src=test/e2e/apiserver
version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ {print $2}' "$src/go.mod" | head -1)
[[ -n "$version" ]] || { echo "build-apiserver: no k8s.io/kubernetes version in $src/go.mod" >&2; exit 1; }
out=${KUBE_LCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-lcp}/k8s/$version
bin=$out/kube-apiserver
if [[ ! -x "$bin" ]]; then
  command -v go >/dev/null || { echo "build-apiserver: Go is needed (apt-get install golang-go or go.dev)" >&2; exit 1; }
  mkdir -p "$out"
  minor=${version#v1.}; minor=${minor%%.*}
  # The version is stamped in so that /version, kubectl's skew check and the
  # apiserver's own compatibility-version logic see the real release.
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  echo "build-apiserver: building kube-apiserver $version (first time only; several minutes)" >&2
  start=$SECONDS
  # -p: parallel packages; 2 cores here, and the link step alone needs ~2 GiB.
  (cd "$src" && CGO_ENABLED=0 go build -p "${GO_BUILD_P:-2}" -trimpath -ldflags "$ldflags" -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
  echo "build-apiserver: built $bin in $((SECONDS - start)) s" >&2
fi
echo "$bin"
