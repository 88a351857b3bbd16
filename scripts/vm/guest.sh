# Runs as the VM's init after switch_root (scripts/vm/init): the host's root,
# read-only under a tmpfs overlay; the checkout read-write; /mnt is the run
# directory, where `cmd` is what to run and `rc` gets its exit code. Never
# returns: init must not exit, so it powers the VM off.
mount -t proc proc /proc || echo "guest: mount /proc failed"
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mkdir -p /run/netns
# What the tests use and the kernel would not load by itself (/dev/net/tun exists once tun is in).
modprobe -a tun veth sch_ingress cls_bpf 8021q dummy vrf bonding 2>&1 | grep -v '^$'
ip link set lo up
hostname lcp-vm
# The VM's addon (no -march=native) over the checkout's.
dir=$(sed -n 's/.*lcp.dir=\([^ ]*\).*/\1/p' /proc/cmdline)
cache=$(sed -n 's/.*lcp.cache=\([^ ]*\).*/\1/p' /proc/cmdline)
mount --bind "$cache/native/build" "$dir/native/build"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LCP_VM=1 CI=true
cd "$dir"
sh /mnt/cmd
echo $? > /mnt/rc
sync
echo o > /proc/sysrq-trigger
sleep 10
