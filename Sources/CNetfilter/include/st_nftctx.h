/* A libnftables context (what the nft command runs on): nft syntax in, nft's
 * listing or error text out, over one netlink socket made in the calling
 * thread's network namespace and kept until st_nft_close. That socket owns
 * the tables it creates with the owner flag: the kernel deletes them when it
 * closes, even when the process is killed.
 */
#ifndef SKBTRACER_NFTCTX_H
#define SKBTRACER_NFTCTX_H

struct nft_ctx;

/* Asks nf_tables its generation (NFT_MSG_GETGEN) from the calling thread's
 * network namespace. Returns 0, or -errno: EPERM without CAP_NET_ADMIN,
 * EOPNOTSUPP without nf_tables, EPROTONOSUPPORT without nfnetlink. */
int st_nft_probe(void);

/* Opens a context in the calling thread's network namespace with libnftables'
 * NFT_CTX_OUTPUT_* `output_flags`, output and errors kept in buffers. Returns
 * NULL with *err set to st_nft_probe's -errno when nf_tables cannot be asked
 * here (libnftables itself would exit the process, or write to stderr). Its
 * socket is made close-on-exec, so a child process never holds an owner socket open. */
struct nft_ctx *st_nft_open(unsigned int output_flags, int *err);

/* Runs nft commands (one per line or `;`-separated; one transaction). Returns
 * 0, or -1 with the reason in st_nft_error(). */
int st_nft_run(struct nft_ctx *ctx, const char *commands);

/* What the last st_nft_run printed, and its error text ("" when none). */
const char *st_nft_output(struct nft_ctx *ctx);
const char *st_nft_error(struct nft_ctx *ctx);

/* The NFT_CTX_OUTPUT_* flags a rule listing needs: handles, no counter values,
 * numeric priorities. */
unsigned int st_nft_listing_flags(void);

void st_nft_close(struct nft_ctx *ctx);

#endif
