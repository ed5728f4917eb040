# Sourced by the bench scripts: two namespaces A and B joined by a bridge that
# lives in a third namespace BR (so the host's own namespace is not touched),
# A at ADDR_A/24 and B at ADDR_B/24 on their eth0. The caller deletes the three
# namespaces (its cleanup trap).
#
#   bridge_lab A B BR ADDR_A ADDR_B
bridge_lab() {
  local a=$1 b=$2 br=$3 ns
  ip netns add "$a"; ip netns add "$b"; ip netns add "$br"
  ip -n "$br" link add br0 type bridge
  ip -n "$br" link set br0 up
  for ns in "$a" "$b"; do
    ip -n "$br" link add "v-$ns" type veth peer name eth0 netns "$ns"
    ip -n "$br" link set "v-$ns" master br0 up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
  ip -n "$a" addr add "$4/24" dev eth0
  ip -n "$b" addr add "$5/24" dev eth0
}
