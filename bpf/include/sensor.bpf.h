/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every sensor BPF object shares: the tracking state, the event ring buffer, the drop
 * counters and the helpers that fill events. Each object that includes this declares its own
 * copy of the maps; the helper makes them one with bpf_map__reuse_fd before loading the
 * second object (file-paths.bpf.c), so a kernel that refuses that object cannot break the first.
 */
#ifndef VIGIL_SENSOR_BPF_H
#define VIGIL_SENSOR_BPF_H

#define AT_FDCWD -100

const volatile __u64 wakeup_bytes = 256 * 1024;

struct task_state {
	__u32 instance;
	__u16 hist[VIGIL_NGRAM_MAX - 1]; /* the last syscalls, oldest first */
	__u16 hist_len;
	__u16 flags; /* TASK_F_* */
	__u16 _pad;
};

#define TASK_F_COMPAT_SEEN 0x1 /* a compat syscall of this task was reported */

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_DROP__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &reason);

	if (v)
		(*v)++;
}

static __always_inline struct task_state *tracked_current(void)
{
	return bpf_task_storage_get(&task_states, bpf_get_current_task_btf(), 0, 0);
}

static __always_inline void *reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		count_drop(VIGIL_DROP_RINGBUF_FULL);
	return e;
}

/* Waking the reader costs ~5 us per event: only wake it when a good amount is pending; the
 * helper also drains on a timer. */
static __always_inline void submit(void *e)
{
	__u64 pending = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	bpf_ringbuf_submit(e, pending >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* Records how reading an open's path went: n is what a *_str read or bpf_d_path returned. */
static __always_inline void set_open_path(struct vigil_open_event *e, long n)
{
	if (n <= 0) {
		e->path[0] = 0;
		e->path_len = 0;
		e->h.flags |= VIGIL_F_STR_UNREADABLE;
		count_drop(VIGIL_DROP_STRING_UNREADABLE);
	} else {
		e->path_len = n - 1;
		if (n == sizeof(e->path))
			e->h.flags |= VIGIL_F_TRUNCATED;
	}
}

static __always_inline void fill_header(struct vigil_event_header *h, __u16 type, __u32 instance)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	h->ts_ns = bpf_ktime_get_ns();
	h->instance = instance;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->type = type;
	h->flags = instance ? VIGIL_F_TRACKED : 0;
}

#endif /* VIGIL_SENSOR_BPF_H */
