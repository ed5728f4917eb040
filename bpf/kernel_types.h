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

struct net {
	struct ns_common ns;
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

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __co_re;

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __co_re;

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned int len;
	__u8 pkt_type : 3;
	int skb_iif;
	__u32 mark;
	__be16 protocol;
	__u16 transport_header;
	__u16 network_header;
	__u16 mac_header;
	unsigned char *head;
	unsigned char *data;
} __co_re;

/* Present on kernels with drop reasons (5.17+); only its existence is checked. */
enum skb_drop_reason {
	SKB_DROP_REASON_NOT_SPECIFIED = 2,
};

#endif
