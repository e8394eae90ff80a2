/** Syscall names the benchmarks build realistic windows from. */

/** What a coding agent (node, git, a shell) calls most, most frequent first. */
// biome-ignore format: a list of names
export const COMMON_SYSCALLS: readonly string[] = [
  "read", "write", "openat", "close", "newfstatat", "fstat", "futex", "epoll_wait", "mmap",
  "lseek", "getdents64", "rt_sigaction", "rt_sigprocmask", "ioctl", "pread64", "statx", "brk",
  "mprotect", "munmap", "recvfrom", "sendto", "poll", "access", "readlink", "fcntl", "getpid",
  "wait4", "clone3", "execve", "pipe2", "dup2", "sendmsg", "recvmsg", "connect", "socket",
  "getrandom", "madvise", "sched_yield", "epoll_ctl", "getcwd",
];
