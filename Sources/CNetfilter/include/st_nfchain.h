/* The nf_tables base chains of a network namespace, from an NFT_MSG_GETCHAIN
 * dump: what --list-hooks shows where the kernel has no hook listing
 * (st_nfhook.h). Messages are decoded by libnftnl, the socket is libmnl's.
 * Every int function returns 0 or a negative errno unless it says otherwise.
 */
#ifndef SKBTRACER_NFCHAIN_H
#define SKBTRACER_NFCHAIN_H

#include <stddef.h>
#include <stdint.h>

/* A netdev chain may hook many devices; more than this are cut (and counted). */
#define ST_NFCHAIN_MAX_DEVICES 32

/* One base chain. Strings are NUL-terminated. */
struct st_nfchain {
	uint8_t family;     /* the table's NFPROTO_* (inet is 1) */
	uint8_t pad[3];
	uint32_t hooknum;   /* in the table family's numbering */
	int32_t priority;
	uint32_t ndevices;  /* how many the chain hooks; at most ST_NFCHAIN_MAX_DEVICES are in `devices` */
	char table[256];    /* NFT_TABLE_MAXNAMELEN */
	char name[256];     /* NFT_CHAIN_MAXNAMELEN */
	char devices[ST_NFCHAIN_MAX_DEVICES][16]; /* IFNAMSIZ */
};

/* Decodes one NFT_MSG_NEWCHAIN message (a struct nlmsghdr of `len` bytes, as a
 * chain dump replies) into `out`. Returns 0 for a base chain, 1 for a chain
 * without a hook (a regular chain: nothing registered), -EINVAL when it is not
 * a chain message or is malformed. */
int st_nfchain_parse(const void *msg, size_t len, struct st_nfchain *out);

/* Called once per base chain, in the kernel's order; nonzero stops. */
typedef int (*st_nfchain_fn)(const struct st_nfchain *chain, void *ctx);

/* Dumps the chains of every family in the calling thread's network namespace
 * and calls `fn` for each base chain. Returns 0 or the kernel's (or socket's)
 * -errno. */
int st_nfchain_dump(st_nfchain_fn fn, void *ctx);

/* Where the kernel registers a base chain of table family `family` at
 * `hooknum`: the indexes into st_nfhook_points() (at most 2: an inet chain sits
 * at ip's and ip6's hook, inet ingress at netdev ingress). Returns how many. */
size_t st_nfchain_points(uint8_t family, uint32_t hooknum, size_t idx[2]);

#endif
