// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Vigil sensor: per-agent syscall n-gram counts and security-relevant events, for tracked
 * tasks only. Layers, bottom up: tunables and maps; helpers (drops, ring buffer, sockets);
 * per-syscall decoders; the hooks. Every hook returns 0; a failure is counted in `drops`.
 *
 * Cost model (see ../shared/notes/kernel-facts.md): the per-syscall hooks charge every task
 * on the host, so the first thing they do is the cheapest "is this task tracked" test (a
 * task-storage lookup), and the helper detaches them while nothing is tracked.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <asm/unistd.h>

#include "vigil.h"
#include "sensor.bpf.h"
#include "i386-syscalls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define EEXIST 17

/* Namespace-creating clone flags. CLONE_NEWTIME shares its bit with the exit signal in clone(),
 * so it counts only in clone3(). */
#define CLONE_NEWNS 0x00020000
#define CLONE_NEWCGROUP 0x02000000
#define CLONE_NEWUTS 0x04000000
#define CLONE_NEWIPC 0x08000000
#define CLONE_NEWUSER 0x10000000
#define CLONE_NEWPID 0x20000000
#define CLONE_NEWNET 0x40000000
#define CLONE_NEWTIME 0x00000080
#define CLONE_NEW_ANY                                                                              \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |             \
	 CLONE_NEWPID | CLONE_NEWNET)

/* libbpf 1.1 has no PT_REGS_PARM6_CORE_SYSCALL */
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_ARG6(regs) BPF_CORE_READ(regs, r9)
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_ARG6(regs) BPF_CORE_READ(regs, regs[5])
#else
#error "Vigil's sensor supports x86_64 and arm64"
#endif

/* ---------- tunables, set by the helper before load ---------- */
const volatile __u32 ngram_n = 3;
const volatile bool report_untracked_execs = true;

/* ---------- state shared with the helper (.bss, mapped by the skeleton) ---------- */
__u32 active_buf;	  /* which of the double-buffered aggregate maps the hooks write */
__u32 next_auto_instance; /* counter for kernel-allocated instances */
__s64 nr_tracked;	  /* tasks with tracking state; the helper detaches hooks at 0 */
__u32 file_hook_active;	  /* file-paths.bpf.c reports opens: do not decode them here */


#define NGRAM_MAP(name)                                                                            \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_HASH);                                                   \
		__uint(max_entries, 65536);                                                        \
		__type(key, struct vigil_ngram_key);                                               \
		__type(value, __u64);                                                              \
	} name SEC(".maps")
NGRAM_MAP(ngram_counts_0);
NGRAM_MAP(ngram_counts_1);

#define FLOW_MAP(name)                                                                             \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_HASH);                                                   \
		__uint(max_entries, 16384);                                                        \
		__type(key, struct vigil_flow_key);                                                \
		__type(value, struct vigil_flow_value);                                            \
	} name SEC(".maps")
FLOW_MAP(flows_0);
FLOW_MAP(flows_1);



/* comm -> watch value: exec of a matching, untracked task starts tracking in the kernel, so an
 * agent's first syscalls are not lost while user space reacts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[VIGIL_COMM_LEN]);
	__type(value, __u32);
} watch_comms SEC(".maps");

/* tgid -> instance (0 = stop tracking); consumed by handle_iter_adopt. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} adopt_requests SEC(".maps");

/* ---------- helpers ---------- */






/* Reads a user string; returns the length without the NUL and flags what went wrong. */
static __always_inline __u16 read_user_path(char *dst, const void *src, __u16 *flags)
{
	long n = bpf_probe_read_user_str(dst, VIGIL_PATH_MAX, src);

	if (n <= 0) {
		dst[0] = 0;
		*flags |= VIGIL_F_STR_UNREADABLE;
		count_drop(VIGIL_DROP_STRING_UNREADABLE);
		return 0;
	}
	if (n == VIGIL_PATH_MAX)
		*flags |= VIGIL_F_TRUNCATED;
	return n - 1;
}

static __always_inline struct socket *socket_of_fd(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
	struct file *file = NULL;
	struct socket *sock;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	/* private_data is only a socket if the socket points back at this file */
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return NULL;
	return sock;
}

/* Fills family/port/addr from a user sockaddr; returns the family or 0. */
static __always_inline __u16 read_sockaddr(const void *uaddr, __u32 alen, __u16 *port, __u8 *addr,
					   char *unix_path)
{
	__u16 family = 0;
	__be16 be_port = 0;

	if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr))
		return 0;
	if (family == AF_INET) {
		bpf_probe_read_user(&be_port, sizeof(be_port), uaddr + 2);
		bpf_probe_read_user(addr, 4, uaddr + 4);
	} else if (family == AF_INET6) {
		bpf_probe_read_user(&be_port, sizeof(be_port), uaddr + 2);
		bpf_probe_read_user(addr, 16, uaddr + 8);
	} else if (family == AF_UNIX && unix_path) {
		__u32 n = alen > 2 ? alen - 2 : 0;

		if (n > VIGIL_UNIX_PATH_MAX - 1)
			n = VIGIL_UNIX_PATH_MAX - 1;
		if (n > 0 && bpf_probe_read_user(unix_path, n, uaddr + 2) == 0) {
			if (unix_path[0] == 0)
				unix_path[0] = '@'; /* abstract namespace */
			unix_path[n & (VIGIL_UNIX_PATH_MAX - 1)] = 0;
		}
	}
	*port = bpf_ntohs(be_port);
	return family;
}

static __always_inline void bump_flow(struct vigil_flow_key *key, __u64 out, __u64 in)
{
	struct vigil_flow_value *v, init = {};
	void *map = active_buf ? (void *)&flows_1 : (void *)&flows_0;
	long err;

	v = bpf_map_lookup_elem(map, key);
	if (!v) {
		err = bpf_map_update_elem(map, key, &init, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			count_drop(VIGIL_DROP_FLOW_MAP_FULL);
			return;
		}
		v = bpf_map_lookup_elem(map, key);
		if (!v)
			return;
	}
	if (out) {
		__sync_fetch_and_add(&v->bytes_out, out);
		__sync_fetch_and_add(&v->sends, 1);
	}
	if (in) {
		__sync_fetch_and_add(&v->bytes_in, in);
		__sync_fetch_and_add(&v->recvs, 1);
	}
}

static __always_inline void bump_ngram(struct vigil_ngram_key *key)
{
	void *map = active_buf ? (void *)&ngram_counts_1 : (void *)&ngram_counts_0;
	__u64 one = 1, *count;
	long err;

	count = bpf_map_lookup_elem(map, key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	err = bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
	if (err == -EEXIST) { /* another CPU inserted it first */
		count = bpf_map_lookup_elem(map, key);
		if (count)
			__sync_fetch_and_add(count, 1);
	} else if (err) {
		count_drop(VIGIL_DROP_NGRAM_MAP_FULL);
	}
}

/* The n-gram ends with this syscall; history is a shift register of the last three. */
static __always_inline void count_ngram(struct task_state *st, __u16 nr)
{
	struct vigil_ngram_key key = {.instance = st->instance};
	__u16 len = st->hist_len;
	bool full = true;

	switch (ngram_n) {
	case 1:
		key.sys[0] = nr;
		break;
	case 2:
		full = len >= 1;
		key.sys[0] = st->hist[2];
		key.sys[1] = nr;
		break;
	case 3:
		full = len >= 2;
		key.sys[0] = st->hist[1];
		key.sys[1] = st->hist[2];
		key.sys[2] = nr;
		break;
	case 4:
		full = len >= 3;
		key.sys[0] = st->hist[0];
		key.sys[1] = st->hist[1];
		key.sys[2] = st->hist[2];
		key.sys[3] = nr;
		break;
	default:
		return;
	}
	if (full)
		bump_ngram(&key);
	st->hist[0] = st->hist[1];
	st->hist[1] = st->hist[2];
	st->hist[2] = nr;
	if (len < VIGIL_NGRAM_MAX - 1)
		st->hist_len = len + 1;
}

/* ---------- per-syscall decoders (tracked tasks only) ---------- */

static __always_inline void emit_open(__u32 instance, __u16 nr, int dfd, const char *path,
				      __u32 flags, __u32 mode, __u16 hflags)
{
	struct vigil_open_event *e;

	if (file_hook_active)
		return;
	e = reserve(sizeof(*e));
	if (!e)
		return;
	fill_header(&e->h, VIGIL_EV_OPEN, instance);
	e->h.flags |= hflags;
	e->dfd = dfd;
	e->flags = flags;
	e->mode = mode;
	e->syscall_nr = nr;
	e->path_len = read_user_path(e->path, path, &e->h.flags);
	submit(e);
}

static __always_inline void emit_net(__u32 instance, __u16 op, int fd, const void *uaddr,
				     __u32 alen, __u16 hflags)
{
	struct vigil_net_event *e = reserve(sizeof(*e));
	struct socket *sock;
	struct sock *sk = NULL;

	if (!e)
		return;
	fill_header(&e->h, VIGIL_EV_NET, instance);
	e->h.flags |= hflags;
	e->fd = fd;
	e->op = op;
	e->family = 0;
	e->port = 0;
	e->protocol = 0;
	e->sock_type = 0;
	e->_pad = 0;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	e->unix_path[0] = 0;
	e->_pad2 = 0;
	sock = socket_of_fd(fd);
	if (sock) {
		e->sock_type = BPF_CORE_READ(sock, type);
		sk = BPF_CORE_READ(sock, sk);
		if (sk)
			e->protocol = BPF_CORE_READ(sk, sk_protocol);
	}
	if (uaddr) {
		e->family = read_sockaddr(uaddr, alen, &e->port, e->addr, e->unix_path);
	} else if (sk) { /* accept / listen: report the local side */
		e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
		e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
		if (e->family == AF_INET)
			bpf_core_read(e->addr, 4, &sk->__sk_common.skc_rcv_saddr);
		else if (e->family == AF_INET6)
			bpf_core_read(e->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	}
	submit(e);
}

/* sendto() with an explicit destination never shows an address on the socket: count it here,
 * and let handle_sock_send skip unconnected sockets so the bytes are not counted twice. */
static __always_inline void count_sendto(__u32 instance, int fd, const void *uaddr, __u32 alen,
					 __u64 len)
{
	struct vigil_flow_key key = {.instance = instance};
	struct socket *sock;
	struct sock *sk;

	key.family = read_sockaddr(uaddr, alen, &key.port, key.addr, NULL);
	if (key.family != AF_INET && key.family != AF_INET6)
		return;
	sock = socket_of_fd(fd);
	if (sock) {
		sk = BPF_CORE_READ(sock, sk);
		if (sk)
			key.protocol = BPF_CORE_READ(sk, sk_protocol);
	}
	bump_flow(&key, len ? len : 1, 0);
}

/* sendmsg()'s destination is msg_name, counted like sendto()'s. The bytes are the first few
 * iovecs' lengths; an unreadable header is a drop, as a sendto address would be. */
#define MSG_IOV_MAX 8
#define MMSG_VEC_MAX 4

static __always_inline void count_sendmsg(__u32 instance, int fd, const struct user_msghdr *umsg)
{
	struct user_msghdr m;
	struct iovec iov;
	__u64 len = 0;
	int i;

	if (bpf_probe_read_user(&m, sizeof(m), umsg)) {
		count_drop(VIGIL_DROP_STRING_UNREADABLE);
		return;
	}
	if (!m.msg_name)
		return; /* a connected socket: sock_send_length counts it */
	for (i = 0; i < MSG_IOV_MAX; i++) {
		if (i >= m.msg_iovlen || bpf_probe_read_user(&iov, sizeof(iov), &m.msg_iov[i]))
			break;
		len += iov.iov_len;
	}
	count_sendto(instance, fd, m.msg_name, m.msg_namelen, len);
}

static __always_inline void emit_priv(__u32 instance, __u32 nr, __u64 a0, __u64 a1, __u64 a2,
				      __u16 hflags)
{
	struct vigil_priv_event *e = reserve(sizeof(*e));

	if (!e)
		return;
	fill_header(&e->h, VIGIL_EV_PRIV, instance);
	e->h.flags |= hflags;
	e->syscall_nr = nr;
	e->_pad = 0;
	e->args[0] = a0;
	e->args[1] = a1;
	e->args[2] = a2;
	submit(e);
}

static __always_inline void emit_priv_regs(__u32 instance, __u32 nr, struct pt_regs *regs)
{
	emit_priv(instance, nr, PT_REGS_PARM1_CORE_SYSCALL(regs), PT_REGS_PARM2_CORE_SYSCALL(regs),
		  PT_REGS_PARM3_CORE_SYSCALL(regs), 0);
}

static __always_inline void emit_chdir(__u32 instance, int fd, const char *path)
{
	struct vigil_chdir_event *e = reserve(sizeof(*e));

	if (!e)
		return;
	fill_header(&e->h, VIGIL_EV_CHDIR, instance);
	e->fd = fd;
	e->_pad = 0;
	if (path) {
		e->path_len = read_user_path(e->path, path, &e->h.flags);
	} else {
		e->path_len = 0;
		e->path[0] = 0;
	}
	submit(e);
}

/* ---------- 32-bit (compat) syscalls of 64-bit tasks ---------- */

#if defined(__TARGET_ARCH_x86)
#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h: a 32-bit syscall is running */

/* int 0x80 and sysenter set TS_COMPAT for the syscall's duration; the id is then an i386 number.
 * A kernel whose thread_info has no status field is treated as never compat. */
static __always_inline bool in_compat_syscall(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!bpf_core_field_exists(task->thread_info.status))
		return false;
	return BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
}

/* i386 syscall arguments: ebx, ecx, edx */
#define COMPAT_ARG1(regs) ((__u32)BPF_CORE_READ(regs, bx))
#define COMPAT_ARG2(regs) ((__u32)BPF_CORE_READ(regs, cx))
#define COMPAT_ARG3(regs) ((__u32)BPF_CORE_READ(regs, dx))

/*
 * Opens, connect/bind (direct or through socketcall) and the privilege calls are decoded into
 * the same events as their 64-bit forms, flagged VIGIL_F_COMPAT with the i386 number. The first
 * compat syscall of a task is reported whatever it is, so any use of the 32-bit ABI is visible.
 */
static __always_inline void on_compat_enter(struct task_state *st, struct pt_regs *regs, long id)
{
	__u32 inst = st->instance, a[3] = {};
	bool priv = false;

	count_ngram(st, VIGIL_SYS_COMPAT);
	switch (id) {
	case I386_NR_open:
		emit_open(inst, id, AT_FDCWD, (const char *)(long)COMPAT_ARG1(regs), COMPAT_ARG2(regs),
			  COMPAT_ARG3(regs), VIGIL_F_COMPAT);
		break;
	case I386_NR_creat:
		emit_open(inst, id, AT_FDCWD, (const char *)(long)COMPAT_ARG1(regs),
			  O_CREAT | O_WRONLY | O_TRUNC, COMPAT_ARG2(regs), VIGIL_F_COMPAT);
		break;
	case I386_NR_openat:
		emit_open(inst, id, (int)COMPAT_ARG1(regs), (const char *)(long)COMPAT_ARG2(regs),
			  COMPAT_ARG3(regs), (__u32)BPF_CORE_READ(regs, si), VIGIL_F_COMPAT);
		break;
	case I386_NR_connect:
		emit_net(inst, VIGIL_NET_CONNECT, (int)COMPAT_ARG1(regs),
			 (void *)(long)COMPAT_ARG2(regs), COMPAT_ARG3(regs), VIGIL_F_COMPAT);
		break;
	case I386_NR_bind:
		emit_net(inst, VIGIL_NET_BIND, (int)COMPAT_ARG1(regs), (void *)(long)COMPAT_ARG2(regs),
			 COMPAT_ARG3(regs), VIGIL_F_COMPAT);
		break;
	case I386_NR_socketcall: {
		__u32 call = COMPAT_ARG1(regs);

		if (call != I386_SYS_CONNECT && call != I386_SYS_BIND)
			break;
		if (bpf_probe_read_user(a, sizeof(a), (void *)(long)COMPAT_ARG2(regs))) {
			count_drop(VIGIL_DROP_STRING_UNREADABLE);
			break;
		}
		emit_net(inst, call == I386_SYS_CONNECT ? VIGIL_NET_CONNECT : VIGIL_NET_BIND,
			 (int)a[0], (void *)(long)a[1], a[2], VIGIL_F_COMPAT);
		break;
	}
	case I386_NR_clone:
		priv = COMPAT_ARG1(regs) & CLONE_NEW_ANY;
		break;
	case I386_NR_setuid:
	case I386_NR_setgid:
	case I386_NR_setreuid:
	case I386_NR_setregid:
	case I386_NR_setgroups:
	case I386_NR_setresuid:
	case I386_NR_setresgid:
	case I386_NR_setfsuid:
	case I386_NR_setfsgid:
	case I386_NR_setreuid32:
	case I386_NR_setregid32:
	case I386_NR_setgroups32:
	case I386_NR_setresuid32:
	case I386_NR_setresgid32:
	case I386_NR_setuid32:
	case I386_NR_setgid32:
	case I386_NR_setfsuid32:
	case I386_NR_setfsgid32:
	case I386_NR_capset:
	case I386_NR_ptrace:
	case I386_NR_mount:
	case I386_NR_umount:
	case I386_NR_umount2:
	case I386_NR_chroot:
	case I386_NR_pivot_root:
	case I386_NR_unshare:
	case I386_NR_setns:
	case I386_NR_init_module:
	case I386_NR_delete_module:
	case I386_NR_finit_module:
	case I386_NR_kexec_load:
	case I386_NR_bpf:
	case I386_NR_process_vm_readv:
	case I386_NR_process_vm_writev:
	case I386_NR_perf_event_open:
	case I386_NR_memfd_create:
	case I386_NR_execveat:
	case I386_NR_keyctl:
	case I386_NR_io_uring_setup:
	case I386_NR_clone3: /* clone_args is the same struct in both ABIs; reported unread */
	case I386_NR_pidfd_getfd:
		priv = true;
		break;
	}
	if (priv || !(st->flags & TASK_F_COMPAT_SEEN)) {
		st->flags |= TASK_F_COMPAT_SEEN;
		emit_priv(inst, id, COMPAT_ARG1(regs), COMPAT_ARG2(regs), COMPAT_ARG3(regs),
			  VIGIL_F_COMPAT);
	}
}
#else
static __always_inline bool in_compat_syscall(void)
{
	return false; /* arm64: AArch32 tasks are not decoded yet */
}

static __always_inline void on_compat_enter(struct task_state *st, struct pt_regs *regs, long id)
{
}
#endif

static __always_inline int on_sys_enter(struct pt_regs *regs, long id)
{
	struct task_state *st = tracked_current();
	__u32 inst;

	if (!st)
		return 0;
	if (in_compat_syscall()) {
		on_compat_enter(st, regs, id);
		return 0;
	}
	inst = st->instance;
	count_ngram(st, id >= 0 && id < VIGIL_SYSCALL_LIMIT ? id : VIGIL_SYS_INVALID);

	switch (id) {
#ifdef __NR_open
	case __NR_open:
		emit_open(inst, id, AT_FDCWD, (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs),
			  PT_REGS_PARM2_CORE_SYSCALL(regs), PT_REGS_PARM3_CORE_SYSCALL(regs), 0);
		break;
#endif
#ifdef __NR_creat
	case __NR_creat:
		emit_open(inst, id, AT_FDCWD, (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs),
			  O_CREAT | O_WRONLY | O_TRUNC, PT_REGS_PARM2_CORE_SYSCALL(regs), 0);
		break;
#endif
	case __NR_openat:
		emit_open(inst, id, PT_REGS_PARM1_CORE_SYSCALL(regs),
			  (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs),
			  PT_REGS_PARM3_CORE_SYSCALL(regs), PT_REGS_PARM4_CORE_SYSCALL(regs), 0);
		break;
	case __NR_openat2: {
		__u64 how[2] = {}; /* struct open_how: flags, mode */

		if (file_hook_active)
			break; /* the file hook reports it: do not read user memory for nothing */
		bpf_probe_read_user(how, sizeof(how), (void *)PT_REGS_PARM3_CORE_SYSCALL(regs));
		emit_open(inst, id, PT_REGS_PARM1_CORE_SYSCALL(regs),
			  (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs), how[0], how[1], 0);
		break;
	}
	case __NR_connect:
		emit_net(inst, VIGIL_NET_CONNECT, PT_REGS_PARM1_CORE_SYSCALL(regs),
			 (void *)PT_REGS_PARM2_CORE_SYSCALL(regs), PT_REGS_PARM3_CORE_SYSCALL(regs), 0);
		break;
	case __NR_bind:
		emit_net(inst, VIGIL_NET_BIND, PT_REGS_PARM1_CORE_SYSCALL(regs),
			 (void *)PT_REGS_PARM2_CORE_SYSCALL(regs), PT_REGS_PARM3_CORE_SYSCALL(regs), 0);
		break;
	case __NR_listen:
		emit_net(inst, VIGIL_NET_LISTEN, PT_REGS_PARM1_CORE_SYSCALL(regs), NULL, 0, 0);
		break;
	case __NR_accept:
	case __NR_accept4:
		emit_net(inst, VIGIL_NET_ACCEPT, PT_REGS_PARM1_CORE_SYSCALL(regs), NULL, 0, 0);
		break;
	case __NR_sendto: {
		void *dest = (void *)PT_REGS_PARM5_CORE_SYSCALL(regs);

		if (dest)
			count_sendto(inst, PT_REGS_PARM1_CORE_SYSCALL(regs), dest,
				     SYSCALL_ARG6(regs), PT_REGS_PARM3_CORE_SYSCALL(regs));
		break;
	}
	case __NR_sendmsg:
		count_sendmsg(inst, PT_REGS_PARM1_CORE_SYSCALL(regs),
			      (void *)PT_REGS_PARM2_CORE_SYSCALL(regs));
		break;
	case __NR_sendmmsg: {
		struct mmsghdr *vec = (void *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		unsigned int vlen = PT_REGS_PARM3_CORE_SYSCALL(regs);
		int fd = PT_REGS_PARM1_CORE_SYSCALL(regs), i;

		/* the first MMSG_VEC_MAX messages: a bound the verifier accepts */
		for (i = 0; i < MMSG_VEC_MAX && i < vlen; i++)
			count_sendmsg(inst, fd, &vec[i].msg_hdr);
		break;
	}
	case __NR_chdir:
		emit_chdir(inst, AT_FDCWD, (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs));
		break;
	case __NR_fchdir:
		emit_chdir(inst, PT_REGS_PARM1_CORE_SYSCALL(regs), NULL);
		break;
	case __NR_setuid:
	case __NR_setgid:
	case __NR_setreuid:
	case __NR_setregid:
	case __NR_setresuid:
	case __NR_setresgid:
	case __NR_setfsuid:
	case __NR_setfsgid:
	case __NR_capset:
	case __NR_ptrace:
	case __NR_bpf:
	case __NR_init_module:
	case __NR_finit_module:
	case __NR_delete_module:
	case __NR_mount:
	case __NR_umount2:
	case __NR_unshare:
	case __NR_setns:
	case __NR_chroot:
	case __NR_pivot_root:
	case __NR_kexec_load:
#ifdef __NR_kexec_file_load
	case __NR_kexec_file_load:
#endif
	case __NR_setgroups:
	case __NR_process_vm_readv:
	case __NR_process_vm_writev:
	case __NR_pidfd_getfd:
	case __NR_memfd_create:
	case __NR_execveat:
	case __NR_perf_event_open:
	case __NR_keyctl:
	case __NR_io_uring_setup:
		emit_priv_regs(inst, id, regs);
		break;
	case __NR_clone: /* a thread or a process is not an event; a new namespace is */
		if (PT_REGS_PARM1_CORE_SYSCALL(regs) & CLONE_NEW_ANY)
			emit_priv_regs(inst, id, regs);
		break;
	case __NR_clone3: {
		__u64 flags = 0; /* struct clone_args starts with the flags */
		void *uargs = (void *)PT_REGS_PARM1_CORE_SYSCALL(regs);

		/* Arguments in a page that is not resident cannot be read here, but the kernel will
		 * fault it in: report the call rather than let that hide a new namespace. */
		if (bpf_probe_read_user(&flags, sizeof(flags), uargs)) {
			count_drop(VIGIL_DROP_STRING_UNREADABLE);
			emit_priv(inst, id, 0, PT_REGS_PARM2_CORE_SYSCALL(regs), 0, 0);
		} else if (flags & (CLONE_NEW_ANY | CLONE_NEWTIME)) {
			emit_priv(inst, id, flags, PT_REGS_PARM2_CORE_SYSCALL(regs), 0, 0);
		}
		break;
	}
	}
	return 0;
}

/* ---------- hooks ---------- */

SEC("tp_btf/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long id)
{
	return on_sys_enter(regs, id);
}

/* Fallback for kernels that refuse tp_btf here; the helper picks one at load. */
SEC("raw_tp/sys_enter")
int BPF_PROG(handle_sys_enter_raw, struct pt_regs *regs, long id)
{
	return on_sys_enter(regs, id);
}

/* Addresses are copied with explicit sizes: BPF_CORE_READ_INTO would copy sizeof(*dst), one
 * byte of a __u8 array. */
static __always_inline int on_sock_bytes(struct sock *sk, int ret, bool out)
{
	struct task_state *st;
	struct vigil_flow_key key = {};

	if (ret <= 0)
		return 0;
	st = tracked_current();
	if (!st)
		return 0;
	key.instance = st->instance;
	key.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	key.protocol = BPF_CORE_READ(sk, sk_protocol);
	if (key.family == AF_INET) {
		bpf_core_read(key.addr, 4, &sk->__sk_common.skc_daddr);
		key.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	} else if (key.family == AF_INET6) {
		bpf_core_read(key.addr, 16, &sk->__sk_common.skc_v6_daddr);
		key.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	}
	if (out && key.port == 0 && (key.family == AF_INET || key.family == AF_INET6))
		return 0; /* unconnected: counted by count_sendto */
	bump_flow(&key, out ? ret : 0, out ? 0 : ret);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(handle_sock_send, struct sock *sk, int ret, int flags)
{
	return on_sock_bytes(sk, ret, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(handle_sock_recv, struct sock *sk, int ret, int flags)
{
	return on_sock_bytes(sk, ret, false);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_state *st = bpf_task_storage_get(&task_states, parent, 0, 0);
	struct task_state *cst;
	struct vigil_fork_event *e;

	if (!st)
		return 0;
	cst = bpf_task_storage_get(&task_states, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!cst) {
		count_drop(VIGIL_DROP_TASK_STORAGE);
		return 0;
	}
	cst->instance = st->instance;
	cst->hist_len = 0;
	cst->flags = 0;
	__sync_fetch_and_add(&nr_tracked, 1);
	if (child->pid != child->tgid)
		return 0; /* a new thread, not a process */
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, VIGIL_EV_FORK, st->instance);
	e->child_pid = child->tgid;
	e->_pad = 0;
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_state *st = bpf_task_storage_get(&task_states, p, 0, 0);
	struct vigil_exec_event *e;
	__u32 match = 0, instance = 0;
	__u16 flags = 0;
	unsigned long arg_start, arg_end, len;
	long n;

	if (st) {
		instance = st->instance;
	} else {
		char comm[VIGIL_COMM_LEN] = {};
		__u32 *watch;

		bpf_get_current_comm(comm, sizeof(comm));
		watch = bpf_map_lookup_elem(&watch_comms, comm);
		if (watch) {
			st = bpf_task_storage_get(&task_states, p, 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (!st) {
				count_drop(VIGIL_DROP_TASK_STORAGE);
				return 0;
			}
			instance = VIGIL_AUTO_INSTANCE_BIT |
				   __sync_fetch_and_add(&next_auto_instance, 1);
			st->instance = instance;
			st->hist_len = 0;
			st->flags = 0;
			__sync_fetch_and_add(&nr_tracked, 1);
			match = *watch;
			flags = VIGIL_F_AUTO_MATCHED;
		} else if (!report_untracked_execs) {
			return 0;
		}
	}

	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, VIGIL_EV_EXEC, instance);
	e->h.flags |= flags;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->match = match;
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	e->filename_len = n > 0 ? n - 1 : 0;
	if (n == sizeof(e->filename))
		e->h.flags |= VIGIL_F_TRUNCATED;

	arg_start = BPF_CORE_READ(p, mm, arg_start);
	arg_end = BPF_CORE_READ(p, mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > VIGIL_ARGV_MAX) {
		len = VIGIL_ARGV_MAX;
		e->h.flags |= VIGIL_F_TRUNCATED;
	}
	e->argv_len = 0;
	if (len > 0 && len <= VIGIL_ARGV_MAX) {
		if (bpf_probe_read_user(e->argv, len, (void *)arg_start) == 0) {
			e->argv_len = len;
		} else {
			e->h.flags |= VIGIL_F_STR_UNREADABLE;
			count_drop(VIGIL_DROP_STRING_UNREADABLE);
		}
	}
	/* An agent just started and the syscall hooks may be detached: wake the helper now so it
	 * attaches them within microseconds rather than at its next poll. */
	if (flags & VIGIL_F_AUTO_MATCHED)
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	else
		submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	struct task_state *st = bpf_task_storage_get(&task_states, p, 0, 0);
	struct vigil_exit_event *e;
	__u32 instance;

	if (!st)
		return 0;
	instance = st->instance;
	if (bpf_task_storage_delete(&task_states, p) == 0)
		__sync_fetch_and_add(&nr_tracked, -1);
	if (p->pid != p->tgid)
		return 0; /* a thread ended; the process goes on */
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, VIGIL_EV_EXIT, instance);
	e->exit_code = BPF_CORE_READ(p, exit_code);
	e->_pad = 0;
	submit(e);
	return 0;
}

/*
 * io_uring workers (io-wq, SQPOLL) are made by create_io_thread, which fires no
 * sched_process_fork: tag them here as members of their creator's instance, so the sends and
 * submissions they make on its behalf are attributed.
 */
#define PF_IO_WORKER 0x00000010

SEC("tp_btf/task_newtask")
int BPF_PROG(handle_newtask, struct task_struct *task, u64 clone_flags)
{
	struct task_state *st, *wst;

	if (!(task->flags & PF_IO_WORKER))
		return 0;
	st = tracked_current();
	if (!st)
		return 0;
	wst = bpf_task_storage_get(&task_states, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!wst) {
		count_drop(VIGIL_DROP_TASK_STORAGE);
		return 0;
	}
	wst->instance = st->instance;
	wst->hist_len = 0;
	wst->flags = 0;
	__sync_fetch_and_add(&nr_tracked, 1);
	return 0;
}

/* Opens submitted through io_uring never pass sys_enter. At submission the request is prepared:
 * its struct io_open holds the kernel's copy of the path. Loaded only where the tracepoint
 * exists (the helper checks the kernel's BTF). */
#define IORING_OP_OPENAT_NR 18
#define IORING_OP_OPENAT2_NR 28

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(handle_uring_submit, struct io_kiocb *req)
{
	struct task_state *st = tracked_current();
	struct vigil_open_event *e;
	struct io_open *op;
	const char *name;
	__u8 opcode;
	long n;

	if (!st || file_hook_active || !bpf_core_type_exists(struct io_open))
		return 0;
	opcode = BPF_CORE_READ(req, opcode);
	if (opcode != IORING_OP_OPENAT_NR && opcode != IORING_OP_OPENAT2_NR)
		return 0;
	op = (struct io_open *)&req->cmd;
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, VIGIL_EV_OPEN, st->instance);
	e->dfd = BPF_CORE_READ(op, dfd);
	e->flags = BPF_CORE_READ(op, how.flags);
	e->mode = BPF_CORE_READ(op, how.mode);
	e->syscall_nr = VIGIL_OPEN_FROM_IO_URING;
	name = BPF_CORE_READ(op, filename, name);
	n = name ? bpf_probe_read_kernel_str(e->path, sizeof(e->path), name) : -1;
	set_open_path(e, n);
	submit(e);
	return 0;
}

/* Walks every task once; tags (or untags) all threads of the requested tgids. The helper
 * reads one __u32 tid per task it changed. */
SEC("iter/task")
int handle_iter_adopt(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct task_state *st;
	__u32 tgid, tid, *instance;

	if (!task)
		return 0;
	tgid = task->tgid;
	instance = bpf_map_lookup_elem(&adopt_requests, &tgid);
	if (!instance)
		return 0;
	if (*instance == 0) {
		if (bpf_task_storage_delete(&task_states, task) != 0)
			return 0;
		__sync_fetch_and_add(&nr_tracked, -1);
	} else {
		st = bpf_task_storage_get(&task_states, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!st) {
			count_drop(VIGIL_DROP_TASK_STORAGE);
			return 0;
		}
		if (st->instance == 0)
			__sync_fetch_and_add(&nr_tracked, 1);
		st->instance = *instance;
		st->hist_len = 0;
		st->flags = 0;
	}
	tid = task->pid;
	bpf_seq_write(ctx->meta->seq, &tid, sizeof(tid));
	return 0;
}
