#!/usr/bin/env bash
# Boots a stock Debian kernel in QEMU (emulated: TCG) with a small initramfs that
# holds skbtracer, and runs one guest script in it. This is how the function
# backends (kprobe, kprobe-multi) are proven: the kernel CI runs on has no kprobes.
#
#   scripts/qemu/vm.sh [--kernel 6.12|6.1] [--bin PATH] GUEST_SCRIPT [ARGS...]
#
# The guest's console goes to stdout; its exit status is the script's. Nothing
# is installed on the host: the kernel .deb is only unpacked (cached in
# $SKBTRACER_QEMU_CACHE, default /var/cache/skbtracer-qemu). The guest has no
# network device: its test traffic stays between namespaces inside it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kernel=6.12
bin=$here/../../.build/debug/skbtracer
while [[ $# -gt 0 ]]; do
  case $1 in
    --kernel) kernel=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) break ;;
  esac
done
script=${1:?usage: vm.sh [--kernel 6.12|6.1] [--bin PATH] GUEST_SCRIPT [ARGS...]}
shift
[[ -x $bin ]] || { echo "vm.sh: no skbtracer at $bin (swift build)" >&2; exit 2; }
[[ -f $script ]] || { echo "vm.sh: no guest script $script" >&2; exit 2; }
for tool in qemu-system-x86_64 busybox cpio dpkg-deb apt-get xz bpftool; do
  command -v "$tool" >/dev/null || { echo "vm.sh: $tool is missing (bash scripts/install-deps.sh)" >&2; exit 2; }
done

cache=${SKBTRACER_QEMU_CACHE:-/var/cache/skbtracer-qemu}
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The newest cloud kernel of that series Debian offers (the cloud flavour boots
# in seconds under emulation; it has BTF, kprobes and, from 6.2 on, fprobe).
case $kernel in
  6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$' ;;
  6.1) pattern='^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' ;;
  *) echo "vm.sh: unknown kernel '$kernel' (6.12 or 6.1)" >&2; exit 2 ;;
esac
package=$(apt-cache search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -1)
if [[ -z $package ]]; then
  apt-get update -qq
  package=$(apt-cache search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -1)
fi
[[ -n $package ]] || { echo "vm.sh: Debian offers no $kernel cloud kernel here" >&2; exit 2; }
unpacked=$cache/$package
if [[ ! -d $unpacked/boot ]]; then
  (cd "$work" && apt-get download "$package" >/dev/null 2>&1) || { echo "vm.sh: cannot download $package" >&2; exit 2; }
  rm -rf "$unpacked.tmp" && mkdir -p "$unpacked.tmp"
  dpkg-deb -x "$work"/"$package"_*.deb "$unpacked.tmp"
  rm -f "$work"/*.deb
  rm -rf "$unpacked" && mv "$unpacked.tmp" "$unpacked"
fi
vmlinuz=$(ls "$unpacked"/boot/vmlinuz-*)
release=${vmlinuz##*/vmlinuz-}

# The initramfs: busybox, skbtracer and the host tools the guest scripts call,
# each with the shared libraries ldd names.
root=$work/root
mkdir -p "$root"/{bin,sbin,lib,lib64,proc,sys,dev,tmp,run,etc,modules,usr/bin}
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in sh mount mkdir cat sleep usleep kill ls grep sed awk head tail wc poweroff insmod echo sort tr cut seq rm; do
  ln -sf busybox "$root/bin/$applet"
done
copy_with_libs() {
  local src=$1 dst=$2
  cp -L "$src" "$root/$dst"
  ldd "$src" | awk '/=> \//{print $3} /^\t\/lib64\//{print $1}' | while read -r lib; do
    [[ -e $root$lib ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
copy_with_libs "$bin" usr/bin/skbtracer
copy_with_libs "$(command -v ip)" usr/bin/ip
copy_with_libs "$(command -v ping)" usr/bin/ping
copy_with_libs "$(command -v date)" usr/bin/date
copy_with_libs "$(command -v bpftool)" usr/bin/bpftool
copy_with_libs "$(command -v nft)" usr/bin/nft
# Helpers the guest scripts run (scripts/qemu/helpers/*.c), built here.
cc=$(command -v cc || command -v clang || true)
for src in "$here"/helpers/*.c; do
  [[ -n $cc ]] || { echo "vm.sh: no C compiler for $src" >&2; exit 2; }
  name=$(basename "$src" .c)
  "$cc" -O2 -o "$work/$name" "$src" || { echo "vm.sh: cannot build $src" >&2; exit 2; }
  copy_with_libs "$work/$name" "usr/bin/$name"
done
# busybox's shell runs its own applets before PATH: the guest script calls the
# host's tools through these functions instead.
{
  echo 'ip() { /usr/bin/ip "$@"; }'
  echo 'ping() { /usr/bin/ping "$@"; }'
  echo 'date() { /usr/bin/date "$@"; }'
  cat "$here/guest/lib.sh"
  cat "$script"
} > "$root/guest.sh"
# The other guest scripts, for the main one to source (. /guest/NAME.sh).
mkdir -p "$root/guest" && cp "$here"/guest/*.sh "$root/guest/"
# Modules the labs need, in load order; Debian 6.12 compresses them with xz.
modules=(drivers/net/veth net/llc/llc net/802/stp net/bridge/bridge)
for m in "${modules[@]}"; do
  ko=$(ls "$unpacked/lib/modules/$release/kernel/$m".ko* 2>/dev/null | head -1 || true)
  [[ -n $ko ]] || continue
  case $ko in
    *.xz) xz -dc "$ko" > "$root/modules/$(basename "$m").ko" ;;
    *) cp "$ko" "$root/modules/$(basename "$m").ko" ;;
  esac
  echo "$(basename "$m")" >> "$root/modules/order"
done
# Modules a guest script loads itself (insmod /modules/extra/NAME.ko, in the order
# of /modules/extra/order): nf_tables and the kernel's hook listing, which the
# other scripts must not get (more sk_buff functions for the function backends).
mkdir -p "$root/modules/extra"
extra=(lib/libcrc32c net/netfilter/nfnetlink net/netfilter/nf_tables net/netfilter/nfnetlink_hook)
for m in "${extra[@]}"; do
  ko=$(ls "$unpacked/lib/modules/$release/kernel/$m".ko* 2>/dev/null | head -1 || true)
  [[ -n $ko ]] || continue
  case $ko in
    *.xz) xz -dc "$ko" > "$root/modules/extra/$(basename "$m").ko" ;;
    *) cp "$ko" "$root/modules/extra/$(basename "$m").ko" ;;
  esac
  echo "$(basename "$m")" >> "$root/modules/extra/order"
done
cat > "$root/init" <<'INIT'
#!/bin/sh
export PATH=/usr/bin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
for m in $(cat /modules/order 2>/dev/null); do insmod /modules/$m.ko; done
ip link set lo up
echo "GUEST-START $(uname -r)"
sh /guest.sh $(cat /guest.args)
echo "GUEST-EXIT $?"
poweroff -f
INIT
chmod +x "$root/init"
printf '%s ' "$@" > "$root/guest.args"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.gz")

# TCG: KVM is not usable on this machine kind. -no-reboot with panic=-1 turns a
# panic into an exit; the timeout bounds everything else.
log=$work/console.log
timeout "${SKBTRACER_QEMU_TIMEOUT:-600}" qemu-system-x86_64 -machine q35 -cpu max -smp 2 -m 2048 \
  -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3" \
  -nographic -no-reboot -nic none </dev/null | tee "$log" | tr -d '\r' || true
status=$(tr -d '\r' < "$log" | sed -n 's/^GUEST-EXIT \([0-9]*\).*/\1/p' | tail -1)
[[ -n $status ]] || { echo "vm.sh: the guest did not finish (boot failure or timeout)" >&2; exit 3; }
exit "$status"
