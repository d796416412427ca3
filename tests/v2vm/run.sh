#!/bin/sh
# Run a command inside a throw-away QEMU VM that is a pure cgroup v2 host.
#
#   tests/v2vm/run.sh [--mem 2G] [--smp 2] [--timeout 900] -- COMMAND [ARG...]
#
# The machines here are cgroup-hybrid (v1 controllers, a cgroup2 mount with
# only hugetlb), so the v2 side of pyrunc is tested in a VM: Debian's
# kernel booted with cgroup_no_v1=all, the host's / shared read-only over
# virtio-9p with a tmpfs overlay on top (the checkout, its venv and Python
# are all there, and the guest may write anywhere), cgroup2 mounted with
# every controller enabled. The command runs as root in the guest's root
# cgroup, in the caller's working directory, with PYRUNC passed through and
# PYRUNC_V2VM=1 set; run.sh exits with its exit status.
#
# Software emulation (TCG): the /dev/kvm of these machines cannot run a
# stock kernel at speed. Code runs ~20x slower than natively; boot takes a
# few seconds. Nothing is installed into /boot: the kernel package is
# unpacked under $PYRUNC_V2VM_CACHE (default /tmp/pyrunc-v2vm).
set -eu

MEM=2G
SMP=2
TIMEOUT=900
while [ $# -gt 0 ]; do
	case "$1" in
	--mem) MEM=$2; shift 2 ;;
	--smp) SMP=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "usage: $0 [--mem 2G] [--smp 2] [--timeout S] -- COMMAND [ARG...]" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "$0: no command given" >&2; exit 2; }

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${PYRUNC_V2VM_CACHE:-/tmp/pyrunc-v2vm}
say() { echo "v2vm: $*" >&2; }

# -- what the VM is made of -------------------------------------------------
need=""
command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
[ -x /bin/busybox ] || need="$need busybox-static"
command -v cpio >/dev/null || need="$need cpio"
if [ -n "$need" ]; then
	say "installing$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# Debian's current kernel: the concrete package behind linux-image-amd64
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$pkg" ] || { echo "$0: cannot resolve Debian's linux-image-amd64" >&2; exit 2; }
KDIR=$CACHE/$pkg
mkdir -p "$CACHE"
if [ ! -d "$KDIR/x/boot" ]; then
	say "fetching $pkg"
	rm -rf "$KDIR.tmp"
	mkdir -p "$KDIR.tmp"
	(cd "$KDIR.tmp" && apt-get download -q "$pkg" >/dev/null 2>&1 && dpkg-deb -x ./*.deb x && rm -f ./*.deb)
	rm -rf "$KDIR"
	mv "$KDIR.tmp" "$KDIR"
fi
KVER=$(ls "$KDIR/x/lib/modules")
KERNEL=$(ls "$KDIR"/x/boot/vmlinuz-*)

# The initramfs: busybox, the modules that reach the host's root (virtio
# PCI, 9p and its netfs/fscache, overlay) in dependency order, and init.
# Rebuilt when init changes.
MODS="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
9pnet 9pnet_virtio netfs fscache 9p overlay"
stamp=$(cat "$HERE/init" "$HERE/stage2" "$0" | md5sum | cut -c1-12)
INITRD=$KDIR/initrd-$stamp.cpio.gz
if [ ! -f "$INITRD" ]; then
	say "building the initramfs"
	t=$(mktemp -d "$CACHE/initrd.XXXXXX")
	mkdir -p "$t/bin" "$t/lib/modules" "$t/proc" "$t/sys" "$t/dev" "$t/mnt"
	cp /bin/busybox "$t/bin/busybox"
	for m in $MODS; do
		f=$(find "$KDIR/x/lib/modules/$KVER/kernel" -name "$m.ko" | head -n 1)
		[ -n "$f" ] || { echo "$0: module $m not in $pkg" >&2; rm -rf "$t"; exit 2; }
		cp "$f" "$t/lib/modules/"
	done
	echo "$MODS" | tr '\n' ' ' >"$t/lib/modules/order"
	cp "$HERE/init" "$t/init"
	cp "$HERE/stage2" "$t/stage2"
	chmod 755 "$t/init" "$t/stage2"
	(cd "$t" && find . | cpio -o -H newc --quiet | gzip -1) >"$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD"
	rm -rf "$t"
fi

# -- this run ---------------------------------------------------------------
RUN=$(mktemp -d /tmp/pyrunc-v2vm-run.XXXXXX)
QPID=
cleanup() {
	[ -z "$QPID" ] || kill "$QPID" 2>/dev/null || true
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the command, quoted for sh, run in the caller's directory
{
	printf 'cd %s || exit 125\n' "$(printf '%s' "$PWD" | sed "s/'/'\\\\''/g; s/^/'/; s/\$/'/")"
	printf 'export PYRUNC_V2VM=1\n'
	[ -z "${PYRUNC:-}" ] || printf "export PYRUNC='%s'\n" "$(printf '%s' "$PYRUNC" | sed "s/'/'\\\\''/g")"
	printf 'exec'
	for a in "$@"; do
		printf " '%s'" "$(printf '%s' "$a" | sed "s/'/'\\\\''/g")"
	done
	printf '\n'
} >"$RUN/cmd"

# stdin is /dev/null: QEMU must not put the caller's terminal in raw mode
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
	-accel tcg -cpu max -smp "$SMP" -m "$MEM" \
	-kernel "$KERNEL" -initrd "$INITRD" \
	-append "console=ttyS0 quiet loglevel=0 panic=-1 cgroup_no_v1=all rdinit=/init" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$RUN",mount_tag=run,security_model=none \
	-display none -monitor none -serial stdio -no-reboot -nodefaults \
	</dev/null &
QPID=$!
rc=0
wait "$QPID" || rc=$?
QPID=
if [ -f "$RUN/status" ]; then
	exit "$(cat "$RUN/status")"
fi
[ "$rc" -eq 124 ] && echo "v2vm: timed out after ${TIMEOUT}s" >&2
echo "v2vm: the VM ended without the command's status (qemu exit $rc)" >&2
exit 125
