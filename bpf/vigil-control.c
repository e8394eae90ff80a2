// SPDX-License-Identifier: Apache-2.0
/*
 * vigil-control: the sensor's control socket, with the kernel's word for who is asking.
 *
 * Node cannot read SO_PEERCRED, so this small process owns the Unix socket and hands each
 * request line to its parent together with the peer's pid, uid and gid as the kernel recorded
 * them at connect(2). The parent answers on stdin; answers go back to that connection.
 *
 *   vigil-control PATH [GID]
 *     PATH  socket path (its directory must exist; a stale socket there is replaced)
 *     GID   if given, the socket is root:GID 0660, so members of that group may connect;
 *           otherwise it is 0600 and only its owner may.
 *
 * stdout, one line each:  "ready"  |  "R <conn> <pid> <uid> <gid> <request line>"
 * stdin, one line each:   "<conn> <answer line>"
 * A request line longer than MAX_LINE gets an error answer here and the connection is closed;
 * one holding a control byte (below 0x20, or DEL) is answered with an error and not forwarded,
 * so a peer cannot end its line early for the parent and forge a prefix with another uid.
 * EOF on stdin stops the process and removes the socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 128
#define MAX_LINE (64 * 1024)

struct client {
	int fd;
	uint64_t id;
	struct ucred cred;
	size_t len;
	char *buf;
};

static struct client clients[MAX_CLIENTS];
static uint64_t next_id = 1;
static char in_buf[1 << 20]; /* answers: root's status names every instance */
static size_t in_len;
static int in_skip; /* discarding the rest of an overlong answer line */

static void drop(struct client *c)
{
	close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void accept_one(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		close(fd);
		return;
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd >= 0)
			continue;
		clients[i].buf = malloc(MAX_LINE + 1);
		if (!clients[i].buf)
			break;
		clients[i].fd = fd;
		clients[i].id = next_id++;
		clients[i].cred = cred;
		clients[i].len = 0;
		return;
	}
	static const char busy[] = "{\"ok\":false,\"code\":\"VIGIL_ERR_BUSY\","
				   "\"error\":\"too many control connections; retry\"}\n";
	(void)!write(fd, busy, sizeof(busy) - 1);
	close(fd);
}

/* Reads what the client sent; forwards each complete line. Returns 0 to keep the client. */
static int read_client(struct client *c)
{
	ssize_t n = read(c->fd, c->buf + c->len, MAX_LINE + 1 - c->len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n < 0)
		return 0;
	c->len += (size_t)n;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (!nl)
			break;
		*nl = 0;
		int clean = 1;
		for (char *p = c->buf; p < nl; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				clean = 0;
		if (clean) {
			dprintf(STDOUT_FILENO, "R %llu %d %u %u %s\n", (unsigned long long)c->id,
				(int)c->cred.pid, c->cred.uid, c->cred.gid, c->buf);
		} else {
			static const char bad[] = "{\"ok\":false,\"code\":\"VIGIL_ERR_USAGE\","
						  "\"error\":\"request holds a control character\"}\n";
			if (write_all(c->fd, bad, sizeof(bad) - 1) != 0)
				return -1;
		}
		size_t used = (size_t)(nl - c->buf) + 1;
		memmove(c->buf, nl + 1, c->len - used);
		c->len -= used;
	}
	if (c->len > MAX_LINE) {
		static const char big[] = "{\"ok\":false,\"code\":\"VIGIL_ERR_USAGE\","
					  "\"error\":\"request too large\"}\n";
		(void)!write(c->fd, big, sizeof(big) - 1);
		return -1;
	}
	return 0;
}

/* Routes each complete "<conn> <answer>" line from the parent to its connection. */
static int read_parent(void)
{
	ssize_t n = read(STDIN_FILENO, in_buf + in_len, sizeof(in_buf) - in_len);
	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	in_len += (size_t)n;
	for (;;) {
		char *nl = memchr(in_buf, '\n', in_len);
		if (!nl)
			break;
		char *sp = memchr(in_buf, ' ', (size_t)(nl - in_buf));
		if (in_skip) {
			in_skip = 0; /* the tail of a line already discarded */
		} else if (sp) {
			uint64_t id = strtoull(in_buf, NULL, 10);
			for (int i = 0; i < MAX_CLIENTS; i++) {
				if (clients[i].fd >= 0 && clients[i].id == id) {
					/* Answers are short; a peer that does not read is dropped. */
					if (write_all(clients[i].fd, sp + 1, (size_t)(nl - sp)) != 0)
						drop(&clients[i]);
					break;
				}
			}
		}
		size_t used = (size_t)(nl - in_buf) + 1;
		memmove(in_buf, nl + 1, in_len - used);
		in_len -= used;
	}
	if (in_len == sizeof(in_buf)) {
		in_len = 0; /* a line longer than any answer: discard it, up to its newline */
		in_skip = 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: vigil-control PATH [GID]\n");
		return 2;
	}
	const char *path = argv[1];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "vigil-control: socket path too long: %s\n", path);
		return 2;
	}
	strcpy(addr.sun_path, path);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;

	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0) {
		perror("vigil-control: socket");
		return 1;
	}
	unlink(path); /* a stale socket from a sensor that did not stop cleanly */
	mode_t old = umask(0177);
	int rc = bind(lfd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc != 0 || listen(lfd, 64) != 0) {
		fprintf(stderr, "vigil-control: cannot listen on %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (argc == 3) {
		char *end;
		long gid = strtol(argv[2], &end, 10);
		if (*end || gid < 0 || chown(path, (uid_t)-1, (gid_t)gid) != 0 || chmod(path, 0660) != 0) {
			fprintf(stderr, "vigil-control: cannot give %s to group %s: %s\n", path,
				argv[2], strerror(errno));
			unlink(path);
			return 1;
		}
	}
	dprintf(STDOUT_FILENO, "ready\n");

	struct pollfd fds[MAX_CLIENTS + 2];
	int who[MAX_CLIENTS + 2];
	for (;;) {
		int n = 0;
		fds[n] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		who[n++] = -2;
		fds[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		who[n++] = -1;
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (clients[i].fd < 0)
				continue;
			fds[n] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
			who[n++] = i;
		}
		if (poll(fds, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		int stop = 0;
		for (int k = 0; k < n; k++) {
			if (!fds[k].revents)
				continue;
			if (who[k] == -2) {
				if (read_parent() != 0)
					stop = 1;
			} else if (who[k] == -1) {
				accept_one(lfd);
			} else if (read_client(&clients[who[k]]) != 0) {
				drop(&clients[who[k]]);
			}
		}
		if (stop)
			break;
	}
	unlink(path);
	return 0;
}
