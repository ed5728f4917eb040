/* Writing records into the ring buffer: the event with its optional parts
 * (conntrack entry, stack, skb dump), losses counted per CPU and probe, and
 * wake-ups in batches. */
#ifndef SKBTRACER_EMIT_BPF_H
#define SKBTRACER_EMIT_BPF_H

#include "conntrack.bpf.h"

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

#endif
