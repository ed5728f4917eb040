#include "st_nftrace.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <libnftnl/trace.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

/* Compared as ints: they are two enums of the same numbers. */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(ST_NFTRACE_POLICY, NFT_TRACETYPE_POLICY) && SAME(ST_NFTRACE_RETURN, NFT_TRACETYPE_RETURN) &&
	       SAME(ST_NFTRACE_RULE, NFT_TRACETYPE_RULE), "trace types");
_Static_assert(SAME(ST_NF_DROP, NF_DROP) && SAME(ST_NF_ACCEPT, NF_ACCEPT) && SAME(ST_NF_STOLEN, NF_STOLEN) &&
	       SAME(ST_NF_QUEUE, NF_QUEUE) && SAME(ST_NF_REPEAT, NF_REPEAT) && SAME(ST_NF_STOP, NF_STOP), "NF verdicts");
_Static_assert(SAME(ST_NFT_CONTINUE, NFT_CONTINUE) && SAME(ST_NFT_BREAK, NFT_BREAK) && SAME(ST_NFT_JUMP, NFT_JUMP) &&
	       SAME(ST_NFT_GOTO, NFT_GOTO) && SAME(ST_NFT_RETURN, NFT_RETURN), "NFT verdicts");

static void copy(char *dst, size_t size, const char *src)
{
	size_t len = src ? strnlen(src, size - 1) : 0;
	memcpy(dst, src ? src : "", len);
	dst[len] = 0;
}

/* The checks libnftnl makes with abi_breakage() (which exits the process),
 * made first so that a malformed message is an error instead. */
struct shape {
	int err;
	int has_id, has_type;
};

static int verdict_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);
	if (type == NFTA_VERDICT_CODE) {
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		tb[type] = attr;
	} else if (type == NFTA_VERDICT_CHAIN) {
		if (mnl_attr_validate(attr, MNL_TYPE_STRING) < 0)
			return MNL_CB_ERROR;
		tb[type] = attr;
	}
	return MNL_CB_OK;
}

static int verdict_ok(const struct nlattr *attr)
{
	const struct nlattr *tb[NFTA_VERDICT_MAX + 1] = { 0 };
	if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0 || mnl_attr_parse_nested(attr, verdict_cb, tb) < 0 ||
	    !tb[NFTA_VERDICT_CODE])
		return 0;
	int32_t code = (int32_t)ntohl(mnl_attr_get_u32(tb[NFTA_VERDICT_CODE]));
	return (code != NFT_JUMP && code != NFT_GOTO) || tb[NFTA_VERDICT_CHAIN];
}

static int shape_cb(const struct nlattr *attr, void *data)
{
	struct shape *s = data;
	int ok = 1;
	if (mnl_attr_type_valid(attr, NFTA_TRACE_MAX) < 0)
		return MNL_CB_OK;
	switch (mnl_attr_get_type(attr)) {
	case NFTA_TRACE_VERDICT:
		ok = verdict_ok(attr);
		break;
	case NFTA_TRACE_IIFTYPE:
	case NFTA_TRACE_OIFTYPE:
		ok = mnl_attr_validate(attr, MNL_TYPE_U16) == 0;
		break;
	case NFTA_TRACE_ID:
	case NFTA_TRACE_TYPE:
		*(mnl_attr_get_type(attr) == NFTA_TRACE_ID ? &s->has_id : &s->has_type) = 1;
		/* fallthrough */
	case NFTA_TRACE_IIF:
	case NFTA_TRACE_MARK:
	case NFTA_TRACE_OIF:
	case NFTA_TRACE_POLICY:
	case NFTA_TRACE_NFPROTO:
		ok = mnl_attr_validate(attr, MNL_TYPE_U32) == 0;
		break;
	case NFTA_TRACE_CHAIN:
	case NFTA_TRACE_TABLE:
		ok = mnl_attr_validate(attr, MNL_TYPE_STRING) == 0;
		break;
	case NFTA_TRACE_RULE_HANDLE:
		ok = mnl_attr_validate(attr, MNL_TYPE_U64) == 0;
		break;
	case NFTA_TRACE_LL_HEADER:
	case NFTA_TRACE_NETWORK_HEADER:
	case NFTA_TRACE_TRANSPORT_HEADER:
		ok = mnl_attr_get_payload_len(attr) > 0;
		break;
	}
	if (!ok) {
		s->err = -EINVAL;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static uint16_t header(const struct nftnl_trace *t, uint16_t attr, uint8_t *dst)
{
	uint32_t len = 0;
	const void *data = nftnl_trace_get_data(t, attr, &len);
	if (!data)
		return 0;
	if (len > ST_NFTRACE_HEADER_MAX)
		len = ST_NFTRACE_HEADER_MAX;
	memcpy(dst, data, len);
	return (uint16_t)len;
}

int st_nftrace_parse(const void *msg, size_t len, struct st_nftrace *out)
{
	const struct nlmsghdr *nlh = msg;
	memset(out, 0, sizeof(*out));
	if (len < sizeof(*nlh) || !mnl_nlmsg_ok(nlh, (int)len))
		return -EINVAL;
	if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE))
		return 1;
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)))
		return -EINVAL;
	struct shape s = { 0 };
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), shape_cb, &s) < 0 || s.err || !s.has_id || !s.has_type)
		return -EINVAL;

	struct nftnl_trace *t = nftnl_trace_alloc();
	if (!t)
		return -ENOMEM;
	int ret = -EINVAL;
	if (nftnl_trace_nlmsg_parse(nlh, t) < 0)
		goto out;
	ret = 0;
	out->family = (uint8_t)nftnl_trace_get_u32(t, NFTNL_TRACE_FAMILY);
	out->id = nftnl_trace_get_u32(t, NFTNL_TRACE_ID);
	out->type = nftnl_trace_get_u32(t, NFTNL_TRACE_TYPE);
	copy(out->table, sizeof(out->table), nftnl_trace_get_str(t, NFTNL_TRACE_TABLE));
	copy(out->chain, sizeof(out->chain), nftnl_trace_get_str(t, NFTNL_TRACE_CHAIN));
	if (nftnl_trace_is_set(t, NFTNL_TRACE_RULE_HANDLE)) {
		out->rule_handle = nftnl_trace_get_u64(t, NFTNL_TRACE_RULE_HANDLE);
		out->present |= ST_NFTRACE_HAS_RULE_HANDLE;
	}
	/* A policy trace carries the chain's policy instead of a verdict. */
	if (nftnl_trace_is_set(t, NFTNL_TRACE_VERDICT)) {
		out->verdict = (int32_t)nftnl_trace_get_u32(t, NFTNL_TRACE_VERDICT);
		out->present |= ST_NFTRACE_HAS_VERDICT;
	} else if (nftnl_trace_is_set(t, NFTNL_TRACE_POLICY)) {
		out->verdict = (int32_t)nftnl_trace_get_u32(t, NFTNL_TRACE_POLICY);
		out->present |= ST_NFTRACE_HAS_VERDICT;
	}
	if (nftnl_trace_is_set(t, NFTNL_TRACE_JUMP_TARGET)) {
		uint32_t n = 0;
		const char *target = nftnl_trace_get_data(t, NFTNL_TRACE_JUMP_TARGET, &n);
		copy(out->target, sizeof(out->target), target);
		out->present |= ST_NFTRACE_HAS_TARGET;
	}
	if (nftnl_trace_is_set(t, NFTNL_TRACE_NFPROTO)) {
		out->nfproto = nftnl_trace_get_u32(t, NFTNL_TRACE_NFPROTO);
		out->present |= ST_NFTRACE_HAS_NFPROTO;
	}
	if (nftnl_trace_is_set(t, NFTNL_TRACE_IIF)) {
		out->iif = nftnl_trace_get_u32(t, NFTNL_TRACE_IIF);
		out->present |= ST_NFTRACE_HAS_IIF;
	}
	if (nftnl_trace_is_set(t, NFTNL_TRACE_OIF)) {
		out->oif = nftnl_trace_get_u32(t, NFTNL_TRACE_OIF);
		out->present |= ST_NFTRACE_HAS_OIF;
	}
	if (nftnl_trace_is_set(t, NFTNL_TRACE_MARK)) {
		out->mark = nftnl_trace_get_u32(t, NFTNL_TRACE_MARK);
		out->present |= ST_NFTRACE_HAS_MARK;
	}
	out->ll_len = header(t, NFTNL_TRACE_LL_HEADER, out->ll);
	out->nh_len = header(t, NFTNL_TRACE_NETWORK_HEADER, out->nh);
	out->th_len = header(t, NFTNL_TRACE_TRANSPORT_HEADER, out->th);
out:
	nftnl_trace_free(t);
	return ret;
}

int st_nftrace_open(int rcvbuf)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
	if (fd < 0)
		return -errno;
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK };
	int group = NFNLGRP_NFTRACE;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	/* A burst of traces must not overflow the default buffer (rmem_default,
	 * ~200 KB) before the reader wakes; FORCE needs CAP_NET_ADMIN, which
	 * joining the group needed too. */
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return fd;
}

int st_nftrace_drain(int fd, void *buf, size_t size, int max_reads, st_nftrace_fn fn, void *ctx,
		     struct st_nftrace_counts *counts)
{
	struct st_nftrace trace;
	int reads = 0;
	while (reads < max_reads) {
		ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				counts->overflows++;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		reads++;
		int left = (int)n;
		for (const struct nlmsghdr *nlh = buf; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			int ret = st_nftrace_parse(nlh, nlh->nlmsg_len, &trace);
			if (ret < 0)
				counts->malformed++;
			else if (ret == 0 && fn(&trace, ctx))
				return reads;
		}
	}
	return reads;
}
