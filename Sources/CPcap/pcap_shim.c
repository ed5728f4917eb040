#include "pcap_shim.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(struct st_cbpf_insn) == sizeof(struct bpf_insn), "st_cbpf_insn is struct bpf_insn");
_Static_assert(offsetof(struct st_cbpf_insn, k) == offsetof(struct bpf_insn, k), "st_cbpf_insn is struct bpf_insn");

/* The most a load may reach, as tcpdump's default snapshot length. */
#define SNAPLEN 262144

int st_pcap_compile(const char *expression, int raw_ip, struct st_cbpf_insn *out, int max, char *error, size_t error_size)
{
	pcap_t *pcap = pcap_open_dead(raw_ip ? DLT_RAW : DLT_EN10MB, SNAPLEN);
	struct bpf_program program;
	int n;

	if (!pcap) {
		snprintf(error, error_size, "libpcap could not start");
		return -1;
	}
	/* No netmask: only `ip broadcast` needs one, and it says so. */
	if (pcap_compile(pcap, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(error, error_size, "%s", pcap_geterr(pcap));
		pcap_close(pcap);
		return -1;
	}
	n = (int)program.bf_len;
	if (n <= max)
		memcpy(out, program.bf_insns, (size_t)n * sizeof(*out));
	pcap_freecode(&program);
	pcap_close(pcap);
	return n <= max ? n : -2;
}

unsigned st_pcap_run(const struct st_cbpf_insn *insns, int count, const unsigned char *bytes, unsigned wire_len,
		     unsigned caplen)
{
	if (count <= 0)
		return 0;
	return bpf_filter((const struct bpf_insn *)insns, bytes, wire_len, caplen);
}
