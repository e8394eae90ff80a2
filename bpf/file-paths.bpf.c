// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Full, resolved paths for the files tracked tasks open, from the kernel's own `struct file`
 * (bpf_d_path), where the kernel allows fentry or BPF-LSM programs. The helper loads this
 * object only after the main one, sharing its maps, and tries fentry, then lsm; if both are
 * refused (EPERM on kernels that block ftrace hooks), opens are decoded in sys_enter instead,
 * with the path as the process gave it.
 *
 * Semantics differ slightly, and the window says which is in use (hello.fileHook): this hook
 * sees opens that reached the permission check (the file exists), sys_enter sees every attempt.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "vigil.h"
#include "sensor.bpf.h"

char LICENSE[] SEC("license") = "GPL"; /* bpf_d_path is GPL-only */

static __always_inline void on_file_open(struct file *file)
{
	struct task_state *st = tracked_current();
	struct vigil_open_event *e;
	long n;

	if (!st)
		return;
	e = reserve(sizeof(*e));
	if (!e)
		return;
	fill_header(&e->h, VIGIL_EV_OPEN, st->instance);
	e->dfd = AT_FDCWD;
	e->flags = BPF_CORE_READ(file, f_flags);
	e->mode = 0;
	e->syscall_nr = VIGIL_OPEN_FROM_FILE_HOOK;
	n = bpf_d_path((struct path *)&file->f_path, e->path, sizeof(e->path));
	set_open_path(e, n);
	submit(e);
}

SEC("fentry/security_file_open")
int BPF_PROG(handle_file_open, struct file *file)
{
	on_file_open(file);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(handle_file_open_lsm, struct file *file, int ret)
{
	if (ret != 0)
		return ret; /* another LSM already refused: not an open */
	on_file_open(file);
	return 0;
}
