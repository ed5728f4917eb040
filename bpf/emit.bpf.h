/* Writing records into the ring buffer: the event with its optional parts
 * (conntrack entry, stack, skb dump), losses counted per CPU and probe, and
 * wake-ups in batches. */
#ifndef SKBTRACER_EMIT_BPF_H
#define SKBTRACER_EMIT_BPF_H

#include "parse.bpf.h"
#include "conntrack.bpf.h"
#include "sock_owner.bpf.h"
#include "tunnel.bpf.h"

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
	else if (probe == ST_PROBE_NF_HOOK)
		__sync_fetch_and_add(&loss->nf_hooks, 1);
}

static __always_inline void submit(void *rec)
{
	/* Wake the reader in batches: a wake-up costs more than many records. */
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

	bpf_ringbuf_submit(rec, flags);
}

static __always_inline void fill_stack(void *ctx, __u64 *ips, __u32 *nr_frames)
{
#if ST_CAN_STACK
	long bytes = bpf_get_stack(ctx, ips, ST_STACK_MAX * sizeof(__u64), 0);

	*nr_frames = bytes > 0 ? bytes / 8 : 0;
#else
	*nr_frames = 0;
#endif
}

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
	d->cpu = e->hdr.cpu;
	d->skb = e->hdr.skb;
	d->ts_ns = e->hdr.ts_ns;
	if (bpf_ringbuf_output(&events, d, offsetof(struct st_skb_dump, text) + n + 1, BPF_RB_NO_WAKEUP)) {
		struct st_loss *loss = bpf_map_lookup_elem(&lost_events, &zero);

		if (loss)
			__sync_fetch_and_add(&loss->skb_dumps, 1);
	}
	*nest = level;
}

/* --write: the packet's first cfg.snaplen bytes into the ring, from its
 * Ethernet header when the event read one (with its offloaded VLAN tag put
 * back, see skb_vlan_tag()), else from its network header; the
 * linear part only (paged data is not behind skb->head). Every skb field comes
 * through a helper read: few events take this path, and a direct load would add
 * BTF lookups to every verified path (see event_sock()). */
static __always_inline void fill_payload(struct st_sec_payload *p, const struct st_event *e, struct sk_buff *skb)
{
	bool mac = e->pkt.flags & ST_PKT_MAC;
	__u64 head = (__u64)BPF_CORE_READ(skb, head);
	__u64 data = (__u64)BPF_CORE_READ(skb, data);
	__u32 len = BPF_CORE_READ(skb, len);
	__u32 paged = BPF_CORE_READ(skb, data_len);
	__u16 off = mac ? BPF_CORE_READ(skb, mac_header) : BPF_CORE_READ(skb, network_header);
	__u64 start = head + off, end = data + len - paged;
	__u64 n;

	p->caplen = 0;
	p->link = mac ? ST_PAYLOAD_ETHERNET : ST_PAYLOAD_IP;
	p->pad = 0;
	p->pad2 = 0;
	p->wire_len = 0;
	if (!(e->pkt.flags & (ST_PKT_MAC | ST_PKT_L3)) || (e->pkt.flags & ST_PKT_FROM_SOCK) || off == MAC_HEADER_UNSET ||
	    !head || end <= start || data + len < start)
		return;
	n = end - start;
	/* A tag kept outside the bytes goes back after the MAC addresses, as a
	 * capture shows it (and as the expression filter sees it). */
	if (mac && cfg.snaplen >= 16 && n >= 12 && skb_vlan_tag(skb, &p->data[12])) {
		if (bpf_probe_read_kernel(p->data, 12, (void *)start))
			return;
		n -= 12;
		if (n > cfg.snaplen - 16)
			n = cfg.snaplen - 16;
		if (n > ST_SNAPLEN_MAX - 16)
			n = ST_SNAPLEN_MAX - 16;
		barrier_var(n);
		if (bpf_probe_read_kernel(&p->data[16], n, (void *)(start + 12)))
			return;
		p->caplen = n + 16;
		p->wire_len = data + len - start + 4;
		return;
	}
	if (n > cfg.snaplen)
		n = cfg.snaplen;
	if (n > ST_SNAPLEN_MAX)
		n = ST_SNAPLEN_MAX;
	barrier_var(n);
	if (bpf_probe_read_kernel(p->data, n, (void *)start))
		return;
	p->caplen = n;
	p->wire_len = data + len - start;
}

/* The location section a probe's events carry: ST_SEC_DROP (kfree_skb),
 * ST_SEC_LOCATION (consume_skb's caller, a function probe's function),
 * ST_SEC_NF_HOOK (a netfilter hook program: which hook, from the location
 * word, see bpf/netfilter.bpf.c) or 0.
 * Worked out from the probe id and the read-only config each time, never read
 * back from the stack, so the record's size is a constant to the verifier on
 * every kernel (bpf_ringbuf_reserve() takes no other). */
static __always_inline __u16 location_section(enum st_probe_id probe)
{
	if (probe == ST_PROBE_FUNCTION)
		return ST_SEC_LOCATION;
	if (probe == ST_PROBE_NF_HOOK)
		return ST_SEC_NF_HOOK;
	if (probe >= ST_PROBE_COUNT)
		return 0;
	if (cfg.probe_args[probe].reason != ST_ARG_NONE)
		return ST_SEC_DROP;
	if (cfg.probe_args[probe].location != ST_ARG_NONE)
		return ST_SEC_LOCATION;
	return 0;
}

/* Reserves a record of `size` bytes and writes the event's head (header,
 * context and packet sections) at its start; NULL (counted as lost) when the
 * ring is full. */
static __always_inline void *reserve_record(const struct st_event *e, __u32 size, struct st_loss *loss)
{
	struct st_record *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec) {
		count_loss(loss, e->hdr.probe);
		return NULL;
	}
	__builtin_memcpy(rec, e, ST_EVENT_HEAD);
	rec->size = size;
	rec->lost_before = __sync_lock_test_and_set(&loss->pending, 0);
	return rec;
}

/* The event's record: its head, then the sections that apply. Which ones a
 * program writes follows from its probe and the read-only config, so the size
 * reserved and every offset are constants; the conntrack section depends on
 * the packet, hence emit()'s two calls, and so does the tunnel section, which
 * comes last with room reserved for it: a record without one is shorter than
 * its reservation (its header says how long). */
static __always_inline void emit_record(void *ctx, const struct st_event *e, enum st_probe_id probe, bool with_stack,
					bool with_ct, struct sk_buff *skb, struct sock *sk, struct st_loss *loss)
{
	__u16 loc_sec = location_section(probe);
	__u32 loc_size = loc_sec == ST_SEC_NF_HOOK ? sizeof(struct st_sec_nf_hook) : sizeof(struct st_sec_location);
	bool with_caller = probe == ST_PROBE_FUNCTION && cfg.caller;
	__u32 size = ST_EVENT_HEAD + (loc_sec ? loc_size : 0) + (with_caller ? sizeof(struct st_sec_caller) : 0) +
		     (cfg.owner ? sizeof(struct st_sec_socket) : 0) + (with_ct ? sizeof(struct st_sec_ct) : 0) +
		     (with_stack ? sizeof(struct st_sec_stack) : 0) +
		     (cfg.snaplen ? sizeof(struct st_sec_payload) + cfg.snaplen : 0) +
		     (cfg.tunnel ? sizeof(struct st_sec_tunnel) + sizeof(struct tunnel_buf) : 0);
	__u32 off = ST_EVENT_HEAD;
	void *rec = reserve_record(e, size, loss);

	if (!rec)
		return;
	if (loc_sec == ST_SEC_NF_HOOK) {
		struct st_sec_nf_hook *h = rec + off;

		h->sec.type = ST_SEC_NF_HOOK;
		h->sec.size = sizeof(*h);
		h->family = e->location >> 8;
		h->hook = e->location;
		h->where = e->location >> 16;
		h->pad = 0;
		off += sizeof(*h);
	} else if (loc_sec) {
		struct st_sec_location *l = rec + off;

		l->sec.type = loc_sec;
		l->sec.size = sizeof(*l);
		l->drop_reason = ST_EVENT_DROP_REASON(e);
		l->location = e->location;
		off += sizeof(*l);
	}
	if (with_caller) {
		struct st_sec_caller *c = rec + off;

		c->sec.type = ST_SEC_CALLER;
		c->sec.size = sizeof(*c);
		c->pad = 0;
		c->caller = ST_CALLER(ctx);
		off += sizeof(*c);
	}
	if (cfg.owner) {
		read_sock(event_sock(skb, sk), rec + off);
		off += sizeof(struct st_sec_socket);
	}
	if (with_ct) {
		struct st_sec_ct *c = rec + off;

		__builtin_memset(c, 0, sizeof(*c));
		c->sec.type = ST_SEC_CONNTRACK;
		c->sec.size = sizeof(*c);
		read_ct(skb, &c->ct);
		off += sizeof(*c);
	}
	if (with_stack) {
		struct st_sec_stack *st = rec + off;

		st->sec.type = ST_SEC_STACK;
		st->sec.size = sizeof(*st);
		fill_stack(ctx, st->ips, &st->nr_frames);
		off += sizeof(*st);
	}
	if (cfg.snaplen) {
		struct st_sec_payload *p = rec + off;

		p->sec.type = ST_SEC_PAYLOAD;
		p->sec.size = sizeof(*p) + cfg.snaplen;
		fill_payload(p, e, skb);
		off += sizeof(*p) + cfg.snaplen;
	}
	if (cfg.tunnel) {
		__u32 kind = tunnel_kind(&e->pkt);
		__u64 *head = rec + off + sizeof(struct st_sec_tunnel); /* parse_tunnel()'s scratch, first used after */

		/* Written in the ring, with parse_tunnel()'s scratch after it (past
		 * the record's end, never read): the program's stack has no room
		 * for either. skb->head through a helper: loaded directly it is a
		 * pointer, which a global function may not take (tunnels are few). */
		if (kind && ST_EVENT_L4_OFF(e) && !bpf_probe_read_kernel(head, sizeof(*head), &skb->head) &&
		    parse_tunnel(rec + off, rec + off + sizeof(struct st_sec_tunnel), *head, ST_EVENT_L4_OFF(e), kind))
			off += sizeof(struct st_sec_tunnel);
		((struct st_record *)rec)->size = off;
	}
	submit(rec);
}

static __always_inline void emit(void *ctx, const struct st_event *e, enum st_probe_id probe, bool with_stack,
				 struct sk_buff *skb, struct sock *sk)
{
	__u32 zero = 0;
	struct st_loss *loss = bpf_map_lookup_elem(&lost_events, &zero);

	if (!loss)
		return;
	if (cfg.ct && has_ct(skb))
		emit_record(ctx, e, probe, with_stack, true, skb, sk, loss);
	else
		emit_record(ctx, e, probe, with_stack, false, skb, sk, loss);
}

#endif
