# Sourced by the bench scripts: builds the floor (empty programs on the same
# tracepoints as skbtracer's default probes, empty.bpf.c, and the loader that
# attaches them, attach.c) into DIR, with the Swift toolchain's clang (the one
# that builds skbtracer's own BPF) and cc + libbpf (scripts/install-deps.sh
# installs libbpf-dev). With BTF (-g), so bpftool shows the programs' whole names.
#
#   build_floor DIR   # 0 and DIR/empty.o, DIR/attach; 1 when they cannot be built
#   run: DIR/attach DIR/empty.o READY_FILE   (SIGINT or SIGTERM detaches)
build_floor() {
  local dir=$1 src clang
  src=$(dirname "${BASH_SOURCE[0]}")
  clang=$(dirname "$(readlink -f "$(command -v swift 2>/dev/null || echo /nonexistent)")")/clang
  [[ -x $clang ]] && command -v cc >/dev/null &&
    "$clang" -O2 -g -target bpf -c "$src/empty.bpf.c" -o "$dir/empty.o" 2>/dev/null &&
    cc -O2 "$src/attach.c" -o "$dir/attach" -lbpf 2>/dev/null
}
