# load_mixes yes|no: every tracepoint program (and, with yes, every function
# program) loads and attaches under each mix of options on this guest's kernel.
# The verifier's limits differ between kernels: a 6.1 frame is rounded up to 32
# bytes, 6.12's to 16, and neither has the private stacks of 6.13+. Sourced by
# the other guest scripts (vm.sh copies this directory to /guest). The words
# after the options of the last two mixes are a tcpdump expression (its
# interpreter, and the VLAN tag read that differs before Linux 6.2).
load_mixes() {
  functions=$1
  n=0
  for mix in "-t_all" "-t_all_--route_--ct_--callstack_--owner_--output-tunnel" "-t_all_--ct_--dropstack_--track_--output-skb_--output-tunnel" \
      "--timeline_--route_--ct_--owner" "-t_all_--pkt-len_0-1500_-i_lo_--mark_1/1_--tcp-flags_S_--owner-pid_1_--route_tcp_port_80_and_host_10.1.2.3" \
      "-t_all_--write_/dev/null_--snaplen_1536_--ct_--callstack_--owner_--output-tunnel_--track_vlan_or_ip6"; do
    n=$((n + 1))
    args=$(echo "$mix" | tr '_' ' ')
    # --write writes where -o would.
    out="-o /dev/null"
    case "$args" in *--write*) out="" ;; esac
    skbtracer --duration 0.3 $out $args > /dev/null 2> /tmp/mix.err
    rc=$?
    echo "MIX $n tracepoints: $(tail -1 /tmp/mix.err)"
    check "mix$n-tracepoints" sh -c "[ $rc = 0 ] && ! grep -q 'verifier rejected' /tmp/mix.err"
    [ "$functions" = yes ] || continue
    # Every function (the mix's -t adds all-functions), so every position's program loads.
    case "$args " in "-t all "*) fargs="-t all,all-functions ${args#-t all}" ;; *) fargs="-t default,all-functions $args" ;; esac
    skbtracer --duration 0.3 $out --backend kprobe-multi $fargs > /dev/null 2> /tmp/mix.err
    rc=$?
    echo "MIX $n functions: $(tail -1 /tmp/mix.err)"
    check "mix$n-functions" sh -c "[ $rc = 0 ] && grep -q ' functions (kprobe-multi)' /tmp/mix.err && ! grep -q 'verifier rejected' /tmp/mix.err"
  done
  check mixes-nothing-left nothing_left
}
