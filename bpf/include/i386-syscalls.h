/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The i386 syscall numbers the sensor decodes when an x86_64 task makes a 32-bit (compat)
 * syscall (int 0x80, sysenter). Named I386_NR_* so they cannot clash with asm/unistd.h;
 * test/unit/compat-syscalls.test.ts checks them against asm/unistd_32.h and against the names
 * the service gives them (src/sensor/compat-syscalls.ts).
 */
#ifndef VIGIL_I386_SYSCALLS_H
#define VIGIL_I386_SYSCALLS_H

#define I386_NR_open 5
#define I386_NR_creat 8
#define I386_NR_mount 21
#define I386_NR_umount 22
#define I386_NR_setuid 23
#define I386_NR_ptrace 26
#define I386_NR_setgid 46
#define I386_NR_umount2 52
#define I386_NR_chroot 61
#define I386_NR_setreuid 70
#define I386_NR_setregid 71
#define I386_NR_setgroups 81
#define I386_NR_socketcall 102
#define I386_NR_clone 120
#define I386_NR_init_module 128
#define I386_NR_delete_module 129
#define I386_NR_setfsuid 138
#define I386_NR_setfsgid 139
#define I386_NR_setresuid 164
#define I386_NR_setresgid 170
#define I386_NR_capset 185
#define I386_NR_setreuid32 203
#define I386_NR_setregid32 204
#define I386_NR_setgroups32 206
#define I386_NR_setresuid32 208
#define I386_NR_setresgid32 210
#define I386_NR_setuid32 213
#define I386_NR_setgid32 214
#define I386_NR_setfsuid32 215
#define I386_NR_setfsgid32 216
#define I386_NR_pivot_root 217
#define I386_NR_kexec_load 283
#define I386_NR_keyctl 288
#define I386_NR_openat 295
#define I386_NR_unshare 310
#define I386_NR_perf_event_open 336
#define I386_NR_setns 346
#define I386_NR_process_vm_readv 347
#define I386_NR_process_vm_writev 348
#define I386_NR_finit_module 350
#define I386_NR_memfd_create 356
#define I386_NR_bpf 357
#define I386_NR_execveat 358
#define I386_NR_bind 361
#define I386_NR_connect 362
#define I386_NR_io_uring_setup 425
#define I386_NR_clone3 435
#define I386_NR_pidfd_getfd 438

/* socketcall(2) call numbers (linux/net.h) */
#define I386_SYS_BIND 2
#define I386_SYS_CONNECT 3

#endif /* VIGIL_I386_SYSCALLS_H */
