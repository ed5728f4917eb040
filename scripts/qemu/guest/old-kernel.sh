# A kernel without the function backends' needs (Debian 12's 6.1: no fprobe,
# no bpf_rdonly_cast): asking for them is one clear error and leaves nothing
# attached; auto falls back to tracepoints, which trace the lab's ping.
make_lab
skbtracer --backend kprobe-multi -c 1 --duration 30 > /tmp/o 2> /tmp/e
rc=$?
echo "ERROR $(cat /tmp/e)"
check explicit-fails [ "$rc" != 0 ]
check explicit-one-line [ "$(wc -l < /tmp/e)" = 1 ]
check explicit-names-cause grep -q 'bpf_rdonly_cast' /tmp/e
check explicit-nothing-left nothing_left

trace /tmp/auto --backend auto -H 198.18.77.2 --proto icmp --duration 120
ping_b 1; sleep 1; stop
echo "SUMMARY auto $(tail -1 /tmp/auto.err)"
check auto-exit [ "$rc" = 0 ]
check auto-warns grep -q 'tracing with tracepoints only' /tmp/auto.err
# The curated default's note is said only when its functions load.
check auto-no-curated-note sh -c "! grep -q 'curated kernel functions' /tmp/auto.err"
check auto-traces grep -q 'net_dev_queue' /tmp/auto
check auto-nothing-left nothing_left

# Every tracepoint program under each mix of options (kfree_skb was refused
# here: its frame and parse_packet()'s were over 512 bytes once rounded to 32).
. /guest/load-mixes.sh
load_mixes no

echo "FAILURES $failures"
[ "$failures" = 0 ]
