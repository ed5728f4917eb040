#!/usr/bin/env bash
# BPF time per probe hit (kernel.bpf_stats_enabled run_time_ns / run_cnt) while a
# UDP flood runs between two lab namespaces. Stable where packets/s ratios are
# noisy: it counts only the programs' own time.
#
#   bench/bpf_cost.sh [SECONDS] [skbtracer filter args...]   (default: a filter that matches nothing)
set -euo pipefail
secs=${1:-3}; shift || true
args=("$@"); ((${#args[@]})) || args=(-H 198.51.100.99)
here=$(cd "$(dirname "$0")" && pwd)
bin=${SKBTRACER:-$here/../.build/release/skbtracer}
p=stc$$ a=stc$$-a b=stc$$-b
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
tmp=$(mktemp -d)
cleanup() {
  [[ -n ${tracer:-} ]] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null || true
  echo "$old_stats" > /proc/sys/kernel/bpf_stats_enabled
  ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ip netns add "$a"; ip netns add "$b"
ip -n "$a" link add eth0 type veth peer name eth0 netns "$b"
ip -n "$a" addr add 198.18.251.1/24 dev eth0; ip -n "$b" addr add 198.18.251.2/24 dev eth0
ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
echo 1 > /proc/sys/kernel/bpf_stats_enabled
"$bin" "${args[@]}" -o /dev/null --ready-file "$tmp/ready" 2>"$tmp/err" & tracer=$!
for _ in $(seq 100); do [[ -e $tmp/ready ]] && break; sleep 0.1; done
ip netns exec "$b" python3 "$here/udp_flood.py" sink 9000 $((secs + 1)) >/dev/null &
sleep 0.2
ip netns exec "$a" python3 "$here/udp_flood.py" send 198.18.251.2 9000 "$secs" >/dev/null
wait %2 2>/dev/null || true
bpftool -j prog show > "$tmp/progs.json"
python3 - "$tmp/progs.json" <<'PY'
import json, sys
progs = [p for p in json.load(open(sys.argv[1])) if p.get("name", "").startswith("tp_") and p.get("run_cnt")]
total_ns = sum(p["run_time_ns"] for p in progs)
total = sum(p["run_cnt"] for p in progs)
for p in sorted(progs, key=lambda p: -p["run_cnt"]):
    print("%-34s hits %9d  ns/hit %6.0f" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))
print("%-34s hits %9d  ns/hit %6.0f" % ("all", total, total_ns / max(total, 1)))
PY
