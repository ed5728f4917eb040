/* The skb's conntrack entry: read for --ct, and matched by the filters when
 * NAT rewrote the packet (the addresses the application used). */
#ifndef SKBTRACER_CONNTRACK_BPF_H
#define SKBTRACER_CONNTRACK_BPF_H

#include "filter.bpf.h"

/* One direction of a conntrack entry. The ports are read in place and turned
 * around there: no temporaries in ct_tuple_matches()'s frame, which adds to
 * the program's (512 bytes for both). */
#define CT_TUPLE(ct, dir, out)                                                              \
	do {                                                                                \
		BPF_CORE_READ_INTO(&(out)->saddr, ct, tuplehash[dir].tuple.src.u3.all);     \
		BPF_CORE_READ_INTO(&(out)->daddr, ct, tuplehash[dir].tuple.dst.u3.all);     \
		BPF_CORE_READ_INTO(&(out)->sport, ct, tuplehash[dir].tuple.src.u.all);      \
		BPF_CORE_READ_INTO(&(out)->dport, ct, tuplehash[dir].tuple.dst.u.all);      \
		(out)->sport = bpf_ntohs((out)->sport);                                     \
		(out)->dport = bpf_ntohs((out)->dport);                                     \
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
__noinline int ct_tuple_matches(const struct st_packet *pkt, __u64 nfct, __u32 ports)
{
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~7UL);
	__u32 ctinfo = nfct & 7;
	struct st_ct_tuple t __attribute__((aligned(8))) = {};
	/* The status goes where the tuple is read next: one slot less in this frame. */
	unsigned long *status = (unsigned long *)t.saddr;
	bool reply = ctinfo == IP_CT_ESTABLISHED_REPLY;

	if (!pkt || !ct || (ctinfo != IP_CT_ESTABLISHED && ctinfo != IP_CT_NEW && !reply))
		return 0;
	BPF_CORE_READ_INTO(status, ct, status);
	if (!(*status & IPS_NAT_MASK))
		return 0;
	CT_TUPLE(ct, 0, &t);
	if (!addrs_match(pkt, reply ? t.daddr : t.saddr, reply ? t.saddr : t.daddr))
		return 0;
	return !ports || ports_match(pkt, reply ? t.dport : t.sport, reply ? t.sport : t.dport);
}

/* Before L4 is read: whether the entry (skb_nfct()) could still pass a packet whose own
 * addresses failed. Packets without an entry pay one load (skb->_nfct), those
 * whose entry NAT did not touch one read more. */
static __always_inline bool ct_addrs_match(const struct st_packet *pkt, unsigned long nfct)
{
	return (cfg.filter_flags & ST_F_CT_TUPLE) && l3_kept_matches(pkt) && (nfct & ~7UL) &&
	       ct_tuple_matches(pkt, nfct, 0);
}

/* After L4: the whole decision on the entry's tuple. */
static __always_inline bool ct_matches(const struct st_packet *pkt, unsigned long nfct)
{
	return (cfg.filter_flags & ST_F_CT_TUPLE) && l3_kept_matches(pkt) && l4_kept_matches(pkt) &&
	       (nfct & ~7UL) && ct_tuple_matches(pkt, nfct, 1);
}

#endif
