#!/usr/bin/env bash
# Overhead and loss under a UDP flood between two lab namespaces over veth and a
# bridge (the bridge lives in a third namespace, so the host is not touched).
#
#   bench/flood.sh [SECONDS] [ROUNDS]
#
# Interleaves, per round: nothing attached; skbtracer matching nothing;
# skbtracer matching every packet (text to a file); skbtracer matching every
# packet (JSON to a file); journeys of every packet (--timeline, JSON to a file;
# tracking on). MODES="baseline timeline" picks a subset. Prints packets/s, the ratio to the baseline of the
# same round, events and events lost. Needs root and a built skbtracer
# (swift build -c release; set SKBTRACER=path to override).
set -euo pipefail
secs=${1:-5}
rounds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
bin=${SKBTRACER:-$here/../.build/release/skbtracer}
[[ -x $bin ]] || { echo "flood.sh: no skbtracer at $bin (swift build -c release)" >&2; exit 1; }
p=stb$$
a=$p-a b=$p-b br=$p-br
tmp=$(mktemp -d)
cleanup() {
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  ip netns del "$br" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ip netns add "$a"; ip netns add "$b"; ip netns add "$br"
ip -n "$br" link add br0 type bridge
ip -n "$br" link set br0 up
for ns in "$a" "$b"; do
  ip -n "$br" link add "v-$ns" type veth peer name eth0 netns "$ns"
  ip -n "$br" link set "v-$ns" master br0 up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done
ip -n "$a" addr add 198.18.250.1/24 dev eth0
ip -n "$b" addr add 198.18.250.2/24 dev eth0
ip netns exec "$a" ping -c 1 -W 2 198.18.250.2 >/dev/null

run_case() { # name, tracer args... ; prints "pps events lost"
  local name=$1; shift
  local tracer_pid=""
  if [[ $name != baseline ]]; then
    rm -f "$tmp/ready"
    "$bin" "$@" --ready-file "$tmp/ready" 2>"$tmp/summary" &
    tracer_pid=$!
    for _ in $(seq 100); do [[ -e $tmp/ready ]] && break; sleep 0.1; done
  fi
  ip netns exec "$b" python3 "$here/udp_flood.py" sink 9000 $((secs + 2)) >"$tmp/recv" &
  local sink=$!
  sleep 0.3
  local sent
  sent=$(ip netns exec "$a" python3 "$here/udp_flood.py" send 198.18.250.2 9000 "$secs")
  wait "$sink"
  local events=0 lost=0 rss=0
  if [[ -n $tracer_pid ]]; then
    rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$tracer_pid/status")
    kill -INT "$tracer_pid"; wait "$tracer_pid" || true
    events=$(sed -n 's/^skbtracer: \([0-9]*\) events.*/\1/p' "$tmp/summary")
    lost=$(sed -n 's/.*events[^,]*, \([0-9]*\) lost.*/\1/p' "$tmp/summary")
  fi
  echo "$((sent / secs)) $(cat "$tmp/recv") ${events:-0} ${lost:-0} $rss"
}

printf "%-6s %-10s %10s %7s %10s %10s %8s %8s\n" round mode sent_pps ratio received events lost peak_rss_mb
for r in $(seq "$rounds"); do
  base=""
  for mode in ${MODES:-baseline nomatch text json timeline}; do
    case $mode in
      baseline) out=$(run_case baseline) ;;
      nomatch) out=$(run_case nomatch -H 198.51.100.99 -o /dev/null) ;;
      text) out=$(run_case text -H 198.18.250.2 -o "$tmp/events.txt") ;;
      json) out=$(run_case json -H 198.18.250.2 --json -o "$tmp/events.json") ;;
      timeline) out=$(run_case timeline -H 198.18.250.2 --timeline --json -o "$tmp/journeys.json") ;;
    esac
    read -r pps recv events lost rss <<<"$out"
    [[ -z $base ]] && base=$pps
    ratio=$(python3 -c "print(f'{$pps/$base:.2f}')")
    printf "%-6s %-10s %10s %7s %10s %10s %8s %8s\n" "$r" "$mode" "$pps" "$ratio" "$recv" "$events" "$lost" "$rss"
  done
done
