// SPDX-License-Identifier: GPL-2.0
/* Netfilter hook programs (--netfilter): BPF netfilter programs (Linux 6.4+)
 * attached at the first and the last priority of each IPv4 and IPv6 hook. A
 * packet that entered a hook and never left it was dropped, stolen or queued
 * there, by whatever hook function: nf_tables, legacy iptables, conntrack.
 *
 * Its own object, loaded only for --netfilter and on the tracepoint object's
 * maps (as bpf/functions.bpf.c): an older kernel has no netfilter program type,
 * and these programs get only the base helpers (ST_BASE_HELPERS).
 *
 * libbpf 1.1 (Debian 12) knows neither the section name nor the attach
 * type: the loader sets the program type before load and creates each link
 * with BPF_LINK_CREATE itself, in the namespace it traces.
 */
#define ST_BASE_HELPERS
#include "skb_event.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define NF_ACCEPT 1

/* Which hook, packed into the event's location word; emit() unpacks it into
 * the ST_SEC_NF_HOOK section. */
static __always_inline int nf_hook_probe(struct bpf_nf_ctx *ctx, __u32 where)
{
	const struct nf_hook_state *state = ctx->state;
	__u64 location = (__u64)where << 16 | (__u64)state->pf << 8 | state->hook;

	st_trace_skb(ctx, ST_PROBE_NF_HOOK, ctx->skb, NULL, 0, location);
	/* A verdict: this program only watches. */
	return NF_ACCEPT;
}

SEC("netfilter")
int nf_hook_entry(struct bpf_nf_ctx *ctx)
{
	return nf_hook_probe(ctx, ST_NF_HOOK_ENTRY);
}

SEC("netfilter")
int nf_hook_exit(struct bpf_nf_ctx *ctx)
{
	return nf_hook_probe(ctx, ST_NF_HOOK_EXIT);
}
