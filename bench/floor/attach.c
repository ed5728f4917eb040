/* Loads a BPF object, attaches every program, touches READY_FILE and waits for
 * SIGINT or SIGTERM (handlers, not the defaults: a background job of a
 * non-interactive shell starts with SIGINT ignored). bench/flood.sh mode `empty`. */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	FILE *ready;

	if (argc != 3) {
		fprintf(stderr, "usage: attach OBJECT READY_FILE\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		perror("attach: load");
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "attach: %s: ", bpf_program__name(prog));
			perror("");
			return 1;
		}
	}
	ready = fopen(argv[2], "w");
	if (ready)
		fclose(ready);
	while (!stop)
		pause();
	bpf_object__close(obj);
	return 0;
}
