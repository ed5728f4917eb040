/* The read-only configuration and the maps and globals shared by every probe
 * family (one object's worth: the function object reuses them by fd). */
#ifndef SKBTRACER_MAPS_BPF_H
#define SKBTRACER_MAPS_BPF_H

#include "common.bpf.h"

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
/* Set before the first skb goes into tracked_skbs: until then no skb can be
 * tracked, and packets skip the lookup (about 40 ns of a rejected packet's
 * time here, more than the rest of its rejection). Never cleared: an entry
 * may go from user space (expiry) as well as from BPF. */
__u32 skbs_tracked = 0;

#endif
