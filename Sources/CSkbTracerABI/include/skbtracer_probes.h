/* The probe list (skbtracer_probes.def) as data, for user space: the Swift
 * probe catalogue is built from these rows, so it cannot disagree with the
 * enum or with the BPF programs generated from the same list. */
#ifndef SKBTRACER_PROBES_H
#define SKBTRACER_PROBES_H

#include "skbtracer_abi.h"

struct st_probe_row {
	const char *id_name;  /* "ST_PROBE_NET_DEV_QUEUE": the enum constant, for tests */
	const char *name;     /* the tracepoint: "net_dev_queue" */
	const char *system;   /* its tracepoint system: "net" */
	const char *group;    /* the -t group: "link-out" */
	const char *program;  /* the BPF program: "tp_net_dev_queue" */
	const char *summary;
	enum st_probe_kind kind;
	__u8 is_default;
};

/* The row of probe `id` (enum st_probe_id), or NULL when there is none. */
const struct st_probe_row *st_probe_lookup(unsigned int id);

#endif
