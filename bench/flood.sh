#!/usr/bin/env bash
# Overhead and loss under a UDP flood between two lab namespaces over veth and a
# bridge (the bridge lives in a third namespace, so the host is not touched).
#
#   bench/flood.sh [SECONDS] [ROUNDS]
#
# Interleaves, per round: nothing attached; empty BPF programs on the same 16
# tracepoints (`empty`, bench/floor: the ceiling for any tracer); skbtracer matching nothing;
# skbtracer matching every packet (text to a file); skbtracer matching every
# packet (JSON to a file); every packet recorded unformatted (`--record FILE`, for
# `skbtracer replay`); journeys of every packet (--timeline, JSON to a file;
# tracking on); and the peers on the same 16 tracepoints as skbtracer's default
# probes: bpftrace counting per skb in a map (`bpftrace`), bpftrace printing one
# line per event to a file (`bpftrace_print`), and `perf trace` writing every event
# to a file (`perf`; `perf record` if perf trace is unavailable). A peer whose tool
# is missing is skipped with a note. MODES="timeline json" picks a subset;
# MODES may also name perf_record (perf record -a, binary, not in the default set),
# json_null / text_null (the same output written to /dev/null: how much of a
# mode's cost is the page-cache copy of the file, not the formatting), and
# netfilter_nomatch (nomatch with --netfilter: hook programs at every IPv4 and
# IPv6 hook and nftrace tables in every namespace, matching nothing),
# pcap_nomatch (nomatch's address as a tcpdump expression, run by the BPF
# interpreter on every packet) and pcap_text_null (text_null's packets chosen by
# a tcpdump expression).
#
# Every round starts with `baseline` (nothing attached), whatever MODES says, and
# the ratios are to it. Exits non-zero, with the tracer's stderr, when a tracer
# does not get ready, exits with a non-zero status, or its summary (the event
# and loss counts) cannot be read: a broken run gives no row, never a row of zeros.
#
# Prints packets/s, the ratio to the baseline of the same round, the sender's CPU
# time per packet sent (user+system, from getrusage of the sender process; the
# system part includes the softirq work done in its context, so BPF run on the
# send path shows there), its system part, packets received, events, events lost,
# the tracer's peak RSS and its CPU seconds during the flood. Needs root and a built
# skbtracer (swift build -c release; set SKBTRACER=path to override). bpftrace and
# perf are for this benchmark only (apt-get install bpftrace linux-perf).
set -euo pipefail
secs=${1:-5}
rounds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
bin=${SKBTRACER:-$here/../.build/release/skbtracer}
[[ -x $bin ]] || { echo "flood.sh: no skbtracer at $bin (swift build -c release)" >&2; exit 1; }
p=stb$$
a=$p-a b=$p-b br=$p-br
tmp=$(mktemp -d)
tracer_pid="" sink_pid=""
cleanup() {
  # A case interrupted midway: its shell, tracer, sender and sink are stopped
  # first (their pids are kept in files: cases run in subshells).
  local pid
  pid=$(cat "$tmp/case.pid" 2>/dev/null) && kill -TERM "$pid" 2>/dev/null || true
  # Background jobs start with SIGINT ignored: the tracers handle it themselves
  # (it is how they are stopped), the Python sender and sink get SIGTERM.
  for f in "$tmp/tracer.pid:INT" "$tmp/sender.pid:TERM" "$tmp/sink.pid:TERM"; do
    pid=$(cat "${f%:*}" 2>/dev/null) || continue
    kill -"${f##*:}" "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  ip netns del "$br" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tracepoints of skbtracer's default probes (`skbtracer --list`, starred).
# Two have no skbaddr field in their format (udp_fail_queue_rcv_skb,
# sock_rcvqueue_full), and bpftrace 0.17 has no raw tracepoints: bpftrace counts
# those per probe instead of per skb.
tps_skb="net:net_dev_queue net:netif_rx net:netif_receive_skb net:napi_gro_receive_entry
  net:netif_receive_skb_list_entry skb:kfree_skb skb:consume_skb skb:skb_copy_datagram_iovec
  qdisc:qdisc_enqueue qdisc:qdisc_dequeue icmp:icmp_send tcp:tcp_retransmit_skb
  tcp:tcp_send_reset tcp:tcp_bad_csum"
tps_noskb="udp:udp_fail_queue_rcv_skb sock:sock_rcvqueue_full"
ntps=$(echo $tps_skb $tps_noskb | wc -w)
join() { local sep=$1 pre=$2; shift 2; local out="" t; for t in "$@"; do out+="${out:+$sep}$pre$t"; done; echo "$out"; }
# shellcheck disable=SC2086
{
  bt_skb=$(join ", " tracepoint: $tps_skb)
  bt_noskb=$(join ", " tracepoint: $tps_noskb)
  perf_events=$(join "," "" $tps_skb $tps_noskb)
}
cat >"$tmp/count.bt" <<BT
$bt_skb { @[args->skbaddr] = count(); }
$bt_noskb { @noskb[probe] = count(); }
BT
cat >"$tmp/print.bt" <<BT
$bt_skb { printf("%s %p\n", probe, args->skbaddr); }
$bt_noskb { printf("%s\n", probe); }
BT

bpftrace=${BPFTRACE:-bpftrace} perf=${PERF:-perf}  # paths to the peers (BPFTRACE=none skips)
have_bpftrace=""; command -v "$bpftrace" >/dev/null && have_bpftrace=1
perf_mode=""  # "trace", "record" or "" (no perf)
if command -v "$perf" >/dev/null; then
  if "$perf" trace -e net:net_dev_queue -o /dev/null -- true >/dev/null 2>&1; then perf_mode=trace
  elif "$perf" record -e net:net_dev_queue -o "$tmp/probe.data" -- true >/dev/null 2>&1; then perf_mode=record
  fi
  rm -f "$tmp/probe.data"
fi
[[ -n $perf_mode && -n ${PERF_MODE:-} ]] && perf_mode=$PERF_MODE  # PERF_MODE=record forces perf record

# Mode `empty`: programs that return at once on the same tracepoints (bench/floor),
# the ceiling for any tp_btf tracer here.
# shellcheck source=bench/floor/build.sh
. "$here/floor/build.sh"
have_empty=""
build_floor "$tmp" && have_empty=1

# shellcheck source=bench/bridge_lab.sh
. "$here/bridge_lab.sh"
# shellcheck source=bench/sink.sh
. "$here/sink.sh"
bridge_lab "$a" "$b" "$br" 198.18.250.1 198.18.250.2
ip netns exec "$a" ping -c 1 -W 2 198.18.250.2 >/dev/null

# Waits until process $1 has $2 BPF programs attached to perf events (bpftool), or,
# without bpftool, until it holds at least $2 perf_event fds and that number is steady.
wait_attached() {
  local pid=$1 want=$2 n last=-1 steady=0
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ ${3:-} == bpf ]] && command -v bpftool >/dev/null; then
      n=$(bpftool perf list 2>/dev/null | grep -c "^pid $pid " || true)
      ((n >= want)) && return 0
    else
      n=$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -c 'perf_event' || true)
      if ((n >= want && n == last)); then ((++steady >= 3)) && return 0; else steady=0; fi
      last=$n
    fi
    sleep 0.1
  done
  return 1
}

# The sender, run under a getrusage wrapper: prints "sent cpu_ns sys_ns".
send_flood() {
  ip netns exec "$a" python3 -c '
import resource, signal, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
signal.signal(signal.SIGTERM, lambda *_: (p.kill(), sys.exit(143)))
out = p.communicate()[0].split()[0]
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(out, int((r.ru_utime + r.ru_stime) * 1e9), int(r.ru_stime * 1e9))
' python3 "$here/udp_flood.py" send 198.18.250.2 9000 "$secs" &
  echo $! >"$tmp/sender.pid"
  wait $!
  rm -f "$tmp/sender.pid"
}

# Starts the tracer of mode $1 in the background (sets tracer_pid) and waits until
# it is attached. Returns 1 if it did not get ready.
start_tracer() {
  local mode=$1; shift
  rm -f "$tmp/ready" "$tmp/out" "$tmp/summary"
  case $mode in
    bpftrace)
      BPFTRACE_MAP_KEYS_MAX=${BPFTRACE_MAP_KEYS_MAX:-65536} "$bpftrace" -o "$tmp/out" "$tmp/count.bt" >/dev/null 2>"$tmp/summary" &
      tracer_pid=$!; echo "$tracer_pid" >"$tmp/tracer.pid"; wait_attached "$tracer_pid" "$ntps" bpf ;;
    bpftrace_print)
      "$bpftrace" -o "$tmp/out" "$tmp/print.bt" >/dev/null 2>"$tmp/summary" &
      tracer_pid=$!; echo "$tracer_pid" >"$tmp/tracer.pid"; wait_attached "$tracer_pid" "$ntps" bpf ;;
    empty)
      "$tmp/attach" "$tmp/empty.o" "$tmp/ready" 2>"$tmp/summary" &
      tracer_pid=$!; echo "$tracer_pid" >"$tmp/tracer.pid"
      wait_ready ;;
    perf|perf_record)
      if [[ $mode == perf && $perf_mode == trace ]]; then
        "$perf" trace -e "$perf_events" -o "$tmp/out" >/dev/null 2>"$tmp/summary" &
      else
        "$perf" record -a -e "$perf_events" -o "$tmp/out" >/dev/null 2>"$tmp/summary" &
      fi
      tracer_pid=$!; echo "$tracer_pid" >"$tmp/tracer.pid"; wait_attached "$tracer_pid" $((ntps * $(nproc))) ;;
    *)
      "$bin" "$@" --ready-file "$tmp/ready" 2>"$tmp/summary" &
      tracer_pid=$!; echo "$tracer_pid" >"$tmp/tracer.pid"
      wait_ready ;;
  esac
}

# Until $tmp/ready exists (60 s at most: a debug build on a busy machine is slow);
# 1 if the tracer ended first or never got there.
wait_ready() {
  for _ in $(seq 600); do
    [[ -e $tmp/ready ]] && return 0
    kill -0 "$tracer_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Events and events lost of the tracer of mode $1, after it exited.
count_events() {
  case $1 in
    bpftrace)
      # Sum of the per-skb (and per-probe) counts; nothing can be lost: no event
      # leaves the kernel. The number of map keys goes to $tmp/keys.
      awk -F': ' '/^@/ {n += $2; k++} END {print n + 0, 0; print k + 0 > "'"$tmp/keys"'"}' "$tmp/out" ;;
    bpftrace_print)
      local ev lost
      ev=$(grep -c '^tracepoint:' "$tmp/out" || true)
      lost=$(cat "$tmp/out" "$tmp/summary" | sed -n 's/.*Lost \([0-9]*\) events.*/\1/p' | awk '{n += $1} END {print n + 0}')
      echo "$ev $lost" ;;
    empty) echo "0 0" ;;
    perf|perf_record)
      if [[ $1 == perf && $perf_mode == trace ]]; then
        local ev lost
        ev=$(grep -cE ' [a-z_]+:[a-z_0-9]+\(' "$tmp/out" || true)
        lost=$(sed -n 's/.*LOST \([0-9]*\) events.*/\1/p' "$tmp/out" | awk '{n += $1} END {print n + 0}')
        echo "$ev $lost"
      else
        local ev lost
        "$perf" script -i "$tmp/out" --show-lost-events 2>/dev/null |
          awk '/PERF_RECORD_LOST lost/ {lost += $NF; next} {ev++} END {print ev + 0, lost + 0}'
      fi ;;
    *)
      # skbtracer's summary line; without one there is nothing to report.
      local ev lost
      ev=$(sed -n 's/^skbtracer: \([0-9][0-9]*\) events.*/\1/p' "$tmp/summary" | tail -n 1)
      lost=$(sed -n 's/^skbtracer: .*events[^,]*, \([0-9][0-9]*\) lost.*/\1/p' "$tmp/summary" | tail -n 1)
      [[ -n $ev && -n $lost ]] || return 1
      echo "$ev $lost" ;;
  esac
}

run_case() { # mode, tracer args... ; prints "pps cpu_ns_per_pkt sys_ns_per_pkt recv events lost rss_mb tracer_cpu_s"
  local mode=$1; shift
  tracer_pid=""
  if [[ $mode != baseline ]]; then
    start_tracer "$mode" "$@" || { echo "flood.sh: $mode did not get ready:" >&2; cat "$tmp/summary" >&2; return 1; }
  fi
  start_sink "$b" 9000 "$tmp/recv" || return 1
  echo "$sink_pid" >"$tmp/sink.pid"
  local sent cpu sys
  read -r sent cpu sys <<<"$(send_flood)"
  stop_sink; rm -f "$tmp/sink.pid"
  local events=0 lost=0 rss=0 tcpu=0 status=0 counts
  if [[ -n $tracer_pid ]]; then
    if ! kill -0 "$tracer_pid" 2>/dev/null; then
      wait "$tracer_pid" || status=$?
      echo "flood.sh: $mode ended during the flood (status $status):" >&2; cat "$tmp/summary" >&2; return 1
    fi
    rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$tracer_pid/status")
    # CPU (user+system) the tracer used so far: start-up and the flood, not the drain.
    tcpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$tracer_pid/stat")
    kill -INT "$tracer_pid" 2>/dev/null || true
    wait "$tracer_pid" || status=$?
    tracer_pid=""; rm -f "$tmp/tracer.pid"
    if ((status != 0)); then
      echo "flood.sh: $mode exited with status $status:" >&2; cat "$tmp/summary" >&2; return 1
    fi
    if ! counts=$(count_events "$mode"); then
      echo "flood.sh: $mode: no event and loss counts in its output:" >&2; cat "$tmp/summary" >&2; return 1
    fi
    read -r events lost <<<"$counts"
  fi
  ((sent > 0)) || { echo "flood.sh: $mode: the sender sent nothing" >&2; return 1; }
  rm -f "$tmp/out" "$tmp/events.txt" "$tmp/events.json" "$tmp/journeys.json" "$tmp/events.skbt"
  echo "$((sent / secs)) $((cpu / sent)) $((sys / sent)) $(cat "$tmp/recv") $events $lost $rss $tcpu"
}

# run_case in a background subshell the main shell waits for (its line goes to
# $tmp/case.out): `wait` lets a signal (Ctrl-C, SIGTERM) through at once, and
# cleanup then stops the case.
case_bg() {
  run_case "$@" >"$tmp/case.out" &
  echo $! >"$tmp/case.pid"
  wait $!
  rm -f "$tmp/case.pid"
}

fmt="%-6s %-15s %10s %6s %8s %8s %10s %10s %9s %8s %8s\n"
printf "$fmt" round mode sent_pps ratio cpu_ns/p sys_ns/p received events lost rss_mb tcpu_s
[[ -z $have_bpftrace ]] && echo "note: bpftrace not installed: modes bpftrace and bpftrace_print skipped (apt-get install bpftrace)"
[[ -z $perf_mode ]] && echo "note: perf (trace or record) not available: mode perf skipped (apt-get install linux-perf)"
[[ $perf_mode == record ]] && echo "note: mode perf is perf record -a -e <the 16 tracepoints> -o FILE (events counted with perf script afterwards)"
[[ $perf_mode == trace ]] && echo "note: mode perf is perf trace -e <the 16 tracepoints> -o FILE"
row() { # round mode; prints the row of $tmp/case.out with its ratio to $base
  local pps cpu sys recv events lost rss tcpu ratio
  read -r pps cpu sys recv events lost rss tcpu <"$tmp/case.out"
  ratio=$(python3 -c "print(f'{$pps/$base:.2f}')")
  printf "$fmt" "$1" "$2" "$pps" "$ratio" "$cpu" "$sys" "$recv" "$events" "$lost" "$rss" "$tcpu"
}

for r in $(seq "$rounds"); do
  # Nothing attached, first in every round: the ratios' reference.
  case_bg baseline
  read -r base _ <"$tmp/case.out"
  row "$r" baseline
  for mode in ${MODES:-empty nomatch text json record timeline bpftrace bpftrace_print perf}; do
    case $mode in
      baseline) continue ;;
      empty)
        if [[ -z $have_empty ]]; then printf "%-6s %-15s skipped: cannot build bench/floor\n" "$r" "$mode"; continue; fi
        case_bg empty ;;
      nomatch) case_bg nomatch -H 198.51.100.99 -o /dev/null ;;
      netfilter_nomatch) case_bg netfilter_nomatch -H 198.51.100.99 --netfilter -o /dev/null ;;
      pcap_nomatch) case_bg pcap_nomatch -o /dev/null "host 198.51.100.99" ;;
      pcap_text_null) case_bg pcap_text_null -o /dev/null "udp and host 198.18.250.2" ;;
      text) case_bg text -H 198.18.250.2 -o "$tmp/events.txt" ;;
      json) case_bg json -H 198.18.250.2 --json -o "$tmp/events.json" ;;
      json_null) case_bg json_null -H 198.18.250.2 --json -o /dev/null ;;
      record) case_bg record -H 198.18.250.2 --record "$tmp/events.skbt" ;;
      text_null) case_bg text_null -H 198.18.250.2 -o /dev/null ;;
      timeline) case_bg timeline -H 198.18.250.2 --timeline --json -o "$tmp/journeys.json" ;;
      bpftrace|bpftrace_print)
        if [[ -z $have_bpftrace ]]; then printf "%-6s %-15s skipped: no bpftrace\n" "$r" "$mode"; continue; fi
        case_bg "$mode" ;;
      perf|perf_record)
        if [[ -z $perf_mode ]]; then printf "%-6s %-15s skipped: no perf\n" "$r" "$mode"; continue; fi
        case_bg "$mode" ;;
      *) echo "flood.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
    row "$r" "$mode"
    if [[ $mode == bpftrace && -s $tmp/keys ]]; then
      echo "       (bpftrace: $(cat "$tmp/keys") map keys, i.e. distinct skb addresses)"
    fi
  done
done
