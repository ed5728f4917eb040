/* --owner: the socket a packet belongs to and the process that owns it.
 *
 * A probe fires in whatever task the CPU happens to run: a softirq delivering a
 * packet, a timer retransmitting it, ksoftirqd. The owner is a property of the
 * skb's socket instead. Events carry the socket's inode (what /proc/PID/fd and
 * ss -e show); the owner programs (in tracepoints.bpf.c, through note_owner()
 * and note_accepted() below) remember, per inode, the last process seen using
 * the socket in a system call, and user space names the owner from that map (or
 * from /proc for sockets idle since before the trace started).
 */
#ifndef SKBTRACER_SOCK_OWNER_BPF_H
#define SKBTRACER_SOCK_OWNER_BPF_H

#include "common.bpf.h"

#define AF_PACKET 17
#define PF_KTHREAD 0x00200000
#define TCP_SYN_SENT 2
#define TCP_TIME_WAIT 6
#define TCP_LISTEN 10
#define TCP_NEW_SYN_RECV 12

/* Inodes of sockets seen in a system call -> that process. An LRU: an entry
 * evicted under pressure is found again in /proc for display, and re-pinned
 * each second for --owner-pid's target; until then that socket has no owner. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct st_sock_owner);
} sock_owners SEC(".maps");

/* The event's socket: the probe's own sock argument, else skb->sk, read only
 * where a filter or the event needs it. Read with a helper, never loaded
 * directly: for every pointer loaded from a trusted one (skb->sk is an RCU
 * pointer) the verifier looks up type names in the kernel's whole BTF, once per
 * path that reaches the load, and that cost a third of the start-up (about 10
 * ms per program; bench/RESULTS.md). So every read through sk is a helper read. */
static __always_inline struct sock *event_sock(struct sk_buff *skb, struct sock *sk)
{
	return sk ? sk : BPF_CORE_READ(skb, sk);
}

/* The full socket behind sk, or NULL. Request and time-wait socks (which TCP
 * puts in skb->sk too) share only sock_common with a full socket: no
 * sk_socket, no uid. A request (a SYN-ACK's) counts as its listener's, as
 * sk_to_full_sk() has it. */
static __always_inline struct sock *full_sock(struct sock *sk)
{
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);

	if (state == TCP_NEW_SYN_RECV) {
		sk = BPF_CORE_READ(sk, __sk_common.skc_listener);
		if (!sk)
			return NULL;
		state = BPF_CORE_READ(sk, __sk_common.skc_state);
	}
	return state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV ? NULL : sk;
}

/* SOCK_INODE(sk->sk_socket) of a full socket, or 0 (no struct socket: a
 * socket closed by its process but still sending). */
static __always_inline __u32 sock_inode(struct sock *sk)
{
	struct socket *sock = BPF_CORE_READ(sk, sk_socket);

	if (!sock)
		return 0;
	struct socket_alloc *alloc = (void *)sock - bpf_core_field_offset(struct socket_alloc, socket);

	return (__u32)BPF_CORE_READ(alloc, vfs_inode.i_ino);
}

/* The event's socket: the tracepoint's own sock argument when it has one
 * (tcp_retransmit_skb, tcp_send_reset, sock_rcvqueue_full, kfree_skb's
 * receiving socket), else the skb's; st_trace_skb() passes the same one to the
 * --owner-pid filter. */
static __always_inline void read_sock(struct sock *sk, struct st_sec_socket *s)
{
	s->sec.type = ST_SEC_SOCKET;
	s->sec.size = sizeof(*s);
	s->ino = 0;
	s->uid = 0;
	s->pad = 0;
	if (sk)
		sk = full_sock(sk);
	if (!sk)
		return;
	s->ino = sock_inode(sk);
	if (!s->ino)
		return;
	if (!BPF_CORE_READ(sk, sk_socket, file))
		s->uid = ST_SOCK_KERNEL;
	else if (bpf_core_field_exists(sk->sk_uid))
		s->uid = BPF_CORE_READ(sk, sk_uid.val);
}

/* --owner-pid: the socket is one the map says this process uses. */
static __always_inline bool owned_by(struct sock *sk, __u32 tgid)
{
	struct st_sock_owner *owner;
	__u32 ino;

	if (sk)
		sk = full_sock(sk);
	if (!sk)
		return false;
	ino = sock_inode(sk);
	if (!ino)
		return false;
	owner = bpf_map_lookup_elem(&sock_owners, &ino);
	return owner && owner->tgid == tgid;
}

static __always_inline void note_owner(struct sock *sk)
{
	struct st_sock_owner *known;
	struct st_sock_owner owner = {};
	__u32 tgid, ino;
	__u16 family;

	if (!sk)
		return;
	/* Sockets whose packets an skb probe can see: most sendmsg calls on a
	 * machine are on Unix sockets, which would only churn the map. */
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6 && family != AF_PACKET)
		return;
	ino = sock_inode(sk);
	if (!ino)
		return;
	/* A kernel thread on a user's socket (nfsd, nbd) is not its owner. */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		return;
	tgid = bpf_get_current_pid_tgid() >> 32;
	known = bpf_map_lookup_elem(&sock_owners, &ino);
	if (known && known->tgid == tgid)
		return; /* the common case: one update per socket and process */
	owner.tgid = tgid;
	/* The process's name, as /proc/PID/comm has it, not the thread's. */
	BPF_CORE_READ_STR_INTO(&owner.comm, task, group_leader, comm);
	bpf_map_update_elem(&sock_owners, &ino, &owner, BPF_ANY);
}

/* accept() returned fd: its socket is the caller's. No tracepoint sees an
 * accepted connection in the process before its first send or receive
 * returns, and a server that speaks first would lose its first segment. */
static __always_inline void note_accepted(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds;
	struct file *file = NULL;
	struct socket *sock;

	if (fd < 0 || fd >= BPF_CORE_READ(task, files, fdt, max_fds))
		return;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return;
	sock = BPF_CORE_READ(file, private_data);
	if (sock)
		note_owner(BPF_CORE_READ(sock, sk));
}

#endif
