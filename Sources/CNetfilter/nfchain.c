#include "st_nfchain.h"
#include "st_nfhook.h"
#include "nldump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

static void copy(char *dst, size_t size, const char *src)
{
	size_t len = src ? strnlen(src, size - 1) : 0;
	memcpy(dst, src ? src : "", len);
	dst[len] = 0;
}

static void add_device(struct st_nfchain *out, const char *dev)
{
	if (out->ndevices < ST_NFCHAIN_MAX_DEVICES)
		copy(out->devices[out->ndevices], sizeof(out->devices[0]), dev);
	out->ndevices++;
}

int st_nfchain_parse(const void *msg, size_t len, struct st_nfchain *out)
{
	const struct nlmsghdr *nlh = msg;
	memset(out, 0, sizeof(*out));
	if (len < sizeof(*nlh) || !mnl_nlmsg_ok(nlh, (int)len) ||
	    nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN) ||
	    nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)))
		return -EINVAL;
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (!c)
		return -ENOMEM;
	int ret = -EINVAL;
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0)
		goto out;
	ret = 1;
	if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM))
		goto out;
	ret = 0;
	out->family = (uint8_t)nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY);
	out->hooknum = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
	out->priority = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
	copy(out->table, sizeof(out->table), nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE));
	copy(out->name, sizeof(out->name), nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	/* Several devices come as the NFTA_HOOK_DEVS list, one as NFTA_HOOK_DEV or (newer
	 * kernels) both: the list when there is one. */
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEVICES)) {
		const char *const *devs = nftnl_chain_get_array(c, NFTNL_CHAIN_DEVICES);
		for (size_t i = 0; devs && devs[i]; i++)
			add_device(out, devs[i]);
	} else if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEV)) {
		add_device(out, nftnl_chain_get_str(c, NFTNL_CHAIN_DEV));
	}
out:
	nftnl_chain_free(c);
	return ret;
}

struct dump_state {
	st_nfchain_fn fn;
	void *ctx;
	int err;
};

static int on_reply(const struct nlmsghdr *nlh, void *data)
{
	struct dump_state *s = data;
	struct st_nfchain chain;
	int ret = st_nfchain_parse(nlh, nlh->nlmsg_len, &chain);
	if (ret < 0) {
		s->err = ret;
		return MNL_CB_ERROR;
	}
	if (ret > 0)
		return MNL_CB_OK;
	return s->fn(&chain, s->ctx) ? MNL_CB_STOP : MNL_CB_OK;
}

int st_nfchain_dump(st_nfchain_fn fn, void *ctx)
{
	size_t size = MNL_SOCKET_BUFFER_SIZE * 4;
	char *buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	/* Family NFPROTO_UNSPEC: every table family's chains. */
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, NLM_F_DUMP,
						     (uint32_t)time(NULL));
	struct dump_state state = { .fn = fn, .ctx = ctx, .err = 0 };
	int err = st_nl_dump(buf, size, nlh, on_reply, &state, &state.err);
	free(buf);
	return err;
}

size_t st_nfchain_points(uint8_t family, uint32_t hooknum, size_t idx[2])
{
	/* An inet ingress chain is registered on its devices' ingress hook
	 * (nf_register_net_hook's NFPROTO_INET case), which the listing shows as
	 * netdev's. */
	if (family == NFPROTO_INET && hooknum == NF_INET_INGRESS) {
		family = NFPROTO_NETDEV;
		hooknum = NF_NETDEV_INGRESS;
	}
	size_t count, n = 0;
	const struct st_nfhook_point *p = st_nfhook_points(&count);
	for (size_t i = 0; i < count && n < 2; i++) {
		int same = p[i].family == family ||
			   (family == NFPROTO_INET && (p[i].family == NFPROTO_IPV4 || p[i].family == NFPROTO_IPV6));
		if (same && p[i].hooknum == hooknum)
			idx[n++] = i;
	}
	return n;
}
