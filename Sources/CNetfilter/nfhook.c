#include "st_nfhook.h"
#include "nldump.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter_arp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_hook.h>

/* Debian 12's header predates the BPF hook type and its attribute (Linux 6.4). */
#ifndef NFNLA_HOOK_BPF_ID
#define NFNLA_HOOK_BPF_ID 1
#endif

/* The bridge hooks (NF_BR_* in linux/netfilter_bridge.h) are numbered as
 * inet's; that header pulls in linux/if_pppox.h, which clashes with glibc's. */
static const struct st_nfhook_point points[] = {
	{ NFPROTO_IPV4, NF_INET_PRE_ROUTING, "ip", "prerouting", 0 },
	{ NFPROTO_IPV4, NF_INET_LOCAL_IN, "ip", "input", 0 },
	{ NFPROTO_IPV4, NF_INET_FORWARD, "ip", "forward", 0 },
	{ NFPROTO_IPV4, NF_INET_LOCAL_OUT, "ip", "output", 0 },
	{ NFPROTO_IPV4, NF_INET_POST_ROUTING, "ip", "postrouting", 0 },
	{ NFPROTO_IPV6, NF_INET_PRE_ROUTING, "ip6", "prerouting", 0 },
	{ NFPROTO_IPV6, NF_INET_LOCAL_IN, "ip6", "input", 0 },
	{ NFPROTO_IPV6, NF_INET_FORWARD, "ip6", "forward", 0 },
	{ NFPROTO_IPV6, NF_INET_LOCAL_OUT, "ip6", "output", 0 },
	{ NFPROTO_IPV6, NF_INET_POST_ROUTING, "ip6", "postrouting", 0 },
	{ NFPROTO_ARP, NF_ARP_IN, "arp", "input", 0 },
	{ NFPROTO_ARP, NF_ARP_OUT, "arp", "output", 0 },
	{ NFPROTO_ARP, NF_ARP_FORWARD, "arp", "forward", 0 },
	{ NFPROTO_BRIDGE, NF_INET_PRE_ROUTING, "bridge", "prerouting", 0 },
	{ NFPROTO_BRIDGE, NF_INET_LOCAL_IN, "bridge", "input", 0 },
	{ NFPROTO_BRIDGE, NF_INET_FORWARD, "bridge", "forward", 0 },
	{ NFPROTO_BRIDGE, NF_INET_LOCAL_OUT, "bridge", "output", 0 },
	{ NFPROTO_BRIDGE, NF_INET_POST_ROUTING, "bridge", "postrouting", 0 },
	{ NFPROTO_NETDEV, NF_NETDEV_INGRESS, "netdev", "ingress", 1 },
	{ NFPROTO_NETDEV, NF_NETDEV_EGRESS, "netdev", "egress", 1 },
};

const struct st_nfhook_point *st_nfhook_points(size_t *count)
{
	*count = sizeof(points) / sizeof(points[0]);
	return points;
}

const char *st_nfhook_family_name(uint8_t family)
{
	if (family == NFPROTO_INET)
		return "inet";
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		if (points[i].family == family)
			return points[i].family_name;
	return NULL;
}

static void copy_str(char *dst, size_t size, const struct nlattr *attr)
{
	/* A string attribute need not be NUL-terminated within its payload. */
	size_t n = mnl_attr_get_payload_len(attr);
	const char *s = mnl_attr_get_payload(attr);
	size_t len = strnlen(s, n);
	if (len >= size)
		len = size - 1;
	memcpy(dst, s, len);
	dst[len] = 0;
}

/* A be32 attribute; 0 when it is shorter than 4 bytes. */
static uint32_t be32(const struct nlattr *attr)
{
	if (mnl_attr_get_payload_len(attr) < 4)
		return 0;
	uint32_t v;
	memcpy(&v, mnl_attr_get_payload(attr), 4);
	return ntohl(v);
}

struct attrs {
	const struct nlattr *tb[16];
};

static int collect(const struct nlattr *attr, void *data)
{
	struct attrs *a = data;
	unsigned int type = mnl_attr_get_type(attr);
	if (type < sizeof(a->tb) / sizeof(a->tb[0]))
		a->tb[type] = attr;
	return MNL_CB_OK;
}

static void parse_desc(const struct nlattr *nest, struct st_nfhook *out)
{
	struct attrs d = { 0 };
	mnl_attr_parse_nested(nest, collect, &d);
	if (out->type == ST_NFHOOK_TYPE_BPF) {
		if (d.tb[NFNLA_HOOK_BPF_ID])
			out->bpf_prog_id = be32(d.tb[NFNLA_HOOK_BPF_ID]);
		return;
	}
	if (d.tb[NFNLA_CHAIN_TABLE])
		copy_str(out->table, sizeof(out->table), d.tb[NFNLA_CHAIN_TABLE]);
	if (d.tb[NFNLA_CHAIN_NAME])
		copy_str(out->chain, sizeof(out->chain), d.tb[NFNLA_CHAIN_NAME]);
	if (d.tb[NFNLA_CHAIN_FAMILY]) {
		/* A u8; read a be32 too, should a kernel send the family that way. */
		const struct nlattr *f = d.tb[NFNLA_CHAIN_FAMILY];
		out->chain_family = mnl_attr_get_payload_len(f) >= 4 ? (uint8_t)be32(f) : mnl_attr_get_u8(f);
	}
}

int st_nfhook_parse(const void *msg, size_t len, struct st_nfhook *out)
{
	const struct nlmsghdr *nlh = msg;
	memset(out, 0, sizeof(*out));
	if (len < sizeof(*nlh) || !mnl_nlmsg_ok(nlh, (int)len) ||
	    nlh->nlmsg_type != ((NFNL_SUBSYS_HOOK << 8) | NFNL_MSG_HOOK_GET) ||
	    nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)))
		return -EINVAL;
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	out->family = nfg->nfgen_family;

	struct attrs a = { 0 };
	if (mnl_attr_parse(nlh, sizeof(*nfg), collect, &a) < 0)
		return -EINVAL;
	if (a.tb[NFNLA_HOOK_HOOKNUM])
		out->hooknum = be32(a.tb[NFNLA_HOOK_HOOKNUM]);
	if (a.tb[NFNLA_HOOK_PRIORITY]) {
		out->priority = (int32_t)be32(a.tb[NFNLA_HOOK_PRIORITY]);
		out->has_priority = 1;
	}
	if (a.tb[NFNLA_HOOK_FUNCTION_NAME])
		copy_str(out->function, sizeof(out->function), a.tb[NFNLA_HOOK_FUNCTION_NAME]);
	if (a.tb[NFNLA_HOOK_MODULE_NAME])
		copy_str(out->module, sizeof(out->module), a.tb[NFNLA_HOOK_MODULE_NAME]);
	if (a.tb[NFNLA_HOOK_CHAIN_INFO]) {
		struct attrs info = { 0 };
		mnl_attr_parse_nested(a.tb[NFNLA_HOOK_CHAIN_INFO], collect, &info);
		/* The type says how to read the description: take it first. */
		if (info.tb[NFNLA_HOOK_INFO_TYPE])
			out->type = be32(info.tb[NFNLA_HOOK_INFO_TYPE]);
		if (info.tb[NFNLA_HOOK_INFO_DESC])
			parse_desc(info.tb[NFNLA_HOOK_INFO_DESC], out);
	}
	return 0;
}

struct dump_state {
	st_nfhook_fn fn;
	void *ctx;
	int err;
};

static int on_reply(const struct nlmsghdr *nlh, void *data)
{
	struct dump_state *s = data;
	struct st_nfhook hook;
	int err = st_nfhook_parse(nlh, nlh->nlmsg_len, &hook);
	if (err) {
		s->err = err;
		return MNL_CB_ERROR;
	}
	return s->fn(&hook, s->ctx) ? MNL_CB_STOP : MNL_CB_OK;
}

int st_nfhook_dump(uint8_t family, uint32_t hooknum, const char *dev, st_nfhook_fn fn, void *ctx)
{
	size_t size = MNL_SOCKET_BUFFER_SIZE * 4;
	char *buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_HOOK << 8) | NFNL_MSG_HOOK_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = (unsigned int)time(NULL);
	struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	mnl_attr_put_u32(nlh, NFNLA_HOOK_HOOKNUM, htonl(hooknum));
	if (dev)
		mnl_attr_put_strz(nlh, NFNLA_HOOK_DEV, dev);

	struct dump_state state = { .fn = fn, .ctx = ctx, .err = 0 };
	int err = st_nl_dump(buf, size, nlh, on_reply, &state, &state.err);
	free(buf);
	return err;
}
