#!/bin/sh
# Run a command inside a throw-away QEMU VM that is a pure cgroup v2 host.
#
#   tests/v2vm/run.sh [--mem 2G] [--smp 2] [--timeout 900] [--accel tcg] \
#       [--systemd] -- COMMAND [ARG...]
#
# --systemd-hybrid: the same on the cgroup v1 + v2 (hybrid) layout.
# --systemd: the host's systemd is PID 1 in the guest and runs the command
# as a service (v2vm.service, in system.slice; sdboot says how the boot is
# kept short), with PYRUNC_V2VM_SYSTEMD=1 set; no dbus-daemon: clients
# reach systemd on /run/systemd/private.
#
# The machines here are cgroup-hybrid (v1 controllers, a cgroup2 mount with
# only hugetlb), so the v2 side of pyrunc is tested in a VM: Debian's
# kernel booted with cgroup_no_v1=all, the host's / shared read-only over
# virtio-9p with a tmpfs overlay on top (the checkout, its venv and Python
# are all there, and the guest may write anywhere; nothing written reaches
# the host), cgroup2 mounted with every controller enabled in the root.
# The command runs as root in the guest's root cgroup, in the caller's
# working directory, with PYRUNC and VIRTUAL_ENV passed through and
# PYRUNC_V2VM=1 set; its stdout and stderr stream to run.sh's, and run.sh
# exits with its status (125 when the VM could not run it, 124 on timeout).
#
# The guest's /run is a fresh tmpfs, and TMPDIR=/run/tmp (the host's /tmp
# is visible, through the overlay).
#
# Emulation (TCG) by default: the /dev/kvm of these machines cannot run a
# stock kernel (QEMU asserts on an MSR, or the guest hangs). Code runs
# 5-25x slower than natively; boot takes 2-3 s. Nothing is installed into
# /boot: the kernel package is unpacked under $PYRUNC_V2VM_CACHE (default
# /tmp/pyrunc-v2vm), with the initramfs built from it.
set -eu

MEM=2G
SMP=2
TIMEOUT=900
ACCEL=${PYRUNC_V2VM_ACCEL:-tcg}
SYSTEMD=
usage() {
	echo "usage: $0 [--mem 2G] [--smp 2] [--timeout SECONDS] [--accel tcg|kvm] [--systemd|--systemd-hybrid] -- COMMAND [ARG...]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--mem) [ $# -ge 2 ] || usage; MEM=$2; shift 2 ;;
	--smp) [ $# -ge 2 ] || usage; SMP=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
	--accel) [ $# -ge 2 ] || usage; ACCEL=$2; shift 2 ;;
	--systemd) SYSTEMD=1; shift ;;
	--systemd-hybrid) SYSTEMD=hybrid; shift ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ $# -gt 0 ] || usage

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${PYRUNC_V2VM_CACHE:-/tmp/pyrunc-v2vm}
say() { echo "v2vm: $*" >&2; }
die() { echo "v2vm: $*" >&2; exit 125; }

# -- what the VM is made of (shared by concurrent runs: built under a lock) --
export DEBIAN_FRONTEND=noninteractive
apt_updated=
apt_update() {
	[ -n "$apt_updated" ] && return 0
	say "apt-get update"
	apt-get update -qq >&2 || true
	apt_updated=1
}
need=""
command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
# the initramfs has no libc: busybox must be the static build
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
	need="$need busybox-static"
fi
command -v cpio >/dev/null || need="$need cpio"
# the kernel inside Debian's bzImage is xz-compressed (see vmlinux below)
command -v xz >/dev/null || need="$need xz-utils"
if [ -n "$need" ]; then
	say "installing$need"
	apt_update
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >&2 ||
		die "cannot install$need"
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

# Debian's current kernel: the concrete package behind linux-image-amd64.
# Resolving it costs half a second, so the answer is kept until the apt
# lists change; with no answer at all (fresh machine, no lists) update once.
resolve_kernel() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
pkg=
if [ -s "$CACHE/kernel-package" ] &&
	[ -z "$(find /var/lib/apt/lists -maxdepth 1 -newer "$CACHE/kernel-package" -name '*Packages*' 2>/dev/null | head -n 1)" ]; then
	pkg=$(cat "$CACHE/kernel-package")
fi
[ -n "$pkg" ] || pkg=$(resolve_kernel)
[ -n "$pkg" ] || { apt_update; pkg=$(resolve_kernel); }
if [ -z "$pkg" ]; then
	# offline: whatever kernel an earlier run left
	pkg=$(ls -d "$CACHE"/linux-image-*/x/boot 2>/dev/null | tail -n 1 | sed 's,/x/boot$,,; s,.*/,,')
	[ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package"
fi
echo "$pkg" >"$CACHE/kernel-package"
KDIR=$CACHE/$pkg
if [ ! -d "$KDIR/x/boot" ]; then
	say "fetching $pkg"
	t=$(mktemp -d "$CACHE/fetch.XXXXXX")
	if ! (cd "$t" && apt-get download -q "$pkg" >/dev/null 2>&1); then
		apt_update
		(cd "$t" && apt-get download -q "$pkg" >&2) || { rm -rf "$t"; die "cannot download $pkg"; }
	fi
	say "unpacking $pkg"
	dpkg-deb -x "$t"/*.deb "$t/x" || { rm -rf "$t"; die "cannot unpack $pkg"; }
	rm -f "$t"/*.deb
	chmod 755 "$t"
	rm -rf "$KDIR"
	mv "$t" "$KDIR"
fi
KVER=$(ls "$KDIR/x/lib/modules")
MDIR=$KDIR/x/lib/modules/$KVER

# The uncompressed kernel boots in about half the time under emulation
# (2.2-3 s against 5-7 s for the bzImage: decompressing it in the guest is
# slow). QEMU loads an ELF vmlinux through its PVH entry point, so that
# needs CONFIG_PVH; the bzImage is the fallback.
KERNEL=$KDIR/vmlinux
if [ ! -s "$KERNEL" ]; then
	vmlinuz=$(ls "$KDIR"/x/boot/vmlinuz-*)
	if grep -qx 'CONFIG_PVH=y' "$KDIR"/x/boot/config-*; then
		say "extracting vmlinux"
		# the extract-vmlinux way: find a compressed stream's magic
		# in the bzImage, unpack from there, keep it if it is ELF
		for c in "$(printf '\3757zXZ')|xz -dc" \
			"$(printf '(\265/\375')|zstd -dc" \
			"$(printf '\037\213\010')|gzip -dc"; do
			magic=${c%%|*}
			off=$(LC_ALL=C grep -aboF -m 1 "$magic" "$vmlinuz" 2>/dev/null | head -n 1 | cut -d: -f1)
			[ -n "$off" ] || continue
			tail -c +"$((off + 1))" "$vmlinuz" | ${c#*|} >"$KERNEL.tmp" 2>/dev/null || true
			if [ "$(head -c 4 "$KERNEL.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
				mv "$KERNEL.tmp" "$KERNEL"
				break
			fi
		done
		rm -f "$KERNEL.tmp"
	fi
	[ -s "$KERNEL" ] || ln -sf "$vmlinuz" "$KERNEL"
fi

# The initramfs: static busybox, init, stage2, and the modules that reach
# the host's root (virtio PCI, 9p and what it needs, overlay) unless built
# in, plus loop (block devices for the io tests). The package has no
# modules.dep (depmod makes it at install time), so each module's
# dependencies come from its .modinfo "depends=" field.
# Kept uncompressed: unpacking gzip under emulation costs more than
# reading the extra megabytes. Rebuilt when these files or busybox change.
MODS="virtio_pci 9pnet_virtio 9p overlay loop"
modfile() { find "$MDIR/kernel" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n 1; }
builtin() { grep -q "/$1\.ko\$" "$MDIR/modules.builtin"; }
ORDER=
add_mod() { # $1: a module; appends it after its dependencies to ORDER
	case " $ORDER " in *" $1 "*) return 0 ;; esac
	builtin "$1" && return 0
	f=$(modfile "$1")
	[ -n "$f" ] || die "module $1 is neither built into $pkg nor shipped with it"
	for d in $(modcat "$f" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_mod "$d"
	done
	ORDER="$ORDER $1"
}
modcat() {
	case "$1" in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -qdc "$1" ;;
	*) cat "$1" ;;
	esac
}
stamp=$(cat "$HERE/init" "$HERE/stage2" "$HERE/sdboot" "$HERE/run.sh" /bin/busybox | md5sum | cut -c1-12)
INITRD=$KDIR/initrd-$stamp.cpio
if [ ! -f "$INITRD" ]; then
	say "building the initramfs"
	for m in $MODS; do add_mod "$m"; done
	t=$(mktemp -d "$CACHE/initrd.XXXXXX")
	mkdir -p "$t/bin" "$t/lib/modules" "$t/proc" "$t/sys" "$t/dev" "$t/mnt"
	cp /bin/busybox "$t/bin/busybox"
	for m in $ORDER; do
		modcat "$(modfile "$m")" >"$t/lib/modules/$m.ko"
	done
	echo "$ORDER" >"$t/lib/modules/order"
	cp "$HERE/init" "$t/init"
	cp "$HERE/stage2" "$t/stage2"
	cp "$HERE/sdboot" "$t/sdboot"
	chmod 755 "$t/init" "$t/stage2"
	(cd "$t" && find . | cpio -o -H newc --quiet) >"$t.cpio"
	rm -f "$KDIR"/initrd-*.cpio "$KDIR"/initrd-*.cpio.gz
	mv "$t.cpio" "$INITRD"
	rm -rf "$t"
fi
flock -u 9
exec 9>&-

# -- this run ---------------------------------------------------------------
RUN=$(mktemp -d /tmp/pyrunc-v2vm-run.XXXXXX)
QPID=
CPID=
cleanup() {
	[ -z "$QPID" ] || kill "$QPID" 2>/dev/null || true
	[ -z "$CPID" ] || kill "$CPID" 2>/dev/null || true
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

q() { # $1 quoted for sh
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
# The command, run by the host's /bin/sh in the guest. A file in a per-run
# 9p share: no limit on size, no quoting through the kernel command line.
{
	printf 'cd %s || { echo "v2vm: no directory %s in the guest (/run is fresh there)" >&2; exit 125; }\n' \
		"$(q "$PWD")" "$(printf '%s' "$PWD" | tr -d '\\"$`')"
	printf 'export PYRUNC_V2VM=1\n'
	[ -z "${PYRUNC+x}" ] || printf 'export PYRUNC=%s\n' "$(q "$PYRUNC")"
	# an activated venv stays activated (its pyrunc on PATH, as on the host)
	[ -z "${VIRTUAL_ENV:-}" ] ||
		printf 'export VIRTUAL_ENV=%s; PATH=$VIRTUAL_ENV/bin:$PATH\n' "$(q "$VIRTUAL_ENV")"
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	printf '\n'
} >"$RUN/cmd"

# The guest's second serial port carries the command's stderr: QEMU writes
# it into a FIFO and cat copies that to our stderr through our own file
# descriptor (QEMU opening /dev/stderr itself would, for "> log 2>&1",
# write at its own offset over stdout's).
mkfifo "$RUN/err.in" "$RUN/err.out"
cat "$RUN/err.out" >&2 &
CPID=$!

case "$ACCEL" in
kvm) cpu=host ;;
*) cpu=max ;;
esac
append="console=ttyS0 quiet loglevel=0 panic=-1 cgroup_no_v1=all rdinit=/init"
if [ -n "$SYSTEMD" ]; then
	[ -x /lib/systemd/systemd ] || die "--systemd: no /lib/systemd/systemd on this host"
	append="$append v2vm.systemd=1"
	# the cgroup v1 + v2 layout most older hosts have: v1 controllers,
	# systemd's name=systemd tree, cgroup2 (no controllers) at .../unified
	[ "$SYSTEMD" = hybrid ] && append=$(echo "$append v2vm.hybrid=1" \
		"systemd.unified_cgroup_hierarchy=0" | sed 's/ cgroup_no_v1=all//')
	# systemd waits for the kernel's RNG; with RDRAND it is ready at once
	# (about 5 s later without it under TCG)
	[ "$ACCEL" = kvm ] || cpu="Nehalem,+rdrand"
fi
# stdin is /dev/null: QEMU must not put the caller's terminal in raw mode
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
	-accel "$ACCEL" -cpu "$cpu" -smp "$SMP" -m "$MEM" \
	-kernel "$KERNEL" -initrd "$INITRD" \
	-append "$append" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$RUN",mount_tag=run,security_model=none \
	-display none -monitor none -no-reboot -nodefaults \
	-serial stdio -chardev pipe,id=err,path="$RUN/err" -serial chardev:err \
	</dev/null &
QPID=$!
rc=0
wait "$QPID" || rc=$?
QPID=
# cat ends at EOF once QEMU's end is closed; if QEMU died before opening
# the FIFO, cat still waits in open(), and opening it here releases it
: <>"$RUN/err.out"
wait "$CPID" || true
CPID=
if [ -s "$RUN/status" ]; then
	exit "$(cat "$RUN/status")"
fi
if [ "$rc" -eq 124 ]; then
	say "timed out after ${TIMEOUT}s"
	exit 124
fi
say "the VM ended without the command's status (qemu exit $rc)"
exit 125
