/* The netfilter hooks of a network namespace, as the kernel's nfnetlink hook
 * subsystem (NFNL_SUBSYS_HOOK, nfnetlink_hook.ko, Linux 5.14+) lists them for
 * `nft list hooks`. libmnl glue kept out of Swift: netlink messages and nested
 * attributes are C-shaped, and errno is captured next to each call.
 * Every int function returns 0 or a negative errno.
 */
#ifndef SKBTRACER_NFHOOK_H
#define SKBTRACER_NFHOOK_H

#include <stddef.h>
#include <stdint.h>

/* NFNLA_HOOK_INFO_TYPE values (enum nfnl_hook_chaintype); BPF is Linux 6.4+. */
enum st_nfhook_type { ST_NFHOOK_TYPE_NONE = 0, ST_NFHOOK_TYPE_NFTABLES = 1, ST_NFHOOK_TYPE_BPF = 2 };

/* One registered hook function, as one reply message describes it. Strings are
 * NUL-terminated and empty when the kernel sent none. */
struct st_nfhook {
	uint32_t hooknum;
	int32_t priority;
	uint32_t type;        /* enum st_nfhook_type */
	uint32_t bpf_prog_id; /* type BPF: the program's id (0: not sent) */
	uint8_t family;       /* NFPROTO_* of the reply */
	uint8_t chain_family; /* type nf_tables: the table's family (NFPROTO_*; inet is 1) */
	uint8_t has_priority;
	uint8_t pad;
	char function[256];   /* KSYM_NAME_LEN is 512, real hook names are far shorter */
	char module[64];      /* MODULE_NAME_LEN is 56 */
	char table[256];      /* NFT_TABLE_MAXNAMELEN */
	char chain[256];      /* NFT_CHAIN_MAXNAMELEN */
};

/* Called once per hook entry, in the kernel's order (by priority); nonzero stops. */
typedef int (*st_nfhook_fn)(const struct st_nfhook *hook, void *ctx);

/* Dumps the hooks of `family` (NFPROTO_*) at `hooknum` (and, for netdev, of
 * device `dev`; NULL otherwise) in the calling thread's network namespace:
 * opens a NETLINK_NETFILTER socket, sends NFNL_MSG_HOOK_GET with NLM_F_DUMP and
 * calls `fn` for each reply. Returns 0 or the kernel's (or socket's) -errno:
 * -EINVAL also when the kernel has no hook subsystem, -ENOENT for an empty hook
 * on some kernels. */
int st_nfhook_dump(uint8_t family, uint32_t hooknum, const char *dev, st_nfhook_fn fn, void *ctx);

/* A family and hook that `nft list hooks` walks. */
struct st_nfhook_point {
	uint8_t family;        /* NFPROTO_* */
	uint32_t hooknum;      /* NF_INET_*, NF_ARP_*, NF_BR_*, NF_NETDEV_* */
	const char *family_name; /* as nft names it: ip, ip6, arp, bridge, netdev */
	const char *hook_name;   /* as nft names it: prerouting, input, ... ingress */
	int per_device;        /* netdev: asked once per interface (NFNLA_HOOK_DEV) */
};

/* Every family and hook, families in nft's order, hooks in a packet's order;
 * the numbers are the kernel headers' (linux/netfilter*.h). */
const struct st_nfhook_point *st_nfhook_points(size_t *count);

/* nft's name of an NFPROTO_* family (inet included), NULL for an unknown one. */
const char *st_nfhook_family_name(uint8_t family);

/* Decodes one reply message (a struct nlmsghdr of `len` bytes) into `out`.
 * Returns 0, or -EINVAL when it is not a hook message or is malformed. */
int st_nfhook_parse(const void *msg, size_t len, struct st_nfhook *out);

#endif
