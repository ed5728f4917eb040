#include "nldump.h"

#include <errno.h>
#include <sys/socket.h>
#include <linux/netlink.h>

int st_nl_dump(char *buf, size_t size, struct nlmsghdr *req, mnl_cb_t cb, void *data, const int *cb_err)
{
	int err = 0;
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	unsigned int portid = mnl_socket_get_portid(nl);
	unsigned int seq = req->nlmsg_seq;
	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, size);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		/* An NLMSG_ERROR reply comes back as -1 with errno set to the kernel's error. */
		int ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (ret < 0) {
			err = *cb_err ? *cb_err : -errno;
			break;
		}
		if (ret == MNL_CB_STOP)
			break;
	}
out:
	mnl_socket_close(nl);
	return err;
}
