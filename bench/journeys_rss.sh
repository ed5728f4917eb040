#!/usr/bin/env bash
# Memory in journey mode with thousands of packets in flight: UDP datagrams wait
# in a receiver's queue that is not read, so every journey stays open in the
# tracer (--timeline, tracking on) until the receiver closes its socket.
#
#   bench/journeys_rss.sh [PACKETS ...]     (default: 1000 5000 10000 20000)
#
# Prints the tracer's RSS at rest, with the packets in flight, its peak, and the
# journeys it wrote. Needs root and a release build (SKBTRACER=path overrides).
# Traffic: only between two namespaces this script creates (198.18.252.0/24).
set -euo pipefail
counts=("$@"); ((${#counts[@]})) || counts=(1000 5000 10000 20000)
here=$(cd "$(dirname "$0")" && pwd)
bin=${SKBTRACER:-$here/../.build/release/skbtracer}
[[ -x $bin ]] || { echo "journeys_rss.sh: no skbtracer at $bin (swift build -c release)" >&2; exit 1; }
p=stq$$ a=stq$$-a b=stq$$-b
tmp=$(mktemp -d)
tracer="" receiver=""
cleanup() {
  [[ -n $tracer ]] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null || true
  [[ -n $receiver ]] && kill "$receiver" 2>/dev/null && wait "$receiver" 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ip netns add "$a"; ip netns add "$b"
ip -n "$a" link add eth0 type veth peer name eth0 netns "$b"
ip -n "$a" addr add 198.18.252.1/24 dev eth0; ip -n "$b" addr add 198.18.252.2/24 dev eth0
ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
ip netns exec "$a" ping -c 1 -W 2 198.18.252.2 >/dev/null

rss() { awk -v k="$2:" '$1 == k {print int($2 / 1024)}' "/proc/$1/status"; }
printf "%-8s %10s %14s %9s %9s %s\n" packets rest_mb in_flight_mb peak_mb journeys tracking_full
for n in "${counts[@]}"; do
  port=$((9100 + RANDOM % 500))
  # Holds every datagram: a 512 MiB forced receive buffer, never read, closed after 6 s.
  ip netns exec "$b" python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 512 << 20)
s.bind(('198.18.252.2', $port))
open('$tmp/listening', 'w').close()
time.sleep(6)
" & receiver=$!
  for _ in $(seq 50); do [[ -e $tmp/listening ]] && break; sleep 0.1; done
  rm -f "$tmp/ready" "$tmp/listening"
  "$bin" --timeline --json -d 198.18.252.2 --dport "$port" --proto udp --track-max 65536 \
    --journey-timeout 60 -o "$tmp/journeys.json" --ready-file "$tmp/ready" 2>"$tmp/err" & tracer=$!
  for _ in $(seq 100); do [[ -e $tmp/ready ]] && break; sleep 0.1; done
  rest=$(rss "$tracer" VmRSS)
  ip netns exec "$a" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range($n):
    s.sendto(b'p%06d' % i, ('198.18.252.2', $port))
"
  sleep 1
  inflight=$(rss "$tracer" VmRSS)
  wait "$receiver" || true; receiver=""
  sleep 1
  peak=$(rss "$tracer" VmHWM)
  kill -INT "$tracer"; wait "$tracer" || true; tracer=""
  journeys=$(grep -c '"type":"journey"' "$tmp/journeys.json" || true)
  full=$(sed -n 's/.*tracking: \([0-9]*\).*/\1/p' "$tmp/err" | head -1)
  printf "%-8s %10s %14s %9s %9s %s\n" "$n" "$rest" "$inflight" "$peak" "$journeys" "${full:--}"
done
