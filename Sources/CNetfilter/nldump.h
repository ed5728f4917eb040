/* One NETLINK_NETFILTER dump: shared by the hook listing and the chain dump. */
#ifndef SKBTRACER_NLDUMP_H
#define SKBTRACER_NLDUMP_H

#include <stddef.h>
#include <libmnl/libmnl.h>

/* Opens a socket in the calling thread's network namespace, sends `req` (built
 * in `buf`, `size` bytes, seq already set) and runs `cb` on every reply until
 * the dump ends. `cb` records its own error in *cb_err before returning
 * MNL_CB_ERROR. Returns 0 or a negative errno (the kernel's, the socket's, or
 * *cb_err). */
int st_nl_dump(char *buf, size_t size, struct nlmsghdr *req, mnl_cb_t cb, void *data, const int *cb_err);

#endif
