/* Building, filtering and emitting one st_event from an sk_buff.
 *
 * Shared by every probe family: a probe only finds the skb (and maybe a sock, a
 * drop reason, a location) and calls st_trace_skb(). Everything is inline so each
 * program is verified with its own constant probe id and the verifier prunes
 * whatever the read-only config switches off.
 */
#ifndef SKBTRACER_SKB_EVENT_BPF_H
#define SKBTRACER_SKB_EVENT_BPF_H

#include <stdbool.h>
#include "kernel_types.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "skbtracer_abi.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_ARP 0x0806
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define MAC_HEADER_UNSET 0xffff
/* The lowest kernel address on x86-64 with 5-level paging (LA57; 4-level
 * starts at 0xffff800000000000) and on arm64 with 52-bit addresses: anything
 * lower is not a kernel pointer on either. */
#define KERNEL_SPACE_START 0xff00000000000000ULL
#define IPV6_EXT_HEADERS_MAX 6
/* L3 bytes read with the Ethernet header: IPv4 without options (20), the IPv6
 * fixed header (40), Ethernet/IPv4 ARP (28). */
#define L3_READ 40

#include "sock_owner.bpf.h" /* after the constants above, which it uses */

/* st_event.location of an emitted event. A probe family may compute it only once
 * the event is emitted (function probes: bpf_get_func_ip()), so that no value
 * is held on the stack across the filters: the stack is 512 bytes for the
 * program and parse_packet() together. */
#ifndef ST_EVENT_LOCATION
#define ST_EVENT_LOCATION(ctx, location) (location)
#endif

const volatile struct st_config cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* the loader may resize before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_loss);
} lost_events SEC(".maps");

/* Matched skbs still alive, by address. A plain hash, not an LRU: a full table
 * must be counted (track_stats.full), never silently evict a packet in flight.
 * The entry goes at kfree_skb/consume_skb: the address is reused right after.
 * Frees without a tracepoint leave entries behind; user space expires those. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* the loader sets --track-max */
	__type(key, __u64);
	__type(value, struct st_track);
} tracked_skbs SEC(".maps");

/* Reverse tuples of NATed tracked packets: their replies are followed too.
 * Flows have no end event, so this one is an LRU. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct st_flow);
	__type(value, __u64);
} tracked_flows SEC(".maps");

/* The skb this CPU traced last (only with route probes; route_event.bpf.h):
 * noted at every skb event before the filters, with the whole event when it
 * passed them. An input route lookup right after a receive event, on its
 * device, is that packet's. */
struct st_last_packet {
	struct st_event event; /* valid when passed */
	__u64 skb;
	__u64 ts_ns;
	__u32 netns;
	__u32 ifindex;
	__u8 receive; /* netif_receive_skb*: the IP layer and its route lookup come next */
	__u8 passed;
	__u8 batch;   /* received as part of a list (GRO): the lookups come after the whole
		       * list was traced, so the last skb is not theirs */
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_last_packet);
} last_packet SEC(".maps");

static __always_inline struct st_last_packet *last_packet_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&last_packet, &zero);
}

struct st_track_stats track_stats = {};
/* Set once a flow is in tracked_flows: until then non-matching packets skip the lookup. */
__u32 flows_active = 0;

/* Parsing is done in global (noinline, not static) functions: the verifier
 * checks each once, on its own, whatever the state of its callers. Inlined,
 * parsing was verified again for every path that reaches it (each filter and
 * tracking outcome); making it global cut the load time of the default probes
 * from about 1 s to 0.35 s, and with tracking from 1.9 s to 0.5 s. Only scalars
 * and the event cross the call, so no argument tag (kernel 6.8+) is needed:
 * the header offsets travel packed into numbers. */

/* Reads packet bytes at head + off. Packet memory is not BTF-typed, so direct
 * loads are not allowed here: one helper call per header. */
static __always_inline int read_packet(void *dst, __u32 size, __u64 head, __u32 off)
{
	return bpf_probe_read_kernel(dst, size, (const void *)(head + off));
}

__noinline int parse_l4(struct st_event *e, __u64 head, __u32 off)
{
	if (!e)
		return 0;
	__u8 l4[14];

	switch (e->l4_proto) {
	case IPPROTO_TCP:
		if (read_packet(l4, 14, head, off))
			return 0;
		e->sport = (l4[0] << 8) | l4[1];
		e->dport = (l4[2] << 8) | l4[3];
		__builtin_memcpy(e->tcp_seq, &l4[4], 4);
		e->tcp_flags = l4[13];
		break;
	case IPPROTO_UDP:
		if (read_packet(l4, 4, head, off))
			return 0;
		e->sport = (l4[0] << 8) | l4[1];
		e->dport = (l4[2] << 8) | l4[3];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (read_packet(l4, 8, head, off))
			return 0;
		e->icmp_type = l4[0];
		e->icmp_code = l4[1];
		e->icmp_id = (l4[4] << 8) | l4[5];
		e->icmp_seq = (l4[6] << 8) | l4[7];
		break;
	default:
		return 0;
	}
	e->flags |= ST_EVF_L4;
	return 0;
}

/* The parse_* functions fill the L3 fields and return the offset of the L4
 * header, or 0 when there is none to read: L4 is parsed only after the L3
 * filters passed, so packets that do not match cost one read less. */
static __always_inline __u32 parse_ipv4(struct st_event *e, const __u8 *ip, __u32 off)
{
	if ((ip[0] >> 4) != 4)
		return 0;
	e->l3_proto = ETH_P_IP;
	e->ip_len = (ip[2] << 8) | ip[3]; /* 0 for BIG TCP: fixed up from skb->len */
	e->ip_id = (ip[4] << 8) | ip[5];
	e->ttl = ip[8];
	e->l4_proto = ip[9];
	__builtin_memcpy(e->saddr, &ip[12], 4);
	__builtin_memcpy(e->daddr, &ip[16], 4);
	e->flags |= ST_EVF_L3;
	/* Only the first fragment carries the L4 header. */
	if ((((ip[6] << 8) | ip[7]) & 0x1fff) != 0)
		return 0;
	return off + (ip[0] & 0x0f) * 4;
}

/* State of the IPv6 extension-header walk, passed to bpf_loop(). */
struct ipv6_walk {
	__u64 head;
	__u32 off;
	__u8 next;
	__u8 failed; /* a header could not be read */
	__u8 no_l4;  /* a non-first fragment: no transport header here */
};

/* One extension header per call. A bpf_loop() callback rather than an unrolled
 * loop: the verifier then checks one step instead of every path through six,
 * which halved the load time of all programs. Returns 1 to stop. */
static long ipv6_ext_step(__u32 index, void *ctx)
{
	struct ipv6_walk *w = ctx;
	__u8 ext[4];

	switch (w->next) {
	case 0:  /* hop-by-hop */
	case 43: /* routing */
	case 60: /* destination options */
		if (read_packet(ext, 2, w->head, w->off))
			break;
		w->next = ext[0];
		w->off += (ext[1] + 1) * 8;
		return 0;
	case 44: /* fragment: only the first fragment carries L4 */
		if (read_packet(ext, 4, w->head, w->off))
			break;
		w->next = ext[0];
		w->off += 8;
		if ((((ext[2] << 8) | ext[3]) & 0xfff8) != 0) {
			w->no_l4 = 1;
			return 1;
		}
		return 0;
	case 51: /* authentication header: length in 4-byte units */
		if (read_packet(ext, 2, w->head, w->off))
			break;
		w->next = ext[0];
		w->off += (ext[1] + 2) * 4;
		return 0;
	default:
		return 1; /* a transport (or unknown) header: done */
	}
	w->failed = 1;
	return 1;
}

/* Returns the offset after the fixed header, with the next header in l4_proto:
 * the caller walks extension headers (parse_ipv6_ext) before trusting either. */
static __always_inline __u32 parse_ipv6(struct st_event *e, const __u8 *ip, __u32 off)
{
	if ((ip[0] >> 4) != 6)
		return 0;
	e->l3_proto = ETH_P_IPV6;
	/* payload_len 0: a jumbo/BIG TCP packet, fixed up from skb->len */
	e->ip_len = ((ip[4] << 8) | ip[5]) ? ((ip[4] << 8) | ip[5]) + 40 : 0;
	e->ttl = ip[7];
	__builtin_memcpy(e->saddr, &ip[8], 16);
	__builtin_memcpy(e->daddr, &ip[24], 16);
	e->flags |= ST_EVF_L3;
	e->l4_proto = ip[6];
	return off + 40;
}

/* Walks IPv6 extension headers from off, where header e->l4_proto starts; sets
 * the transport protocol and returns its offset, or 0 when there is none to
 * read. A function of its own, called by the program itself, not from
 * parse_packet(): bpf_loop()'s callback is a frame too, and the program's,
 * parse_packet()'s and the callback's stacks together must fit in 512 bytes. */
__noinline __u32 parse_ipv6_ext(struct st_event *e, __u64 head, __u32 off)
{
	struct ipv6_walk w = { .head = head, .off = off };

	if (!e)
		return 0;
	w.next = e->l4_proto;
	bpf_loop(IPV6_EXT_HEADERS_MAX, ipv6_ext_step, &w, 0);
	if (w.failed) {
		e->l4_proto = 0;
		return 0;
	}
	e->l4_proto = w.next;
	return w.no_l4 ? 0 : w.off;
}

static __always_inline void parse_arp(struct st_event *e, const __u8 *arp)
{
	/* Ethernet/IPv4 ARP only: sender and target protocol addresses. */
	if (arp[4] != 6 || arp[5] != 4)
		return;
	e->l3_proto = ETH_P_ARP;
	e->icmp_type = arp[7]; /* ARP opcode (1 request, 2 reply) */
	__builtin_memcpy(e->saddr, &arp[14], 4);
	__builtin_memcpy(e->daddr, &arp[24], 4);
	e->flags |= ST_EVF_L3;
}

/* Finds the L2 and L3 headers. The network header is not reliable on every probe:
 * on receive before __netif_receive_skb_core it may not be reset yet, and on the
 * local output path the MAC header is unset until dev_queue_xmit. So: trust a set
 * MAC header on Ethernet-like devices, else the network header, else give up. */
__noinline int parse_packet(struct st_event *e, __u64 headers, __u64 lengths, __u32 ethernet)
{
	__u64 head;
	/* headers: mac_header << 32 | network_header << 16 | protocol (network order);
	 * lengths: skb->len << 32 | skb->data - skb->head. */
	__u16 mac = headers >> 32, nh = headers >> 16, proto = bpf_ntohs((__u16)headers);
	__u32 l3_off;
	/* The Ethernet header and the first L3_READ bytes of L3, read with one
	 * helper call: those calls are most of what a non-matching packet costs.
	 * Two bytes in front put L3 on an 8-byte boundary, so the addresses are
	 * copied a word at a time: byte copies spilled registers until this frame
	 * took 136 bytes, too many beside the program's on 6.1, where the two
	 * must fit in 512 (frames rounded up to 32). */
	__u8 frame[2 + ETH_HLEN + L3_READ] __attribute__((aligned(8)));
	__u8 *buf = frame + 2;
	const __u8 *l3 = buf + ETH_HLEN;

	if (!e)
		return 0;
	head = e->skb; /* skb->head, passed by the caller (kept for it) */
	if (mac != MAC_HEADER_UNSET && ethernet) {
		if (read_packet(buf, ETH_HLEN + L3_READ, head, mac))
			return 0;
		__builtin_memcpy(e->dmac, buf, 6);
		__builtin_memcpy(e->smac, buf + 6, 6);
		e->flags |= ST_EVF_MAC;
		proto = (buf[12] << 8) | buf[13];
		l3_off = mac + ETH_HLEN;
		if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
			/* Bytes 14-17 are the tag; L3 starts 4 bytes later. */
			proto = (buf[16] << 8) | buf[17];
			l3_off += 4;
			if (read_packet(buf + ETH_HLEN, L3_READ, head, l3_off))
				return 0;
		}
	} else if (nh != 0) {
		l3_off = nh;
		if (read_packet(buf + ETH_HLEN, L3_READ, head, l3_off))
			return 0;
	} else {
		return 0; /* no headers built yet (e.g. an skb still in a TCP write queue) */
	}

	if (proto == 0) {
		/* The local output path sets skb->protocol late: sniff the version. */
		proto = (l3[0] >> 4) == 4 ? ETH_P_IP : (l3[0] >> 4) == 6 ? ETH_P_IPV6 : 0;
	}
	e->l3_proto = proto;
	if (proto == ETH_P_IP || proto == ETH_P_IPV6) {
		__u32 l4_off = proto == ETH_P_IP ? parse_ipv4(e, l3, l3_off) : parse_ipv6(e, l3, l3_off);

		/* GSO packets over 64 KiB (BIG TCP) carry a length of 0, and the
		 * 16-bit field saturates: count the bytes from L3 to the end instead. */
		if (e->ip_len == 0 && (e->flags & ST_EVF_L3)) {
			__s64 bytes = (__s64)(lengths >> 32) - ((__s64)l3_off - (__s64)(__u32)lengths);

			e->ip_len = bytes > 0xffff ? 0xffff : bytes > 0 ? bytes : 0;
		}
		return l4_off;
	}
	if (proto == ETH_P_ARP)
		parse_arp(e, l3);
	return 0;
}

/* When the skb has no headers yet, the owning socket still knows the flow. */
static __always_inline void tuple_from_sock(struct st_event *e, struct sock *sk)
{
	unsigned short family = sk->__sk_common.skc_family;

	/* An AF_INET6 socket talking to an IPv4 peer (v4-mapped) sends IPv4:
	 * report it as IPv4 so IPv4 filters match its retransmits too. */
	if (family == AF_INET6) {
		struct in6_addr d6;

		BPF_CORE_READ_INTO(&d6, sk, __sk_common.skc_v6_daddr);
		if (d6.s6_addr[0] == 0 && d6.s6_addr[1] == 0 && d6.s6_addr[2] == 0 && d6.s6_addr[3] == 0 &&
		    d6.s6_addr[4] == 0 && d6.s6_addr[5] == 0 && d6.s6_addr[6] == 0 && d6.s6_addr[7] == 0 &&
		    d6.s6_addr[8] == 0 && d6.s6_addr[9] == 0 && d6.s6_addr[10] == 0xff && d6.s6_addr[11] == 0xff)
			family = AF_INET;
	}
	if (family == AF_INET) {
		__u32 s = sk->__sk_common.skc_rcv_saddr, d = sk->__sk_common.skc_daddr;

		__builtin_memcpy(e->saddr, &s, 4);
		__builtin_memcpy(e->daddr, &d, 4);
		e->l3_proto = ETH_P_IP;
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr);
		e->l3_proto = ETH_P_IPV6;
	} else {
		return;
	}
	e->l4_proto = sk->sk_protocol;
	e->sport = sk->__sk_common.skc_num;
	e->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	e->flags |= ST_EVF_L3 | ST_EVF_L4 | ST_EVF_FROM_SOCK;
}

/* Byte by byte: cfg is volatile, and memcmp() would drop the qualifier. */
static __always_inline bool addr_equal(const __u8 *a, const volatile struct st_addr_filter *f)
{
	int n = f->family == 4 ? 4 : 16;

	for (int i = 0; i < 16; i++) {
		if (i < n && a[i] != f->addr[i])
			return false;
	}
	return true;
}

static __always_inline bool addr_family_matches(const struct st_event *e, const volatile struct st_addr_filter *f)
{
	if (!(e->flags & ST_EVF_L3))
		return false;
	if (f->family == 4)
		return e->l3_proto == ETH_P_IP || e->l3_proto == ETH_P_ARP;
	return e->l3_proto == ETH_P_IPV6;
}

/* The address filters on one tuple: the packet's own, or its conntrack entry's
 * (ct_tuple_matches). The family is the packet's: NAT keeps it. */
static __always_inline bool addrs_match(const struct st_event *e, const __u8 *saddr, const __u8 *daddr)
{
	__u32 on = cfg.filter_flags;

	if (on & ST_F_ADDR) {
		if (!addr_family_matches(e, &cfg.filter_addr))
			return false;
		if (!addr_equal(saddr, &cfg.filter_addr) && !addr_equal(daddr, &cfg.filter_addr))
			return false;
	}
	if (on & ST_F_SADDR) {
		if (!addr_family_matches(e, &cfg.filter_saddr) || !addr_equal(saddr, &cfg.filter_saddr))
			return false;
	}
	if (on & ST_F_DADDR) {
		if (!addr_family_matches(e, &cfg.filter_daddr) || !addr_equal(daddr, &cfg.filter_daddr))
			return false;
	}
	return true;
}

/* The port filters on one tuple (as addrs_match); the protocol is the packet's. */
static __always_inline bool ports_match(const struct st_event *e, __u16 sport, __u16 dport)
{
	__u32 on = cfg.filter_flags;

	if (on & (ST_F_PORT | ST_F_SPORT | ST_F_DPORT)) {
		if (!(e->flags & ST_EVF_L4) || (e->l4_proto != IPPROTO_TCP && e->l4_proto != IPPROTO_UDP))
			return false;
		if ((on & ST_F_PORT) && sport != cfg.filter_port && dport != cfg.filter_port)
			return false;
		if ((on & ST_F_SPORT) && sport != cfg.filter_sport)
			return false;
		if ((on & ST_F_DPORT) && dport != cfg.filter_dport)
			return false;
	}
	return true;
}

/* The L3 filters NAT does not rewrite: protocols and the IP length. */
static __always_inline bool l3_kept_matches(const struct st_event *e)
{
	__u32 on = cfg.filter_flags;

	if ((on & ST_F_L3_PROTO) && e->l3_proto != cfg.filter_l3_proto)
		return false;
	if ((on & ST_F_L4_PROTO) && (!(e->flags & ST_EVF_L3) || e->l4_proto != cfg.filter_l4_proto))
		return false;
	/* The IP length as printed (IP_LEN): IPv4 and IPv6 headers only, not a
	 * tuple taken from the socket (that event has no packet length). */
	if (on & ST_F_IP_LEN) {
		if ((e->flags & (ST_EVF_L3 | ST_EVF_FROM_SOCK)) != ST_EVF_L3 ||
		    (e->l3_proto != ETH_P_IP && e->l3_proto != ETH_P_IPV6))
			return false;
		if (e->ip_len < cfg.filter_ip_len_min || e->ip_len > cfg.filter_ip_len_max)
			return false;
	}
	return true;
}

/* The L4 filters NAT does not rewrite: ICMP id, TCP flags. */
static __always_inline bool l4_kept_matches(const struct st_event *e)
{
	__u32 on = cfg.filter_flags;

	if (on & ST_F_ICMP_ID) {
		if (!(e->flags & ST_EVF_L4) || (e->l4_proto != IPPROTO_ICMP && e->l4_proto != IPPROTO_ICMPV6))
			return false;
		if (e->icmp_id != cfg.filter_icmp_id)
			return false;
	}
	if (on & ST_F_TCP_FLAGS) {
		if (!(e->flags & ST_EVF_L4) || e->l4_proto != IPPROTO_TCP)
			return false;
		if ((e->tcp_flags & cfg.filter_tcp_flags) != cfg.filter_tcp_flags)
			return false;
	}
	return true;
}

/* L3 filters: protocols, addresses, IP length. */
static __always_inline bool l3_matches(const struct st_event *e)
{
	return l3_kept_matches(e) && addrs_match(e, e->saddr, e->daddr);
}

/* L4 filters: ports, ICMP id, TCP flags. */
static __always_inline bool l4_matches(const struct st_event *e)
{
	return ports_match(e, e->sport, e->dport) && l4_kept_matches(e);
}

static __always_inline bool ifname_matches(const char *name)
{
	for (int i = 0; i < ST_IFNAMSIZ; i++) {
		if (name[i] != cfg.filter_ifname[i])
			return false;
		if (name[i] == 0)
			break;
	}
	return true;
}

static __always_inline void count_loss(struct st_loss *loss, __u16 probe)
{
	/* Never silent: counted per CPU, reported in the stream and at exit, and
	 * per probe in the exit summary (which probe points the loss hides).
	 * Atomic: a probe in interrupt context can nest in one on the same CPU. */
	__sync_fetch_and_add(&loss->total, 1);
	__sync_fetch_and_add(&loss->pending, 1);
	if (probe < ST_PROBE_COUNT)
		__sync_fetch_and_add(&loss->by_probe[probe], 1);
	else if (probe == ST_PROBE_FUNCTION)
		__sync_fetch_and_add(&loss->functions, 1);
}

static __always_inline void submit(void *rec)
{
	/* Wake the reader in batches: a wake-up costs more than many records. */
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

	bpf_ringbuf_submit(rec, flags);
}

/* One direction of a conntrack entry. */
#define CT_TUPLE(ct, dir, out)                                                              \
	do {                                                                                \
		__be16 sport_ = 0, dport_ = 0;                                              \
		BPF_CORE_READ_INTO(&(out)->saddr, ct, tuplehash[dir].tuple.src.u3.all);     \
		BPF_CORE_READ_INTO(&(out)->daddr, ct, tuplehash[dir].tuple.dst.u3.all);     \
		BPF_CORE_READ_INTO(&sport_, ct, tuplehash[dir].tuple.src.u.all);            \
		BPF_CORE_READ_INTO(&dport_, ct, tuplehash[dir].tuple.dst.u.all);            \
		(out)->sport = bpf_ntohs(sport_);                                           \
		(out)->dport = bpf_ntohs(dport_);                                           \
	} while (0)

/* skb->_nfct, or 0 on a kernel without conntrack. */
static __always_inline unsigned long skb_nfct(struct sk_buff *skb)
{
	if (!bpf_core_field_exists(skb->_nfct) || !bpf_core_type_exists(struct nf_conn))
		return 0;
	return skb->_nfct;
}

/* The skb's conntrack entry (--ct). The entry is plain kernel memory behind a
 * number (skb->_nfct), so each field is a CO-RE probe read; a kernel without
 * conntrack compiles this away. has_ct(): whether the skb has an entry, or is
 * marked untracked, which is what read_ct() shows. */
static __always_inline bool has_ct(struct sk_buff *skb)
{
	unsigned long nfct = skb_nfct(skb);

	return (nfct & ~7UL) != 0 || (nfct & 7) == 7;
}

/* Fills a zeroed *out, where has_ct() said there is something to show. It is
 * written straight into the ring record: a copy on the stack would be 88 more
 * bytes of a frame that has to fit beside parse_packet()'s in 512. */
static __always_inline void read_ct(struct sk_buff *skb, struct st_ct *out)
{
	unsigned long nfct = skb->_nfct;
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~7UL);
	__u16 l3num = 0;
	unsigned long status = 0;

	out->ctinfo = nfct & 7;
	if (!ct) /* IP_CT_UNTRACKED without an entry (a NOTRACK rule): family stays 0 */
		return;
	BPF_CORE_READ_INTO(&status, ct, status);
	out->status = status;
	/* CONFIG_NF_CONNTRACK_MARK and _ZONES: absent fields read as 0. */
	if (bpf_core_field_exists(ct->mark))
		BPF_CORE_READ_INTO(&out->mark, ct, mark);
	if (bpf_core_field_exists(ct->zone))
		BPF_CORE_READ_INTO(&out->zone, ct, zone.id);
	BPF_CORE_READ_INTO(&l3num, ct, tuplehash[0].tuple.src.l3num);
	BPF_CORE_READ_INTO(&out->protonum, ct, tuplehash[0].tuple.dst.protonum);
	out->family = l3num == AF_INET ? 4 : l3num == AF_INET6 ? 6 : 0;
	CT_TUPLE(ct, 0, &out->orig);
	CT_TUPLE(ct, 1, &out->reply);
}

#define IPS_NAT_MASK ((1 << 4) | (1 << 5)) /* IPS_SRC_NAT | IPS_DST_NAT */
#define IP_CT_ESTABLISHED 0
#define IP_CT_NEW 2
#define IP_CT_ESTABLISHED_REPLY 3

/* ST_F_CT_TUPLE: whether the address (and with `ports`, port) filters pass on
 * the connection as its initiator addressed it, when they failed on the packet
 * itself (a local DNAT rewrites the destination before any tracepoint sees
 * it): the entry's original tuple for a packet going the original way, that
 * tuple reversed for a reply. Only entries NAT rewrote (without NAT that is the
 * packet's own tuple), and not related packets (an ICMP error's entry is
 * another packet's connection). Global, so verified once, with the tuple in
 * its own frame rather than the program's. */
__noinline int ct_tuple_matches(const struct st_event *e, __u64 nfct, __u32 ports)
{
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~7UL);
	__u32 ctinfo = nfct & 7;
	struct st_ct_tuple t = {};
	unsigned long status = 0;
	bool reply = ctinfo == IP_CT_ESTABLISHED_REPLY;

	if (!e || !ct || (ctinfo != IP_CT_ESTABLISHED && ctinfo != IP_CT_NEW && !reply))
		return 0;
	BPF_CORE_READ_INTO(&status, ct, status);
	if (!(status & IPS_NAT_MASK))
		return 0;
	CT_TUPLE(ct, 0, &t);
	if (!addrs_match(e, reply ? t.daddr : t.saddr, reply ? t.saddr : t.daddr))
		return 0;
	return !ports || ports_match(e, reply ? t.dport : t.sport, reply ? t.sport : t.dport);
}

/* Before L4 is read: whether the entry could still pass a packet whose own
 * addresses failed. Packets without an entry pay one load (skb->_nfct), those
 * whose entry NAT did not touch one read more. */
static __always_inline bool ct_addrs_match(const struct st_event *e, struct sk_buff *skb)
{
	return (cfg.filter_flags & ST_F_CT_TUPLE) && l3_kept_matches(e) && (skb_nfct(skb) & ~7UL) &&
	       ct_tuple_matches(e, skb_nfct(skb), 0);
}

/* After L4: the whole decision on the entry's tuple. */
static __always_inline bool ct_matches(const struct st_event *e, struct sk_buff *skb)
{
	return (cfg.filter_flags & ST_F_CT_TUPLE) && l3_kept_matches(e) && l4_kept_matches(e) &&
	       (skb_nfct(skb) & ~7UL) && ct_tuple_matches(e, skb_nfct(skb), 1);
}

static __always_inline void fill_stack(void *ctx, __u64 *ips, __u32 *nr_frames)
{
	long bytes = bpf_get_stack(ctx, ips, ST_STACK_MAX * sizeof(__u64), 0);

	*nr_frames = bytes > 0 ? bytes / 8 : 0;
}

/* Reserves a record and writes the event at its start; NULL (counted as lost)
 * when the ring is full. bpf_ringbuf_reserve() takes a constant size: inlined,
 * each caller's sizeof() is that constant. */
/* --output-skb: a dump is built in map memory (3 KiB is far beyond the BPF
 * stack), one slot per nesting level: a probe in process context can be
 * interrupted by a softirq that runs another probe on the same CPU, and
 * bpf_snprintf_btf() is slow enough for that to happen inside it. */
#define SKB_DUMP_NEST 3

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SKB_DUMP_NEST);
	__type(key, __u32);
	__type(value, struct st_skb_dump);
} skb_dump_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} skb_dump_nest SEC(".maps");

/* pwru's --output-skb: the sk_buff as BTF describes it, written just before its
 * event (same cpu, skb and time) so the reader holds it when the event comes.
 * Only the text written goes into the ring. A dump the full ring refuses is
 * left out, and the event says it has none. */
static __always_inline void emit_skb_dump(struct sk_buff *skb, const struct st_event *e)
{
	__u32 zero = 0, level;
	__u32 *nest = bpf_map_lookup_elem(&skb_dump_nest, &zero);
	struct st_skb_dump *d;
	struct btf_ptr p = {};
	long n;

	if (!nest)
		return;
	level = *nest;
	if (level >= SKB_DUMP_NEST)
		return;
	d = bpf_map_lookup_elem(&skb_dump_buf, &level);
	if (!d)
		return;
	/* Programs nest last in, first out on one CPU: a plain counter will do. */
	*nest = level + 1;
	p.ptr = skb;
	p.type_id = bpf_core_type_id_kernel(struct sk_buff);
	/* Raw pointers: addresses a user can match (the skb column, other dumps). */
	n = bpf_snprintf_btf(d->text, sizeof(d->text), &p, sizeof(p), BTF_F_PTR_RAW);
	if (n < 0) {
		*nest = level;
		return;
	}
	if (n > sizeof(d->text) - 1) /* truncated: the text ends at the last byte */
		n = sizeof(d->text) - 1;
	d->kind = ST_RECORD_SKB_DUMP;
	d->size = offsetof(struct st_skb_dump, text) + n + 1;
	d->cpu = e->cpu;
	d->skb = e->skb;
	d->ts_ns = e->ts_ns;
	if (bpf_ringbuf_output(&events, d, offsetof(struct st_skb_dump, text) + n + 1, BPF_RB_NO_WAKEUP)) {
		struct st_loss *loss = bpf_map_lookup_elem(&lost_events, &zero);

		if (loss)
			__sync_fetch_and_add(&loss->skb_dumps, 1);
	}
	*nest = level;
}

static __always_inline void *reserve_record(struct st_event *e, __u32 size, struct st_loss *loss)
{
	struct st_event *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec) {
		count_loss(loss, e->probe);
		return NULL;
	}
	e->lost_before = __sync_lock_test_and_set(&loss->pending, 0);
	e->size = size;
	__builtin_memcpy(rec, e, sizeof(*e));
	return rec;
}

/* The event with the skb's conntrack entry (--ct), and the stack if asked. */
static __always_inline void emit_ct(void *ctx, struct st_event *e, bool with_stack, struct sk_buff *skb,
				    struct st_loss *loss)
{
	if (with_stack) {
		struct st_ct_stack_event *rec = reserve_record(e, sizeof(*rec), loss);

		if (!rec)
			return;
		__builtin_memset(&rec->ct, 0, sizeof(rec->ct));
		read_ct(skb, &rec->ct);
		fill_stack(ctx, rec->ips, &rec->nr_frames);
		rec->pad = 0;
		submit(rec);
		return;
	}
	struct st_ct_event *rec = reserve_record(e, sizeof(*rec), loss);

	if (!rec)
		return;
	__builtin_memset(&rec->ct, 0, sizeof(rec->ct));
	read_ct(skb, &rec->ct);
	submit(rec);
}

/* One record layout per combination: the conntrack entry (--ct) and the kernel
 * stack each follow the event when present. */
static __always_inline void emit(void *ctx, struct st_event *e, bool with_stack, struct sk_buff *skb)
{
	__u32 zero = 0;
	struct st_loss *loss = bpf_map_lookup_elem(&lost_events, &zero);

	if (!loss)
		return;
	if (with_stack)
		e->flags |= ST_EVF_STACK;
	if (cfg.ct && has_ct(skb)) {
		emit_ct(ctx, e, with_stack, skb, loss);
		return;
	}
	if (with_stack) {
		struct st_stack_event *rec = reserve_record(e, sizeof(*rec), loss);

		if (!rec)
			return;
		fill_stack(ctx, rec->ips, &rec->nr_frames);
		rec->pad = 0;
		submit(rec);
		return;
	}
	struct st_event *rec = reserve_record(e, sizeof(*rec), loss);

	if (rec)
		submit(rec);
}

/* A cheap mix of the tuple fields NAT can rewrite: only compared for change. */
static __always_inline __u64 tuple_hash(const struct st_event *e)
{
	__u64 a[4];
	__u64 h = e->l4_proto;

	__builtin_memcpy(a, e->saddr, 16);
	__builtin_memcpy(&a[2], e->daddr, 16);
	h = h * 0x9E3779B97F4A7C15ULL ^ a[0];
	h = h * 0x9E3779B97F4A7C15ULL ^ a[1];
	h = h * 0x9E3779B97F4A7C15ULL ^ a[2];
	h = h * 0x9E3779B97F4A7C15ULL ^ a[3];
	h = h * 0x9E3779B97F4A7C15ULL ^ ((__u64)e->sport << 32 | (__u64)e->dport << 16 | e->icmp_id);
	return h;
}

/* What stays the same for one packet all along its path, NAT included (protocol,
 * TCP flags and sequence, ICMP type and sequence, IP length and IPv4 id); 0 when
 * the event has no L4 header of its own to tell. */
static __always_inline __u32 packet_identity(const struct st_event *e)
{
	__u32 h;

	if ((e->flags & (ST_EVF_L4 | ST_EVF_FROM_SOCK)) != ST_EVF_L4)
		return 0;
	h = e->l4_proto;
	h = h * 31 + e->tcp_flags;
	h = h * 31 + e->icmp_type;
	h = h * 31 + e->icmp_seq;
	h = h * 31 + e->ip_len;
	/* Per packet: the IPv4 id and the TCP sequence number tell apart two
	 * packets of one flow that reuse an address, which NAT does not rewrite. */
	h = h * 31 + e->ip_id;
	h = h * 31 + ((__u32)e->tcp_seq[0] << 24 | (__u32)e->tcp_seq[1] << 16 | (__u32)e->tcp_seq[2] << 8 | e->tcp_seq[3]);
	return h | 0x80000000;
}

/* The part of the identity that differs between two packets of one flow and
 * stays on one packet through NAT, GRO (which keeps the first segment's header)
 * and fragmentation: the TCP sequence number, the IPv4 id, the ICMP type and
 * sequence. The protocol goes in the top byte, so encapsulation (a new outer
 * protocol) is not mistaken for a new packet. 0 without an L4 header. */
static __always_inline __u32 packet_serial(const struct st_event *e)
{
	__u32 h;

	if ((e->flags & (ST_EVF_L4 | ST_EVF_FROM_SOCK)) != ST_EVF_L4)
		return 0;
	h = e->ip_id;
	h = h * 31 + ((__u32)e->tcp_seq[0] << 24 | (__u32)e->tcp_seq[1] << 16 | (__u32)e->tcp_seq[2] << 8 | e->tcp_seq[3]);
	h = h * 31 + e->icmp_type;
	h = h * 31 + e->icmp_seq;
	return ((__u32)e->l4_proto << 24) | (h & 0xfffffe) | 1; /* never 0: 0 means unknown */
}

/* Whether a tracked entry belongs to another packet than the one this event
 * shows: the address and maybe even the data buffer were recycled after a free
 * no tracepoint saw (TCP's __kfree_skb, the NAPI skb cache). */
static __always_inline bool tracked_is_stale(const struct st_track *t, const struct st_event *e, __u64 head)
{
	__u32 serial = packet_serial(e);

	/* Same protocol, another TCP seq / IPv4 id / ICMP seq: another packet. */
	if (t->serial && serial && (t->serial >> 24) == (serial >> 24) && t->serial != serial)
		return true;
	/* A new data buffer, unless it is the same packet copied by
	 * pskb_expand_head() (NAT on a clone): then everything else matches. */
	return t->head != head && !(t->identity && packet_identity(e) == t->identity);
}

/* The tuple of the packet's replies; false when it has none worth following. */
static __always_inline bool reply_flow(const struct st_event *e, struct st_flow *f)
{
	if (!(e->flags & ST_EVF_L4))
		return false;
	__builtin_memcpy(f->saddr, e->daddr, 16);
	__builtin_memcpy(f->daddr, e->saddr, 16);
	f->l4_proto = e->l4_proto;
	if (e->l4_proto == IPPROTO_TCP || e->l4_proto == IPPROTO_UDP) {
		f->sport = e->dport;
		f->dport = e->sport;
	} else if (e->l4_proto == IPPROTO_ICMP || e->l4_proto == IPPROTO_ICMPV6) {
		f->sport = e->icmp_id;
		f->dport = e->icmp_id;
	} else {
		return false;
	}
	return true;
}

static __always_inline bool flow_tracked(const struct st_event *e)
{
	struct st_flow f = {};

	if (!(e->flags & ST_EVF_L4))
		return false;
	/* The packet's own tuple, in the form reply_flow() stored. */
	__builtin_memcpy(f.saddr, e->saddr, 16);
	__builtin_memcpy(f.daddr, e->daddr, 16);
	f.l4_proto = e->l4_proto;
	if (e->l4_proto == IPPROTO_TCP || e->l4_proto == IPPROTO_UDP) {
		f.sport = e->sport;
		f.dport = e->dport;
	} else if (e->l4_proto == IPPROTO_ICMP || e->l4_proto == IPPROTO_ICMPV6) {
		f.sport = e->icmp_id;
		f.dport = e->icmp_id;
	} else {
		return false;
	}
	return bpf_map_lookup_elem(&tracked_flows, &f) != NULL;
}

/* A tracked skb whose tuple changed: with the same packet identity it is NAT,
 * so remember the rewritten tuple's replies, which are followed although they
 * may not match the filter. A tunnel changes the tuple and the identity with it
 * (the outer header's protocol and length): its replies are no reply flow. */
static __always_inline void note_rewrite(const struct st_event *e, struct st_track *t, bool same_identity)
{
	struct st_flow f = {};
	__u64 h = tuple_hash(e);

	if (h == t->tuple_hash)
		return;
	t->tuple_hash = h;
	if (!same_identity || !(cfg.track & ST_TRACK_FLOWS) || !reply_flow(e, &f))
		return;
	if (bpf_map_update_elem(&tracked_flows, &f, &e->ts_ns, BPF_ANY) == 0) {
		__sync_fetch_and_add(&track_stats.flows, 1);
		flows_active = 1;
	}
}

/* Probes whose skb sits in a socket queue: skb->dev is reused there (UDP keeps
 * dev_scratch in it), so the interface comes from skb_iif and the netns from sk. */
static __always_inline bool probe_in_socket(enum st_probe_id probe)
{
	return probe == ST_PROBE_SKB_COPY_DATAGRAM_IOVEC || probe == ST_PROBE_SOCK_RCVQUEUE_FULL ||
	       probe == ST_PROBE_UDP_FAIL_QUEUE_RCV_SKB;
}

/* The namespace of an skb that has neither a usable device nor a socket: TCP
 * clears skb->dev in tcp_v4_rcv, and frees the SYN a listener answered
 * (tcp_rcv_state_process) or data its reader let go (skb_defer_free_flush)
 * without one. The tracked skb's last namespace, else its route's device's (an
 * input route to a local address has the namespace's loopback); 0 when
 * neither is known. */
static __always_inline __u32 netns_without_dev(struct sk_buff *skb, const struct st_track *tracked)
{
	struct dst_entry *dst;

	if (tracked && tracked->netns)
		return tracked->netns;
	dst = (struct dst_entry *)(skb->_skb_refdst & ~1UL); /* SKB_DST_PTRMASK */
	if (!dst)
		return 0;
	return BPF_CORE_READ(dst, dev, nd_net.net, ns.inum);
}

/* Whether this probe takes part in attributing route lookups: the receive
 * tracepoints note the packet, and the functions that run between them and the
 * lookup (ip_rcv, ip_rcv_finish...) must not overwrite that note. */
static __always_inline bool notes_route(enum st_probe_id probe)
{
	return (cfg.route & ST_ROUTE_NOTE) && probe != ST_PROBE_FUNCTION;
}

static __always_inline bool probe_frees(enum st_probe_id probe)
{
	return probe == ST_PROBE_KFREE_SKB || probe == ST_PROBE_CONSUME_SKB;
}

/* Tracking bookkeeping once an event is emitted: a new match is remembered by
 * address, a tracked skb refreshes its entry (and notices NAT), a free forgets it. */
static __always_inline void track_skb(enum st_probe_id probe, struct sk_buff *skb, struct st_track *tracked,
				      const struct st_event *e)
{
	__u64 key = (__u64)skb;

	if (tracked) {
		if (probe_frees(probe)) {
			bpf_map_delete_elem(&tracked_skbs, &key);
			return;
		}
		tracked->last_ns = e->ts_ns;
		tracked->head = (__u64)skb->head;
		if (e->netns)
			tracked->netns = e->netns;
		/* Encapsulation and GRO change what the identity covers: follow it. */
		__u32 identity = packet_identity(e);
		bool same_identity = !identity || identity == tracked->identity;
		if (identity) {
			tracked->identity = identity;
			tracked->serial = packet_serial(e);
		}
		/* Only a tuple read from the packet itself tells whether NAT rewrote it. */
		if ((e->flags & (ST_EVF_L3 | ST_EVF_L4 | ST_EVF_FROM_SOCK)) == (ST_EVF_L3 | ST_EVF_L4))
			note_rewrite(e, tracked, same_identity);
		return;
	}
	/* Functions follow a tracked skb but do not start tracking one: after the
	 * free tracepoint, __kfree_skb() still hands the skb to
	 * skb_release_head_state(), skb_release_data() and kfree_skbmem(), and an
	 * entry made there would outlive the skb until user space expires it. */
	if (probe_frees(probe) || probe == ST_PROBE_FUNCTION)
		return;
	struct st_track t = {
		.first_ns = e->ts_ns, .last_ns = e->ts_ns, .tuple_hash = tuple_hash(e),
		.head = (__u64)skb->head, .identity = packet_identity(e), .serial = packet_serial(e),
		.netns = e->netns,
	};

	if (bpf_map_update_elem(&tracked_skbs, &key, &t, BPF_NOEXIST) == -7 /* E2BIG: full */)
		__sync_fetch_and_add(&track_stats.full, 1);
}

static __always_inline int st_trace_skb(void *ctx, enum st_probe_id probe, struct sk_buff *skb, struct sock *sk,
					__u32 drop_reason, __u64 location, __u32 event_flags)
{
	struct st_event e = {};
	struct net_device *dev = NULL;
	struct st_track *tracked = NULL;
	__u32 on = cfg.filter_flags;
	bool follow_flows = false;
	bool by_filter;
	bool scope_ok = true; /* pid, mark, netns and interface filters */
	__u64 pid_tgid;
	__u32 l4_off;

	if (!skb)
		return 0;
	/* The probe's own values go into the event at once instead of staying
	 * live to the end: each would be a stack slot, and without the private
	 * stacks of Linux 6.13+ the program, parse_packet() and bpf_loop()'s
	 * callback share 512 bytes (Debian's 6.12 refused kfree_skb by 80). */
	e.drop_reason = drop_reason;
	e.location = location;
	e.flags = (__u8)event_flags;
	/* Read flows_active only when flow tracking is configured, and keep clang
	 * from folding the read into an unconditional one: the verifier then knows
	 * follow_flows is false in every other trace and skips the flow paths
	 * (they doubled the load time of all programs). */
	if (cfg.track & ST_TRACK_FLOWS) {
		__u32 active = flows_active;

		barrier_var(active);
		follow_flows = active != 0;
	}
	/* A tracked skb skips every filter: NAT or a namespace change must not lose it. */
	if (cfg.track & ST_TRACK_SKB) {
		__u64 key = (__u64)skb;

		tracked = bpf_map_lookup_elem(&tracked_skbs, &key);
	}
	/* With route probes, forget the previous skb before any filter can return. */
	if (notes_route(probe)) {
		struct st_last_packet *last = last_packet_slot();

		if (last)
			last->skb = 0;
	}
	/* Cheapest filters first: most packets on a busy host do not match. */
	pid_tgid = bpf_get_current_pid_tgid();
	e.pid = pid_tgid >> 32;
	e.tid = (__u32)pid_tgid;
	if ((on & ST_F_PID) && e.pid != cfg.filter_pid) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}
	e.mark = skb->mark;
	if ((on & ST_F_MARK) && (e.mark & cfg.filter_mark_mask) != cfg.filter_mark) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}
	if (!sk)
		sk = skb->sk;
	if ((on & ST_F_OWNER_PID) && !owned_by(sk, cfg.filter_owner_pid)) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}
	if (!probe_in_socket(probe))
		dev = skb->dev;
	/* Once UDP queued an skb, skb->dev holds dev_scratch (a small integer), and
	 * consume_skb/kfree_skb still see it there. Loads through it are caught by
	 * the BPF exception table, but each fault costs about 2 us: check that it
	 * looks like a kernel address first (x86-64 and arm64 kernel space). */
	if ((__u64)dev < KERNEL_SPACE_START)
		dev = NULL;
	if (dev) {
		e.netns = dev->nd_net.net->ns.inum;
		e.ifindex = dev->ifindex;
	} else {
		e.ifindex = skb->skb_iif;
		if (sk)
			e.netns = sk->__sk_common.skc_net.net->ns.inum;
		else if (on & ST_F_NETNS) /* else only once the event passed the filters */
			e.netns = netns_without_dev(skb, tracked);
	}
	if (notes_route(probe)) {
		struct st_last_packet *last = last_packet_slot();

		if (last) {
			last->skb = (__u64)skb;
			last->ts_ns = bpf_ktime_get_ns();
			last->netns = e.netns;
			last->ifindex = e.ifindex;
			bool list = probe == ST_PROBE_NETIF_RECEIVE_SKB_LIST_ENTRY;

			last->receive = list || probe == ST_PROBE_NETIF_RECEIVE_SKB || probe == ST_PROBE_NETIF_RECEIVE_SKB_ENTRY;
			/* A list's entries are traced first, then each skb's receive: the
			 * batch lasts until another kind of event. */
			last->batch = list || (last->receive && last->batch);
			last->passed = 0;
		}
	}
	if ((on & ST_F_NETNS) && e.netns != cfg.filter_netns) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}
	if (dev && (on & ST_F_IFNAME)) {
		bpf_probe_read_kernel(e.ifname, sizeof(e.ifname), dev->name);
		if (!ifname_matches(e.ifname)) {
			if (!tracked)
				return 0;
			scope_ok = false;
		}
	} else if (on & ST_F_IFNAME) {
		if (!tracked)
			return 0;
		scope_ok = false;
	}

	/* skb->head crosses into parse_packet() through the event's skb field
	 * (filled for real below): a global function takes only scalars and
	 * memory, and the verifier hands a privileged program's stored pointer
	 * back as a number after the call. Copying it with a helper instead cost
	 * 40 ns per event. */
	/* Opaque to the optimizer from here: clang has emitted skb->data's CO-RE load
	 * without its base register (`r2 = 200; r2 = *(u64 *)(r2 + 0)`, rejected by the
	 * verifier) in some programs of some builds, as if it had proved skb NULL. */
	barrier_var(skb);
	e.skb = (__u64)skb->head;
	l4_off = parse_packet(&e, (__u64)skb->mac_header << 32 | (__u64)skb->network_header << 16 | skb->protocol,
			      (__u64)skb->len << 32 | (__u32)(skb->data - skb->head),
			      dev && dev->hard_header_len == ETH_HLEN);
	if (l4_off && e.l3_proto == ETH_P_IPV6)
		l4_off = parse_ipv6_ext(&e, e.skb, l4_off);
	/* skb->head stays in e.skb until the event is emitted, for the same
	 * reason: not one more stack slot. */
	if (!(e.flags & ST_EVF_L3) && sk)
		tuple_from_sock(&e, sk);
	/* Untracked packets that fail the L3 filters stop here, before L4 is read,
	 * unless a NATed flow or their conntrack entry could still claim them. */
	if (!tracked && !follow_flows && !l3_matches(&e) && !ct_addrs_match(&e, skb))
		return 0;
	if (l4_off)
		parse_l4(&e, e.skb, l4_off);
	/* Another packet at a tracked address: forget the stale entry and let the
	 * filter decide about the new packet. */
	if (tracked && tracked_is_stale(tracked, &e, e.skb)) {
		__u64 key = (__u64)skb;

		bpf_map_delete_elem(&tracked_skbs, &key);
		tracked = NULL;
		if (!scope_ok)
			return 0;
	}
	/* Decided after L4 is read, so no flag rides through parse_l4(): carrying
	 * one doubled the verifier's work in every program. */
	by_filter = tracked || (l3_matches(&e) && l4_matches(&e)) || ct_matches(&e, skb);
	/* A reply of a NATed tracked packet: its tuple is in tracked_flows. Only
	 * looked up once such a flow exists, so plain filtering pays nothing. */
	if (!by_filter) {
		if (!follow_flows || !flow_tracked(&e))
			return 0;
		e.match = ST_MATCH_FLOW;
	}
	if (tracked)
		e.match = ST_MATCH_SKB;

	if (dev && !(on & ST_F_IFNAME))
		bpf_probe_read_kernel(e.ifname, sizeof(e.ifname), dev->name);
	else if (!dev && !sk && !(on & ST_F_NETNS))
		e.netns = netns_without_dev(skb, tracked);
	e.kind = ST_RECORD_EVENT;
	e.size = sizeof(e);
	e.probe = probe;
	e.cpu = bpf_get_smp_processor_id();
	e.ts_ns = bpf_ktime_get_ns();
	e.skb = (__u64)skb;
	e.location = ST_EVENT_LOCATION(ctx, e.location);
	/* Arithmetic, not a branch: a value only stored stays imprecise for the
	 * verifier, so the filter and flow paths merge here instead of each being
	 * verified to the end. */
	e.flags |= (__u8)((e.match != 0) << 7); /* ST_EVF_TRACKED */
	e.skb_len = skb->len;
	e.pkt_type = BPF_CORE_READ_BITFIELD(skb, pkt_type);
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	if (cfg.owner)
		read_sock(sk, &e);
	if (cfg.track & ST_TRACK_SKB)
		track_skb(probe, skb, tracked, &e);
	if (notes_route(probe)) {
		struct st_last_packet *last = last_packet_slot();

		if (last && last->skb == (__u64)skb) {
			__builtin_memcpy(&last->event, &e, sizeof(e));
			last->passed = 1;
		}
	}
	if (cfg.skb_dump)
		emit_skb_dump(skb, &e);
	emit(ctx, &e, cfg.stack_mode == ST_STACK_ALL || (cfg.stack_mode == ST_STACK_DROPS && probe == ST_PROBE_KFREE_SKB), skb);
	return 0;
}

#endif
