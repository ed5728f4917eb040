/* What every skbtracer BPF header needs: the kernel types (CO-RE), libbpf's
 * helpers, the kernel/user contract and the protocol constants. */
#ifndef SKBTRACER_COMMON_BPF_H
#define SKBTRACER_COMMON_BPF_H


#include <stdbool.h>
#include "kernel_types.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "skbtracer_abi.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_ARP 0x0806
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define MAC_HEADER_UNSET 0xffff
/* The lowest kernel address on x86-64 with 5-level paging (LA57; 4-level
 * starts at 0xffff800000000000) and on arm64 with 52-bit addresses: anything
 * lower is not a kernel pointer on either. */
#define KERNEL_SPACE_START 0xff00000000000000ULL
#define IPV6_EXT_HEADERS_MAX 6
/* L3 bytes read with the EtherType: IPv4 without options (20), the IPv6 fixed
 * header (40), Ethernet/IPv4 ARP (28), and after IPv4 or IPv6 the TCP or UDP
 * ports, which the packet filters' first look (peek_l3()) takes from there. */
#define L3_READ 44


/* The event an skb probe builds on its stack. Its first part is the record's
 * start as the ring holds it (header, context section, packet section: one
 * copy); the location follows, which emit() writes as a section of its own
 * (with the drop reason) when the probe has one. Everything lives here rather than in
 * registers: without the private stacks of Linux 6.13+ the program,
 * parse_packet() and bpf_loop()'s callback share 512 bytes. */
struct st_event {
	struct st_record hdr;
	struct st_sec_context ctx;
	struct st_section pkt_sec; /* with pkt, the layout of struct st_sec_packet */
	struct st_packet pkt;
	__u64 location;
};

/* Until reserve_record() writes the record's real size and losses, those two
 * header fields hold the drop reason the probe passed and where the L4 header
 * starts (from skb->head; 0: not read). Fields of their own did not fit: the
 * program's frame and parse_packet()'s share 512 bytes, and 8 more bytes of
 * event tipped kfree_skb over under some option mixes. */
#define ST_EVENT_DROP_REASON(e) ((e)->hdr.lost_before)
#define ST_EVENT_L4_OFF(e) ((e)->hdr.size)

/* Bytes of st_event copied to the ring as they are. */
#define ST_EVENT_HEAD (sizeof(struct st_record) + sizeof(struct st_sec_context) + sizeof(struct st_sec_packet))
_Static_assert(__builtin_offsetof(struct st_event, location) == ST_EVENT_HEAD, "st_event head");

/* st_event.location of an emitted event. A probe family may compute it only once
 * the event is emitted (function probes: bpf_get_func_ip()), so that no value
 * is held on the stack across the filters: the stack is 512 bytes for the
 * program and parse_packet() together. */
/* The current task's ids and name. Program types limited to the base helpers
 * (netfilter programs: no bpf_get_current_pid_tgid() before Linux 6.10, no
 * bpf_get_current_comm(), no bpf_get_stack()) define ST_BASE_HELPERS and read
 * the task itself; they record no stacks. */
#ifdef ST_BASE_HELPERS
static __always_inline __u64 st_pid_tgid(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return (__u64)BPF_CORE_READ(task, tgid) << 32 | (__u32)BPF_CORE_READ(task, pid);
}

static __always_inline void st_comm(char *comm, __u32 size)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	bpf_probe_read_kernel_str(comm, size, &task->comm);
}
#define ST_CAN_STACK 0
#else
#define st_pid_tgid() bpf_get_current_pid_tgid()
#define st_comm(comm, size) bpf_get_current_comm(comm, size)
#define ST_CAN_STACK 1
#endif

#ifndef ST_EVENT_LOCATION
#define ST_EVENT_LOCATION(ctx, location) (location)
#endif

/* --output-caller: the probed function's return address (bpf/functions.bpf.c);
 * only function events carry the section. */
#ifndef ST_CALLER
#define ST_CALLER(ctx) 0
#endif

#endif
