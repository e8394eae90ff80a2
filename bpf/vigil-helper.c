// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vigil-bpf: the privileged native helper. It owns the BPF side (load, attach, drain) and
 * streams frames (bpf/include/vigil.h) on stdout to the TypeScript sensor, which stays free of
 * libbpf and of native crashes. It exits when stdin closes, so a dead service never leaves
 * hooks behind.
 *
 * Usage:
 *   vigil-bpf [run] [--ngram N] [--ngram-entries N] [--flow-entries N] [--ringbuf-bytes N]
 *                   [--no-untracked-execs] [--syscall-hook auto|tp_btf|raw_tp]
 *                   [--auto-instance-base N] [--file-hook auto|fentry|lsm|sys_enter]
 *                   [--verbose]
 *   vigil-bpf probe     print what this kernel supports as one JSON line
 *   vigil-bpf floor     attach an empty sys_enter program until stdin closes (benchmarks)
 *
 * Control protocol (stdin, one command per line; every command is answered by a JSON frame
 * {"kind":"ack","op":...,"ok":true|false,...}):
 *   track <tgid> <instance>   tag every thread of tgid (instance > 0)
 *   untrack <tgid>
 *   watch <comm> <value>      start tracking at exec when the new comm equals <comm>
 *   unwatch <comm>
 *   drain <seq>               flip the aggregate maps, emit NGRAMS, FLOWS, STATS, DRAIN_END
 *   quit
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "vigil.h"
#include "file-paths.skel.h"
#include "floor.skel.h"
#include "vigil.skel.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_USAGE = 2,
	EXIT_NOT_ROOT = 3,
	EXIT_NO_BTF = 4,
	EXIT_KERNEL_TOO_OLD = 5,
	EXIT_LOAD = 6,
	EXIT_ATTACH = 7,
	EXIT_IO = 8,
};

struct options {
	unsigned int ngram;
	unsigned int ngram_entries;
	unsigned int flow_entries;
	unsigned int ringbuf_bytes;
	unsigned int auto_instance_base;
	bool untracked_execs;
	const char *syscall_hook; /* auto, tp_btf, raw_tp */
	const char *file_hook;	  /* auto, fentry, lsm, sys_enter */
};

static volatile sig_atomic_t exiting;
static struct vigil *skel;
static struct ring_buffer *rb;
static struct bpf_link *iter_link;
#define HOT_MAX 5
static struct bpf_link *hot_links[HOT_MAX];
static bool hot_attached;
static const char *hook_in_use;
static struct file_paths *file_skel;
static struct bpf_program *file_prog;
static struct bpf_program *uring_prog; /* NULL where the kernel has no io_uring tracepoints */
static const char *file_hook_in_use = "sys_enter";
static char file_hook_fallback[512];
static __u64 events_read;
static struct timespec zero_since;
static bool zero_pending;

/* ---------- output ---------- */

static void write_frame(__u16 type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct vigil_frame_header h = {.len = sizeof(h) + alen + blen, .type = type};

	if (fwrite(&h, sizeof(h), 1, stdout) != 1 || (alen && fwrite(a, alen, 1, stdout) != 1) ||
	    (blen && fwrite(b, blen, 1, stdout) != 1)) {
		exiting = 1; /* the service is gone */
	}
}

static void json_escape(char *dst, size_t cap, const char *src)
{
	size_t o = 0;

	for (; *src && o + 7 < cap; src++) {
		unsigned char c = *src;

		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = c;
		} else if (c < 0x20) {
			o += snprintf(dst + o, cap - o, "\\u%04x", c);
		} else {
			dst[o++] = c;
		}
	}
	dst[o] = 0;
}

static void write_json(const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	write_frame(VIGIL_FRAME_JSON, buf, n, NULL, 0);
}

/* libbpf's messages, kept so that a load failure can show the verifier log tail. */
#define LOG_LINES 48
static char log_ring[LOG_LINES][512];
static unsigned int log_next;
static bool verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *line = log_ring[log_next++ % LOG_LINES];

	vsnprintf(line, sizeof(log_ring[0]), fmt, ap);
	if (verbose || level == LIBBPF_WARN)
		fputs(line, stderr);
	return 0;
}

static void log_tail(char *dst, size_t cap)
{
	char esc[1024];
	size_t o = 0;
	unsigned int i, start = log_next > LOG_LINES ? log_next - LOG_LINES : 0;

	dst[0] = 0;
	for (i = start; i < log_next && o < cap; i++) {
		json_escape(esc, sizeof(esc), log_ring[i % LOG_LINES]);
		o += snprintf(dst + o, cap - o, "%s", esc);
	}
}

/* One sentence for a person (stderr) and one JSON frame for the service, then exit. */
static void fatal(int code, const char *err_code, const char *hint, const char *fmt, ...)
{
	char msg[1024], emsg[2048], ehint[1024];
	static char tail[6144];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vigil-bpf: %s\n  fix: %s\n", msg, hint);
	json_escape(emsg, sizeof(emsg), msg);
	json_escape(ehint, sizeof(ehint), hint);
	log_tail(tail, sizeof(tail));
	write_json("{\"kind\":\"fatal\",\"code\":\"%s\",\"message\":\"%s\",\"hint\":\"%s\",\"log\":\"%s\"}",
		   err_code, emsg, ehint, code == EXIT_LOAD ? tail : "");
	fflush(stdout);
	exit(code);
}

/* ---------- preflight: privileges and kernel ---------- */

#define CAP_PERFMON_BIT 38
#define CAP_BPF_BIT 39

/* Effective capabilities from /proc, so the helper needs no libcap. */
static bool has_cap(int bit)
{
	unsigned long long eff = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> bit) & 1;
}

static void preflight(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (geteuid() != 0 && !(has_cap(CAP_BPF_BIT) && has_cap(CAP_PERFMON_BIT)))
		fatal(EXIT_NOT_ROOT, "VIGIL_ERR_NOT_ROOT",
		      "run Vigil as root (sudo), or give vigil-bpf CAP_BPF and CAP_PERFMON "
		      "(setcap cap_bpf,cap_perfmon+ep bpf/build/vigil-bpf)",
		      "loading eBPF programs needs root or CAP_BPF+CAP_PERFMON, and this process has "
		      "neither (euid %d)",
		      geteuid());
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		fatal(EXIT_NO_BTF, "VIGIL_ERR_NO_BTF",
		      "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (every current Debian, Ubuntu, "
		      "Fedora and RHEL kernel is)",
		      "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing)");
	if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
	    (major < 5 || (major == 5 && minor < 15)))
		fatal(EXIT_KERNEL_TOO_OLD, "VIGIL_ERR_KERNEL_TOO_OLD",
		      "upgrade to Linux 5.15 or newer (task storage, ring buffer, BPF atomics)",
		      "kernel %s is too old for Vigil's sensor", u.release);
}

/* ---------- hooks ---------- */

static struct bpf_program *syscall_prog(void)
{
	return strcmp(hook_in_use, "raw_tp") == 0 ? skel->progs.handle_sys_enter_raw
						   : skel->progs.handle_sys_enter;
}

static int attach_hot(void)
{
	struct bpf_program *progs[HOT_MAX] = {syscall_prog(), skel->progs.handle_sock_send,
					      skel->progs.handle_sock_recv};
	int i, n = 3;

	if (file_prog)
		progs[n++] = file_prog;
	if (uring_prog)
		progs[n++] = uring_prog;

	if (hot_attached)
		return 0;
	for (i = 0; i < n; i++) {
		hot_links[i] = bpf_program__attach(progs[i]);
		if (!hot_links[i]) {
			int err = -errno;

			while (--i >= 0) {
				bpf_link__destroy(hot_links[i]);
				hot_links[i] = NULL;
			}
			return err;
		}
	}
	hot_attached = true;
	write_json("{\"kind\":\"hooks\",\"attached\":true}");
	return 0;
}

static void detach_hot(void)
{
	int i;

	if (!hot_attached)
		return;
	for (i = 0; i < HOT_MAX; i++) {
		bpf_link__destroy(hot_links[i]);
		hot_links[i] = NULL;
	}
	hot_attached = false;
	write_json("{\"kind\":\"hooks\",\"attached\":false}");
}

static __u64 now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Per-syscall hooks cost every task on the host: keep them only while something is tracked.
 * A short grace period avoids flapping between two short-lived agents. */
static void manage_hooks(void)
{
	__s64 tracked = __atomic_load_n(&skel->bss->nr_tracked, __ATOMIC_RELAXED);

	if (tracked > 0) {
		zero_pending = false;
		if (!hot_attached && attach_hot() != 0)
			write_json("{\"kind\":\"error\",\"code\":\"VIGIL_ERR_BPF_ATTACH\",\"message\":"
				   "\"could not attach the syscall hooks: %s\"}",
				   strerror(errno));
		return;
	}
	if (!hot_attached)
		return;
	if (!zero_pending) {
		zero_pending = true;
		clock_gettime(CLOCK_MONOTONIC, &zero_since);
		return;
	}
	if (now_ns(CLOCK_MONOTONIC) - ((__u64)zero_since.tv_sec * 1000000000ull + zero_since.tv_nsec) >
	    500000000ull)
		detach_hot();
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct vigil_event_header *h = data;

	events_read++;
	/* The kernel just started tracking an agent: attach now rather than at the next tick. */
	if (size >= sizeof(*h) && (h->flags & VIGIL_F_AUTO_MATCHED) && !hot_attached)
		attach_hot();
	write_frame(VIGIL_FRAME_EVENT, data, size, NULL, 0);
	return 0;
}

/* ---------- commands ---------- */

static int run_adopt_iter(__u32 tgid, __u32 instance, int *threads)
{
	int map_fd = bpf_map__fd(skel->maps.adopt_requests), iter_fd, n, err = 0;
	__u32 tids[256];

	if (bpf_map_update_elem(map_fd, &tgid, &instance, BPF_ANY))
		return -errno;
	iter_fd = bpf_iter_create(bpf_link__fd(iter_link));
	if (iter_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	*threads = 0;
	while ((n = read(iter_fd, tids, sizeof(tids))) > 0)
		*threads += n / sizeof(__u32);
	if (n < 0)
		err = -errno;
	close(iter_fd);
cleanup:
	bpf_map_delete_elem(map_fd, &tgid);
	return err;
}

static void cmd_track(__u32 tgid, __u32 instance, bool untrack)
{
	int threads = 0, err;

	/* Ids with VIGIL_AUTO_INSTANCE_BIT are accepted: a restarted service re-tags the
	 * kernel-allocated instances it already knows. */
	if (!untrack && instance == 0) {
		write_json("{\"kind\":\"ack\",\"op\":\"track\",\"tgid\":%u,\"ok\":false,\"error\":"
			   "\"instance must not be 0\"}",
			   tgid);
		return;
	}
	/* Attach first, so that no syscall of the newly tagged threads goes uncounted. */
	if (!untrack && !hot_attached)
		attach_hot();
	err = run_adopt_iter(tgid, untrack ? 0 : instance, &threads);
	if (err || (!untrack && threads == 0)) {
		write_json("{\"kind\":\"ack\",\"op\":\"%s\",\"tgid\":%u,\"instance\":%u,\"ok\":false,"
			   "\"error\":\"%s\"}",
			   untrack ? "untrack" : "track", tgid, instance,
			   err ? strerror(-err) : "no such process");
		return;
	}
	write_json("{\"kind\":\"ack\",\"op\":\"%s\",\"tgid\":%u,\"instance\":%u,\"ok\":true,"
		   "\"threads\":%d}",
		   untrack ? "untrack" : "track", tgid, instance, threads);
}

static void cmd_watch(const char *comm, __u32 value, bool unwatch)
{
	char key[VIGIL_COMM_LEN] = {}, esc[64];
	int fd = bpf_map__fd(skel->maps.watch_comms), err;

	strncpy(key, comm, VIGIL_COMM_LEN - 1);
	err = unwatch ? bpf_map_delete_elem(fd, key) : bpf_map_update_elem(fd, key, &value, BPF_ANY);
	json_escape(esc, sizeof(esc), key);
	write_json("{\"kind\":\"ack\",\"op\":\"%s\",\"comm\":\"%s\",\"ok\":%s%s%s%s}",
		   unwatch ? "unwatch" : "watch", esc, err ? "false" : "true",
		   err ? ",\"error\":\"" : "", err ? strerror(errno) : "", err ? "\"" : "");
}

#define BATCH 4096

/* Drains one aggregate map. Batch ops where the kernel has them, key-by-key otherwise. */
static int drain_map(int fd, size_t ksz, size_t vsz, void *keys, void *vals, size_t cap,
		     void (*emit)(const void *keys, const void *vals, __u32 n, __u64 seq), __u64 seq)
{
	static bool no_batch;
	__u32 in = 0, out = 0, n;
	bool first = true;
	int err;

	while (!no_batch) {
		n = cap;
		err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in, &out, keys, vals, &n,
						      NULL);
		if (err && errno != ENOENT) {
			if (first && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP)) {
				no_batch = true;
				break;
			}
			return -errno;
		}
		if (n)
			emit(keys, vals, n, seq);
		if (err) /* ENOENT: the map is empty now */
			return 0;
		in = out;
		first = false;
	}
	/* Key-by-key fallback for kernels without batch operations. */
	n = 0;
	while (bpf_map_get_next_key(fd, NULL, (char *)keys + n * ksz) == 0) {
		if (bpf_map_lookup_and_delete_elem(fd, (char *)keys + n * ksz, (char *)vals + n * vsz) &&
		    (bpf_map_lookup_elem(fd, (char *)keys + n * ksz, (char *)vals + n * vsz) ||
		     bpf_map_delete_elem(fd, (char *)keys + n * ksz)))
			break;
		if (++n == cap) {
			emit(keys, vals, n, seq);
			n = 0;
		}
	}
	if (n)
		emit(keys, vals, n, seq);
	return 0;
}

static void emit_ngrams(const void *keys, const void *vals, __u32 n, __u64 seq)
{
	static struct vigil_ngram_record recs[BATCH];
	const struct vigil_ngram_key *k = keys;
	const __u64 *v = vals;
	struct vigil_batch_header bh = {.seq = seq, .count = n};
	__u32 i;

	for (i = 0; i < n; i++) {
		memset(&recs[i], 0, sizeof(recs[i]));
		recs[i].count = v[i];
		recs[i].key = k[i];
	}
	write_frame(VIGIL_FRAME_NGRAMS, &bh, sizeof(bh), recs, n * sizeof(recs[0]));
}

static void emit_flows(const void *keys, const void *vals, __u32 n, __u64 seq)
{
	static struct vigil_flow_record recs[BATCH];
	const struct vigil_flow_key *k = keys;
	const struct vigil_flow_value *v = vals;
	struct vigil_batch_header bh = {.seq = seq, .count = n};
	__u32 i;

	for (i = 0; i < n; i++) {
		memset(&recs[i], 0, sizeof(recs[i]));
		recs[i].key = k[i];
		recs[i].value = v[i];
	}
	write_frame(VIGIL_FRAME_FLOWS, &bh, sizeof(bh), recs, n * sizeof(recs[0]));
}

static void emit_stats(void)
{
	struct vigil_stats st = {.ts_ns = now_ns(CLOCK_MONOTONIC)};
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(skel->maps.drops);
	__u64 *percpu = calloc(ncpu > 0 ? ncpu : 1, sizeof(__u64));
	__u32 r;
	int c;

	for (r = 0; percpu && r < VIGIL_DROP__COUNT; r++) {
		if (bpf_map_lookup_elem(fd, &r, percpu))
			continue;
		for (c = 0; c < ncpu; c++)
			st.drops[r] += percpu[c];
	}
	free(percpu);
	st.events = events_read;
	st.nr_tracked = __atomic_load_n(&skel->bss->nr_tracked, __ATOMIC_RELAXED);
	st.hooks_attached = hot_attached;
	write_frame(VIGIL_FRAME_STATS, &st, sizeof(st), NULL, 0);
}

static void cmd_drain(__u64 seq)
{
	static struct vigil_ngram_key nkeys[BATCH];
	static __u64 nvals[BATCH];
	static struct vigil_flow_key fkeys[BATCH];
	static struct vigil_flow_value fvals[BATCH];
	__u32 idle = skel->bss->active_buf;
	struct vigil_drain_end end = {.seq = seq};
	int err;

	ring_buffer__consume(rb);
	__atomic_store_n(&skel->bss->active_buf, !idle, __ATOMIC_SEQ_CST);
	/* Let programs that read the old index finish their update; a late one is not lost,
	 * it is drained with this map's next turn. */
	usleep(1000);
	err = drain_map(bpf_map__fd(idle ? skel->maps.ngram_counts_1 : skel->maps.ngram_counts_0),
			sizeof(nkeys[0]), sizeof(nvals[0]), nkeys, nvals, BATCH, emit_ngrams, seq);
	if (!err)
		err = drain_map(bpf_map__fd(idle ? skel->maps.flows_1 : skel->maps.flows_0),
				sizeof(fkeys[0]), sizeof(fvals[0]), fkeys, fvals, BATCH, emit_flows,
				seq);
	if (err)
		write_json("{\"kind\":\"error\",\"code\":\"VIGIL_ERR_BPF_LOAD\",\"message\":\"draining "
			   "the count maps failed: %s\"}",
			   strerror(-err));
	ring_buffer__consume(rb);
	emit_stats();
	end.ts_ns = now_ns(CLOCK_MONOTONIC);
	write_frame(VIGIL_FRAME_DRAIN_END, &end, sizeof(end), NULL, 0);
}

static void handle_line(char *line)
{
	char word[32] = {}, arg[64] = {};
	unsigned long long a = 0, b = 0;
	int n = sscanf(line, "%31s %63s %llu", word, arg, &b);

	if (n >= 2)
		a = strtoull(arg, NULL, 10);
	if (n == 3 && strcmp(word, "track") == 0)
		cmd_track(a, b, false);
	else if (n == 2 && strcmp(word, "untrack") == 0)
		cmd_track(a, 0, true);
	else if (n == 3 && strcmp(word, "watch") == 0)
		cmd_watch(arg, b, false);
	else if (n == 2 && strcmp(word, "unwatch") == 0)
		cmd_watch(arg, 0, true);
	else if (n == 2 && strcmp(word, "drain") == 0)
		cmd_drain(a);
	else if (n == 1 && strcmp(word, "stats") == 0)
		emit_stats();
	else if (n == 1 && strcmp(word, "quit") == 0)
		exiting = 1;
	else if (n > 0) {
		char esc[256];

		json_escape(esc, sizeof(esc), line);
		write_json("{\"kind\":\"ack\",\"op\":\"unknown\",\"ok\":false,\"error\":\"unknown "
			   "command: %s\"}",
			   esc);
	}
}

/* Reads what stdin has; returns false on EOF (the service went away). */
static bool read_control(void)
{
	static char buf[65536];
	static size_t used;
	ssize_t n = read(STDIN_FILENO, buf + used, sizeof(buf) - 1 - used);
	char *start = buf, *nl;

	if (n == 0)
		return false;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	used += n;
	buf[used] = 0;
	while ((nl = memchr(start, '\n', used - (start - buf)))) {
		*nl = 0;
		handle_line(start);
		start = nl + 1;
	}
	used -= start - buf;
	memmove(buf, start, used);
	if (used == sizeof(buf) - 1) /* a line longer than the buffer: drop it */
		used = 0;
	return true;
}

/* ---------- load ---------- */

/* Whether the running kernel has tracepoint `name` (its btf_trace_<name> typedef). */
static bool kernel_has_tracepoint(const char *name)
{
	struct btf *btf = btf__load_vmlinux_btf();
	char type[128];
	bool found;

	if (!btf)
		return false;
	snprintf(type, sizeof(type), "btf_trace_%s", name);
	found = btf__find_by_name_kind(btf, type, BTF_KIND_TYPEDEF) > 0;
	btf__free(btf);
	return found;
}

static int open_and_load(const struct options *o, const char *hook)
{
	bool uring = kernel_has_tracepoint("io_uring_submit_req");
	int err;

	skel = vigil__open();
	if (!skel)
		return -errno;
	skel->rodata->ngram_n = o->ngram;
	skel->rodata->report_untracked_execs = o->untracked_execs;
	skel->rodata->wakeup_bytes = o->ringbuf_bytes / 16;
	bpf_map__set_max_entries(skel->maps.ngram_counts_0, o->ngram_entries);
	bpf_map__set_max_entries(skel->maps.ngram_counts_1, o->ngram_entries);
	bpf_map__set_max_entries(skel->maps.flows_0, o->flow_entries);
	bpf_map__set_max_entries(skel->maps.flows_1, o->flow_entries);
	bpf_map__set_max_entries(skel->maps.events, o->ringbuf_bytes);
	bpf_program__set_autoload(skel->progs.handle_sys_enter, strcmp(hook, "tp_btf") == 0);
	bpf_program__set_autoload(skel->progs.handle_sys_enter_raw, strcmp(hook, "raw_tp") == 0);
	bpf_program__set_autoload(skel->progs.handle_uring_submit, uring);
	uring_prog = uring ? skel->progs.handle_uring_submit : NULL;
	err = vigil__load(skel);
	if (err) {
		vigil__destroy(skel);
		skel = NULL;
	}
	return err;
}

static void load(const struct options *o)
{
	bool auto_hook = strcmp(o->syscall_hook, "auto") == 0;
	int err;

	hook_in_use = auto_hook ? "tp_btf" : o->syscall_hook;
	err = open_and_load(o, hook_in_use);
	if (err && auto_hook) {
		fprintf(stderr, "vigil-bpf: tp_btf/sys_enter refused (%s); falling back to raw_tp\n",
			strerror(-err));
		hook_in_use = "raw_tp";
		err = open_and_load(o, hook_in_use);
	}
	if (err)
		fatal(EXIT_LOAD, "VIGIL_ERR_BPF_LOAD",
		      "see the verifier log tail above; if it says 'permission denied', check that "
		      "kernel lockdown or a security module does not forbid BPF",
		      "loading the BPF programs failed: %s", strerror(-err));
}

/*
 * Full file paths where the kernel allows fentry or BPF-LSM programs: load file-paths.bpf.c
 * on the main object's maps, and check that it attaches. Any refusal (EPERM where ftrace hooks
 * are blocked, lsm when "bpf" is not in the kernel's LSM list) falls back to decoding open*
 * in sys_enter, and the reasons are reported.
 */
static void try_file_hook(const struct options *o)
{
	static const char *const kinds[] = {"fentry", "lsm"};
	size_t used = 0;
	unsigned int i;

	if (!strcmp(o->file_hook, "sys_enter")) {
		snprintf(file_hook_fallback, sizeof(file_hook_fallback), "configured");
		return;
	}
	for (i = 0; i < 2; i++) {
		struct file_paths *fp;
		struct bpf_program *prog;
		struct bpf_link *link;
		int err;

		if (strcmp(o->file_hook, "auto") && strcmp(o->file_hook, kinds[i]))
			continue;
		fp = file_paths__open();
		if (!fp) {
			err = -errno;
			goto refused;
		}
		prog = i == 0 ? fp->progs.handle_file_open : fp->progs.handle_file_open_lsm;
		bpf_program__set_autoload(fp->progs.handle_file_open, i == 0);
		bpf_program__set_autoload(fp->progs.handle_file_open_lsm, i == 1);
		fp->rodata->wakeup_bytes = o->ringbuf_bytes / 16;
		bpf_map__reuse_fd(fp->maps.task_states, bpf_map__fd(skel->maps.task_states));
		bpf_map__reuse_fd(fp->maps.events, bpf_map__fd(skel->maps.events));
		bpf_map__reuse_fd(fp->maps.drops, bpf_map__fd(skel->maps.drops));
		err = file_paths__load(fp);
		if (!err) {
			/* loading is not enough: some kernels refuse only at attach */
			link = bpf_program__attach(prog);
			if (link) {
				bpf_link__destroy(link);
				file_skel = fp;
				file_prog = prog;
				file_hook_in_use = kinds[i];
				skel->bss->file_hook_active = 1;
				return;
			}
			err = -errno;
		}
		file_paths__destroy(fp);
refused:
		used += snprintf(file_hook_fallback + used, sizeof(file_hook_fallback) - used, "%s%s: %s",
				 used ? "; " : "", kinds[i], strerror(-err));
		if (used >= sizeof(file_hook_fallback))
			used = sizeof(file_hook_fallback) - 1;
	}
	fprintf(stderr, "vigil-bpf: full-path file hooks refused (%s); decoding opens in sys_enter\n",
		file_hook_fallback);
}

static void attach_always_on(void)
{
	struct bpf_program *always[] = {skel->progs.handle_fork, skel->progs.handle_exec,
					skel->progs.handle_exit, skel->progs.handle_newtask};
	unsigned int i;

	for (i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
		if (!bpf_program__attach(always[i]))
			fatal(EXIT_ATTACH, "VIGIL_ERR_BPF_ATTACH",
			      "this kernel must support tp_btf programs on sched_process_* tracepoints "
			      "(Linux 5.15+ with BTF)",
			      "attaching %s failed: %s", bpf_program__name(always[i]), strerror(errno));
	}
	iter_link = bpf_program__attach_iter(skel->progs.handle_iter_adopt, NULL);
	if (!iter_link)
		fatal(EXIT_ATTACH, "VIGIL_ERR_BPF_ATTACH", "task iterators need Linux 5.15+",
		      "attaching the task iterator failed: %s", strerror(errno));
}

/* ---------- modes ---------- */

static unsigned int parse_uint(const char *flag, const char *v, unsigned int min, unsigned int max)
{
	char *end;
	unsigned long x = strtoul(v ? v : "", &end, 10);

	if (!v || *end || x < min || x > max)
		fatal(EXIT_USAGE, "VIGIL_ERR_USAGE", "see the usage at the top of bpf/vigil-helper.c",
		      "%s needs a whole number from %u to %u", flag, min, max);
	return x;
}

static void on_signal(int sig)
{
	exiting = 1;
}

static int mode_floor(void)
{
	struct floor *f;
	char c;

	preflight();
	f = floor__open_and_load();
	if (!f || floor__attach(f))
		fatal(EXIT_LOAD, "VIGIL_ERR_BPF_LOAD", "see the log above",
		      "loading the floor program failed: %s", strerror(errno));
	write_json("{\"kind\":\"hello\",\"mode\":\"floor\"}");
	fflush(stdout);
	while (!exiting && read(STDIN_FILENO, &c, 1) > 0)
		;
	floor__destroy(f);
	return 0;
}

static int mode_probe(const struct options *o)
{
	struct utsname u;

	uname(&u);
	preflight();
	load(o);
	try_file_hook(o);
	write_json("{\"kind\":\"probe\",\"kernel\":\"%s\",\"arch\":\"%s\",\"syscallHook\":\"%s\","
		   "\"fileHook\":\"%s\",\"fileHookFallback\":\"%s\",\"btf\":true,\"ringbuf\":true,"
		   "\"taskStorage\":true}",
		   u.release, u.machine, hook_in_use, file_hook_in_use, file_hook_fallback);
	file_paths__destroy(file_skel);
	vigil__destroy(skel);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {.ngram = 3,
			    .ngram_entries = 65536,
			    .flow_entries = 16384,
			    .ringbuf_bytes = 4 * 1024 * 1024,
			    .untracked_execs = true,
			    .syscall_hook = "auto",
			    .file_hook = "auto"};
	const char *mode = "run";
	struct pollfd fds[2];
	struct utsname u;
	int i;

	static char outbuf[1 << 20];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	libbpf_set_print(libbpf_print);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (i == 1 && (!strcmp(a, "run") || !strcmp(a, "probe") || !strcmp(a, "floor")))
			mode = a;
		else if (!strcmp(a, "--ngram"))
			o.ngram = parse_uint(a, v, 1, VIGIL_NGRAM_MAX), i++;
		else if (!strcmp(a, "--ngram-entries"))
			o.ngram_entries = parse_uint(a, v, 1, 1 << 24), i++;
		else if (!strcmp(a, "--flow-entries"))
			o.flow_entries = parse_uint(a, v, 1, 1 << 22), i++;
		else if (!strcmp(a, "--ringbuf-bytes"))
			o.ringbuf_bytes = parse_uint(a, v, 4096, 1 << 30), i++;
		else if (!strcmp(a, "--auto-instance-base"))
			o.auto_instance_base = parse_uint(a, v, 0, 0x7fffffff), i++;
		else if (!strcmp(a, "--no-untracked-execs"))
			o.untracked_execs = false;
		else if (!strcmp(a, "--verbose"))
			verbose = true;
		else if (!strcmp(a, "--file-hook") && v &&
			 (!strcmp(v, "auto") || !strcmp(v, "fentry") || !strcmp(v, "lsm") ||
			  !strcmp(v, "sys_enter")))
			o.file_hook = v, i++;
		else if (!strcmp(a, "--syscall-hook") && v &&
			 (!strcmp(v, "auto") || !strcmp(v, "tp_btf") || !strcmp(v, "raw_tp")))
			o.syscall_hook = v, i++;
		else
			fatal(EXIT_USAGE, "VIGIL_ERR_USAGE",
			      "see the usage at the top of bpf/vigil-helper.c", "unknown argument: %s", a);
	}
	if (o.ringbuf_bytes & (o.ringbuf_bytes - 1))
		fatal(EXIT_USAGE, "VIGIL_ERR_USAGE", "use a power of two such as 4194304",
		      "--ringbuf-bytes must be a power of two");
	if (!strcmp(mode, "floor"))
		return mode_floor();
	if (!strcmp(mode, "probe"))
		return mode_probe(&o);

	preflight();
	load(&o);
	/* .bss is mapped after load: set before any hook can run */
	skel->bss->next_auto_instance = o.auto_instance_base;
	try_file_hook(&o);
	attach_always_on();
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb)
		fatal(EXIT_LOAD, "VIGIL_ERR_BPF_LOAD", "see the log above",
		      "creating the ring buffer reader failed: %s", strerror(errno));
	uname(&u);
	write_json("{\"kind\":\"hello\",\"wireVersion\":%d,\"pid\":%d,\"ngram\":%u,\"syscallHook\":"
		   "\"%s\",\"fileHook\":\"%s\",\"fileHookFallback\":\"%s\",\"kernel\":\"%s\","
		   "\"arch\":\"%s\",\"monotonicNs\":%llu,\"realtimeNs\":%llu}",
		   VIGIL_WIRE_VERSION, getpid(), o.ngram, hook_in_use, file_hook_in_use,
		   file_hook_fallback, u.release, u.machine,
		   (unsigned long long)now_ns(CLOCK_MONOTONIC),
		   (unsigned long long)now_ns(CLOCK_REALTIME));
	fflush(stdout);

	fds[0] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
	fds[1] = (struct pollfd){.fd = ring_buffer__epoll_fd(rb), .events = POLLIN};
	while (!exiting) {
		int n = poll(fds, 2, 50);

		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP)) && !read_control())
			break;
		ring_buffer__consume(rb);
		manage_hooks();
		if (fflush(stdout) != 0)
			break;
	}
	ring_buffer__free(rb);
	detach_hot();
	bpf_link__destroy(iter_link);
	file_paths__destroy(file_skel);
	vigil__destroy(skel);
	return EXIT_OK;
}
