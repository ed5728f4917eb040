#!/usr/bin/env bash
# Consumer throughput on a recorded stream: records real traffic between two lab
# namespaces with `skbtracer --record` (a UDP flood through a bridge, pings, a UDP
# drop at a closed port, TCP resets; drops with their stacks), then replays those
# records through decoding and formatting (`skbtracer bench-format --replay`),
# text and JSON, RUNS interleaved runs each. With valgrind installed, also the
# stable figure: instructions per event from callgrind, (Ir of 300k events - Ir
# of 100k) / 200k, which removes start-up and loading the recording.
#
#   bench/consumer.sh [RUNS] [EVENTS]     (SKBTRACER=path overrides the release binary;
#                                          CALLGRIND=0 skips the callgrind part)
set -euo pipefail
runs=${1:-3}
events=${2:-3000000}
here=$(cd "$(dirname "$0")" && pwd)
bin=${SKBTRACER:-$here/../.build/release/skbtracer}
[[ -x $bin ]] || { echo "consumer.sh: no skbtracer at $bin (swift build -c release)" >&2; exit 1; }
p=stcs$$ a=stcs$$-a b=stcs$$-b br=stcs$$-br
tmp=$(mktemp -d)
tracer="" sink_pid=""
# shellcheck source=bench/sink.sh
. "$here/sink.sh"
cleanup() {
  [[ -n $tracer ]] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null || true
  stop_sink
  for ns in "$a" "$b" "$br"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# shellcheck source=bench/bridge_lab.sh
. "$here/bridge_lab.sh"
bridge_lab "$a" "$b" "$br" 198.18.253.1 198.18.253.2

"$bin" -H 198.18.253.2 --dropstack --record "$tmp/trace.skbt" --ready-file "$tmp/ready" 2>"$tmp/err" & tracer=$!
for _ in $(seq 600); do [[ -e $tmp/ready ]] && break; kill -0 "$tracer" 2>/dev/null || break; sleep 0.1; done
[[ -e $tmp/ready ]] || { echo "consumer.sh: tracer not ready: $(cat "$tmp/err")" >&2; exit 1; }
ip netns exec "$a" ping -c 20 -i 0.01 -W 1 198.18.253.2 >/dev/null || true
start_sink "$b" 9000 /dev/null
ip netns exec "$a" python3 "$here/udp_flood.py" send 198.18.253.2 9000 1 >/dev/null
stop_sink
# A drop (no socket on port 9001), and TCP resets from a closed port, 20 of each.
ip netns exec "$a" python3 - <<'PY'
import socket
for i in range(20):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"x", ("198.18.253.2", 9001))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.settimeout(1)
    try:
        t.connect(("198.18.253.2", 9002))
    except OSError:
        pass
    t.close()
PY
sleep 0.3
status=0
kill -INT "$tracer" 2>/dev/null || true; wait "$tracer" || status=$?; tracer=""
((status == 0)) || { echo "consumer.sh: the tracer exited with status $status: $(cat "$tmp/err")" >&2; exit 1; }
echo "recorded: $(cat "$tmp/err"); $(stat -c %s "$tmp/trace.skbt") bytes"

declare -A rate
for _ in $(seq "$runs"); do
  for f in text json; do
    flag=""; [[ $f == json ]] && flag=--json
    # shellcheck disable=SC2086
    out=$("$bin" bench-format --replay "$tmp/trace.skbt" --events "$events" $flag)
    rate[$f]+=" $(sed -n 's/.*events_per_second=\([0-9]*\).*/\1/p' <<<"$out")"
    bytes=$(sed -n 's/.*bytes_per_event=\([0-9]*\).*/\1/p' <<<"$out")
    distinct=$(sed -n 's/.*recorded_events=\([0-9]*\).*/\1/p' <<<"$out")
    echo "$f: $out"
  done
done
for f in text json; do
  # shellcheck disable=SC2086
  echo "$f events/s:${rate[$f]}  median $(printf "%s\n" ${rate[$f]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
echo "($distinct recorded events, replayed in a loop; last JSON run: $bytes bytes/event)"

if [[ ${CALLGRIND:-1} == 0 ]]; then
  echo "note: CALLGRIND=0: no instructions/event"
elif command -v valgrind >/dev/null; then
  # Without debug info valgrind starts in seconds, not minutes.
  cp "$bin" "$tmp/skbtracer"; strip --strip-debug "$tmp/skbtracer" 2>/dev/null || true
  for f in text json; do
    flag=""; [[ $f == json ]] && flag=--json
    ir=()
    for n in 100000 300000; do
      # shellcheck disable=SC2086
      valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$tmp/skbtracer" bench-format \
        --replay "$tmp/trace.skbt" --events "$n" $flag >/dev/null 2>"$tmp/vg.err"
      ir+=("$(sed -n 's/^summary: //p' "$tmp/cg.out" | awk '{print $1}')")
    done
    echo "$f instructions/event (callgrind): $(((ir[1] - ir[0]) / 200000))"
  done
else
  echo "note: valgrind not installed: no instructions/event (apt-get install valgrind)"
fi
