#!/usr/bin/env bash
# Start-up: time from launch to the ready file (all programs loaded, verified and
# attached), per probe set, N runs each, interleaved. A filter that matches nothing
# and -o /dev/null: no event is written.
#
#   bench/startup.sh [RUNS]        (SKBTRACER=path overrides the release binary)
set -euo pipefail
runs=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
bin=${SKBTRACER:-$here/../.build/release/skbtracer}
[[ -x $bin ]] || { echo "startup.sh: no skbtracer at $bin (swift build -c release)" >&2; exit 1; }
tmp=$(mktemp -d)
pid=""
cleanup() { [[ -n $pid ]] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

sets=("default:" "timeline:--timeline" "all:-t all" "one:-t kfree_skb" "owner:--owner")
declare -A results
for _ in $(seq "$runs"); do
  for s in "${sets[@]}"; do
    name=${s%%:*} extra=${s#*:}
    rm -f "$tmp/ready"
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    "$bin" -H 198.51.100.1 $extra -o /dev/null --ready-file "$tmp/ready" 2>"$tmp/err" & pid=$!
    while [[ ! -e $tmp/ready ]]; do
      kill -0 "$pid" 2>/dev/null || { echo "startup.sh: $name exited early: $(cat "$tmp/err")" >&2; exit 1; }
      sleep 0.005
    done
    end=$(date +%s%N)
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    results[$name]+=" $(((end - start) / 1000000))"
  done
done
for s in "${sets[@]}"; do
  name=${s%%:*}
  # shellcheck disable=SC2086
  printf "%-9s ms:%s  median %s\n" "$name" "${results[$name]}" \
    "$(printf "%s\n" ${results[$name]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
