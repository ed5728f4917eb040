# Makes format3.rec (see README.md). Run as root; only lab namespaces stfx3a/b get traffic.
set -u
B=${SKBTRACER:-.build/debug/skbtracer}  # run from the repository root
P=stfx3
cleanup(){ ip netns del ${P}a 2>/dev/null; ip netns del ${P}b 2>/dev/null; }
trap cleanup EXIT
cleanup
ip netns add ${P}a; ip netns add ${P}b
ip link add ${P}va netns ${P}a type veth peer name ${P}vb netns ${P}b
ip -n ${P}a addr add 10.99.77.1/24 dev ${P}va; ip -n ${P}b addr add 10.99.77.2/24 dev ${P}vb
ip -n ${P}a link set ${P}va up; ip -n ${P}b link set ${P}vb up
ip -n ${P}a link set lo up; ip -n ${P}b link set lo up
ip netns exec ${P}b iptables -A INPUT -p udp --dport 9 -j DROP
# conntrack in both namespaces, so events carry entries (--ct)
ip netns exec ${P}a iptables -A INPUT -m conntrack --ctstate INVALID -j DROP
ip netns exec ${P}b iptables -A INPUT -m conntrack --ctstate INVALID -j DROP
rm -f rdy; $B trace -H 10.99.77.2 --track --route --ct --owner --dropstack --output-skb --record format3.rec --ready-file rdy --duration 8 2>trace.err &
T=$!
for i in $(seq 50); do [ -e rdy ] && break; sleep 0.2; done
ip netns exec ${P}a ping -c 2 -i 0.2 -W 1 10.99.77.2 >/dev/null
ip netns exec ${P}a bash -c 'echo x > /dev/udp/10.99.77.2/9' 
ip netns exec ${P}a timeout 2 bash -c 'echo x > /dev/tcp/10.99.77.2/80' 2>/dev/null
ip netns exec ${P}a ping6 -c 1 -W 1 ::1 >/dev/null 2>&1
kill -INT $T; wait $T; echo rc=$?
cat trace.err
