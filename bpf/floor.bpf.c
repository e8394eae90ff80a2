// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The cheapest possible sys_enter program: the floor that the sensor's per-syscall cost is
 * compared against in bench/sensor.ts. Loaded only by `vigil-bpf floor`. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(handle_floor, struct pt_regs *regs, long id)
{
	return 0;
}
