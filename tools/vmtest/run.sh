#!/usr/bin/env bash
# tools/vmtest/run.sh [test flags...]
#
# Runs every package's tests on Debian's 6.1 LTS kernel: builds each test
# binary statically, packs them with their package directories and a small
# Go init (tools/vmtest/init) into an initramfs, boots the kernel under
# qemu-system-x86_64 in software emulation and prints one PASS/FAIL/SKIP
# line per package, the skipped tests with their reasons and the output of
# the failed ones. Exits non-zero if a package failed to build or failed,
# or if the VM did not finish.
#
# Test flags given as arguments are passed to every binary after the
# defaults (-test.v -test.short -test.count=1 -test.timeout=...), e.g.
#   tools/vmtest/run.sh -test.run 'TestAccept|TestRecv'
# The tests see URING_SHORT=1 and testing.Short() so that stress loads stay
# small under emulation.
#
# Environment:
#   VMTEST_PKGS         packages to test (default ./...)
#   VMTEST_CACHE        where the kernel is kept (default ~/.cache/uring-vmtest)
#   VMTEST_KERNEL       metapackage whose kernel to boot (default
#                       linux-image-cloud-amd64: 6.1 on Debian 12)
#   VMTEST_TIMEOUT      seconds the whole VM may run (default 2100)
#   VMTEST_PKG_TIMEOUT  seconds one package's tests may run (default 600)
#   VMTEST_LOG          full console log (default /tmp/vmtest.log)
#   VMTEST_ACCEL        qemu accelerator (default tcg: no KVM needed)
#   VMTEST_APPEND       extra kernel command line
#   VMTEST_DISK_GB      size of the sparse ext4 disk behind /tmp (default 8)
#   VMTEST_TMPFS        if set, no disk: /tmp and /var/tmp are tmpfs
#   VMTEST_VERBOSE      if set, print every package's whole test output
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod=$(cd "$here/../.." && pwd)
cd "$mod"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

pkgs=${VMTEST_PKGS:-./...}
cache=${VMTEST_CACHE:-${HOME:-/root}/.cache/uring-vmtest}
meta=${VMTEST_KERNEL:-linux-image-cloud-amd64}
vm_timeout=${VMTEST_TIMEOUT:-2100}
pkg_timeout=${VMTEST_PKG_TIMEOUT:-600}
log=${VMTEST_LOG:-/tmp/vmtest.log}
accel=${VMTEST_ACCEL:-tcg}

say() { echo "vmtest: $*"; }
die() { echo "vmtest: $*" >&2; exit 1; }

t0=$(date +%s)

# Tools: qemu, cpio and mkfs.ext4 from Debian.
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v cpio >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
	say "installing qemu-system-x86, cpio and e2fsprogs"
	command -v apt-get >/dev/null || die "qemu-system-x86_64, cpio or mkfs.ext4 is missing and there is no apt-get to install them"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq qemu-system-x86 cpio e2fsprogs >/dev/null
fi

# Kernel: the image package the metapackage depends on, fetched once with
# apt-get download and cached by its name (which carries the ABI version).
kpkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}' || true)
if [ -z "$kpkg" ]; then
	apt-get update -qq >/dev/null
	kpkg=$(apt-cache depends "$meta" | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$kpkg" ] || die "cannot tell which kernel $meta depends on"
kernel=$cache/$kpkg/vmlinuz
if [ ! -f "$kernel" ]; then
	say "fetching $kpkg"
	dl=$(mktemp -d)
	(
		cd "$dl"
		apt-get download -qq "$kpkg" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download -qq "$kpkg" >/dev/null; }
		dpkg-deb -x ./*.deb x
		mkdir -p "$cache/$kpkg"
		cp x/boot/vmlinuz-* "$cache/$kpkg/vmlinuz.part"
		mv "$cache/$kpkg/vmlinuz.part" "$kernel"
	) || { rm -rf "$dl"; die "could not fetch $kpkg"; }
	rm -rf "$dl"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/vmtest/bin" "$root/src" "$root/etc" "$root/bin" "$root/tmp"

# Init and test binaries, all static.
CGO_ENABLED=0 go build -o "$root/init" ./tools/vmtest/init
build_failed=()
n=0
while read -r ip dir; do
	[ -n "$ip" ] || continue
	rel=${dir#"$mod"}
	rel=${rel#/}
	rel=${rel:-.}
	[ -n "$dir" ] || rel=$ip
	bin=/vmtest/bin/$(echo "$rel" | tr '/.' '__').test
	if ! CGO_ENABLED=0 go test -c -o "$root$bin" "$ip" >"$work/build.err" 2>&1; then
		say "BUILD FAIL $rel"
		sed 's/^/  | /' "$work/build.err"
		build_failed+=("$rel")
		continue
	fi
	# The tests run in a copy of their package directory, as under go
	# test: its files and testdata, nothing else.
	mkdir -p "$root/src/$rel"
	find "$dir" -maxdepth 1 -type f -exec cp {} "$root/src/$rel/" \;
	[ -d "$dir/testdata" ] && cp -r "$dir/testdata" "$root/src/$rel/"
	printf '%s\t%s\n' "$rel" "$bin" >>"$root/vmtest/pkgs"
	n=$((n + 1))
# go list -e: a package that does not even parse is listed too and fails
# to build above, instead of being silently left out.
done < <(CGO_ENABLED=0 go list -e -f '{{if or .TestGoFiles .XTestGoFiles .Error}}{{.ImportPath}} {{.Dir}}{{end}}' $pkgs)
[ "$n" -gt 0 ] || die "no test binary built"

printf '%s\n' "$@" >"$root/vmtest/args"
echo "$pkg_timeout" >"$root/vmtest/timeout"
[ -z "${VMTEST_VERBOSE:-}" ] || : >"$root/vmtest/verbose"
cat >"$root/etc/hosts" <<'EOF'
127.0.0.1	localhost vmtest
::1	localhost ip6-localhost ip6-loopback
EOF
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
: >"$root/etc/resolv.conf"
echo 'root:x:0:0:root:/tmp:/bin/false' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

# A scratch ext4 disk for /tmp and /var/tmp (sparse: only what the tests
# write takes space).
disk=()
if [ -z "${VMTEST_TMPFS:-}" ]; then
	truncate -s "${VMTEST_DISK_GB:-8}G" "$work/disk.img"
	mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$work/disk.img"
	disk=(-drive "file=$work/disk.img,if=none,id=scratch,format=raw,cache=unsafe"
		-device nvme,drive=scratch,serial=vmtest)
	: >"$root/vmtest/disk"
fi

# Uncompressed: the kernel unpacks it faster than it would inflate it
# under emulation.
initrd=$work/initrd.cpio
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet >"$initrd")
t1=$(date +%s)
say "built $n test binaries in $((t1 - t0))s ($(du -m "$initrd" | cut -f1) MiB initramfs); booting $kpkg"

# The console carries only what init prints (and kernel errors): init
# keeps each binary's output and prints it only if the package fails.
set +e
timeout -k 10 "$vm_timeout" qemu-system-x86_64 \
	-accel "$accel" -cpu max -smp 2 -m 4096 \
	-nodefaults -no-user-config -display none -serial stdio -no-reboot \
	"${disk[@]}" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 quiet mitigations=off ${VMTEST_APPEND:-}" \
	</dev/null 2>&1 | tr -d '\r' | tee "$log" | sed -n '/vmtest: kernel/,$p'
vm_rc=${PIPESTATUS[0]}
set -e
t2=$(date +%s)
say "VM pass took $((t2 - t1))s (whole run $((t2 - t0))s); console log in $log"

status=0
if [ "$vm_rc" -eq 124 ] || [ "$vm_rc" -eq 137 ]; then
	say "FAIL: the VM did not finish within ${vm_timeout}s (VMTEST_TIMEOUT)"
	status=1
elif grep -q '^vmtest: RESULT ok$' "$log"; then
	:
elif grep -q '^vmtest: RESULT FAIL$' "$log"; then
	status=1
else
	say "FAIL: the VM stopped without a result (qemu exit $vm_rc); last console lines:"
	tail -n 40 "$log" | sed 's/^/  | /'
	status=1
fi
if [ ${#build_failed[@]} -gt 0 ]; then
	say "FAIL: did not build: ${build_failed[*]}"
	status=1
fi
exit $status
