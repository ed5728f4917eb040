# Helpers for the guest scripts (prepended to each by vm.sh; busybox sh).

failures=0
# check NAME CONDITION...: prints CHECK NAME ok|FAIL and counts failures.
check() {
  name=$1; shift
  if "$@"; then echo "CHECK $name ok"; else echo "CHECK $name FAIL"; failures=$((failures + 1)); fi
}

# Two namespaces joined by veth pairs and a bridge in the root namespace:
# stqa (198.18.77.1) -- stqa0 [stqbr] stqb0 -- stqb (198.18.77.2). The guest has
# no network device: the traffic never leaves it.
make_lab() {
  ip netns add stqa && ip netns add stqb
  ip link add stqbr type bridge && ip link set stqbr up
  for n in a b; do
    ip link add stq${n}0 type veth peer name stq${n}1
    ip link set stq${n}1 netns stq$n
    ip link set stq${n}0 master stqbr up
    ip -n stq$n link set lo up
    ip -n stq$n link set stq${n}1 up
  done
  ip -n stqa addr add 198.18.77.1/24 dev stqa1
  ip -n stqb addr add 198.18.77.2/24 dev stqb1
}

ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

# trace OUT ARGS...: starts skbtracer in the background with a ready file; sets
# $pid and $ready_ms (launch to ready). Returns 1 if it exited first.
trace() {
  out=$1; shift
  rm -f /tmp/ready
  t0=$(ms_now)
  skbtracer --ready-file /tmp/ready "$@" > "$out" 2> "$out.err" &
  pid=$!
  while [ ! -e /tmp/ready ]; do
    kill -0 $pid 2>/dev/null || { wait $pid; echo "skbtracer exited early: $(cat "$out.err")"; return 1; }
    usleep 10000
  done
  ready_ms=$(( $(ms_now) - t0 ))
}

# stop: SIGINT and wait; sets $stop_ms and $rc.
stop() {
  t0=$(ms_now)
  kill -INT $pid
  wait $pid
  rc=$?
  stop_ms=$(( $(ms_now) - t0 ))
}

# Nothing of skbtracer's is left in the kernel: no BPF program, no kprobe, no
# ftrace callback (kprobe-multi registers an fprobe). Each source must be
# readable, or the check fails rather than passing on nothing.
nothing_left() {
  progs=$(bpftool prog show) || return 1
  [ -r /sys/kernel/debug/kprobes/list ] && [ -r /sys/kernel/tracing/enabled_functions ] || return 1
  [ -z "$(echo "$progs" | grep -E 'kprobe_multi_s|kprobe_skb_|tp_net_dev|tp_kfree')" ] &&
    [ ! -s /sys/kernel/debug/kprobes/list ] &&
    [ -z "$(cat /sys/kernel/tracing/enabled_functions)" ]
}

something_left() { ! nothing_left; }

ping_b() { ip netns exec stqa ping -c "${1:-1}" -W 2 198.18.77.2 > /dev/null; }
