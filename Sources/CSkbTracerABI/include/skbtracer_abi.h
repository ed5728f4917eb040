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
#define ST_SOCK_KERNEL 0xffffffffu /* st_event.sock_uid: (uid_t)-1, no socket's uid */

/* Every ring-buffer record starts with a kind and its own size. */
enum st_record_kind {
	ST_RECORD_EVENT = 1,
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
	ST_PROBE_KIND_skb = 0,   /* an skb: struct st_event and its longer forms */
	ST_PROBE_KIND_route = 1, /* a route lookup: struct st_route_event */
};

/* st_event.probe of a kernel function probe (the kprobe and kprobe-multi
 * backends): location holds the probed function's address, which names it. */
#define ST_PROBE_FUNCTION 0x8000

/* st_event.match */
enum st_match {
	ST_MATCH_FILTER = 0,  /* the filter matched (a new packet, or tracking is off or full) */
	ST_MATCH_SKB = 1,     /* a tracked skb: the same packet as before at this address */
	ST_MATCH_FLOW = 2,    /* the reply of a NATed tracked packet (tracked_flows) */
};

/* st_event.flags */
enum st_event_flags {
	ST_EVF_MAC = 1 << 0,       /* dmac/smac are valid */
	ST_EVF_L3 = 1 << 1,        /* l3_proto, addresses, ip_len are valid */
	ST_EVF_L4 = 1 << 2,        /* ports or ICMP fields are valid */
	ST_EVF_FROM_SOCK = 1 << 3, /* tuple taken from the socket, not the packet */
	ST_EVF_DROP = 1 << 4,      /* drop_reason and location are valid */
	ST_EVF_LOCATION = 1 << 5,  /* location is valid (kfree_skb, consume_skb) */
	ST_EVF_STACK = 1 << 6,     /* the record is a struct st_stack_event */
	ST_EVF_TRACKED = 1 << 7,   /* followed by skb address or by a NATed flow, not by the filter */
};

struct st_event {
	__u16 kind;        /* ST_RECORD_EVENT */
	__u16 size;        /* sizeof(struct st_event) */
	__u16 probe;       /* enum st_probe_id */
	__u16 l3_proto;    /* ETH_P_*, host byte order; 0 if unknown */
	__u32 cpu;
	__u32 lost_before; /* records this CPU failed to write since its previous record */
	__u64 ts_ns;       /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u64 skb;         /* sk_buff address */
	__u64 location;    /* kfree_skb/consume_skb caller address */
	__u32 pid;         /* tgid of the task the probe fired in */
	__u32 tid;
	__u32 netns;       /* network namespace inode */
	__u32 ifindex;
	__u32 mark;
	__u32 skb_len;
	__u32 drop_reason; /* enum skb_drop_reason of the running kernel */
	__u16 ip_len;      /* IPv4 total length, IPv6 payload length + 40 */
	__u16 sport;       /* host byte order */
	__u16 dport;
	__u16 icmp_id;
	__u16 icmp_seq;
	__u8 l4_proto;     /* IPPROTO_*; 0 if unknown */
	__u8 tcp_flags;    /* FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80 */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pkt_type;     /* PACKET_HOST, PACKET_BROADCAST, ... */
	__u8 flags;        /* enum st_event_flags */
	__u8 ttl;          /* IPv4 TTL or IPv6 hop limit */
	__u8 match;        /* enum st_match: why this event was emitted */
	__u8 dmac[6];
	__u8 smac[6];
	__u8 saddr[16];    /* IPv4 uses the first 4 bytes */
	__u8 daddr[16];
	char ifname[ST_IFNAMSIZ];
	char comm[ST_COMMSIZ];
	__u16 ip_id;       /* IPv4 identification; 0 for IPv6 */
	__u8 tcp_seq[4];   /* TCP sequence number, network byte order (4-byte aligned
			    * fields would move the struct's size) */
	__u32 sock_ino;    /* --owner: inode of the skb's socket (socket:[INODE] in
			    * /proc/PID/fd, ss -e); 0: none, or not a full socket */
	__u32 sock_uid;    /* --owner: the socket's uid (sk_uid) when sock_ino is set;
			    * ST_SOCK_KERNEL for a kernel socket (no file, no process) */
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
	__u8 owner;         /* --owner: fill sock_ino and sock_uid */
	__u8 skb_dump;      /* --output-skb: a struct st_skb_dump before each event */
	__u8 pad[2];
	__u32 filter_owner_pid; /* --owner-pid: tgid */
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

/* An event with the kernel stack at the probe (bpf_get_stack), innermost first.
 * event.size is sizeof(struct st_stack_event) and event.flags has ST_EVF_STACK. */
struct st_stack_event {
	struct st_event event;
	__u32 nr_frames;
	__u32 pad;
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

/* The result of a route lookup (fib:fib_table_lookup, fib6:fib6_table_lookup).
 * A route record is an st_event (probe ST_PROBE_FIB*_TABLE_LOOKUP, size
 * sizeof(struct st_route_event)) followed by this. The input lookup of the packet
 * this CPU has just received carries that packet's event and skb; any other
 * lookup's tuple is its flow and skb is 0. */
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
	__u8 pad[15];          /* 96 bytes: each record layout has its own size */
};

struct st_route_event {
	struct st_event event;
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
 * packet's ctinfo. It follows the st_event in st_ct_event and st_ct_stack_event
 * (told apart by size); events of skbs without an entry stay plain. */
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

struct st_ct_event {
	struct st_event event;
	struct st_ct ct;
};

struct st_ct_stack_event {
	struct st_event event;
	struct st_ct ct;
	__u32 nr_frames;
	__u32 pad;
	__u64 ips[ST_STACK_MAX];
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
};

#define ST_EVENT_SIZE 176
#define ST_CONFIG_SIZE 216
#define ST_ROUTE_EVENT_SIZE (ST_EVENT_SIZE + 96)
#define ST_CT_SIZE 88
#define ST_CT_EVENT_SIZE (ST_EVENT_SIZE + ST_CT_SIZE)
#define ST_CT_STACK_EVENT_SIZE (ST_STACK_EVENT_SIZE + ST_CT_SIZE)
#define ST_STACK_EVENT_SIZE (ST_EVENT_SIZE + 8 + 8 * ST_STACK_MAX)

_Static_assert(sizeof(struct st_event) == ST_EVENT_SIZE, "st_event size changed: update ST_EVENT_SIZE and the Swift decoder");
_Static_assert(sizeof(struct st_config) == ST_CONFIG_SIZE, "st_config size changed");
_Static_assert(sizeof(struct st_probe_args) == 4, "st_probe_args size");
_Static_assert(sizeof(struct st_loss) == 32 + 8 * ST_PROBE_COUNT, "st_loss size");
_Static_assert(sizeof(struct st_stack_event) == ST_STACK_EVENT_SIZE, "st_stack_event size");
_Static_assert(sizeof(struct st_route_event) == ST_ROUTE_EVENT_SIZE, "st_route_event size");
_Static_assert(sizeof(struct st_ct) == ST_CT_SIZE, "st_ct size");
_Static_assert(sizeof(struct st_ct_event) == ST_CT_EVENT_SIZE, "st_ct_event size");
_Static_assert(sizeof(struct st_ct_stack_event) == ST_CT_STACK_EVENT_SIZE, "st_ct_stack_event size");
_Static_assert(sizeof(struct st_flow) == 40, "st_flow size");
_Static_assert(sizeof(struct st_sock_owner) == 24, "st_sock_owner size");
_Static_assert(sizeof(struct st_skb_dump) == 24 + ST_SKB_DUMP_MAX, "st_skb_dump size");
_Static_assert(sizeof(struct st_track) == 48, "st_track size");
_Static_assert(sizeof(struct st_track_stats) == 16, "st_track_stats size");

#endif
