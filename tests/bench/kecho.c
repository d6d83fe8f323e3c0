/*
 * kecho.c: the Linux side's echo server for tests/bench/run.sh, on kernel sockets.
 *
 * rf-echo's counterpart: every byte a connection sends comes back, in order; the peer's FIN
 * is answered with ours once everything before it was echoed. One thread, non-blocking
 * sockets with TCP_NODELAY, level-triggered epoll, sleeping in epoll_wait as an ordinary
 * Linux server does. A connection whose echo cannot be written at once keeps the rest and
 * stops reading until it is flushed (backpressure, bounded memory).
 *
 *   kecho [--port P] [--duration S]
 *
 * Prints "listening" once it accepts, and at the stop (SIGINT/SIGTERM or --duration) one
 * JSON line: {"connections":N,"echoed_bytes":N}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ (64 * 1024)
#define EVENTS 256
#define MAX_FD (1 << 20)

struct conn {
	char *pend;      /* bytes read but not yet written back */
	uint32_t pend_off, pend_len;
	int eof;         /* the peer's FIN arrived */
};

static volatile sig_atomic_t stop_signal;
static struct conn *conns;
static int ep;
static uint64_t n_conns, echoed;

static void
on_signal(int sig)
{
	(void)sig;
	stop_signal = 1;
}

static void
arm(int fd, uint32_t events, int op)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};

	epoll_ctl(ep, op, fd, &ev);
}

static void
drop(int fd)
{
	free(conns[fd].pend);
	memset(&conns[fd], 0, sizeof(conns[fd]));
	close(fd);
}

/* Writes what is pending; returns 1 when all is out, 0 when some is left, -1 on error. */
static int
flush(int fd)
{
	struct conn *c = &conns[fd];

	while (c->pend_len > 0) {
		ssize_t w = send(fd, c->pend + c->pend_off, c->pend_len, MSG_NOSIGNAL);

		if (w < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		echoed += (uint64_t)w;
		c->pend_off += (uint32_t)w;
		c->pend_len -= (uint32_t)w;
	}
	return 1;
}

static void
serve(int fd, uint32_t events, char *buf)
{
	struct conn *c = &conns[fd];
	ssize_t n;
	int r;

	if (c->pend_len > 0) { /* waiting for room to write */
		r = flush(fd);
		if (r < 0)
			goto gone;
		if (r == 0)
			return;
		if (c->eof)
			goto gone;
		arm(fd, EPOLLIN, EPOLL_CTL_MOD);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = recv(fd, buf, BUFSZ, 0);
	if (n == 0)
		goto gone; /* FIN after everything echoed: close, our FIN follows */
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		goto gone;
	}
	c->pend = c->pend ? c->pend : malloc(BUFSZ);
	if (c->pend == NULL)
		goto gone;
	memcpy(c->pend, buf, (size_t)n);
	c->pend_off = 0;
	c->pend_len = (uint32_t)n;
	r = flush(fd);
	if (r < 0)
		goto gone;
	if (r == 0)
		arm(fd, EPOLLOUT, EPOLL_CTL_MOD); /* stop reading until flushed */
	return;
gone:
	drop(fd);
}

int
main(int argc, char **argv)
{
	static char buf[BUFSZ];
	struct epoll_event ev[EVENTS];
	struct sockaddr_in a = {.sin_family = AF_INET};
	double duration = 0;
	int port = 7, one = 1, lfd, i;
	struct timespec t0, t;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--duration") == 0)
			duration = strtod(argv[i + 1], NULL);
		else
			break;
	}
	if (i != argc) {
		fprintf(stderr, "usage: kecho [--port P] [--duration S]\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	conns = calloc(MAX_FD, sizeof(*conns));
	a.sin_port = htons((uint16_t)port);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (conns == NULL || lfd < 0 || ep < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 4096) < 0) {
		perror("kecho: start-up");
		return 1;
	}
	arm(lfd, EPOLLIN, EPOLL_CTL_ADD);
	printf("listening\n");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop_signal) {
		int n = epoll_wait(ep, ev, EVENTS, 200), k;

		if (duration > 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > duration)
				break;
		}
		for (k = 0; k < n; k++) {
			int fd = ev[k].data.fd;

			if (fd != lfd) {
				serve(fd, ev[k].events, buf);
				continue;
			}
			for (;;) {
				int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (cfd < 0)
					break;
				if (cfd >= MAX_FD) {
					close(cfd);
					continue;
				}
				setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				n_conns++;
				arm(cfd, EPOLLIN, EPOLL_CTL_ADD);
			}
		}
	}
	printf("{\"connections\":%llu,\"echoed_bytes\":%llu}\n", (unsigned long long)n_conns,
	       (unsigned long long)echoed);
	return 0;
}
