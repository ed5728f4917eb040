# The function backends on a kernel that has them (Debian's 6.12 cloud kernel):
# every function with an sk_buff through kprobe-multi (-t all-functions), the
# curated set by default, one curated group, a few functions through single
# kprobes, journeys and JSON with function hops, auto picking kprobe-multi, and
# nothing left attached after each run. Prints CHECK and STARTUP lines for
# Tests/KernelTests/FunctionBackendVMTests.swift.
make_lab
icmp_b="-H 198.18.77.2 --proto icmp"

# 1. Every function: one ping's path through veth, the bridge (both modules) and
#    the IP stack, functions and tracepoints in one stream.
trace /tmp/multi --backend kprobe-multi -t default,all-functions $icmp_b --duration 120
# The check that nothing is left must see a running trace (a positive control).
check control-sees-trace something_left
ping_b 1; sleep 1; stop
echo "SUMMARY multi $(tail -1 /tmp/multi.err)"
check multi-exit [ "$rc" = 0 ]
for f in ip_rcv icmp_rcv veth_xmit br_handle_frame_finish __dev_queue_xmit net_dev_queue; do
  check "multi-has-$f" grep -q ":$f " /tmp/multi
done
check multi-many-functions grep -qE ' [0-9]{4,}/[0-9]+ functions \(kprobe-multi\)' /tmp/multi.err
check multi-no-loss grep -q ' 0 lost' /tmp/multi.err
check multi-nothing-left nothing_left

# 1b. The default: the curated functions this kernel has (about 150; the lab
#     loads veth, bridge and nf_tables, not the tunnel or tc modules), said on
#     stderr, and the ping still seen at the bridge and the IP stack.
trace /tmp/curated --backend kprobe-multi $icmp_b --duration 120
ping_b 1; sleep 1; stop
echo "SUMMARY curated $(tail -1 /tmp/curated.err)"
check curated-exit [ "$rc" = 0 ]
check curated-note grep -q 'curated kernel functions .*-t all-functions' /tmp/curated.err
check curated-count grep -qE ' 1[0-9]{2}/1[0-9]{2} functions \(kprobe-multi\)' /tmp/curated.err
for f in br_forward ip_rcv icmp_rcv; do check "curated-has-$f" grep -q ":$f " /tmp/curated; done
check curated-nothing-left nothing_left

# 1c. One group: -t bridge is the bridge's functions alone (no tracepoint group
#     has that name), in the order the ping meets them.
trace /tmp/bridge --backend kprobe-multi -t bridge $icmp_b --duration 120
ping_b 1; sleep 1; stop
check bridge-exit [ "$rc" = 0 ]
check bridge-no-note sh -c "! grep -q 'curated kernel functions' /tmp/bridge.err"
for f in br_handle_frame_finish br_forward br_dev_queue_push_xmit; do check "bridge-has-$f" grep -q ":$f " /tmp/bridge; done
check bridge-only-bridge [ -z "$(grep -vE ':(br_[a-z_]+|__br_forward|maybe_deliver) |^TIME' /tmp/bridge)" ]
check bridge-order sh -c "grep -nE ':(br_handle_frame_finish|br_forward) ' /tmp/bridge | head -1 | grep -q ':br_handle_frame_finish '"
check bridge-nothing-left nothing_left

# 2. One kprobe per function, narrowed with --filter-func (which then picks no
#    tracepoint).
trace /tmp/single --backend kprobe --filter-func '^(ip_rcv|icmp_rcv|veth_xmit)$' $icmp_b --duration 120
ping_b 1; sleep 1; stop
echo "SUMMARY single $(tail -1 /tmp/single.err)"
check single-exit [ "$rc" = 0 ]
check single-three-functions grep -q ' 0/0 probes attached, 3/3 functions (kprobe)' /tmp/single.err
for f in ip_rcv icmp_rcv veth_xmit; do check "single-has-$f" grep -q ":$f " /tmp/single; done
check single-only-those [ -z "$(grep -vE ':(ip_rcv|icmp_rcv|veth_xmit) |^TIME' /tmp/single)" ]
check single-nothing-left nothing_left

# 2b. A tcpdump expression at function probes: only the echo requests, at
#     functions where the skb has an Ethernet header (veth_xmit) and where it
#     has only its IP header left (icmp_rcv).
trace /tmp/pcap --backend kprobe --filter-func '^(veth_xmit|icmp_rcv)$' 'icmp[icmptype] == icmp-echo and host 198.18.77.2' \
  --duration 120
ping_b 1; sleep 1; stop
check pcap-exit [ "$rc" = 0 ]
for f in veth_xmit icmp_rcv; do check "pcap-has-$f" grep -q ":$f " /tmp/pcap; done
check pcap-requests-only [ -z "$(grep -v '^TIME' /tmp/pcap | grep -v 'I_request:')" ]
check pcap-nothing-left nothing_left

# 2c. --output-caller: ip_rcv is called from the receive path's core, and every
#     function event names a caller (kprobe-multi reads the return address).
trace /tmp/caller --backend kprobe-multi --filter-func '^(ip_rcv|icmp_rcv)$' --output-caller $icmp_b --duration 120
ping_b 1; sleep 1; stop
check caller-exit [ "$rc" = 0 ]
check caller-ip-rcv grep -qE ':ip_rcv .*caller=__netif_receive_skb' /tmp/caller
check caller-on-every-function [ -z "$(grep -E ':(ip_rcv|icmp_rcv) ' /tmp/caller | grep -v ' caller=')" ]
check caller-nothing-left nothing_left

# 3. Journeys with function hops: the request's path, consumed by icmp_rcv.
trace /tmp/timeline --backend kprobe-multi --filter-func '^(ip_rcv|icmp_rcv|veth_xmit|br_forward|kfree_skb|consume_skb)$' \
  --timeline $icmp_b --duration 120
ping_b 1; sleep 3; stop
check timeline-exit [ "$rc" = 0 ]
check timeline-hops grep -q 'veth_xmit' /tmp/timeline
check timeline-path grep -q 'path: stqa:stqa1' /tmp/timeline
check timeline-consumed grep -q 'consumed (icmp_rcv)' /tmp/timeline
check timeline-nothing-left nothing_left

# 4. auto picks kprobe-multi; JSON marks function events.
trace /tmp/auto --backend auto --json $icmp_b --filter-func '^ip_rcv$' --duration 120
ping_b 1; sleep 1; stop
check auto-kprobe-multi grep -q '1/1 functions (kprobe-multi)' /tmp/auto.err
check auto-json grep -q '"probe":"ip_rcv","function":true' /tmp/auto
check auto-nothing-left nothing_left

# 5. Start-up, launch to ready file, interleaved: tracepoints only, and every
#    function through kprobe-multi (emulated CPU: compare, do not read as times).
for round in 1 2 3; do
  trace /tmp/s1 -H 198.51.100.1 -o /dev/null; stop; echo "STARTUP tracepoint $ready_ms $stop_ms"
  trace /tmp/s2 --backend kprobe-multi -t default,all-functions -H 198.51.100.1 -o /dev/null; stop; echo "STARTUP kprobe-multi $ready_ms $stop_ms"
done

# 6. Every program under each mix of options, functions included.
. /guest/load-mixes.sh
load_mixes yes

echo "FAILURES $failures"
[ "$failures" = 0 ]
