/* The few kernel types skbtracer reads, for CO-RE.
 *
 * Each struct lists only the fields used; preserve_access_index makes every access
 * a relocation that libbpf resolves by name against /sys/kernel/btf/vmlinux at load
 * time, so offsets here are irrelevant and no vmlinux.h dump is needed to build.
 * Fields that sit in anonymous structs/unions in the kernel (sk_buff's headers
 * group, the mark union) are found by libbpf through those anonymous members.
 */
#ifndef SKBTRACER_KERNEL_TYPES_H
#define SKBTRACER_KERNEL_TYPES_H

#include <linux/types.h>

#define __co_re __attribute__((preserve_access_index))

struct ns_common {
	unsigned int inum;
} __co_re;

struct fib6_info; /* compared by address only */

struct netns_ipv6 {
	struct fib6_info *fib6_null_entry;
} __co_re;

struct net {
	struct ns_common ns;
	struct netns_ipv6 ipv6;
} __co_re;

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	char name[16];
	int ifindex;
	unsigned short hard_header_len;
	possible_net_t nd_net;
} __co_re;

struct in6_addr {
	__u8 s6_addr[16];
};

struct sock;

struct sock_common {
	volatile unsigned char skc_state;
	struct sock *skc_listener; /* a request sock's listener (rsk_listener) */
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __co_re;

typedef struct {
	__u32 val;
} kuid_t;

struct file {
	void *private_data; /* a socket's file: its struct socket */
} __co_re;

struct socket {
	struct file *file; /* NULL: a kernel socket (sock_create_kern) */
	struct sock *sk;
} __co_re;

/* accept()'s new descriptor, looked up in the caller's table (--owner). */
struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __co_re;

struct files_struct {
	struct fdtable *fdt;
} __co_re;

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
	struct socket *sk_socket; /* full sockets only */
	kuid_t sk_uid;
} __co_re;

/* --owner: a socket's inode, as SOCK_INODE() finds it (the inode follows the
 * struct socket in one allocation). */
struct inode {
	unsigned long i_ino;
} __co_re;

struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
} __co_re;

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned int len;
	unsigned int data_len; /* bytes in pages, past the linear part */
	__u8 pkt_type : 3;
	int skb_iif;
	__u32 mark;
	__be16 protocol;
	__u16 transport_header;
	__u16 network_header;
	__u16 mac_header;
	unsigned char *head;
	unsigned char *data;
	unsigned long _nfct; /* CONFIG_NF_CONNTRACK: nf_conn address | ctinfo */
	unsigned long _skb_refdst; /* dst_entry address | SKB_DST_NOREF */
	__be16 vlan_proto; /* an offloaded VLAN tag, outside the packet's bytes */
	__u16 vlan_tci;
} __co_re;
/* Linux before 6.2: whether vlan_tci holds a tag (skb_vlan_tag()). */
struct sk_buff___vlan_present {
	__u8 vlan_present : 1;
} __co_re;
/* An skb's route: only its device is read (a namespace for device-less skbs). */
struct dst_entry {
	struct net_device *dev;
} __co_re;

/* Conntrack (--ct): only the fields read, found by name as everywhere here. */
union nf_inet_addr {
	__u32 all[4];
} __co_re;

union nf_conntrack_man_proto {
	__be16 all;
} __co_re;

struct nf_conntrack_man {
	union nf_inet_addr u3;
	union nf_conntrack_man_proto u;
	__u16 l3num;
} __co_re;

struct nf_conntrack_tuple {
	struct nf_conntrack_man src;
	struct {
		union nf_inet_addr u3;
		union {
			__be16 all;
		} u;
		__u8 protonum;
	} dst;
} __co_re;

struct nf_conntrack_tuple_hash {
	struct nf_conntrack_tuple tuple;
} __co_re;

struct nf_conntrack_zone {
	__u16 id;
} __co_re;

struct nf_conn {
	struct nf_conntrack_zone zone;
	struct nf_conntrack_tuple_hash tuplehash[2];
	unsigned long status;
	__u32 mark;
} __co_re;

struct nsproxy {
	struct net *net_ns;
} __co_re;

struct task_struct {
	unsigned int flags; /* PF_KTHREAD */
	int pid;
	int tgid;
	struct nsproxy *nsproxy;
	struct files_struct *files;
	struct task_struct *group_leader;
	char comm[16];
} __co_re;

/* A BPF netfilter program's context (Linux 6.4+): both are trusted pointers. */
struct nf_hook_state {
	__u8 hook;
	__u8 pf;
} __co_re;

struct bpf_nf_ctx {
	const struct nf_hook_state *state;
	struct sk_buff *skb;
} __co_re;

/* fib:fib_table_lookup's arguments (tp_btf): the flow and the chosen nexthop. */
struct flowi_common {
	int flowic_oif;
	int flowic_iif;
	__u8 flowic_proto;
} __co_re;

union flowi_uli {
	struct {
		__be16 dport;
		__be16 sport;
	} ports;
} __co_re;

struct flowi4 {
	struct flowi_common __fl_common;
	__be32 saddr;
	__be32 daddr;
	union flowi_uli uli;
} __co_re;

struct fib_nh_common {
	struct net_device *nhc_dev;
	__u8 nhc_gw_family;
	union {
		__be32 ipv4;
		struct in6_addr ipv6;
	} nhc_gw;
} __co_re;

/* fib6:fib6_table_lookup's arguments (tp_btf): namespace, result, table, flow. */
struct fib6_nh {
	struct fib_nh_common nh_common;
} __co_re;

struct fib6_result {
	struct fib6_nh *nh;
	struct fib6_info *f6i;
	__u8 fib6_type;
} __co_re;

struct fib6_table {
	__u32 tb6_id;
} __co_re;

struct flowi6 {
	struct flowi_common __fl_common;
	struct in6_addr daddr;
	struct in6_addr saddr;
	union flowi_uli uli;
} __co_re;

/* Present on kernels with drop reasons (5.17+); only its existence is checked. */
enum skb_drop_reason {
	SKB_DROP_REASON_NOT_SPECIFIED = 2,
};

#endif
