/*
 * kload.c: the Linux side's load generator for tests/bench/run.sh, on kernel sockets.
 *
 * It is rf-load's counterpart over the kernel's TCP, so that both systems are driven by C
 * programs that do the same thing and report the same figures under the same JSON keys
 * (requests, duration_s, rps, p50_us, p90_us, p99_us, p999_us, errors, ...). The latency
 * histogram is rf-load's own (apps/histogram.c, compiled in), so percentiles are computed
 * identically on both sides.
 *
 * A request is --size bytes sent on a connection; its response is the next --size bytes that
 * come back (an echo server's reply). Three ways to drive the load, as in rf-load:
 *   closed loop (default): each of --conns connections keeps --depth requests in flight, every
 *     response sends the next request;
 *   --rate R, open loop: R requests/s in all on a fixed schedule, round-robin over the
 *     connections, at most --depth (default 64) in flight per connection; latency runs from
 *     the scheduled send time (no coordinated omission). The schedule starts once every
 *     connection is established;
 *   --idle N (with any of these): first opens N more connections (64 connecting at a time)
 *     that stay open and send nothing during the run (the concurrency-cost scenario); the
 *     JSON says how many were established ("idle"). With --conns 0 there is no load: the
 *     program opens the idle connections, prints {"idle":N} and holds them until SIGINT,
 *     SIGTERM or --duration (a holder that load runs can come and go next to); --idle-ports P
 *     spreads them over P consecutive server ports from --to's, --idle-wait S gives up
 *     opening after S seconds (60);
 *   --short-flows: per slot, connect, send one request, read the response, shut down our
 *     side, wait for the server's FIN, close, and start again. Latency runs from the connect
 *     to the response's last byte; requests/s is connections/s. Waiting for the server's FIN
 *     mirrors rf-load, whose close completes when the peer's FIN has arrived.
 *
 * One thread, non-blocking sockets with TCP_NODELAY, level-triggered epoll. The closed loop
 * sleeps in epoll_wait as an ordinary Linux program does; the open loop sleeps until the next
 * slot with epoll_pwait2's nanosecond timeout. The measured time starts with the first
 * established connection (the schedule's start with --rate) and ends at the stop: --duration,
 * --requests answered, or SIGINT/SIGTERM.
 *
 * Output: one JSON line on stdout. Exit status 0 when requests were answered, 1 when none
 * were, 2 on a bad command line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#include "histogram.h"

#define MAX_CONNS 65536
#define MAX_SIZE (1u << 20)
#define RATE_DEPTH 64        /* default --depth with --rate, as rf-load */
#define RETRY_NS 100000000ull /* a failed slot connects again after 100 ms */
#define SENDS_PER_PASS 256   /* scheduled sends per loop pass at most (--rate) */
#define RXBUF (64 * 1024)
#define EVENTS 256

enum state { IDLE, CONNECTING, OPEN, DRAINING /* short flow: our FIN sent, awaiting theirs */ };

struct conn {
	int fd;
	enum state state;
	uint64_t *sent;    /* ring of send (or schedule) times of the requests in flight */
	unsigned int head; /* oldest request in flight */
	unsigned int count;
	uint64_t rx;       /* bytes received toward the oldest response */
	uint64_t out_left; /* request bytes queued but not yet written */
	uint32_t out_off;  /* where in the message the next write starts */
	int want_out;      /* EPOLLOUT is registered */
	uint64_t t_connect;
	uint64_t retry_at;
};

struct load {
	struct sockaddr_in to;
	unsigned int conns, depth, size;
	uint64_t max_requests;
	double duration, rate;
	int short_flows;
	int ep;
	struct conn *c;
	char *msg;
	struct rf_hist hist;
	uint64_t requests, connect_errors, resets, other_errors, lost, connections;
	uint64_t start_ns, end_ns, deadline_ns;
	uint64_t sched_k, sched_t0; /* open loop: the next slot is t0 + k / rate */
	unsigned int rr, established;
	unsigned int idle, idle_open, idle_ports;
	double idle_wait;
	int running;
};

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	(void)sig;
	stop_signal = 1;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: kload --to A.B.C.D:PORT [--conns N] [--size BYTES] [--depth D]\n"
		"             [--duration S] [--requests N] [--rate R] [--short-flows] [--idle N]\n"
		"             [--idle-ports P] [--idle-wait S]\n"
		"Kernel-socket load generator for echo servers (tests/bench); prints one JSON\n"
		"line with rf-load's keys.\n");
}

static int
parse_args(struct load *ld, int argc, char **argv)
{
	int i, have_to = 0, depth_set = 0;

	ld->conns = 1;
	ld->size = 64;
	ld->depth = 1;
	ld->idle_ports = 1;
	ld->idle_wait = 60;
	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(o, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(o, "--short-flows") == 0) {
			ld->short_flows = 1;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "kload: %s needs a value (or is unknown)\n", o);
			return -1;
		}
		i++;
		if (strcmp(o, "--to") == 0) {
			char host[64];
			const char *colon = strrchr(v, ':');

			if (colon == NULL || (size_t)(colon - v) >= sizeof(host)) {
				fprintf(stderr, "kload: --to: expected A.B.C.D:PORT\n");
				return -1;
			}
			memcpy(host, v, (size_t)(colon - v));
			host[colon - v] = '\0';
			ld->to.sin_family = AF_INET;
			ld->to.sin_port = htons((uint16_t)atoi(colon + 1));
			if (inet_pton(AF_INET, host, &ld->to.sin_addr) != 1) {
				fprintf(stderr, "kload: --to: bad address %s\n", host);
				return -1;
			}
			have_to = 1;
		} else if (strcmp(o, "--conns") == 0) {
			ld->conns = (unsigned int)strtoul(v, NULL, 10);
		} else if (strcmp(o, "--size") == 0) {
			ld->size = (unsigned int)strtoul(v, NULL, 10);
		} else if (strcmp(o, "--depth") == 0) {
			ld->depth = (unsigned int)strtoul(v, NULL, 10);
			depth_set = 1;
		} else if (strcmp(o, "--duration") == 0) {
			ld->duration = strtod(v, NULL);
		} else if (strcmp(o, "--requests") == 0) {
			ld->max_requests = strtoull(v, NULL, 10);
		} else if (strcmp(o, "--rate") == 0) {
			ld->rate = strtod(v, NULL);
		} else if (strcmp(o, "--idle") == 0) {
			ld->idle = (unsigned int)strtoul(v, NULL, 10);
		} else if (strcmp(o, "--idle-ports") == 0) {
			ld->idle_ports = (unsigned int)strtoul(v, NULL, 10);
		} else if (strcmp(o, "--idle-wait") == 0) {
			ld->idle_wait = strtod(v, NULL);
		} else {
			fprintf(stderr, "kload: unknown option %s\n", o);
			return -1;
		}
	}
	if (ld->rate > 0 && !depth_set)
		ld->depth = RATE_DEPTH;
	if (!have_to || (ld->conns < 1 && ld->idle == 0) || ld->conns > MAX_CONNS || ld->size < 1 ||
	    ld->size > MAX_SIZE || ld->depth < 1 || ld->depth > 1024 || ld->idle_ports < 1 || ld->idle_wait <= 0 ||
	    ntohs(ld->to.sin_port) + ld->idle_ports - 1 > 65535 ||
	    (ld->short_flows && ld->depth != 1) || (ld->short_flows && ld->rate > 0) ||
	    (ld->duration <= 0 && ld->max_requests == 0)) {
		fprintf(stderr, "kload: bad or missing options (--to, ranges, a stop condition; "
				"--short-flows is closed-loop with depth 1)\n");
		return -1;
	}
	return 0;
}

static void
set_events(struct load *ld, struct conn *c, int op)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - ld->c)};

	if (c->state == CONNECTING || c->out_left > 0)
		ev.events |= EPOLLOUT;
	c->want_out = (ev.events & EPOLLOUT) != 0;
	if (epoll_ctl(ld->ep, op, c->fd, &ev) < 0) {
		perror("kload: epoll_ctl");
		exit(1);
	}
}

/* Writes what is queued; returns -1 on a connection error. */
static int
flush_out(struct load *ld, struct conn *c)
{
	while (c->out_left > 0) {
		uint64_t n = ld->size - c->out_off;
		ssize_t w;

		if (n > c->out_left)
			n = c->out_left;
		w = send(c->fd, ld->msg + c->out_off, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		c->out_left -= (uint64_t)w;
		c->out_off = (uint32_t)((c->out_off + (uint64_t)w) % ld->size);
	}
	if ((c->out_left > 0) != c->want_out)
		set_events(ld, c, EPOLL_CTL_MOD);
	return 0;
}

static int
send_request(struct load *ld, struct conn *c, uint64_t t)
{
	c->sent[(c->head + c->count) % ld->depth] = t;
	c->count++;
	c->out_left += ld->size;
	return flush_out(ld, c);
}

static void start_conn(struct load *ld, struct conn *c, uint64_t now);

/* The flow of c ended (error or a short flow's clean close). */
static void
end_conn(struct load *ld, struct conn *c, uint64_t now, int failed)
{
	if (c->fd >= 0) {
		if (failed) { /* as rf-load: a failed flow is reset */
			struct linger l = {.l_onoff = 1, .l_linger = 0};

			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(c->fd); /* also removes it from the epoll set */
	}
	if (c->state == OPEN || c->state == DRAINING)
		ld->established--;
	ld->lost += c->count;
	c->fd = -1;
	c->state = IDLE;
	c->count = c->head = 0;
	c->rx = c->out_left = 0;
	c->out_off = 0;
	c->retry_at = failed ? now + RETRY_NS : now;
	if (!failed && ld->running)
		start_conn(ld, c, now);
}

static void
fail(struct load *ld, struct conn *c, uint64_t now, int err, int connecting)
{
	static int said[3];
	int kind = connecting ? 0 : (err == ECONNRESET || err == EPIPE) ? 1 : 2;

	if (!said[kind]) {
		fprintf(stderr, "kload: %s: %s\n",
			kind == 0 ? "connect failed" : kind == 1 ? "reset" : "error",
			err ? strerror(err) : "server closed with requests unanswered");
		said[kind] = 1;
	}
	if (kind == 0)
		ld->connect_errors++;
	else if (kind == 1)
		ld->resets++;
	else
		ld->other_errors++;
	end_conn(ld, c, now, 1);
}

static void
start_conn(struct load *ld, struct conn *c, uint64_t now)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		perror("kload: socket");
		exit(1);
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->t_connect = now;
	c->state = CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&ld->to, sizeof(ld->to)) < 0 &&
	    errno != EINPROGRESS) {
		int err = errno;

		c->fd = (close(c->fd), -1);
		fail(ld, c, now, err, 1);
		return;
	}
	set_events(ld, c, EPOLL_CTL_ADD);
}

static void
stop_now(struct load *ld, uint64_t now)
{
	if (!ld->running)
		return;
	ld->running = 0;
	ld->end_ns = now;
}

static void
connected(struct load *ld, struct conn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);
	unsigned int i;

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err != 0) {
		fail(ld, c, now, err, 1);
		return;
	}
	c->state = OPEN;
	ld->connections++;
	ld->established++;
	if (ld->start_ns == 0 && ld->rate <= 0) {
		ld->start_ns = now;
		if (ld->duration > 0)
			ld->deadline_ns = now + (uint64_t)(ld->duration * 1e9);
	}
	set_events(ld, c, EPOLL_CTL_MOD);
	if (ld->short_flows) {
		if (send_request(ld, c, c->t_connect) < 0)
			fail(ld, c, now, errno, 0);
	} else if (ld->rate <= 0) {
		for (i = 0; i < ld->depth; i++)
			if (send_request(ld, c, now) < 0) {
				fail(ld, c, now, errno, 0);
				return;
			}
	} else if (ld->start_ns == 0 && ld->established == ld->conns) {
		ld->start_ns = ld->sched_t0 = now;
		if (ld->duration > 0)
			ld->deadline_ns = now + (uint64_t)(ld->duration * 1e9);
	}
}

static void
readable(struct load *ld, struct conn *c, uint64_t now, char *buf)
{
	for (;;) {
		ssize_t n = recv(c->fd, buf, RXBUF, 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fail(ld, c, now, errno, 0);
			return;
		}
		if (n == 0) {
			if (c->state == DRAINING && c->count == 0)
				end_conn(ld, c, now, 0);
			else
				fail(ld, c, now, 0, 0);
			return;
		}
		c->rx += (uint64_t)n;
		while (c->rx >= ld->size && c->count > 0) {
			uint64_t t = c->sent[c->head], lat = now > t ? now - t : 0;

			c->head = (c->head + 1) % ld->depth;
			c->count--;
			c->rx -= ld->size;
			if (!ld->running || ld->start_ns == 0)
				continue;
			rf_hist_record(&ld->hist, lat);
			ld->requests++;
			if (ld->max_requests && ld->requests >= ld->max_requests) {
				stop_now(ld, now);
				continue;
			}
			if (ld->short_flows) {
				shutdown(c->fd, SHUT_WR);
				c->state = DRAINING;
			} else if (ld->rate <= 0 && send_request(ld, c, now) < 0) {
				fail(ld, c, now, errno, 0);
				return;
			}
		}
		if (c->rx > 0 && c->count == 0) {
			fail(ld, c, now, EPROTO, 0); /* more came back than was sent */
			return;
		}
		if (n < RXBUF)
			return;
	}
}

/* Open loop: sends what the schedule says is due. Returns ns until the next slot. */
static int64_t
schedule(struct load *ld, uint64_t now)
{
	unsigned int sends = 0, tried;

	if (ld->start_ns == 0)
		return -1;
	for (;;) {
		uint64_t slot = ld->sched_t0 + (uint64_t)((double)ld->sched_k * 1e9 / ld->rate);
		struct conn *c = NULL;

		if (slot > now)
			return (int64_t)(slot - now);
		if (sends++ == SENDS_PER_PASS)
			return 0;
		for (tried = 0; tried < ld->conns; tried++) {
			struct conn *x = &ld->c[ld->rr];

			ld->rr = (ld->rr + 1) % ld->conns;
			if (x->state == OPEN && x->count < ld->depth) {
				c = x;
				break;
			}
		}
		if (c == NULL)
			return 0; /* every connection at its cap: behind schedule, catch up later */
		ld->sched_k++;
		if (send_request(ld, c, slot) < 0)
			fail(ld, c, now, errno, 0);
	}
}

/* --idle: N connections opened IDLE_BATCH at a time (no SYN burst of N), all within
 * --idle-wait seconds (60); connection i goes to --to's port + i mod --idle-ports (a client
 * address has at most 64,511 local ports per server port, a server process as many
 * connections as its file limit). The sockets stay open, unread and unwritten, until exit. */
#define IDLE_BATCH 64
static int
open_idle(struct load *ld)
{
	struct epoll_event ev[IDLE_BATCH];
	unsigned int started = 0, pending = 0, failed = 0;
	uint64_t deadline = now_ns() + (uint64_t)(ld->idle_wait * 1e9);
	struct sockaddr_in to = ld->to;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return -1;
	while ((started < ld->idle || pending > 0) && !stop_signal && now_ns() < deadline) {
		int n, k;

		while (started < ld->idle && pending < IDLE_BATCH) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			struct epoll_event e = {.events = EPOLLOUT};

			if (fd < 0) {
				perror("kload: --idle: socket (ulimit -n?)");
				close(ep);
				return -1;
			}
			to.sin_port = htons((uint16_t)(ntohs(ld->to.sin_port) + started % ld->idle_ports));
			started++;
			if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 &&
			    errno != EINPROGRESS) {
				close(fd);
				failed++;
				continue;
			}
			e.data.fd = fd;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
			pending++;
		}
		n = epoll_wait(ep, ev, IDLE_BATCH, 100);
		for (k = 0; k < n; k++) {
			int fd = ev[k].data.fd, err = 0;
			socklen_t len = sizeof(err);

			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			pending--;
			if (err != 0) {
				close(fd);
				failed++;
			} else {
				ld->idle_open++;
			}
		}
	}
	close(ep); /* connects still pending stay open too; they are not counted */
	if (failed)
		fprintf(stderr, "kload: --idle: %u of %u connects failed\n", failed, ld->idle);
	return 0;
}

static void
print_result(struct load *ld)
{
	uint64_t end = ld->end_ns ? ld->end_ns : now_ns();
	double dur = ld->start_ns ? (double)(end - ld->start_ns) / 1e9 : 0;

	printf("{\"requests\":%llu,\"duration_s\":%.6f,\"rps\":%.3f,\"p50_us\":%.3f,"
	       "\"p90_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"errors\":%llu,\"conns\":%u,"
	       "\"size\":%u,\"depth\":%u,\"mean_us\":%.3f,\"max_us\":%.3f,"
	       "\"connect_errors\":%llu,\"resets\":%llu,\"other_errors\":%llu,\"lost\":%llu,"
	       "\"connections\":%llu,\"rate\":%.0f,\"short_flows\":%s,\"idle\":%u}\n",
	       (unsigned long long)ld->requests, dur,
	       dur > 0 ? (double)ld->requests / dur : 0.0,
	       rf_hist_quantile(&ld->hist, 0.5) / 1e3, rf_hist_quantile(&ld->hist, 0.9) / 1e3,
	       rf_hist_quantile(&ld->hist, 0.99) / 1e3, rf_hist_quantile(&ld->hist, 0.999) / 1e3,
	       (unsigned long long)(ld->connect_errors + ld->resets + ld->other_errors), ld->conns,
	       ld->size, ld->depth, rf_hist_mean(&ld->hist) / 1e3,
	       ld->hist.total ? (double)ld->hist.max / 1e3 : 0.0,
	       (unsigned long long)ld->connect_errors, (unsigned long long)ld->resets,
	       (unsigned long long)ld->other_errors, (unsigned long long)ld->lost,
	       (unsigned long long)ld->connections, ld->rate,
	       ld->short_flows ? "true" : "false", ld->idle_open);
}

int
main(int argc, char **argv)
{
	static struct load ld;
	static char buf[RXBUF];
	struct epoll_event ev[EVENTS];
	uint64_t hard_end, now;
	unsigned int i;

	if (parse_args(&ld, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	rf_hist_reset(&ld.hist);
	ld.msg = malloc(ld.size);
	ld.c = calloc(ld.conns ? ld.conns : 1, sizeof(*ld.c));
	ld.ep = epoll_create1(EPOLL_CLOEXEC);
	if (ld.msg == NULL || ld.c == NULL || ld.ep < 0) {
		perror("kload: start-up");
		return 1;
	}
	memset(ld.msg, 'x', ld.size);
	if (open_idle(&ld) < 0)
		return 1;
	if (ld.conns == 0) { /* hold: the idle connections stay until the stop */
		uint64_t end = now_ns() + (uint64_t)((ld.duration > 0 ? ld.duration : 600) * 1e9);

		printf("{\"idle\":%u}\n", ld.idle_open);
		fflush(stdout);
		while (!stop_signal && now_ns() < end)
			usleep(100000);
		return ld.idle_open > 0 ? 0 : 1;
	}
	ld.running = 1;
	now = now_ns();
	/* A bound on everything, whatever happens to the connections. */
	hard_end = now + (uint64_t)((ld.duration > 0 ? ld.duration : 600) * 1e9) + 30000000000ull;
	for (i = 0; i < ld.conns; i++) {
		ld.c[i].fd = -1;
		ld.c[i].sent = calloc(ld.depth, sizeof(uint64_t));
		if (ld.c[i].sent == NULL) {
			perror("kload: calloc");
			return 1;
		}
		start_conn(&ld, &ld.c[i], now);
	}
	while (ld.running) {
		int n, k;
		int64_t wait_ns = -1;
		struct timespec ts, *tsp = NULL;

		if (stop_signal || now >= hard_end || (ld.deadline_ns && now >= ld.deadline_ns)) {
			stop_now(&ld, now);
			break;
		}
		if (ld.rate > 0)
			wait_ns = schedule(&ld, now);
		for (i = 0; i < ld.conns; i++) { /* slots waiting to retry */
			struct conn *c = &ld.c[i];

			if (c->state == IDLE && c->fd < 0) {
				if (c->retry_at <= now)
					start_conn(&ld, c, now);
				else if (wait_ns < 0 || (int64_t)(c->retry_at - now) < wait_ns)
					wait_ns = (int64_t)(c->retry_at - now);
			}
		}
		if (ld.deadline_ns) {
			int64_t d = (int64_t)(ld.deadline_ns - now);

			if (wait_ns < 0 || d < wait_ns)
				wait_ns = d > 0 ? d : 0;
		} else if (wait_ns < 0) {
			wait_ns = 100000000; /* wake to check the signal and the bound */
		}
		ts.tv_sec = wait_ns / 1000000000;
		ts.tv_nsec = wait_ns % 1000000000;
		tsp = &ts;
		n = epoll_pwait2(ld.ep, ev, EVENTS, tsp, NULL);
		now = now_ns();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("kload: epoll_pwait2");
			return 1;
		}
		for (k = 0; k < n && ld.running; k++) {
			struct conn *c = &ld.c[ev[k].data.u32];

			if (c->fd < 0)
				continue;
			if (c->state == CONNECTING) {
				connected(&ld, c, now);
				continue;
			}
			if ((ev[k].events & EPOLLOUT) && flush_out(&ld, c) < 0) {
				fail(&ld, c, now, errno, 0);
				continue;
			}
			if (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				readable(&ld, c, now, buf);
		}
	}
	print_result(&ld);
	for (i = 0; i < ld.conns; i++)
		if (ld.c[i].fd >= 0)
			close(ld.c[i].fd);
	return ld.requests > 0 ? 0 : 1;
}
