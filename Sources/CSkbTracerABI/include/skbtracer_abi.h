/* The contract between skbtracer's BPF programs and its Swift reader.
 *
 * This is the only definition of these structs: the BPF C in bpf/ includes this file and
 * Swift imports it through the CSkbTracerABI module. Rules (STYLE.md item 1):
 * fixed-width fields only, explicit padding, no bitfields, sizes pinned below and
 * again by a Swift test.
 */
#ifndef SKBTRACER_ABI_H
#define SKBTRACER_ABI_H

#include <linux/types.h>

#define ST_IFNAMSIZ 16
#define ST_COMMSIZ 16
#define ST_ARG_NONE 0xff

/* Ring-buffer records: a header (struct st_record) with a kind and the record's
 * own size. An event record is the header followed by tagged sections (struct
 * st_section and what follows it), each saying its type and size: a reader walks
 * them, takes the ones it knows and steps over the others, so a new kind of fact
 * is a new section, not a new record layout. */
enum st_record_kind {
	ST_RECORD_EVENT = 1,    /* struct st_record, then sections */
	ST_RECORD_SKB_DUMP = 2, /* struct st_skb_dump (--output-skb) */
};

/* Tracepoints with an skb (and the route lookups), one per row of
 * skbtracer_probes.def, numbered in its order. The ids index
 * st_config.probe_args and st_loss.by_probe and are stable within one build
 * only (recordings carry each id's name). */
enum st_probe_id {
#define ST_PROBE(ID, ...) ST_PROBE_##ID,
#include "skbtracer_probes.def"
#undef ST_PROBE
	ST_PROBE_COUNT,
};

/* The BPF program of probe `name` (bpf/tracepoints.bpf.c generates it). */
#define ST_PROBE_PROGRAM(name) tp_##name

/* What a probe's body reads and writes (the kind column of skbtracer_probes.def). */
enum st_probe_kind {
	ST_PROBE_KIND_skb = 0,   /* an skb: an event with a packet section */
	ST_PROBE_KIND_route = 1, /* a route lookup: an event with a route section */
};

/* st_record.probe of a kernel function probe (the kprobe and kprobe-multi
 * backends): its ST_SEC_LOCATION section holds the probed function's address,
 * which names it. */
#define ST_PROBE_FUNCTION 0x8000

/* st_record.probe of a netfilter hook program (--netfilter): a BPF netfilter
 * program (Linux 6.4+) at the first or the last priority of an IPv4 or IPv6
 * hook. Its ST_SEC_NF_HOOK section says which hook and which end. */
#define ST_PROBE_NF_HOOK 0x8001

/* st_record.probe of an nf_tables rule verdict (--netfilter): no BPF program
 * writes it. User space builds the record from an NFNLGRP_NFTRACE message,
 * with the packet from the headers the message carries and the skb of the
 * event it was matched with; its ST_SEC_NFT_VERDICT section says which rule. */
#define ST_PROBE_NFT_RULE 0x8002

/* st_record.match */
enum st_match {
	ST_MATCH_FILTER = 0,  /* the filter matched (a new packet, or tracking is off or full) */
	ST_MATCH_SKB = 1,     /* a tracked skb: the same packet as before at this address */
	ST_MATCH_FLOW = 2,    /* the reply of a NATed tracked packet (tracked_flows) */
};

struct st_record {
	__u16 kind;        /* ST_RECORD_EVENT */
	__u16 size;        /* the whole record: this header and every section */
	__u16 probe;       /* enum st_probe_id, or ST_PROBE_FUNCTION */
	__u8 match;        /* enum st_match: why this event was emitted */
	__u8 pad;
	__u32 cpu;
	__u32 lost_before; /* records this CPU failed to write since its previous record */
	__u64 ts_ns;       /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u64 skb;         /* sk_buff address; 0 for a route lookup that is no packet's */
};

/* Section types. Every event has a context and a packet section, first; the
 * rest only when they apply. BPF writes the tunnel section last (a packet that
 * is none just ends earlier), files the stack last (only the frames there
 * are): readers take sections in any order. */
enum st_section_type {
	ST_SEC_CONTEXT = 1,   /* struct st_sec_context: where and in which task the probe fired */
	ST_SEC_PACKET = 2,    /* struct st_sec_packet: the headers (or a route lookup's flow) */
	ST_SEC_DROP = 3,      /* struct st_sec_location: kfree_skb's reason and location */
	ST_SEC_LOCATION = 4,  /* struct st_sec_location: where consume_skb freed the skb, or
			       * the function a function probe fired in (drop_reason 0) */
	ST_SEC_SOCKET = 5,    /* struct st_sec_socket (--owner) */
	ST_SEC_ROUTE = 6,     /* struct st_sec_route: a route lookup's result */
	ST_SEC_CONNTRACK = 7, /* struct st_sec_ct (--ct): the skb's conntrack entry */
	ST_SEC_TUNNEL = 8,    /* struct st_sec_tunnel: the packet inside a tunnel packet */
	ST_SEC_STACK = 9,     /* struct st_sec_stack (--dropstack, --callstack): last, as
			       * its size varies in files (only the frames there are) */
	ST_SEC_NF_HOOK = 10,  /* struct st_sec_nf_hook: the netfilter hook of an
			       * ST_PROBE_NF_HOOK event */
	ST_SEC_NFT_VERDICT = 11, /* struct st_sec_nft_verdict and its names: the rule
				  * of an ST_PROBE_NFT_RULE event */
	ST_SEC_PAYLOAD = 12,  /* struct st_sec_payload (--write): the packet's first bytes */
	ST_SEC_CALLER = 13,   /* struct st_sec_caller (--output-caller): who called a probed function */
};

/* Each section starts with this. size covers the section, this included, and
 * is a multiple of 8 so every section starts 8-byte aligned. */
struct st_section {
	__u16 type; /* enum st_section_type */
	__u16 size;
};

struct st_sec_context {
	struct st_section sec; /* ST_SEC_CONTEXT */
	__u32 netns;           /* network namespace inode; 0 if unknown */
	__u32 ifindex;
	__u32 mark;
	__u32 skb_len;
	__u32 pid;             /* tgid of the task the probe fired in */
	__u32 tid;
	__u8 pkt_type;         /* PACKET_HOST, PACKET_BROADCAST, ... */
	__u8 pad[3];
	char ifname[ST_IFNAMSIZ];
	char comm[ST_COMMSIZ];
};

/* st_packet.flags: which parts were read. */
enum st_packet_flags {
	ST_PKT_MAC = 1 << 0,       /* dmac/smac are valid */
	ST_PKT_L3 = 1 << 1,        /* l3_proto, addresses, ip_len, ttl are valid */
	ST_PKT_L4 = 1 << 2,        /* ports, TCP flags and seq, or ICMP fields are valid */
	ST_PKT_FROM_SOCK = 1 << 3, /* tuple taken from the socket, not the packet */
};

/* A packet's headers as far as they were read. Which fields apply follows from
 * flags, l3_proto and l4_proto; the Swift Packet type owns those rules. */
struct st_packet {
	__u16 l3_proto;    /* ETH_P_*, host byte order; 0 if unknown */
	__u8 l4_proto;     /* IPPROTO_*; 0 if unknown */
	__u8 flags;        /* enum st_packet_flags */
	__u16 ip_len;      /* IPv4 total length, IPv6 payload length + 40 */
	__u16 ip_id;       /* IPv4 identification; 0 for IPv6 */
	__u8 ttl;          /* IPv4 TTL or IPv6 hop limit */
	__u8 tcp_flags;    /* FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80 */
	__u8 icmp_type;    /* ARP: the opcode */
	__u8 icmp_code;
	__u16 sport;       /* host byte order */
	__u16 dport;
	__u16 icmp_id;
	__u16 icmp_seq;
	__u8 tcp_seq[4];   /* network byte order */
	__u8 dmac[6];
	__u8 smac[6];
	__u8 saddr[16];    /* IPv4 (and ARP's protocol addresses) in the first 4 bytes */
	__u8 daddr[16];
};

struct st_sec_packet {
	struct st_section sec; /* ST_SEC_PACKET */
	struct st_packet pkt;
};

struct st_sec_location {
	struct st_section sec; /* ST_SEC_DROP or ST_SEC_LOCATION */
	__u32 drop_reason;     /* enum skb_drop_reason of the running kernel (ST_SEC_DROP) */
	__u64 location;        /* caller address, or the probed function's */
};

/* --output-caller: the return address of a probed kernel function, i.e. the
 * place in its caller that called it (function probes only). */
struct st_sec_caller {
	struct st_section sec; /* ST_SEC_CALLER */
	__u32 pad;
	__u64 caller;          /* 0: not read */
};

/* st_sec_nf_hook.where */
enum st_nf_hook_where {
	ST_NF_HOOK_ENTRY = 1, /* at the hook's first priority: the packet entered it */
	ST_NF_HOOK_EXIT = 2,  /* at its last: every hook function let the packet pass */
};

/* Priorities of the hook programs. The kernel refuses INT_MIN and INT_MAX
 * themselves (reserved for its own first and last users), so the extremes
 * it allows: one above and one below. */
#define ST_NF_HOOK_ENTRY_PRIORITY (-2147483647)
#define ST_NF_HOOK_EXIT_PRIORITY 2147483646

struct st_sec_nf_hook {
	struct st_section sec; /* ST_SEC_NF_HOOK */
	__u8 family;           /* NFPROTO_IPV4 (2) or NFPROTO_IPV6 (10) */
	__u8 hook;             /* NF_INET_PRE_ROUTING 0 ... NF_INET_POST_ROUTING 4 */
	__u8 where;            /* enum st_nf_hook_where */
	__u8 pad;
};

/* st_sec_nft_verdict.type: what nf_tables traced (NFT_TRACETYPE_*). */
enum st_nft_trace_type {
	ST_NFT_TRACE_POLICY = 1, /* the base chain's policy decided */
	ST_NFT_TRACE_RETURN = 2, /* the chain ended without a verdict: back to its caller */
	ST_NFT_TRACE_RULE = 3,   /* a rule's verdict */
};

/* st_sec_nft_verdict.flags */
enum st_nft_verdict_flags {
	ST_NFT_HAS_VERDICT = 1 << 0,
	ST_NFT_HAS_HANDLE = 1 << 1,
	ST_NFT_HAS_HOOK = 1 << 2,     /* hook and priority: the chain is a base chain */
	ST_NFT_FROM_IPTABLES = 1 << 3, /* the table was made by iptables-nft: the rule
					* text is in iptables' syntax */
};

/* A verdict of nf_tables (nftrace), followed by four NUL-terminated strings of
 * the lengths given (each length counts its NUL): the table, the chain, the
 * jump or goto target (empty: none) and the rule's text (empty: unknown). The
 * section's size covers them, rounded up to 8. */
struct st_sec_nft_verdict {
	struct st_section sec; /* ST_SEC_NFT_VERDICT */
	__u8 family;           /* the table's NFPROTO_* (inet 1, ip 2, bridge 7, ip6 10) */
	__u8 type;             /* enum st_nft_trace_type */
	__u8 hook;             /* the base chain's hook (ST_NFT_HAS_HOOK) */
	__u8 flags;            /* enum st_nft_verdict_flags */
	__s32 verdict;         /* NF_DROP 0, NF_ACCEPT 1, NF_STOLEN 2, NF_QUEUE 3, NF_REPEAT 4,
				* NFT_CONTINUE -1, NFT_BREAK -2, NFT_JUMP -3, NFT_GOTO -4,
				* NFT_RETURN -5 */
	__s32 priority;        /* the base chain's priority (ST_NFT_HAS_HOOK) */
	__u32 trace_id;        /* nf_tables' trace id: the same for one packet in one hook */
	__u32 pad;
	__u64 handle;          /* the rule's handle (ST_NFT_HAS_HANDLE) */
	__u16 table_len;
	__u16 chain_len;
	__u16 target_len;
	__u16 rule_len;
};

/* --write: the most packet bytes an event carries (--snaplen). */
#define ST_SNAPLEN_MAX 1536

/* st_sec_payload.link: where the bytes start. */
enum st_payload_link {
	ST_PAYLOAD_ETHERNET = 1, /* at the Ethernet header */
	ST_PAYLOAD_IP = 2,       /* at the IPv4 or IPv6 header (no link-layer header was read) */
};

/* The packet's first bytes (--write, for pcap-ng), from the linear part of the
 * skb only. The section's size is fixed by st_config.snaplen (the record's size
 * must be a constant to BPF): caplen says how many of `data` are the packet's. */
struct st_sec_payload {
	struct st_section sec; /* ST_SEC_PAYLOAD; size 16 + st_config.snaplen */
	__u16 caplen;          /* bytes of data that are the packet's */
	__u8 link;             /* enum st_payload_link */
	__u8 pad;
	__u32 wire_len;        /* the packet's length from where data starts (skb->len based) */
	__u32 pad2;
	__u8 data[];           /* st_config.snaplen bytes */
};

/* A tcpdump (pcap-filter) expression as libpcap compiled it: classic BPF
 * instructions (struct sock_filter), run in the kernel by bpf/pcap_filter.bpf.h.
 * Two forms, as pwru has: one from the Ethernet header, one from the IP header
 * for probes where the packet has no link-layer header. */
struct st_cbpf_insn {
	__u16 code;
	__u8 jt;
	__u8 jf;
	__u32 k;
};

/* The longest program the kernel runs; libpcap's for long expressions stay far below. */
#define ST_PCAP_INSNS_MAX 512

/* Keys of map pcap_progs. */
enum st_pcap_form {
	ST_PCAP_LINK = 0,    /* compiled for DLT_EN10MB: from the Ethernet header */
	ST_PCAP_NETWORK = 1, /* compiled for DLT_RAW: from the IPv4 or IPv6 header */
};

struct st_pcap_prog {
	__u32 len;           /* instructions; 0: this form matches nothing (libpcap
			      * could not compile the expression for it, e.g. `ether host`
			      * for an IP header) */
	__u32 pad;
	struct st_cbpf_insn insns[ST_PCAP_INSNS_MAX];
};

#define ST_SOCK_KERNEL 0xffffffffu /* st_sec_socket.uid: (uid_t)-1, no socket's uid */

/* Tunnels whose inner packet BPF reads, and how it knows them: the outer
 * header's UDP destination port or IP protocol. One list for BPF and Swift. */
enum st_tunnel_kind {
	ST_TUNNEL_VXLAN = 1,  /* UDP to ST_PORT_VXLAN or ST_PORT_VXLAN_LINUX; VNI */
	ST_TUNNEL_GENEVE = 2, /* UDP to ST_PORT_GENEVE; VNI */
	ST_TUNNEL_GRE = 3,    /* IP protocol 47, carrying IPv4 or IPv6 (no key read) */
	ST_TUNNEL_IPIP = 4,   /* IP protocol 4: IPv4 inside */
	ST_TUNNEL_IP6 = 5,    /* IP protocol 41: IPv6 inside (SIT, ip6ip6) */
};

#define ST_PORT_VXLAN 4789
#define ST_PORT_VXLAN_LINUX 8472 /* Linux's VXLAN port before IANA's */
#define ST_PORT_VXLAN_GPE 4790   /* recognised by name only: its inner packet is not read */
#define ST_PORT_GENEVE 6081
#define ST_IPPROTO_IPIP 4
#define ST_IPPROTO_IPV6 41
#define ST_IPPROTO_GRE 47

/* A tunnel packet's inner packet (pwru's --output-tunnel): its headers as far as
 * they were read, in the same form as the outer ones. */
struct st_sec_tunnel {
	struct st_section sec; /* ST_SEC_TUNNEL */
	__u8 kind;             /* enum st_tunnel_kind */
	__u8 pad[3];
	__u32 vni;             /* VXLAN and GENEVE: the virtual network identifier */
	struct st_packet inner;
};

struct st_sec_socket {
	struct st_section sec; /* ST_SEC_SOCKET */
	__u32 ino;             /* the skb's socket's inode (socket:[INODE] in /proc/PID/fd,
				* ss -e); 0: none, or not a full socket */
	__u32 uid;             /* the socket's uid (sk_uid) when ino is set; ST_SOCK_KERNEL
				* for a kernel socket (no file, no process) */
	__u32 pad;
};

/* Where a tracepoint keeps each argument, read from the running kernel's BTF
 * (btf_trace_<name>) by the loader, so one program body fits kernels whose
 * argument lists differ. ST_ARG_NONE: the tracepoint has no such argument. */
struct st_probe_args {
	__u8 skb;
	__u8 sk;
	__u8 reason;
	__u8 location;
};

/* st_config.filter_flags: which filters are on. */
enum st_filter_flags {
	ST_F_L3_PROTO = 1 << 0,
	ST_F_L4_PROTO = 1 << 1,
	ST_F_ADDR = 1 << 2,
	ST_F_SADDR = 1 << 3,
	ST_F_DADDR = 1 << 4,
	ST_F_PORT = 1 << 5,
	ST_F_SPORT = 1 << 6,
	ST_F_DPORT = 1 << 7,
	ST_F_ICMP_ID = 1 << 8,
	ST_F_TCP_FLAGS = 1 << 9,
	ST_F_NETNS = 1 << 10,
	ST_F_IFNAME = 1 << 11,
	ST_F_MARK = 1 << 12,
	ST_F_PID = 1 << 13,
	ST_F_IP_LEN = 1 << 14,
	ST_F_OWNER_PID = 1 << 15, /* the skb's socket is owned by filter_owner_pid (sock_owners) */
	ST_F_CT_TUPLE = 1 << 16,  /* address and port filters also try the skb's conntrack entry,
				   * as the connection's initiator addressed it (--track, --ct) */
	ST_F_PCAP = 1 << 17,      /* a tcpdump expression: the programs in map pcap_progs */
};

/* An address filter: family 4 or 6, IPv4 in the first 4 bytes. */
struct st_addr_filter {
	__u8 addr[16];
	__u8 family;
	__u8 pad[3];
};

/* Read-only configuration, written into .rodata before load so the verifier
 * prunes every filter that is switched off. */
struct st_config {
	__u32 filter_flags;
	__u16 filter_l3_proto;
	__u8 filter_l4_proto;
	__u8 filter_tcp_flags;
	struct st_addr_filter filter_addr;
	struct st_addr_filter filter_saddr;
	struct st_addr_filter filter_daddr;
	__u16 filter_port;
	__u16 filter_sport;
	__u16 filter_dport;
	__u16 filter_icmp_id;
	__u16 filter_ip_len_min; /* IP length range, inclusive (nettrace's --pkt-len) */
	__u16 filter_ip_len_max;
	__u32 filter_netns;
	__u32 filter_pid;
	__u32 filter_mark;
	__u32 filter_mark_mask;
	char filter_ifname[ST_IFNAMSIZ];
	__u32 wakeup_bytes; /* wake the reader only once this much data waits */
	__u8 track;         /* enum st_track_flags */
	__u8 stack_mode;    /* enum st_stack_mode */
	__u8 route;         /* enum st_route_mode */
	__u8 ct;            /* --ct: add the skb's conntrack entry to its events */
	struct st_probe_args probe_args[ST_PROBE_COUNT];
	__u8 owner;         /* --owner: a socket section in each event */
	__u8 skb_dump;      /* --output-skb: a struct st_skb_dump before each event */
	__u8 tunnel;        /* --output-tunnel: a tunnel section in each tunnel packet's event */
	__u8 caller;        /* --output-caller: a caller section in each function event */
	__u32 filter_owner_pid; /* --owner-pid: tgid */
	__u16 snaplen;      /* --write: packet bytes per event, a multiple of 8, at most
			     * ST_SNAPLEN_MAX; 0: no payload section */
	__u16 pad2;
};

/* st_config.route: route probes attached (note each skb per CPU), and whether a
 * lookup may be attributed to the packet just received (needs the receive probes,
 * list entries included, to know when lookups follow a whole GRO list). */
enum st_route_mode {
	ST_ROUTE_NOTE = 1 << 0,
	ST_ROUTE_ATTRIBUTE = 1 << 1,
};

/* st_config.track: follow a matched packet after its headers change. */
enum st_track_flags {
	ST_TRACK_SKB = 1 << 0,   /* follow a matched skb by address until it is freed */
	ST_TRACK_FLOWS = 1 << 1, /* when NAT rewrites a tracked packet, also match the
				  * rewritten flow's replies */
};

/* st_config.stack_mode: when to record the kernel stack. */
enum st_stack_mode {
	ST_STACK_NONE = 0,
	ST_STACK_DROPS = 1, /* kfree_skb only */
	ST_STACK_ALL = 2,
};

#define ST_STACK_MAX 32

/* The kernel stack at the probe (bpf_get_stack), innermost first. BPF reserves
 * room for ST_STACK_MAX frames; nr_frames says how many were written. */
struct st_sec_stack {
	struct st_section sec; /* ST_SEC_STACK */
	__u32 nr_frames;
	__u64 ips[ST_STACK_MAX];
};

/* Value of map tracked_skbs (key: the sk_buff address). */
struct st_track {
	__u64 first_ns;   /* when the skb matched */
	__u64 last_ns;    /* its latest event: user space expires stale entries */
	__u64 tuple_hash; /* the tuple last seen: a change means NAT rewrote it */
	__u64 head;       /* skb->head last seen: a new packet at a reused address has another */
	__u32 identity;   /* what NAT never rewrites (protocol, TCP flags and seq,
			   * ICMP type and seq, IP length and id) */
	__u32 serial;     /* the per-packet part: protocol in the top byte, then a hash
			   * of TCP seq, IPv4 id, ICMP type and seq; GRO, encapsulation
			   * and fragmentation keep it while the protocol stays */
	__u32 netns;      /* the namespace of its latest event that knew one: the
			   * namespace of a later free with neither device nor socket */
	__u32 pad;
};

/* Key of map tracked_flows: a tuple whose packets are followed although they do
 * not match the filter (the replies of a NATed tracked packet). ICMP echo uses
 * the echo id as both ports. IPv4 in the first 4 bytes. */
struct st_flow {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 l4_proto;
	__u8 pad[3];
};

/* Global counters (the .bss struct track_stats), updated atomically. */
struct st_track_stats {
	__u64 full;       /* events of matched skbs that could not be tracked: tracked_skbs was full */
	__u64 flows;      /* NAT rewrites of tracked packets seen (reply flows added or refreshed) */
};

/* The result of a route lookup (fib:fib_table_lookup, fib6:fib6_table_lookup),
 * in an event of probe ST_PROBE_FIB*_TABLE_LOOKUP. The input lookup of the packet
 * this CPU has just received carries that packet's context, packet section and
 * skb; any other lookup's packet section is its flow and skb is 0. */
struct st_route {
	__u32 table;           /* routing table id: 254 main, 255 local, ... */
	__s32 err;             /* 0, or -errno: EAGAIN (no route matches in this table), EHOSTUNREACH
				* (unreachable route), EACCES (prohibit), EINVAL (blackhole),
				* ENETUNREACH */
	__s32 iif;             /* the flow's input interface index (input lookups) */
	__s32 oif;             /* the flow's output interface index, if the caller set one */
	__u8 gateway[16];      /* IPv4 in the first 4 bytes */
	char dev[ST_IFNAMSIZ]; /* the chosen route's device; "" when none */
	__u8 saddr[16];        /* the addresses looked up (the packet's may differ: */
	__u8 daddr[16];        /* DNAT or de-SNAT in PREROUTING runs before routing) */
	__u8 gw_family;        /* 0 (directly connected or no route), 4 or 6 */
	__u8 pad[15];
};

struct st_sec_route {
	struct st_section sec; /* ST_SEC_ROUTE */
	__u32 pad;
	struct st_route route;
};

/* One direction of a conntrack entry (struct nf_conntrack_tuple). */
struct st_ct_tuple {
	__u8 saddr[16];  /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport;     /* host byte order; ICMP: the echo id */
	__u16 dport;     /* host byte order; ICMP: type << 8 | code */
};

/* The skb's conntrack entry (--ct): skb->_nfct, the nf_conn it points to and the
 * packet's ctinfo. Events of skbs without an entry have no such section. */
struct st_ct {
	struct st_ct_tuple orig;  /* the connection as its first packet had it */
	struct st_ct_tuple reply; /* as replies carry it: differs from orig reversed under NAT */
	__u32 status;             /* IPS_* bits: CONFIRMED 8, SRC_NAT 16, DST_NAT 32, ... */
	__u32 mark;               /* ct mark */
	__u16 zone;
	__u8 ctinfo;              /* enum ip_conntrack_info: ESTABLISHED 0, RELATED 1, NEW 2,
				   * ESTABLISHED_REPLY 3, RELATED_REPLY 4; UNTRACKED 7 */
	__u8 family;              /* 4 or 6 */
	__u8 protonum;            /* IPPROTO_* */
	__u8 pad[3];
};

struct st_sec_ct {
	struct st_section sec; /* ST_SEC_CONNTRACK */
	__u32 pad;
	struct st_ct ct;
};

/* Value of map sock_owners (key: the socket's inode): the process last seen
 * using the socket in a system call (sendmsg, recvmsg, connect, listen). */
struct st_sock_owner {
	__u32 tgid;
	__u32 pad;
	char comm[ST_COMMSIZ];
};

/* --output-skb: the sk_buff as bpf_snprintf_btf() prints it, written right
 * before its event by the same program. The reader joins the two by cpu, skb
 * and ts_ns (other CPUs' records may come between). size is the header plus
 * the text actually written (NUL included), at most sizeof(struct st_skb_dump). */
#define ST_SKB_DUMP_MAX 3072

struct st_skb_dump {
	__u16 kind;  /* ST_RECORD_SKB_DUMP */
	__u16 size;
	__u32 cpu;
	__u64 skb;
	__u64 ts_ns; /* the event's */
	char text[ST_SKB_DUMP_MAX];
};

/* Per-CPU loss counters (map lost_events). */
struct st_loss {
	__u64 total;   /* records never written: ring full */
	__u64 pending; /* lost since this CPU's last written record */
	__u64 by_probe[ST_PROBE_COUNT]; /* total, per probe (enum st_probe_id) */
	__u64 skb_dumps;                /* --output-skb dumps the full ring refused */
	__u64 functions;                /* total of all kernel function probes */
	__u64 nf_hooks;                 /* total of the netfilter hook programs */
};

#define ST_CONFIG_SIZE 220
#define ST_CT_SIZE 88

_Static_assert(sizeof(struct st_record) == 32, "st_record size");
_Static_assert(sizeof(struct st_sec_context) == 64, "st_sec_context size");
_Static_assert(sizeof(struct st_packet) == 68, "st_packet size");
_Static_assert(sizeof(struct st_sec_packet) == 72, "st_sec_packet size");
_Static_assert(sizeof(struct st_sec_location) == 16, "st_sec_location size");
_Static_assert(sizeof(struct st_sec_socket) == 16, "st_sec_socket size");
_Static_assert(sizeof(struct st_sec_tunnel) == 80, "st_sec_tunnel size");
_Static_assert(sizeof(struct st_sec_stack) == 8 + 8 * ST_STACK_MAX, "st_sec_stack size");
_Static_assert(sizeof(struct st_sec_route) == 104, "st_sec_route size");
_Static_assert(sizeof(struct st_ct) == ST_CT_SIZE, "st_ct size");
/* BPF compares addresses a 32-bit word at a time (filter.bpf.h). */
_Static_assert(__builtin_offsetof(struct st_packet, saddr) % 4 == 0 && __builtin_offsetof(struct st_packet, daddr) % 4 == 0,
	       "st_packet addresses are word aligned");
_Static_assert(__builtin_offsetof(struct st_sec_tunnel, inner) % 4 == 0, "the inner packet is word aligned");
_Static_assert(__builtin_offsetof(struct st_ct_tuple, daddr) % 4 == 0, "st_ct_tuple addresses are word aligned");
_Static_assert(sizeof(struct st_sec_ct) == 8 + ST_CT_SIZE, "st_sec_ct size");
_Static_assert(sizeof(struct st_config) == ST_CONFIG_SIZE, "st_config size changed");
_Static_assert(sizeof(struct st_probe_args) == 4, "st_probe_args size");
_Static_assert(sizeof(struct st_sec_nf_hook) == 8, "st_sec_nf_hook size");
_Static_assert(sizeof(struct st_sec_payload) == 16, "st_sec_payload size");
_Static_assert(sizeof(struct st_sec_caller) == 16, "st_sec_caller size");
_Static_assert(sizeof(struct st_sec_nft_verdict) == 40, "st_sec_nft_verdict size");
_Static_assert(sizeof(struct st_loss) == 40 + 8 * ST_PROBE_COUNT, "st_loss size");
_Static_assert(sizeof(struct st_flow) == 40, "st_flow size");
_Static_assert(sizeof(struct st_sock_owner) == 24, "st_sock_owner size");
_Static_assert(sizeof(struct st_skb_dump) == 24 + ST_SKB_DUMP_MAX, "st_skb_dump size");
_Static_assert(sizeof(struct st_track) == 48, "st_track size");
_Static_assert(sizeof(struct st_track_stats) == 16, "st_track_stats size");

#endif
