/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Vigil wire format: shared by the BPF programs (vigil.bpf.c), the native helper
 * (vigil-helper.c) and the TypeScript decoder (src/sensor/wire.ts, offsets in wire-layout.ts). Every struct is laid out
 * with explicit padding (no implicit holes or tail padding) so that the layout is the same for clang -target bpf, gcc x86_64 and
 * gcc aarch64. test/unit/wire-layout.test.ts compiles bpf/tests/layout.c and checks that the
 * decoder's offsets match these structs: change both together and bump VIGIL_WIRE_VERSION.
 *
 * Helper -> service: stdout is a stream of frames:
 *   struct vigil_frame_header, then `len - sizeof(header)` bytes of payload.
 * Service -> helper: stdin is text lines (see vigil-helper.c, "control protocol").
 */
#ifndef VIGIL_H
#define VIGIL_H

#define VIGIL_WIRE_VERSION 1

#define VIGIL_NGRAM_MAX 4 /* n-gram length is configurable 1..VIGIL_NGRAM_MAX */
#define VIGIL_PATH_MAX 256
#define VIGIL_ARGV_MAX 256
#define VIGIL_COMM_LEN 16
#define VIGIL_UNIX_PATH_MAX 108

/* Instances allocated by the kernel (comm watch matched at exec) have this bit set, so they
 * never collide with the instances the service allocates. */
#define VIGIL_AUTO_INSTANCE_BIT 0x80000000u

/* Syscall ids in n-gram keys. Ids outside [0, VIGIL_SYSCALL_LIMIT) are not syscalls on any
 * kernel Vigil supports (x86_64 and arm64 number below 470 in 6.18; the kernel answers ENOSYS)
 * and would alias real ones if cut to 16 bits: syscall(0x10000 | SYS_read) is not a read. They
 * all count as one reserved id, so they cannot make distinct keys either. */
#define VIGIL_SYSCALL_LIMIT 512
#define VIGIL_SYS_INVALID 0xffff
/* Every 32-bit (compat) syscall of a 64-bit task counts as this id: i386 numbers are not the
 * x86_64 calls of the same number. */
#define VIGIL_SYS_COMPAT 0xfffe

/* ---------- ring buffer events (kernel -> helper -> service, payload of FRAME_EVENT) ---------- */

enum vigil_event_type {
	VIGIL_EV_EXEC = 1,
	VIGIL_EV_EXIT = 2,
	VIGIL_EV_FORK = 3,
	VIGIL_EV_OPEN = 4,
	VIGIL_EV_NET = 5,
	VIGIL_EV_PRIV = 6,
	VIGIL_EV_CHDIR = 7,
};

/* vigil_event_header.flags */
#define VIGIL_F_TRACKED 0x1	   /* the task is tracked (instance != 0) */
#define VIGIL_F_AUTO_MATCHED 0x2   /* exec: the kernel matched a comm watch and started tracking */
#define VIGIL_F_TRUNCATED 0x4	   /* a string was cut at its buffer size */
#define VIGIL_F_STR_UNREADABLE 0x8 /* a user string could not be read (page not resident) */
#define VIGIL_F_COMPAT 0x10	   /* a 32-bit (compat) syscall: syscall_nr is the i386 number */

struct vigil_event_header {
	__u64 ts_ns;	/* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 instance; /* agent instance, 0 = untracked */
	__u32 pid;	/* tgid */
	__u32 tid;
	__u16 type; /* enum vigil_event_type */
	__u16 flags;
};

struct vigil_exec_event {
	struct vigil_event_header h;
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__u32 ppid;	 /* real parent's tgid */
	__u32 uid;
	__u32 match;	    /* comm-watch value when VIGIL_F_AUTO_MATCHED, else 0 */
	__u16 filename_len; /* bytes used in filename, without the NUL */
	__u16 argv_len;	    /* bytes used in argv: NUL-separated arguments */
	char comm[VIGIL_COMM_LEN];
	char filename[VIGIL_PATH_MAX];
	char argv[VIGIL_ARGV_MAX];
};

struct vigil_exit_event {
	struct vigil_event_header h;
	__s32 exit_code; /* as in wait(2) status */
	__u32 _pad;
};

struct vigil_fork_event {
	struct vigil_event_header h; /* h.pid = parent tgid */
	__u32 child_pid;
	__u32 _pad;
};

/* vigil_open_event.syscall_nr when the event comes from the kernel's file-open hook
 * (fentry/lsm, absolute path) rather than from an open* syscall. */
#define VIGIL_OPEN_FROM_FILE_HOOK 0xffff
/* ... or from an io_uring IORING_OP_OPENAT/OPENAT2 request (path as given, like open*). */
#define VIGIL_OPEN_FROM_IO_URING 0xfffe

struct vigil_open_event {
	struct vigil_event_header h;
	__s32 dfd; /* AT_FDCWD (-100) for cwd-relative */
	__u32 flags;
	__u32 mode;
	__u16 syscall_nr;
	__u16 path_len;
	char path[VIGIL_PATH_MAX];
};

enum vigil_net_op {
	VIGIL_NET_CONNECT = 1,
	VIGIL_NET_ACCEPT = 2,
	VIGIL_NET_BIND = 3,
	VIGIL_NET_LISTEN = 4,
};

struct vigil_net_event {
	struct vigil_event_header h;
	__s32 fd;
	__u16 op;	/* enum vigil_net_op */
	__u16 family;	/* AF_INET, AF_INET6, AF_UNIX */
	__u16 port;	/* host byte order; for accept/listen: the local port */
	__u16 protocol; /* IPPROTO_TCP, IPPROTO_UDP, ...; 0 unknown */
	__u16 sock_type; /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 _pad;
	__u8 addr[16]; /* IPv4 in the first 4 bytes, network order; for accept/listen: local */
	char unix_path[VIGIL_UNIX_PATH_MAX]; /* AF_UNIX; abstract names start with '@' */
	__u32 _pad2;
};

struct vigil_priv_event {
	struct vigil_event_header h;
	__u32 syscall_nr;
	__u32 _pad;
	__u64 args[3];
};

struct vigil_chdir_event {
	struct vigil_event_header h;
	__s32 fd; /* -100 for chdir(path); the fd for fchdir */
	__u16 path_len;
	__u16 _pad;
	char path[VIGIL_PATH_MAX];
};

/* ---------- in-kernel aggregates (drained by the helper) ---------- */

struct vigil_ngram_key {
	__u32 instance;
	__u16 sys[VIGIL_NGRAM_MAX]; /* oldest first; unused tail slots are 0 */
};

struct vigil_flow_key {
	__u32 instance;
	__u16 family;
	__u16 port; /* host byte order, remote port */
	__u8 protocol;
	__u8 _pad[3];
	__u8 addr[16]; /* remote address; all zero for unconnected sockets */
};

struct vigil_flow_value {
	__u64 bytes_out;
	__u64 bytes_in;
	__u64 sends;
	__u64 recvs;
};

enum vigil_drop_reason {
	VIGIL_DROP_NGRAM_MAP_FULL = 0,
	VIGIL_DROP_FLOW_MAP_FULL = 1,
	VIGIL_DROP_RINGBUF_FULL = 2,
	VIGIL_DROP_STRING_UNREADABLE = 3,
	VIGIL_DROP_TASK_STORAGE = 4,
	VIGIL_DROP__COUNT = 8, /* slots reserved */
};

/* ---------- helper -> service frames ---------- */

enum vigil_frame_type {
	VIGIL_FRAME_EVENT = 1,	   /* payload: one ring buffer event */
	VIGIL_FRAME_NGRAMS = 2,	   /* payload: vigil_batch_header + count x vigil_ngram_record */
	VIGIL_FRAME_FLOWS = 3,	   /* payload: vigil_batch_header + count x vigil_flow_record */
	VIGIL_FRAME_STATS = 4,	   /* payload: vigil_stats */
	VIGIL_FRAME_JSON = 5,	   /* payload: one UTF-8 JSON object: hello, ack, error, log */
	VIGIL_FRAME_DRAIN_END = 6, /* payload: vigil_drain_end */
};

struct vigil_frame_header {
	__u32 len; /* whole frame, header included */
	__u16 type;
	__u16 _pad;
};

struct vigil_batch_header {
	__u64 seq; /* drain sequence number given by the service */
	__u32 count;
	__u32 _pad;
};

struct vigil_ngram_record {
	__u64 count;
	struct vigil_ngram_key key;
	__u32 _pad;
};

struct vigil_flow_record {
	struct vigil_flow_key key;
	__u32 _pad;
	struct vigil_flow_value value;
};

struct vigil_stats {
	__u64 ts_ns;
	__u64 drops[VIGIL_DROP__COUNT]; /* cumulative since load */
	__u64 events;			/* ring buffer events read, cumulative */
	__s64 nr_tracked;		/* tasks (threads) with tracking state */
	__u32 hooks_attached;		/* 1 while the per-syscall hooks are attached */
	__u32 _pad;
};

struct vigil_drain_end {
	__u64 seq;
	__u64 ts_ns;
};

#endif /* VIGIL_H */
