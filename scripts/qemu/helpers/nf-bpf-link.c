/* nf-bpf-link PRIORITY COMMAND...: attaches a BPF netfilter program (Linux 6.4+)
 * that accepts every packet at ip input with PRIORITY, in this process's network
 * namespace, runs COMMAND (sh -c), and detaches (the link dies with its fd).
 * For the guest scripts: the hook listing must show the program by id and name.
 * Raw bpf(2) calls: Debian 12's libbpf and headers predate netfilter programs. */
#include <linux/bpf.h>
#include <linux/netfilter.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The values that follow the last ones Debian 12's linux/bpf.h knows (Linux 6.4). */
#define ST_BPF_PROG_TYPE_NETFILTER (BPF_PROG_TYPE_SYSCALL + 1)
#define ST_BPF_NETFILTER (BPF_LSM_CGROUP + 2) /* after BPF_STRUCT_OPS */

/* BPF_LINK_CREATE's attribute with its netfilter member (linux/bpf.h, 6.4). */
struct link_create_nf {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint32_t pf, hooknum;
	int32_t priority;
	uint32_t nf_flags;
	uint8_t pad[64];
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: nf-bpf-link PRIORITY COMMAND\n");
		return 2;
	}
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = NF_ACCEPT },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr load;
	memset(&load, 0, sizeof(load));
	load.prog_type = ST_BPF_PROG_TYPE_NETFILTER;
	load.expected_attach_type = ST_BPF_NETFILTER;
	load.insns = (uintptr_t)insns;
	load.insn_cnt = 2;
	load.license = (uintptr_t)"GPL";
	strcpy(load.prog_name, "st_nf_accept");
	int prog = syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
	if (prog < 0) {
		perror("nf-bpf-link: load");
		return 1;
	}
	struct link_create_nf link;
	memset(&link, 0, sizeof(link));
	link.prog_fd = prog;
	link.attach_type = ST_BPF_NETFILTER;
	link.pf = NFPROTO_IPV4;
	link.hooknum = NF_INET_LOCAL_IN;
	link.priority = atoi(argv[1]);
	int fd = syscall(SYS_bpf, BPF_LINK_CREATE, &link, sizeof(link));
	if (fd < 0) {
		perror("nf-bpf-link: link");
		return 1;
	}
	int rc = system(argv[2]);
	close(fd);
	close(prog);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
}
