// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Prints the layout of every struct in vigil.h as JSON, so that test/unit/wire-layout.test.ts
 * can check the TypeScript decoder's offsets (WIRE_LAYOUT in src/sensor/wire-layout.ts) against what
 * the C compiler actually does, instead of against a hand-written copy.
 *
 *   ./layout            {"struct": {"size": N, "fields": {"field": offset, ...}}, ...}
 *   ./layout constants  {"VIGIL_...": value, ...}  (enums, flags and buffer sizes)
 *
 * Build: cc -I bpf/include -o layout bpf/tests/layout.c
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <linux/types.h>
#include "../include/vigil.h"

static int first_struct = 1;
static int first_field;

static void begin_struct(const char *name, size_t size)
{
	printf("%s\n  \"%s\": {\"size\": %zu, \"fields\": {", first_struct ? "" : ",", name, size);
	first_struct = 0;
	first_field = 1;
}

static void field(const char *name, size_t offset)
{
	printf("%s\"%s\": %zu", first_field ? "" : ", ", name, offset);
	first_field = 0;
}

static void end_struct(void)
{
	printf("}}");
}

/* Array fields decay to the offset of their first element, which offsetof gives directly. */
#define S(type) begin_struct(#type, sizeof(struct type))
#define F(type, member) field(#member, offsetof(struct type, member))

static void print_layout(void)
{
	printf("{");

	S(vigil_event_header);
	F(vigil_event_header, ts_ns);
	F(vigil_event_header, instance);
	F(vigil_event_header, pid);
	F(vigil_event_header, tid);
	F(vigil_event_header, type);
	F(vigil_event_header, flags);
	end_struct();

	S(vigil_exec_event);
	F(vigil_exec_event, h);
	F(vigil_exec_event, cgroup_id);
	F(vigil_exec_event, ppid);
	F(vigil_exec_event, uid);
	F(vigil_exec_event, match);
	F(vigil_exec_event, filename_len);
	F(vigil_exec_event, argv_len);
	F(vigil_exec_event, comm);
	F(vigil_exec_event, filename);
	F(vigil_exec_event, argv);
	end_struct();

	S(vigil_exit_event);
	F(vigil_exit_event, h);
	F(vigil_exit_event, exit_code);
	F(vigil_exit_event, _pad);
	end_struct();

	S(vigil_fork_event);
	F(vigil_fork_event, h);
	F(vigil_fork_event, child_pid);
	F(vigil_fork_event, _pad);
	end_struct();

	S(vigil_open_event);
	F(vigil_open_event, h);
	F(vigil_open_event, dfd);
	F(vigil_open_event, flags);
	F(vigil_open_event, mode);
	F(vigil_open_event, syscall_nr);
	F(vigil_open_event, path_len);
	F(vigil_open_event, path);
	end_struct();

	S(vigil_net_event);
	F(vigil_net_event, h);
	F(vigil_net_event, fd);
	F(vigil_net_event, op);
	F(vigil_net_event, family);
	F(vigil_net_event, port);
	F(vigil_net_event, protocol);
	F(vigil_net_event, sock_type);
	F(vigil_net_event, _pad);
	F(vigil_net_event, addr);
	F(vigil_net_event, unix_path);
	F(vigil_net_event, _pad2);
	end_struct();

	S(vigil_priv_event);
	F(vigil_priv_event, h);
	F(vigil_priv_event, syscall_nr);
	F(vigil_priv_event, _pad);
	F(vigil_priv_event, args);
	end_struct();

	S(vigil_chdir_event);
	F(vigil_chdir_event, h);
	F(vigil_chdir_event, fd);
	F(vigil_chdir_event, path_len);
	F(vigil_chdir_event, _pad);
	F(vigil_chdir_event, path);
	end_struct();

	S(vigil_ngram_key);
	F(vigil_ngram_key, instance);
	F(vigil_ngram_key, sys);
	end_struct();

	S(vigil_flow_key);
	F(vigil_flow_key, instance);
	F(vigil_flow_key, family);
	F(vigil_flow_key, port);
	F(vigil_flow_key, protocol);
	F(vigil_flow_key, _pad);
	F(vigil_flow_key, addr);
	end_struct();

	S(vigil_flow_value);
	F(vigil_flow_value, bytes_out);
	F(vigil_flow_value, bytes_in);
	F(vigil_flow_value, sends);
	F(vigil_flow_value, recvs);
	end_struct();

	S(vigil_frame_header);
	F(vigil_frame_header, len);
	F(vigil_frame_header, type);
	F(vigil_frame_header, _pad);
	end_struct();

	S(vigil_batch_header);
	F(vigil_batch_header, seq);
	F(vigil_batch_header, count);
	F(vigil_batch_header, _pad);
	end_struct();

	S(vigil_ngram_record);
	F(vigil_ngram_record, count);
	F(vigil_ngram_record, key);
	F(vigil_ngram_record, _pad);
	end_struct();

	S(vigil_flow_record);
	F(vigil_flow_record, key);
	F(vigil_flow_record, _pad);
	F(vigil_flow_record, value);
	end_struct();

	S(vigil_stats);
	F(vigil_stats, ts_ns);
	F(vigil_stats, drops);
	F(vigil_stats, events);
	F(vigil_stats, nr_tracked);
	F(vigil_stats, hooks_attached);
	F(vigil_stats, _pad);
	end_struct();

	S(vigil_drain_end);
	F(vigil_drain_end, seq);
	F(vigil_drain_end, ts_ns);
	end_struct();

	printf("\n}\n");
}

static int first_const = 1;

static void constant(const char *name, unsigned long long value)
{
	printf("%s\n  \"%s\": %llu", first_const ? "" : ",", name, value);
	first_const = 0;
}

#define C(name) constant(#name, (unsigned long long)(name))

static void print_constants(void)
{
	printf("{");
	C(VIGIL_WIRE_VERSION);
	C(VIGIL_NGRAM_MAX);
	C(VIGIL_PATH_MAX);
	C(VIGIL_ARGV_MAX);
	C(VIGIL_COMM_LEN);
	C(VIGIL_UNIX_PATH_MAX);
	C(VIGIL_AUTO_INSTANCE_BIT);
	C(VIGIL_SYSCALL_LIMIT);
	C(VIGIL_SYS_INVALID);
	C(VIGIL_SYS_COMPAT);
	C(VIGIL_OPEN_FROM_IO_URING);
	C(VIGIL_EV_EXEC);
	C(VIGIL_EV_EXIT);
	C(VIGIL_EV_FORK);
	C(VIGIL_EV_OPEN);
	C(VIGIL_EV_NET);
	C(VIGIL_EV_PRIV);
	C(VIGIL_EV_CHDIR);
	C(VIGIL_F_TRACKED);
	C(VIGIL_F_AUTO_MATCHED);
	C(VIGIL_F_TRUNCATED);
	C(VIGIL_F_STR_UNREADABLE);
	C(VIGIL_F_COMPAT);
	C(VIGIL_NET_CONNECT);
	C(VIGIL_NET_ACCEPT);
	C(VIGIL_NET_BIND);
	C(VIGIL_NET_LISTEN);
	C(VIGIL_DROP_NGRAM_MAP_FULL);
	C(VIGIL_DROP_FLOW_MAP_FULL);
	C(VIGIL_DROP_RINGBUF_FULL);
	C(VIGIL_DROP_STRING_UNREADABLE);
	C(VIGIL_DROP_TASK_STORAGE);
	C(VIGIL_DROP__COUNT);
	C(VIGIL_FRAME_EVENT);
	C(VIGIL_FRAME_NGRAMS);
	C(VIGIL_FRAME_FLOWS);
	C(VIGIL_FRAME_STATS);
	C(VIGIL_FRAME_JSON);
	C(VIGIL_FRAME_DRAIN_END);
	printf("\n}\n");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "constants") == 0)
		print_constants();
	else if (argc > 1) {
		fprintf(stderr, "usage: %s [constants]\n", argv[0]);
		return 2;
	} else
		print_layout();
	return 0;
}
