/* libbpf glue that Swift cannot express directly: option structs that need .sz,
 * errno captured next to the call (a Swift call in between may clobber it),
 * setns() (Glibc in Swift is not built with _GNU_SOURCE), signal flags and
 * walks over BTF types through libbpf's static inline accessors.
 * Every int function returns 0 or a negative errno. Nothing here knows about packets.
 */
#ifndef SKBTRACER_BPF_SHIM_H
#define SKBTRACER_BPF_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

/* bpf_object__open_mem() with an object name. */
int shim_object_open_mem(const void *buf, size_t size, const char *name, struct bpf_object **out);
/* bpf_program__attach() */
int shim_program_attach(struct bpf_program *prog, struct bpf_link **out);
/* bpf_program__attach_kprobe_multi_opts() on these symbols (all or none attach). */
int shim_program_attach_kprobe_multi(struct bpf_program *prog, const char **syms, size_t count,
				     struct bpf_link **out);
/* bpf_program__attach_kprobe() at a function's entry. */
int shim_program_attach_kprobe(struct bpf_program *prog, const char *func, struct bpf_link **out);
/* Makes `prog` (not yet loaded) a netfilter program (BPF_PROG_TYPE_NETFILTER,
 * expected attach type BPF_NETFILTER, Linux 6.4+), which libbpf 1.1 does not
 * know by section name. */
int shim_program_set_netfilter(struct bpf_program *prog);
/* BPF_LINK_CREATE for a loaded netfilter program at hook `hooknum` of family
 * `pf` (NFPROTO_*) with `priority`, in the calling thread's network namespace.
 * The link lives as long as the returned fd (*out). libbpf 1.1 has no call for it. */
int shim_netfilter_link_create(struct bpf_program *prog, uint32_t pf, uint32_t hooknum, int32_t priority, int *out);
/* bpf_link__destroy() on every link, from up to `threads` threads at once: each
 * kprobe's unregistration waits for an RCU grace period, and waits in parallel
 * share grace periods. */
void shim_links_destroy_parallel(struct bpf_link **links, size_t count, int threads);
/* ring_buffer__new() */
int shim_ring_buffer_new(int map_fd, ring_buffer_sample_fn fn, void *ctx, struct ring_buffer **out);
/* btf__load_vmlinux_btf() */
int shim_btf_load_vmlinux(struct btf **out);
/* bpf_map_lookup_elem() on a per-CPU map: values has room for ncpu * value_size bytes. */
int shim_map_lookup(int fd, const void *key, void *value);
/* statfs(path)->f_type (sys/vfs.h is not in Swift's Glibc module). */
int shim_statfs_type(const char *path, long *type);
/* setns(open(path), CLONE_NEWNET) */
int shim_setns_net(const char *path);
/* The name of loaded BPF program `id` (bpf_prog_get_fd_by_id, bpf_obj_get_info_by_fd)
 * into buf; -ENOENT when no program has that id any more. */
int shim_prog_name(uint32_t id, char *buf, size_t size);
/* libbpf_strerror() into buf; also handles libbpf's own codes (4000 and up). */
void shim_strerror(int err, char *buf, size_t size);

/* libbpf's log: dropped unless verbose; warnings are kept so a failing load can
 * show the last lines (the verifier log goes there too). */
void shim_set_libbpf_verbose(int verbose);
/* The libbpf log collected since the last call (at most a few KiB, newest kept). */
const char *shim_take_libbpf_log(void);

/* SIGINT/SIGTERM set a flag instead of killing the process; SIGPIPE is ignored
 * so a closed pipe shows up as EPIPE on write. */
void shim_install_stop_signals(void);
int shim_stop_requested(void);
int shim_stop_signal(void);
void shim_request_stop(void);

/* BTF kinds reduced to what callers ask about (libbpf's own macros and enums
 * for BTF_KIND_* clash when imported into Swift). */
enum shim_btf_kind { SHIM_BTF_VOID = 0, SHIM_BTF_INT, SHIM_BTF_STRUCT, SHIM_BTF_ENUM, SHIM_BTF_OTHER };

/* A function prototype parameter as seen in BTF. */
struct shim_btf_param {
	int is_pointer;       /* the parameter is a pointer (after typedefs and modifiers) */
	int kind;             /* enum shim_btf_kind of the pointee (pointers) or of the type itself */
	const char *type_name;/* name of that type; "" if anonymous or void */
};
/* Parameters of the function prototype behind typedef `typedef_name`
 * (e.g. btf_trace_kfree_skb). Returns the count, or a negative errno. */
int shim_btf_typedef_params(const struct btf *btf, const char *typedef_name,
			    struct shim_btf_param *params, int max);
/* Enumerator `index` of enum `enum_name` (enum or enum64). Returns 0, -ENOENT past the end. */
int shim_btf_enum_value(const struct btf *btf, const char *enum_name, int index,
			const char **name, long long *value);
/* A function whose prototype takes a `struct sk_buff *` (const or not). */
struct shim_skb_function {
	const char *name; /* in the BTF's strings: valid while the BTF is */
	int position;     /* 1-based: the first sk_buff parameter */
};
/* Functions (BTF_KIND_FUNC) defined in this BTF, from its first own type id on
 * (a module's split BTF starts after vmlinux's), whose first sk_buff pointer is
 * among the first max_position parameters. Writes at most max; returns how many
 * there are in all (call again with more room if that is larger). */
int shim_btf_skb_functions(const struct btf *btf, int max_position, struct shim_skb_function *out, int max);
/* btf__load_module_btf(): 0 or a negative errno. */
int shim_btf_load_module(const char *module, struct btf *vmlinux, struct btf **out);
/* 1 if a type with this name and kind exists. */
int shim_btf_has_type(const struct btf *btf, const char *name, int kind);

/* mallopt(M_TRIM_THRESHOLD and M_MMAP_THRESHOLD, bytes): malloc.h is not in
 * Swift's Glibc module. */
void shim_fixed_malloc_thresholds(int bytes);

/* pipe2(fds, O_CLOEXEC): 0 or -errno. */
int shim_pipe_cloexec(int fds[2]);

#endif
