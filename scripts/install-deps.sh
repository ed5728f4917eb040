#!/usr/bin/env bash
# Installs what skbtracer needs to build and what its labs and tests use.
# Debian 12 packages only; safe to run again.
set -euo pipefail
packages=(
  libbpf-dev libelf-dev zlib1g-dev
  # tcpdump expressions: libpcap compiles them; the tests compare with tcpdump
  libpcap-dev tcpdump
  # --list-hooks: netlink messages to the kernel's netfilter hook listing
  libmnl-dev
  # --list-hooks without the kernel's listing: nf_tables chain messages
  libnftnl-dev
  # --netfilter: nftrace tables and rule texts through nft's own library
  libnftables-dev
  iproute2 iptables nftables
  # --write: the tests read the pcap-ng files back with tshark
  tshark
  iputils-ping python3
  # scripts/install.sh's test: man renders the generated page
  man-db
  bpftool
  # scripts/qemu/vm.sh: the function backends are proven in Debian kernels
  # booted under emulation (this machine's kernel has no kprobes).
  qemu-system-x86 busybox-static cpio xz-utils
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# tracefs is not always mounted; tracepoint programs do not need it, but
# inspecting them by hand does.
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
