#include "st_nftctx.h"
#include "nldump.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <libnftnl/common.h>
#include <linux/netfilter/nf_tables.h>
#include <nftables/libnftables.h>

/* The descriptors of NETLINK_NETFILTER sockets open now, as a bitmap of the
 * first `nbits` descriptors. */
static void netfilter_sockets(unsigned char *bits, int nbits)
{
	memset(bits, 0, (size_t)(nbits + 7) / 8);
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		int fd = atoi(e->d_name);
		int domain = 0, proto = 0;
		socklen_t len = sizeof(int);
		if (fd <= 0 || fd >= nbits || fd == dirfd(d))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_NETLINK)
			continue;
		len = sizeof(int);
		if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0 || proto != NETLINK_NETFILTER)
			continue;
		bits[fd / 8] |= (unsigned char)(1 << (fd % 8));
	}
	closedir(d);
}

static int ignore_reply(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_OK;
}

int st_nft_probe(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, 1);
	int cb_err = 0;
	return st_nl_dump(buf, sizeof(buf), nlh, ignore_reply, NULL, &cb_err);
}

struct nft_ctx *st_nft_open(unsigned int output_flags, int *err)
{
	/* libnftables calls exit() when it cannot open its socket (no nfnetlink in
	 * this kernel), and writes "you must be root" to stderr itself: ask first. */
	int probe = st_nft_probe();
	if (probe < 0) {
		*err = probe;
		return NULL;
	}

	/* libnftables opens its socket without SOCK_CLOEXEC and does not show it: a
	 * child spawned meanwhile (by any thread) would hold an owner socket, and
	 * with it our tables, past our own death. Mark the netfilter sockets that
	 * appeared during nft_ctx_new (another thread's too: harmless, all of this
	 * program's sockets are close-on-exec). */
	enum { NBITS = 65536 };
	unsigned char *before = malloc(NBITS / 8 * 2);
	if (!before) {
		*err = -ENOMEM;
		return NULL;
	}
	unsigned char *after = before + NBITS / 8;
	netfilter_sockets(before, NBITS);
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	netfilter_sockets(after, NBITS);
	for (int fd = 0; ctx && fd < NBITS; fd++)
		if ((after[fd / 8] & ~before[fd / 8]) & (1 << (fd % 8)))
			fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
	free(before);
	if (!ctx) {
		*err = -ENOMEM;
		return NULL;
	}
	nft_ctx_output_set_flags(ctx, output_flags);
	if (nft_ctx_buffer_output(ctx) || nft_ctx_buffer_error(ctx)) {
		nft_ctx_free(ctx);
		*err = -ENOMEM;
		return NULL;
	}
	return ctx;
}

int st_nft_run(struct nft_ctx *ctx, const char *commands)
{
	/* Reading a buffer empties it: what an earlier command left (a warning
	 * after a success) must not be taken for this one's. */
	nft_ctx_get_output_buffer(ctx);
	nft_ctx_get_error_buffer(ctx);
	return nft_run_cmd_from_buffer(ctx, commands) == 0 ? 0 : -1;
}

const char *st_nft_output(struct nft_ctx *ctx)
{
	const char *s = nft_ctx_get_output_buffer(ctx);
	return s ? s : "";
}

const char *st_nft_error(struct nft_ctx *ctx)
{
	const char *s = nft_ctx_get_error_buffer(ctx);
	return s ? s : "";
}

unsigned int st_nft_listing_flags(void)
{
	return NFT_CTX_OUTPUT_HANDLE | NFT_CTX_OUTPUT_STATELESS | NFT_CTX_OUTPUT_NUMERIC_PRIO;
}

void st_nft_close(struct nft_ctx *ctx)
{
	if (ctx)
		nft_ctx_free(ctx);
}
