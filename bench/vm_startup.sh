#!/usr/bin/env bash
# Start-up with the function backends, in a QEMU guest booting Debian's 6.12
# cloud kernel (this machine's kernel has no kprobes). The guest CPU is emulated
# (TCG), so compare the backends with each other, not with times on the host.
#
#   bench/vm_startup.sh [RUNS]      (SKBTRACER=path overrides the debug binary)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SKBTRACER:-$here/../.build/debug/skbtracer}
bash "$here/../scripts/qemu/vm.sh" --kernel 6.12 --bin "$bin" "$here/../scripts/qemu/guest/startup.sh" "${1:-3}" \
  | tr -d '\r' | grep '^STARTUP'
