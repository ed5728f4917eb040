/* nftrace: the kernel's trace of packets whose nf_trace bit is set (`meta
 * nftrace set 1`), one NFT_MSG_TRACE message per rule verdict, chain return
 * and base-chain policy, multicast to the NFNLGRP_NFTRACE group of the
 * packet's network namespace. Messages are decoded by libnftnl's trace API
 * after a check of their shape: libnftnl exits the process on a message it
 * calls ABI breakage. Every int function returns 0 or a negative errno unless
 * it says otherwise.
 */
#ifndef SKBTRACER_NFTRACE_H
#define SKBTRACER_NFTRACE_H

#include <stddef.h>
#include <stdint.h>

/* NFT_TRACETYPE_* (linux/netfilter/nf_tables.h); nftrace.c asserts the values. */
enum st_nftrace_type { ST_NFTRACE_POLICY = 1, ST_NFTRACE_RETURN = 2, ST_NFTRACE_RULE = 3 };

/* Verdict codes: NF_* (linux/netfilter.h) and NFT_* (enum nft_verdicts), asserted
 * in nftrace.c. A netfilter verdict may carry more in its upper bits (NF_QUEUE's
 * queue number, NF_DROP_ERR's errno); its low byte is the NF_* code. */
enum st_nft_verdict {
	ST_NF_DROP = 0, ST_NF_ACCEPT = 1, ST_NF_STOLEN = 2, ST_NF_QUEUE = 3, ST_NF_REPEAT = 4, ST_NF_STOP = 5,
	ST_NFT_CONTINUE = -1, ST_NFT_BREAK = -2, ST_NFT_JUMP = -3, ST_NFT_GOTO = -4, ST_NFT_RETURN = -5,
};

/* Which optional fields of struct st_nftrace the message carried. */
enum st_nftrace_present {
	ST_NFTRACE_HAS_RULE_HANDLE = 1 << 0,
	ST_NFTRACE_HAS_VERDICT = 1 << 1, /* a verdict, or (a policy trace) the chain's policy */
	ST_NFTRACE_HAS_NFPROTO = 1 << 2,
	ST_NFTRACE_HAS_IIF = 1 << 3,
	ST_NFTRACE_HAS_OIF = 1 << 4,
	ST_NFTRACE_HAS_MARK = 1 << 5,
	ST_NFTRACE_HAS_TARGET = 1 << 6,
};

/* The kernel sends at most 20 link, 40 network and 20 transport header bytes. */
#define ST_NFTRACE_HEADER_MAX 64

/* One trace message. Strings are NUL-terminated (empty when not sent); the
 * kernel sends the interfaces and headers with the first trace of each base
 * chain's run only, the mark when it is not 0. */
struct st_nftrace {
	uint32_t id;          /* the same for every trace of one skb */
	uint32_t type;        /* enum st_nftrace_type */
	uint64_t rule_handle;
	int32_t verdict;      /* enum st_nft_verdict; a policy trace's is the policy */
	uint32_t nfproto;     /* NFPROTO_* of the packet (an inet table's ipv4 or ipv6) */
	uint32_t iif, oif, mark;
	uint32_t present;     /* enum st_nftrace_present */
	uint8_t family;       /* the table's NFPROTO_* */
	uint8_t pad;
	uint16_t ll_len, nh_len, th_len; /* bytes kept (at most ST_NFTRACE_HEADER_MAX) */
	uint8_t pad2[2];
	uint8_t ll[ST_NFTRACE_HEADER_MAX];
	uint8_t nh[ST_NFTRACE_HEADER_MAX];
	uint8_t th[ST_NFTRACE_HEADER_MAX];
	char table[256];      /* NFT_TABLE_MAXNAMELEN */
	char chain[256];      /* NFT_CHAIN_MAXNAMELEN */
	char target[256];     /* a jump's or goto's chain */
};

/* Decodes one message (a struct nlmsghdr of `len` bytes). Returns 0, 1 when it
 * is a netlink message of another kind (not NFT_MSG_TRACE: skip it), -EINVAL
 * when it is a malformed trace message. */
int st_nftrace_parse(const void *msg, size_t len, struct st_nftrace *out);

/* Opens a non-blocking NETLINK_NETFILTER socket in the calling thread's network
 * namespace, joined to NFNLGRP_NFTRACE, with a receive buffer of `rcvbuf` bytes
 * (forced past rmem_max where privileged). Returns the descriptor or -errno. */
int st_nftrace_open(int rcvbuf);

/* What a drain saw besides traces. */
struct st_nftrace_counts {
	uint64_t overflows; /* ENOBUFS: the kernel dropped traces (how many is unknown) */
	uint64_t malformed; /* trace messages that failed st_nftrace_parse */
};

/* Called once per trace, in the order received; nonzero stops the drain. */
typedef int (*st_nftrace_fn)(const struct st_nftrace *trace, void *ctx);

/* Reads what is pending on `fd` (at most `max_reads` datagrams) into `buf` of
 * `size` bytes and calls `fn` per trace. Returns how many datagrams were read
 * (fewer than max_reads: none is left), or -errno for a failure other than
 * EAGAIN, EINTR and ENOBUFS (counted in `counts`). */
int st_nftrace_drain(int fd, void *buf, size_t size, int max_reads, st_nftrace_fn fn, void *ctx,
		     struct st_nftrace_counts *counts);

#endif
