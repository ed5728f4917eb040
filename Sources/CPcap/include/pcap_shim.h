/* libpcap behind two functions: pcap/bpf.h's struct bpf_insn (classic BPF)
 * and linux/bpf.h's (eBPF) share a name, so Swift sees neither; programs cross
 * as the ABI's struct st_cbpf_insn, which has classic BPF's layout. */
#ifndef SKBTRACER_PCAP_SHIM_H
#define SKBTRACER_PCAP_SHIM_H

#include <stddef.h>
#include "skbtracer_abi.h"

/* Compiles `expression` (optimised, as tcpdump does) for packets that start at
 * an Ethernet header (`raw_ip` 0, DLT_EN10MB) or at an IP header (1, DLT_RAW).
 * Returns the number of instructions written to `out` (at most `max`); -1 with
 * libpcap's message in `error` when it rejects the expression, -2 when the
 * program is longer than `max`. */
int st_pcap_compile(const char *expression, int raw_ip, struct st_cbpf_insn *out, int max, char *error, size_t error_size);

/* libpcap's interpreter: the program's return value on `caplen` bytes of a
 * packet of `wire_len` bytes (0: no match). */
unsigned st_pcap_run(const struct st_cbpf_insn *insns, int count, const unsigned char *bytes, unsigned wire_len,
		     unsigned caplen);

#endif
