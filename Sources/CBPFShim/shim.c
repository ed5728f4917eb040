#define _GNU_SOURCE
#include <malloc.h>
#include "bpf_shim.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

int shim_object_open_mem(const void *buf, size_t size, const char *name, struct bpf_object **out)
{
	/* libbpf 1.1 rejects an options struct whose .sz is not set. */
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	struct bpf_object *obj = bpf_object__open_mem(buf, size, &opts);
	int err = -errno;

	if (!obj)
		return err ? err : -EINVAL;
	*out = obj;
	return 0;
}

int shim_program_attach(struct bpf_program *prog, struct bpf_link **out)
{
	struct bpf_link *link = bpf_program__attach(prog);
	int err = -errno;

	if (!link)
		return err ? err : -EINVAL;
	*out = link;
	return 0;
}

int shim_program_attach_kprobe_multi(struct bpf_program *prog, const char **syms, size_t count,
				     struct bpf_link **out)
{
	LIBBPF_OPTS(bpf_kprobe_multi_opts, opts, .syms = syms, .cnt = count);
	struct bpf_link *link = bpf_program__attach_kprobe_multi_opts(prog, NULL, &opts);
	int err = -errno;

	if (!link)
		return err ? err : -EINVAL;
	*out = link;
	return 0;
}

int shim_program_attach_kprobe(struct bpf_program *prog, const char *func, struct bpf_link **out)
{
	struct bpf_link *link = bpf_program__attach_kprobe(prog, false, func);
	int err = -errno;

	if (!link)
		return err ? err : -EINVAL;
	*out = link;
	return 0;
}

/* The values after the last ones Debian 12's linux/bpf.h knows (Linux 6.4). */
#define SHIM_BPF_PROG_TYPE_NETFILTER (BPF_PROG_TYPE_SYSCALL + 1)
#define SHIM_BPF_NETFILTER (BPF_LSM_CGROUP + 2)

int shim_program_set_netfilter(struct bpf_program *prog)
{
	int err = bpf_program__set_type(prog, SHIM_BPF_PROG_TYPE_NETFILTER);

	return err ? err : bpf_program__set_expected_attach_type(prog, SHIM_BPF_NETFILTER);
}

/* BPF_LINK_CREATE's attribute with its netfilter member, as Linux 6.4's
 * linux/bpf.h lays it out; the rest of union bpf_attr stays zero. */
struct shim_link_create_nf {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint32_t pf, hooknum;
	int32_t priority;
	uint32_t nf_flags;
	uint8_t zero[64];
};

int shim_netfilter_link_create(struct bpf_program *prog, uint32_t pf, uint32_t hooknum, int32_t priority, int *out)
{
	struct shim_link_create_nf attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = bpf_program__fd(prog);
	attr.attach_type = SHIM_BPF_NETFILTER;
	attr.pf = pf;
	attr.hooknum = hooknum;
	attr.priority = priority;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		return -errno;
	*out = fd;
	return 0;
}

struct destroy_slice {
	struct bpf_link **links;
	size_t count;
};

static void *destroy_slice(void *arg)
{
	struct destroy_slice *s = arg;

	for (size_t i = 0; i < s->count; i++)
		bpf_link__destroy(s->links[i]);
	return NULL;
}

void shim_links_destroy_parallel(struct bpf_link **links, size_t count, int threads)
{
	pthread_t tids[64];
	struct destroy_slice slices[64];
	int started = 0;

	if (threads > 64)
		threads = 64;
	if (threads < 1)
		threads = 1;
	size_t per = (count + threads - 1) / threads;
	for (int t = 0; t < threads && (size_t)t * per < count; t++) {
		size_t from = (size_t)t * per;

		slices[t].links = links + from;
		slices[t].count = count - from < per ? count - from : per;
		if (pthread_create(&tids[t], NULL, destroy_slice, &slices[t]) != 0) {
			destroy_slice(&slices[t]); /* no thread: do this slice here */
			continue;
		}
		tids[started] = tids[t];
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
}

int shim_ring_buffer_new(int map_fd, ring_buffer_sample_fn fn, void *ctx, struct ring_buffer **out)
{
	struct ring_buffer *rb = ring_buffer__new(map_fd, fn, ctx, NULL);
	int err = -errno;

	if (!rb)
		return err ? err : -EINVAL;
	*out = rb;
	return 0;
}

int shim_btf_load_vmlinux(struct btf **out)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int err = -errno;

	if (!btf)
		return err ? err : -ENOENT;
	*out = btf;
	return 0;
}

int shim_map_lookup(int fd, const void *key, void *value)
{
	return bpf_map_lookup_elem(fd, key, value) ? -errno : 0;
}

int shim_statfs_type(const char *path, long *type)
{
	struct statfs fs;

	if (statfs(path, &fs))
		return -errno;
	*type = (long)fs.f_type;
	return 0;
}

int shim_setns_net(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return err;
}

int shim_prog_name(uint32_t id, char *buf, size_t size)
{
	int fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
	close(fd);
	if (!err)
		snprintf(buf, size, "%s", info.name);
	return err;
}

void shim_strerror(int err, char *buf, size_t size)
{
	if (libbpf_strerror(err, buf, size))
		snprintf(buf, size, "%s", strerror(err < 0 ? -err : err));
}

/* ---- libbpf log ---- */

static int libbpf_verbose;
static char libbpf_log[8192];
static size_t libbpf_log_len;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (libbpf_verbose)
		return vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_DEBUG)
		return 0;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n <= 0)
		return n;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	/* Keep the newest lines: drop the oldest half when full. */
	if (libbpf_log_len + n >= sizeof(libbpf_log)) {
		size_t keep = libbpf_log_len / 2;
		memmove(libbpf_log, libbpf_log + libbpf_log_len - keep, keep);
		libbpf_log_len = keep;
	}
	if (libbpf_log_len + n < sizeof(libbpf_log)) {
		memcpy(libbpf_log + libbpf_log_len, line, n);
		libbpf_log_len += n;
		libbpf_log[libbpf_log_len] = 0;
	}
	return n;
}

void shim_set_libbpf_verbose(int verbose)
{
	libbpf_verbose = verbose;
	libbpf_set_print(libbpf_print);
}

const char *shim_take_libbpf_log(void)
{
	static char copy[sizeof(libbpf_log)];

	memcpy(copy, libbpf_log, libbpf_log_len);
	copy[libbpf_log_len] = 0;
	libbpf_log_len = 0;
	libbpf_log[0] = 0;
	return copy;
}

/* ---- stop signals ---- */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

void shim_install_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking poll returns EINTR and the loop sees the flag. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A parent may hand down a mask with these blocked (Foundation's Process
	 * does from a thread that blocked them): a tracer that cannot see SIGINT
	 * cannot detach cleanly. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int shim_stop_requested(void)
{
	return stop_signal != 0;
}

int shim_stop_signal(void)
{
	return stop_signal;
}

void shim_request_stop(void)
{
	if (!stop_signal)
		stop_signal = -1;
}

/* ---- BTF ---- */

/* Skips typedefs and const/volatile/restrict to the type underneath. */
static const struct btf_type *skip_mods(const struct btf *btf, __u32 id, __u32 *out_id)
{
	const struct btf_type *t = btf__type_by_id(btf, id);

	while (t && (btf_is_typedef(t) || btf_is_mod(t))) {
		id = t->type;
		t = btf__type_by_id(btf, id);
	}
	if (out_id)
		*out_id = id;
	return t;
}

int shim_btf_typedef_params(const struct btf *btf, const char *typedef_name,
			    struct shim_btf_param *params, int max)
{
	__s32 id = btf__find_by_name_kind(btf, typedef_name, BTF_KIND_TYPEDEF);
	const struct btf_type *t;
	const struct btf_param *p;
	int n;

	if (id < 0)
		return -ENOENT;
	t = skip_mods(btf, id, NULL);
	if (t && btf_is_ptr(t))
		t = skip_mods(btf, t->type, NULL);
	if (!t || !btf_is_func_proto(t))
		return -EINVAL;
	n = btf_vlen(t);
	p = btf_params(t);
	for (int i = 0; i < n && i < max; i++) {
		const struct btf_type *pt = skip_mods(btf, p[i].type, NULL);

		memset(&params[i], 0, sizeof(params[i]));
		params[i].type_name = "";
		if (!pt) { /* void */
			continue;
		}
		if (btf_is_ptr(pt)) {
			params[i].is_pointer = 1;
			pt = skip_mods(btf, pt->type, NULL);
			/* type id 0 is void: libbpf returns a placeholder of kind UNKN */
			if (!pt || btf_kind(pt) == BTF_KIND_UNKN)
				continue;
		}
		params[i].kind = btf_is_int(pt) ? SHIM_BTF_INT :
				  btf_is_struct(pt) ? SHIM_BTF_STRUCT :
				  (btf_is_enum(pt) || btf_is_enum64(pt)) ? SHIM_BTF_ENUM : SHIM_BTF_OTHER;
		params[i].type_name = btf__name_by_offset(btf, pt->name_off);
		if (!params[i].type_name)
			params[i].type_name = "";
	}
	return n;
}

static int is_skb_pointer(const struct btf *btf, __u32 type_id)
{
	const struct btf_type *t = skip_mods(btf, type_id, NULL);
	const char *name;

	if (!t || !btf_is_ptr(t))
		return 0;
	t = skip_mods(btf, t->type, NULL);
	if (!t || !btf_is_struct(t))
		return 0;
	name = btf__name_by_offset(btf, t->name_off);
	return name && strcmp(name, "sk_buff") == 0;
}

int shim_btf_skb_functions(const struct btf *btf, int max_position, struct shim_skb_function *out, int max)
{
	const struct btf *base = btf__base_btf(btf);
	__u32 first = base ? btf__type_cnt(base) : 1;
	__u32 count = btf__type_cnt(btf);
	int found = 0;

	for (__u32 id = first; id < count; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_type *proto;
		const struct btf_param *p;
		int n;

		if (!t || !btf_is_func(t))
			continue;
		proto = btf__type_by_id(btf, t->type);
		if (!proto || !btf_is_func_proto(proto))
			continue;
		n = btf_vlen(proto);
		p = btf_params(proto);
		for (int i = 0; i < n && i < max_position; i++) {
			if (!is_skb_pointer(btf, p[i].type))
				continue;
			if (found < max) {
				out[found].name = btf__name_by_offset(btf, t->name_off);
				out[found].position = i + 1;
			}
			found++;
			break;
		}
	}
	return found;
}

int shim_btf_load_module(const char *module, struct btf *vmlinux, struct btf **out)
{
	struct btf *btf = btf__load_module_btf(module, vmlinux);
	int err = -errno;

	if (!btf)
		return err ? err : -ENOENT;
	*out = btf;
	return 0;
}

int shim_btf_enum_value(const struct btf *btf, const char *enum_name, int index,
			const char **name, long long *value)
{
	__s32 id = btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM);
	const struct btf_type *t;

	if (id < 0)
		id = btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM64);
	if (id < 0)
		return -ENOENT;
	t = btf__type_by_id(btf, id);
	if (index < 0 || index >= btf_vlen(t))
		return -ENOENT;
	if (btf_is_enum(t)) {
		const struct btf_enum *e = btf_enum(t) + index;
		*name = btf__name_by_offset(btf, e->name_off);
		*value = e->val;
	} else {
		const struct btf_enum64 *e = btf_enum64(t) + index;
		*name = btf__name_by_offset(btf, e->name_off);
		*value = (long long)btf_enum64_value(e);
	}
	return 0;
}

int shim_btf_has_type(const struct btf *btf, const char *name, int kind)
{
	return btf__find_by_name_kind(btf, name, kind) >= 0;
}

void shim_fixed_malloc_thresholds(int bytes)
{
	mallopt(M_TRIM_THRESHOLD, bytes);
	mallopt(M_MMAP_THRESHOLD, bytes);
}

int shim_pipe_cloexec(int fds[2])
{
	/* pipe2() is a GNU extension Swift's Glibc module does not show. */
	return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}
