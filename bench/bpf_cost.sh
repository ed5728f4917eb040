#!/usr/bin/env bash
# BPF time per probe hit (kernel.bpf_stats_enabled run_time_ns / run_cnt) while a
# UDP flood runs between two lab namespaces. Stable where packets/s ratios are
# noisy: it counts only the programs' own time. Only the programs of the tracer
# this script starts count (the prog ids in its /proc/PID/fdinfo), not other
# tracers' on the same host. Exits non-zero when the tracer does not get ready
# (its --ready-file, 60 s at most) or ends before the count.
#
#   bench/bpf_cost.sh [SECONDS] [skbtracer filter args...]   (default: a filter that matches nothing)
#
# The floor first, in the same run and lab: empty programs on the same tracepoints
# (bench/floor) under the same flood; each program's line gives its tracepoint's
# floor; the `floor` line is the floor per hit in skbtracer's mix of tracepoints,
# and `ratio` skbtracer's time per hit over it (both over the tracepoints both have).
# FLOOR=0 skips it; a floor that cannot be built is skipped with a note on stderr.
set -euo pipefail
secs=${1:-3}; shift || true
args=("$@"); ((${#args[@]})) || args=(-H 198.51.100.99)
here=$(cd "$(dirname "$0")" && pwd)
bin=${SKBTRACER:-$here/../.build/release/skbtracer}
[[ -x $bin ]] || { echo "bpf_cost.sh: no skbtracer at $bin (swift build -c release)" >&2; exit 1; }
a=stc$$-a b=stc$$-b
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
tmp=$(mktemp -d)
tracer="" sink_pid=""
# shellcheck source=bench/sink.sh
. "$here/sink.sh"
# shellcheck source=bench/floor/build.sh
. "$here/floor/build.sh"
stop_tracer() {
  [[ -n $tracer ]] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null || true
  tracer=""
}
cleanup() {
  stop_tracer
  stop_sink
  echo "$old_stats" > /proc/sys/kernel/bpf_stats_enabled
  ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "bpf_cost.sh: $*" >&2; cat "$tmp/err" >&2 2>/dev/null || true; exit 1; }

# Starts "$@" in the background (sets tracer) and waits for $tmp/ready.
start_tracer() {
  rm -f "$tmp/ready"
  "$@" 2>"$tmp/err" & tracer=$!
  for _ in $(seq 600); do
    [[ -e $tmp/ready ]] && return 0
    kill -0 "$tracer" 2>/dev/null || fail "the tracer ended before it was ready:"
    sleep 0.1
  done
  fail "the tracer was not ready within 60 s:"
}

# The flood, then "name run_cnt run_time_ns" of each program of the tracer that ran
# (every prog_id in its fdinfo: programs, and the links' programs) into $1.
flood_and_count() {
  start_sink "$b" 9000 /dev/null || fail "no sink"
  ip netns exec "$a" python3 "$here/udp_flood.py" send 198.18.251.2 9000 "$secs" >/dev/null
  stop_sink
  kill -0 "$tracer" 2>/dev/null || fail "the tracer ended during the flood:"
  cat /proc/"$tracer"/fdinfo/* 2>/dev/null | sed -n 's/^prog_id:[[:space:]]*//p' | sort -un >"$tmp/ids"
  [[ -s $tmp/ids ]] || fail "the tracer (pid $tracer) holds no BPF program"
  bpftool -j prog show > "$tmp/progs.json"
  python3 - "$tmp/progs.json" "$tmp/ids" >"$1" <<'PY'
import json, sys
ours = {int(l) for l in open(sys.argv[2]) if l.strip()}
for p in json.load(open(sys.argv[1])):
    if p["id"] in ours and p.get("run_cnt"):
        print(p["name"], p["run_cnt"], p["run_time_ns"])
PY
}

ip netns add "$a"; ip netns add "$b"
ip -n "$a" link add eth0 type veth peer name eth0 netns "$b"
ip -n "$a" addr add 198.18.251.1/24 dev eth0; ip -n "$b" addr add 198.18.251.2/24 dev eth0
ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
echo 1 > /proc/sys/kernel/bpf_stats_enabled
: >"$tmp/floor"
if [[ ${FLOOR:-1} != 0 ]]; then
  if build_floor "$tmp"; then
    start_tracer "$tmp/attach" "$tmp/empty.o" "$tmp/ready"
    flood_and_count "$tmp/floor"
    stop_tracer
  else
    echo "bpf_cost.sh: note: cannot build bench/floor (the Swift toolchain's clang, cc, libbpf-dev): no floor" >&2
  fi
fi
start_tracer "$bin" "${args[@]}" -o /dev/null --ready-file "$tmp/ready"
flood_and_count "$tmp/ours"
python3 - "$tmp/ours" "$tmp/floor" <<'PY'
import sys
def load(path):
    # name -> (hits, ns); a program's tracepoint is its name after tp_ / empty_
    return {l.split()[0]: tuple(map(int, l.split()[1:])) for l in open(path) if l.strip()}
ours, floor = load(sys.argv[1]), load(sys.argv[2])
floor_by_tp = {n.removeprefix("empty_"): v for n, v in floor.items()}
for name, (hits, ns) in sorted(ours.items(), key=lambda kv: -kv[1][0]):
    f = floor_by_tp.get(name.removeprefix("tp_"))
    extra = "  floor %6.0f" % (f[1] / f[0]) if f else ""
    print("%-34s hits %9d  ns/hit %6.0f%s" % (name, hits, ns / hits, extra))
def total(progs):
    hits = sum(h for h, _ in progs.values())
    return hits, sum(ns for _, ns in progs.values()) / max(hits, 1)
hits, per_hit = total(ours)
print("%-34s hits %9d  ns/hit %6.0f" % ("all", hits, per_hit))
# The floor per hit in skbtracer's own mix of tracepoints (hit counts differ
# between the two floods), over the tracepoints both have.
both = [(hits, ns, floor_by_tp[n.removeprefix("tp_")]) for n, (hits, ns) in ours.items()
        if n.removeprefix("tp_") in floor_by_tp]
if both:
    mixed = sum(h * f[1] / f[0] for h, _, f in both) / sum(h for h, _, _ in both)
    print("%-34s hits %9d  ns/hit %6.0f" % ("floor", sum(f[0] for _, _, f in both), mixed))
    print("%-34s %.2f" % ("ratio", sum(ns for _, ns, _ in both) / sum(h for h, _, _ in both) / mixed))
PY
