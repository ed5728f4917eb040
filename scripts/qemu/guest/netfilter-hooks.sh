# --list-hooks in the guest. Debian's 6.12 kernel has the kernel's hook listing
# (nfnetlink_hook), its 6.1 kernel does not: with `expect-none` as argument the
# base chains must stand in with a note, otherwise the kernel's listing must show
# what the test's tables add.

mode=${1:-expect-hooks}
out=/tmp/hooks

# FILE holds exactly one line: skbtracer: error: ... Hint: ...
one_error_line() { [ "$(wc -l < "$1")" -eq 1 ] && grep -q '^skbtracer: error: .*Hint: ' "$1"; }
# The text listing as lines "FAMILY HOOK DEVICE|- ENTRY", to grep whole lines.
flat() {
  awk '/^family /{f=$2} /^\thook /{h=$2; d=($3=="device")?$4:"-"} /^\t\t/{sub(/^\t\t/,""); print f, h, d, $0}' "$1"
}
has() { flat $out | grep -qxF "$1"; }

# Before nfnetlink is loaded the netlink socket itself is refused.
skbtracer --list-hooks > $out 2> $out.err; rc=$?
check no-nfnetlink-exit [ $rc -eq 2 ]
check no-nfnetlink-one-line one_error_line $out.err
check no-nfnetlink-names-cause grep -q 'no nfnetlink hook subsystem' $out.err
check no-nfnetlink-no-output [ ! -s $out ]

for m in $(cat /modules/extra/order); do insmod /modules/extra/$m.ko; done
ip netns add sthk
ip -n sthk link set lo up
cat > /tmp/hk.nft <<'NFT'
table ip sthk4 {
  chain fwdc { type filter hook forward priority -7; }
}
table ip6 sthk6 {
  chain in6c { type filter hook input priority 3; }
}
table inet sthki {
  chain inc { type filter hook input priority 11; }
}
table netdev sthkn {
  chain ingc { type filter hook ingress device lo priority -5; }
}
NFT
printf 'table bridge sthkb {\n  chain brfc { type filter hook forward priority -3; }\n}\n' > /tmp/hkb.nft
check tables-added ip netns exec sthk nft -f /tmp/hk.nft
check bridge-table-added ip netns exec sthk nft -f /tmp/hkb.nft

if [ "$mode" = expect-none ]; then
  # No hook listing: the base chains stand in, with one note line.
  skbtracer --list-hooks -N sthk > $out 2> $out.err; rc=$?
  cat $out $out.err
  check chains-exit [ $rc -eq 0 ]
  check chains-note sh -c "[ \$(wc -l < $out.err) -eq 1 ] && grep -q '^skbtracer: note: .*CONFIG_NETFILTER_NETLINK_HOOK.*base chains only' $out.err"
  check chains-ip-forward has 'ip forward - -0000000007 chain ip sthk4 fwdc [nf_tables]'
  check chains-inet-in-ip6 has 'ip6 input - +0000000011 chain inet sthki inc [nf_tables]'
  check chains-netdev-ingress has 'netdev ingress lo -0000000005 chain netdev sthkn ingc [nf_tables]'
  check chains-bridge-forward has 'bridge forward - -0000000003 chain bridge sthkb brfc [nf_tables]'
  check chains-by-priority [ "$(flat $out | grep '^ip6 input ' | sed 's/.* chain //')" = "$(printf 'ip6 sthk6 in6c [nf_tables]\ninet sthki inc [nf_tables]')" ]
else
  skbtracer --list-hooks -N sthk > $out 2> $out.err; rc=$?
  cat $out $out.err
  check text-exit [ $rc -eq 0 ]
  check ip-forward has 'ip forward - -0000000007 chain ip sthk4 fwdc [nf_tables]'
  check ip6-input has 'ip6 input - +0000000003 chain ip6 sthk6 in6c [nf_tables]'
  check inet-in-ip has 'ip input - +0000000011 chain inet sthki inc [nf_tables]'
  check inet-in-ip6 has 'ip6 input - +0000000011 chain inet sthki inc [nf_tables]'
  check netdev-ingress has 'netdev ingress lo -0000000005 chain netdev sthkn ingc [nf_tables]'
  check bridge-forward has 'bridge forward - -0000000003 chain bridge sthkb brfc [nf_tables]'
  # The kernel's order: by priority within a hook.
  check by-priority [ "$(flat $out | grep '^ip6 input ' | sed 's/.* chain //')" = "$(printf 'ip6 sthk6 in6c [nf_tables]\ninet sthki inc [nf_tables]')" ]

  echo "nft list hooks, for comparison:"; ip netns exec sthk nft list hooks
  skbtracer --list-hooks -N sthk --json > $out.json 2> $out.err; rc=$?
  cat $out.json
  check json-exit [ $rc -eq 0 ]
  # The schema object first, then one object per entry.
  check json-one-per-entry [ "$(head -n 1 $out.json | grep -c '^{"type":"schema","version":"[0-9]*\.[0-9]*"}$')" -eq 1 \
    -a "$(wc -l < $out.json)" -eq "$(( $(flat $out | wc -l) + 1 ))" ]
  check json-ip-forward grep -q '^{"type":"netfilter_hook","netns":[0-9]*,"netns_name":"sthk","family":"ip","hook":"forward","device":null,"priority":-7,"function":"[a-z_0-9]*","module":[^,]*,"chain":{"family":"ip","table":"sthk4","name":"fwdc"},"bpf_prog_id":null,"bpf_prog_name":null}$' $out.json
  check json-netdev grep -q '"family":"netdev","hook":"ingress","device":"lo","priority":-5,.*"chain":{"family":"netdev","table":"sthkn","name":"ingc"}' $out.json

  # A BPF netfilter program (Linux 6.4+), attached in this namespace while the
  # listings run: by id and name, and gone once detached.
  nf-bpf-link -123 "skbtracer --list-hooks > $out.bpf 2>&1; skbtracer --list-hooks --json > $out.bpfjson 2>&1"; rc=$?
  cat $out.bpf $out.bpfjson
  check bpf-attached [ $rc -eq 0 ]
  bpf_text() { flat $out.bpf | grep -qE '^ip input - -0000000123 bpf prog [1-9][0-9]* st_nf_accept$'; }
  check bpf-text bpf_text
  check bpf-json grep -q '"family":"ip","hook":"input","device":null,"priority":-123,"function":"[a-z_0-9]*","module":[^,]*,"chain":null,"bpf_prog_id":[1-9][0-9]*,"bpf_prog_name":"st_nf_accept"}$' $out.bpfjson
  skbtracer --list-hooks > $out.bpf 2>&1
  check bpf-gone sh -c "! grep -q 'bpf prog' $out.bpf"

  # Another namespace's chains stay there.
  skbtracer --list-hooks > $out 2> $out.err; rc=$?
  check own-netns-exit [ $rc -eq 0 ]
  check own-netns-alone sh -c "! grep -q sthk $out"
fi

# --netfilter's hook programs (Linux 6.4+), at the first and the last priority
# of each hook of the traced namespace; on 6.1 one warning, and the trace runs.
if [ "$mode" = expect-none ]; then
  skbtracer --netfilter --duration 0.5 -o /dev/null 2> /tmp/nf.err; rc=$?
  cat /tmp/nf.err
  check nf-old-exit [ $rc -eq 0 ]
  check nf-old-warns grep -q -- '--netfilter: .*Linux 6.4' /tmp/nf.err
  check nf-old-traced grep -q 'probes attached' /tmp/nf.err
else
  hooks_out=$out
  trace /tmp/nf -N sthk --netfilter -p icmp
  ip netns exec sthk ping -c 1 -W 1 127.0.0.1 > /dev/null
  skbtracer --list-hooks -N sthk > /tmp/nf.hooks 2>&1
  sleep 0.3; kill -INT $pid; wait $pid; rc=$?
  out=$hooks_out
  cat /tmp/nf /tmp/nf.err /tmp/nf.hooks
  check nf-exit [ $rc -eq 0 ]
  check nf-output-entered grep -q 'nf=ip OUTPUT entered' /tmp/nf
  check nf-input-left grep -q 'nf=ip INPUT left' /tmp/nf
  nf_listed() {
    flat /tmp/nf.hooks | grep -qE '^ip forward - -2147483647 bpf prog [1-9][0-9]* nf_hook_entry$' &&
      flat /tmp/nf.hooks | grep -qE '^ip6 input - \+2147483646 bpf prog [1-9][0-9]* nf_hook_exit$'
  }
  check nf-listed nf_listed
  skbtracer --list-hooks -N sthk > /tmp/nf.after 2>&1
  check nf-links-gone sh -c "! grep -q nf_hook_ /tmp/nf.after"
fi

# Rule verdicts (nftrace, owner-flag tables: Linux 5.12+) need no netfilter
# programs: on both kernels a drop rule's verdict names the rule, and
# skbtracer's own table is gone afterwards.
ip netns exec sthk nft add table inet sthkd
ip netns exec sthk nft add chain inet sthkd outc '{ type filter hook output priority 0; }'
ip netns exec sthk nft add rule inet sthkd outc icmp type echo-request drop
hooks_out=$out
trace /tmp/nfv -N sthk --netfilter -p icmp
ip netns exec sthk ping -c 1 -W 1 127.0.0.1 > /dev/null
sleep 0.3; kill -INT $pid; wait $pid; rc=$?
out=$hooks_out
cat /tmp/nfv /tmp/nfv.err
check nfv-exit [ $rc -eq 0 ]
check nfv-verdict grep -qE 'nft_rule - nf=inet sthkd outc #[0-9]+ drop' /tmp/nfv
check nfv-table-gone sh -c "! ip netns exec sthk nft list tables | grep -q skbtracer_"
ip netns exec sthk nft delete table inet sthkd

skbtracer --list-hooks -N sthk-none > $out 2> $out.err; rc=$?
check unknown-netns-exit [ $rc -eq 2 ]
check unknown-netns-one-line one_error_line $out.err

ip netns del sthk
[ $failures -eq 0 ]
