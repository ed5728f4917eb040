#!/usr/bin/env bash
# BPF time per probe hit (kernel.bpf_stats_enabled run_time_ns / run_cnt) while a
# UDP flood runs between two lab namespaces. Stable where packets/s ratios are
# noisy: it counts only the programs' own time. Only the programs of the tracer
# this script starts count (the prog ids in its /proc/PID/fdinfo), not other
# tracers' on the same host. Exits non-zero when the tracer does not get ready
# (its --ready-file, 60 s at most) or ends before the count.
#
#   bench/bpf_cost.sh [SECONDS] [skbtracer filter args...]   (default: a filter that matches nothing)
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
cleanup() {
  [[ -n $tracer ]] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null || true
  stop_sink
  echo "$old_stats" > /proc/sys/kernel/bpf_stats_enabled
  ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "bpf_cost.sh: $*" >&2; cat "$tmp/err" >&2 2>/dev/null || true; exit 1; }

ip netns add "$a"; ip netns add "$b"
ip -n "$a" link add eth0 type veth peer name eth0 netns "$b"
ip -n "$a" addr add 198.18.251.1/24 dev eth0; ip -n "$b" addr add 198.18.251.2/24 dev eth0
ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
echo 1 > /proc/sys/kernel/bpf_stats_enabled
"$bin" "${args[@]}" -o /dev/null --ready-file "$tmp/ready" 2>"$tmp/err" & tracer=$!
for _ in $(seq 600); do
  [[ -e $tmp/ready ]] && break
  kill -0 "$tracer" 2>/dev/null || fail "the tracer ended before it was ready:"
  sleep 0.1
done
[[ -e $tmp/ready ]] || fail "the tracer was not ready within 60 s:"
start_sink "$b" 9000 /dev/null || fail "no sink"
ip netns exec "$a" python3 "$here/udp_flood.py" send 198.18.251.2 9000 "$secs" >/dev/null
stop_sink
kill -0 "$tracer" 2>/dev/null || fail "the tracer ended during the flood:"
# Its programs: every prog_id in its fdinfo (programs, and the links' programs).
cat /proc/"$tracer"/fdinfo/* 2>/dev/null | sed -n 's/^prog_id:[[:space:]]*//p' | sort -un >"$tmp/ids"
[[ -s $tmp/ids ]] || fail "the tracer (pid $tracer) holds no BPF program"
bpftool -j prog show > "$tmp/progs.json"
python3 - "$tmp/progs.json" "$tmp/ids" <<'PY'
import json, sys
ours = {int(l) for l in open(sys.argv[2]) if l.strip()}
progs = [p for p in json.load(open(sys.argv[1])) if p["id"] in ours and p.get("run_cnt")]
total_ns = sum(p["run_time_ns"] for p in progs)
total = sum(p["run_cnt"] for p in progs)
for p in sorted(progs, key=lambda p: -p["run_cnt"]):
    print("%-34s hits %9d  ns/hit %6.0f" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))
print("%-34s hits %9d  ns/hit %6.0f" % ("all", total, total_ns / max(total, 1)))
PY
