#!/usr/bin/env bash
# Soak: skbtracer under a full-rate UDP flood for a long time.
#
#   bench/soak.sh [SECONDS] [RING_MIB] [extra skbtracer args...]
#
# Floods UDP between two namespaces of its own (veth), traces every packet at
# net_dev_queue (exactly one event per packet sent), and samples the tracer's RSS
# every 10 s. At the end it checks the loss accounting is exact:
# events recorded + events lost == packets sent. A small ring (default 1 MiB)
# makes losses happen so the accounting is exercised. Prints the RSS series, the
# growth after warm-up (the first minute), and the counts. Needs root and a
# release build (SKBTRACER=path to override).
set -euo pipefail
secs=${1:-600}
ring=${2:-1}
shift $(( $# > 2 ? 2 : $# )) || true
here=$(cd "$(dirname "$0")" && pwd)
bin=${SKBTRACER:-$here/../.build/release/skbtracer}
[[ -x $bin ]] || { echo "soak.sh: no skbtracer at $bin (swift build -c release)" >&2; exit 1; }
p=sts$$
a=$p-a b=$p-b
tmp=$(mktemp -d)
tracer="" sink_pid=""
# shellcheck source=bench/sink.sh
. "$here/sink.sh"
cleanup() {
  [[ -n $tracer ]] && kill -INT "$tracer" 2>/dev/null || true
  stop_sink
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ip netns add "$a"; ip netns add "$b"
ip -n "$a" link add eth0 type veth peer name eth0 netns "$b"
ip -n "$a" addr add 198.18.249.1/24 dev eth0; ip -n "$b" addr add 198.18.249.2/24 dev eth0
ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
ip netns exec "$a" ping -c 1 -W 2 198.18.249.2 >/dev/null

"$bin" -t net_dev_queue --proto udp -d 198.18.249.2 --dport 9000 --ring-size "$ring" -o /dev/null \
  --ready-file "$tmp/ready" "$@" 2>"$tmp/summary" &
tracer=$!
for _ in $(seq 600); do [[ -e $tmp/ready ]] && break; kill -0 "$tracer" 2>/dev/null || break; sleep 0.1; done
[[ -e $tmp/ready ]] || { echo "soak.sh: tracer not ready" >&2; cat "$tmp/summary" >&2; exit 1; }

start_sink "$b" 9000 /dev/null
ip netns exec "$a" python3 "$here/udp_flood.py" send 198.18.249.2 9000 "$secs" >"$tmp/sent" &
sender=$!
echo "t_s rss_kb"
t=0
while kill -0 "$sender" 2>/dev/null; do
  sleep 10; t=$((t + 10))
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$tracer/status")
  echo "$t $rss" | tee -a "$tmp/rss"
done
wait "$sender"; stop_sink
sleep 0.5
status=0
kill -INT "$tracer" 2>/dev/null || true; wait "$tracer" || status=$?
tracer=""
((status == 0)) || { echo "soak.sh: the tracer exited with status $status:" >&2; cat "$tmp/summary" >&2; exit 1; }
sent=$(cat "$tmp/sent")
summary=$(cat "$tmp/summary")
events=$(sed -n 's/^skbtracer: \([0-9]*\) events.*/\1/p' <<<"$summary")
lost=$(sed -n 's/.*events[^,]*, \([0-9]*\) lost.*/\1/p' <<<"$summary")
echo "$summary"
[[ -n $events && -n $lost ]] || { echo "soak.sh: no event and loss counts in the tracer's summary" >&2; exit 1; }
python3 - "$tmp/rss" "$sent" "$events" "$lost" "$summary" <<'PY'
import re, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
sent, events, lost = map(int, sys.argv[2:5])
# The per-probe losses, "N lost (probe N, ...)", must add up to the total.
m = re.search(r"\d+ lost \(([^)]*)\)", sys.argv[5])
per_probe = sum(int(p.split()[-1]) for p in m.group(1).split(", ")) if m else 0
print(f"lost per probe: {m.group(1) if m else 'none'}; "
      f"{'EXACT' if per_probe == lost else 'MISMATCH with the total %d' % lost}")
warm = [r for t, r in rows if t >= 60] or [r for _, r in rows]
growth = (max(warm) - warm[0]) / warm[0] * 100
print(f"rss after warm-up: first {warm[0]} KiB, max {max(warm)} KiB, last {warm[-1]} KiB, growth {growth:.1f}%")
print(f"packets sent {sent}, events {events}, lost {lost}, events+lost {events + lost}, "
      f"{'EXACT' if events + lost == sent else 'MISMATCH by %d' % (events + lost - sent)}")
sys.exit(0 if events + lost == sent and per_probe == lost else 1)
PY
