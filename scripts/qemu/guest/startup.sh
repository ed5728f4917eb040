# Start-up and shutdown of each backend (launch to ready file; SIGINT to exit),
# with every function (-t all-functions) and, for kprobe-multi, the curated default,
# interleaved, RUNS rounds (first argument, default 3). kprobe attaches every
# function one link at a time, so it runs once, last. Run by bench/vm_startup.sh.
runs=${1:-3}
quiet="-H 198.51.100.1 -o /dev/null"
round=1
while [ $round -le $runs ]; do
  trace /tmp/s $quiet; stop; echo "STARTUP tracepoint ready_ms=$ready_ms stop_ms=$stop_ms"
  trace /tmp/s --backend kprobe-multi -t default,all-functions $quiet; stop
  echo "STARTUP kprobe-multi ready_ms=$ready_ms stop_ms=$stop_ms $(grep -o '[0-9]*/[0-9]* functions' /tmp/s.err)"
  trace /tmp/s --backend kprobe-multi $quiet; stop
  echo "STARTUP kprobe-multi-curated ready_ms=$ready_ms stop_ms=$stop_ms $(grep -o '[0-9]*/[0-9]* functions' /tmp/s.err)"
  round=$((round + 1))
done
trace /tmp/s --backend kprobe -t default,all-functions $quiet; stop
echo "STARTUP kprobe ready_ms=$ready_ms stop_ms=$stop_ms $(grep -o '[0-9]*/[0-9]* functions' /tmp/s.err)"
