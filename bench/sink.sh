# Sourced by the bench scripts: the UDP sink of udp_flood.py in namespace NS, started
# before the sender and stopped after it, so neither its start-up nor a fixed
# lifetime decides how much of the flood it counts.
#
#   start_sink NS PORT OUT   # returns once the port is bound (or 1 after 30 s); sets sink_pid
#   stop_sink                # SIGTERM; the sink drains its queue, writes its count to OUT, ends
start_sink() {
  local ns=$1 port=$2 out=$3
  # 600 s: only a bound for a script that dies without stopping it.
  ip netns exec "$ns" python3 "$(dirname "${BASH_SOURCE[0]}")/udp_flood.py" sink "$port" 600 >"$out" &
  sink_pid=$!
  for _ in $(seq 300); do
    ip netns exec "$ns" ss -Hnuln "sport = :$port" 2>/dev/null | grep -q ":$port" && return 0
    kill -0 "$sink_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "${0##*/}: the UDP sink in $ns did not bind port $port" >&2
  return 1
}

stop_sink() {
  [[ -n ${sink_pid:-} ]] || return 0
  kill -TERM "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" || true
  sink_pid=""
}
