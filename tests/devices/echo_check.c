/*
 * echo_check: the rawflow side of the device suite's echo integrity check, for links where
 * the peer is another rawflow process (net_memif, net_vhost + net_virtio_user).
 *
 *   echo_check [EAL options --] --ip A.B.C.D/len --to A.B.C.D[:PORT] [--bytes N]
 *              [--timeout S] [--inflight N] [--linger S] [--hold] [--mtu N]
 *              [--impair SPEC] [--pcap FILE [--pcap-snaplen N]]
 *
 * It connects to an echo server (rf-echo), writes --bytes bytes of a deterministic pattern,
 * half-closes (rf_flow_close: FIN after the data, reads go on), reads everything back and
 * checks it: byte for byte against the pattern (so a mismatch has an offset) and as SHA-256
 * of what was sent and what came back. The check ends when the close completes, that is
 * when the server's FIN has arrived after all of its data: a clean close both ways. Then the
 * loop runs on for --linger seconds (see LINGER_S), no flow may be open, and once the loop
 * is destroyed (the port closed) every packet buffer must be back in the pool. With --hold the
 * port stays open (the link up) but is no longer polled until SIGINT or SIGTERM, after a line
 * "echo_check: holding" on stderr: the server can leave first, which DPDK 22.11's memif server
 * needs (it can crash inside its PMD when a client leaves while it polls: docs/devices.md),
 * and the client must not poll then either: the same PMD crashed echo_check (status 139)
 * when the server left while the client's loop polled its end of the link (1 run in about
 * 60 of the faults suite's memif leg on 2026-11-25).
 *
 * Output: one JSON line on stdout with the figures; exit 0 when everything held, 1 when a
 * check failed or the deadline passed (the "error" key says what), 2 for a bad command line.
 *
 * Start-up: the link may not carry frames yet when the first SYN leaves (a memif or vhost
 * peer still connecting), and the server may not listen yet; lwIP resends the SYN, and a
 * connect that fails is tried again every 0.5 s until the deadline.
 *
 * Built on rawflow.h alone (and libsodium for SHA-256).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "rawflow.h"

#define NS_PER_S 1000000000ull
#define RETRY_NS (NS_PER_S / 2)
/* Default --linger: how long the loop keeps running after the close before the leak check
 * and the exit. Our last ACK (of the server's FIN) must be read by the server before this
 * process takes its end of the link down: frames still on a memif or virtio ring when the
 * link goes are lost, and a server that misses that ACK stays in LAST-ACK. Running the loop
 * also keeps our TIME-WAIT answering a FIN the server sends again. */
#define LINGER_S 1.0

struct check {
	struct rf_loop *l;
	struct rf_addr to;
	uint16_t port;
	uint64_t bytes, inflight_max;
	double linger_s;
	bool hold;
	uint64_t deadline_ns, next_connect_ns;
	unsigned int connects;
	struct rf_flow *f;
	bool connected, connecting;
	uint64_t start_ns, end_ns;
	/* sending */
	uint64_t queued;   /* bytes handed to rf_flow_write */
	uint64_t written;  /* bytes whose write completed RF_OK */
	bool close_called;
	crypto_hash_sha256_state tx_sha;
	/* receiving */
	uint64_t received;
	uint64_t first_bad; /* offset of the first byte that differs from the pattern */
	bool mismatch, eof;
	crypto_hash_sha256_state rx_sha;
	/* end */
	bool closed;
	int close_status;
	bool over;
	char error[256];
};

static struct check ck;

/* ---- the pattern ------------------------------------------------------------------------ */

/* Byte i of the stream is byte (i mod 8) of splitmix64(i / 8): no period a misplaced
 * segment could hide in, and any offset can be computed on its own. */
static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void
pattern(uint8_t *out, uint64_t off, uint32_t len)
{
	uint64_t w = splitmix64(off >> 3);

	for (uint32_t i = 0; i < len; i++, off++) {
		if ((off & 7) == 0)
			w = splitmix64(off >> 3);
		out[i] = (uint8_t)(w >> (8 * (off & 7)));
	}
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list ap;

	if (ck.error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(ck.error, sizeof(ck.error), fmt, ap);
		va_end(ap);
	}
	ck.over = true;
	rf_loop_stop(ck.l);
}

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);
static void pump(void);

static void
finish_if_done(void)
{
	if (ck.closed && ck.eof) {
		ck.end_ns = rf_now_ns();
		ck.over = true;
		rf_loop_stop(ck.l);
	}
}

/* ---- reading ------------------------------------------------------------------------------ */

static void
check_bytes(const uint8_t *data, uint32_t len)
{
	uint8_t want[4096];

	crypto_hash_sha256_update(&ck.rx_sha, data, len);
	for (uint32_t done = 0; done < len && !ck.mismatch;) {
		uint32_t n = len - done < sizeof(want) ? len - done : (uint32_t)sizeof(want);

		pattern(want, ck.received + done, n);
		if (memcmp(want, data + done, n) != 0) {
			for (uint32_t i = 0; i < n; i++)
				if (want[i] != data[done + i]) {
					ck.first_bad = ck.received + done + i;
					break;
				}
			ck.mismatch = true;
		}
		done += n;
	}
	ck.received += len;
}

static void
start_read(struct rf_flow *f)
{
	int rc = rf_flow_read(f, on_read, NULL);

	if (rc != 0)
		fail("rf_flow_read: %s", rf_error_message(rc));
}

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	(void)arg;
	if (status == RF_OK) {
		check_bytes(b->data, b->len);
		rf_buf_release(b);
		if (ck.received > ck.bytes) {
			fail("the echo sent %" PRIu64 " bytes, more than the %" PRIu64 " sent",
			     ck.received, ck.bytes);
			return;
		}
		start_read(f);
	} else if (status == RF_EOF) {
		ck.eof = true;
		finish_if_done();
	} else {
		fail("read after %" PRIu64 " bytes: %s", ck.received, rf_error_message(status));
	}
}

/* ---- writing ------------------------------------------------------------------------------ */

static void
on_closed(struct rf_flow *f, int status, void *arg)
{
	(void)f, (void)arg;
	ck.closed = true;
	ck.close_status = status;
	ck.f = NULL; /* freed when this returns */
	if (status != RF_OK) {
		fail("close: %s", rf_error_message(status));
		return;
	}
	finish_if_done();
}

static void
on_written(struct rf_flow *f, int status, void *arg)
{
	uint32_t len = (uint32_t)(uintptr_t)arg;

	(void)f;
	if (status != RF_OK) {
		fail("write after %" PRIu64 " bytes: %s", ck.written, rf_error_message(status));
		return;
	}
	ck.written += len;
	pump();
}

/* Queues pattern buffers while fewer than inflight_max bytes wait for their completion;
 * closes once everything is queued. A pool that is empty for the moment is retried from the
 * poll callback. */
static void
pump(void)
{
	uint32_t max = rf_buf_max();

	if (ck.over || !ck.connected || ck.f == NULL)
		return;
	while (ck.queued < ck.bytes && ck.queued - ck.written < ck.inflight_max) {
		uint64_t left = ck.bytes - ck.queued;
		uint32_t len = left < max ? (uint32_t)left : max;
		struct rf_buf *b = rf_buf_alloc(ck.l, len);
		int rc;

		if (b == NULL)
			return;
		pattern(b->data, ck.queued, len);
		crypto_hash_sha256_update(&ck.tx_sha, b->data, len);
		ck.queued += len;
		rc = rf_flow_write(ck.f, b, on_written, (void *)(uintptr_t)len);
		if (rc != 0) {
			fail("rf_flow_write at %" PRIu64 ": %s", ck.queued - len, rf_error_message(rc));
			return;
		}
	}
	if (ck.queued == ck.bytes && !ck.close_called) {
		int rc = rf_flow_close(ck.f, on_closed, NULL);

		ck.close_called = true;
		if (rc != 0)
			fail("rf_flow_close: %s", rf_error_message(rc));
	}
}

/* ---- connecting --------------------------------------------------------------------------- */

static void
on_connected(struct rf_flow *f, int status, void *arg)
{
	(void)arg;
	ck.connecting = false;
	if (ck.over) /* aborted after the deadline: the verdict is written already */
		return;
	if (status != RF_OK) {
		/* f is freed when this returns; try again shortly (link or listener not up yet) */
		ck.f = NULL;
		ck.next_connect_ns = rf_now_ns() + RETRY_NS;
		snprintf(ck.error, sizeof(ck.error), "connect: %s", rf_error_message(status));
		return;
	}
	ck.error[0] = '\0';
	ck.connected = true;
	ck.start_ns = rf_now_ns();
	start_read(f);
	pump();
}

static void
try_connect(void)
{
	int rc;

	ck.connects++;
	ck.connecting = true;
	rc = rf_connect(ck.l, &ck.to, ck.port, on_connected, NULL, &ck.f);
	if (rc != 0) {
		ck.connecting = false;
		ck.f = NULL;
		ck.next_connect_ns = rf_now_ns() + RETRY_NS;
		snprintf(ck.error, sizeof(ck.error), "rf_connect: %s", rf_error_message(rc));
	}
}

static void
on_poll(struct rf_loop *l, void *arg)
{
	uint64_t now = rf_now_ns();

	(void)l, (void)arg;
	if (ck.over)
		return;
	if (now >= ck.deadline_ns) {
		char last[sizeof(ck.error)];

		snprintf(last, sizeof(last), "%s", ck.error);
		ck.error[0] = '\0';
		if (!ck.connected)
			fail("not connected before the deadline after %u attempts (last: %s)",
			     ck.connects, last[0] ? last : "SYN unanswered");
		else
			fail("deadline: queued %" PRIu64 ", written %" PRIu64 ", received %" PRIu64
			     " of %" PRIu64 " bytes; eof %s, close %s",
			     ck.queued, ck.written, ck.received, ck.bytes, ck.eof ? "yes" : "no",
			     ck.closed ? "done" : (ck.close_called ? "pending" : "not started"));
		return;
	}
	if (!ck.connected && !ck.connecting && now >= ck.next_connect_ns)
		try_connect();
	else if (ck.connected)
		pump();
}

/* ---- command line and report -------------------------------------------------------------- */

static void
usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [EAL options --] --ip A.B.C.D/len --to A.B.C.D[:PORT] [--bytes N]\n"
		"          [--timeout S] [--inflight N] [--linger S] [--hold] [--mtu N]\n"
		"          [--impair SPEC] [--pcap FILE [--pcap-snaplen N]]\n"
		"  --bytes     bytes to send and read back (default 32 MiB; k, m suffixes)\n"
		"  --timeout   seconds for the whole check (default 60)\n"
		"  --inflight  bytes written but not yet in TCP's send queue (default 1m)\n"
		"  --linger    seconds the loop runs on after the close (default 1)\n"
		"  --hold      then keep the link up, unpolled, until SIGINT/SIGTERM (the peer\n"
		"              leaves first)\n"
		"  --mtu       the port's MTU (struct rf_config's mtu; default the device's)\n"
		"  --impair    a seeded bad wire on the port (as rf-echo's --impair; docs/apps.md)\n"
		"  --pcap      capture every frame, both ways, into FILE (pcapng; as rf-echo's)\n"
		"  --pcap-snaplen  bytes kept of each captured frame (default: all)\n",
		prog);
}

static bool
parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return false;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	else if (*end == 'g' || *end == 'G')
		v <<= 30, end++;
	*out = v;
	return *end == '\0';
}

static void
hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static volatile sig_atomic_t signalled;

/* Frames the impairment layer acted on, both ways (0 without --impair). */
static uint64_t
impaired(const struct rf_stats *st)
{
	return st->impair_rx_dropped + st->impair_rx_duplicated + st->impair_rx_reordered +
	       st->impair_rx_corrupted + st->impair_tx_dropped + st->impair_tx_duplicated +
	       st->impair_tx_reordered + st->impair_tx_corrupted;
}

static void
on_signal(int sig)
{
	(void)sig;
	signalled = 1;
	if (ck.l != NULL)
		rf_loop_stop(ck.l);
}

int
main(int argc, char **argv)
{
	struct rf_config cfg = {0};
	struct rf_stats st;
	const char *to = NULL;
	double timeout_s = 60;
	uint8_t tx_d[32], rx_d[32];
	char tx_hex[65], rx_hex[65];
	double secs;
	unsigned int left;
	bool ok;
	int rc;

	ck.bytes = 32ull << 20;
	ck.inflight_max = 1ull << 20;
	ck.linger_s = LINGER_S;
	for (int i = rf_args_first(argc, argv); i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(o, "--hold") == 0) {
			ck.hold = true;
			continue;
		}
		if (strcmp(o, "--help") == 0) {
			usage(stdout, argv[0]);
			return 0;
		}
		if (v == NULL) {
			fprintf(stderr, "%s: %s needs a value (try --help)\n", argv[0], o);
			return 2;
		}
		i++;
		if (strcmp(o, "--ip") == 0) {
			cfg.ip = v;
		} else if (strcmp(o, "--to") == 0) {
			to = v;
		} else if (strcmp(o, "--bytes") == 0) {
			if (!parse_size(v, &ck.bytes) || ck.bytes == 0) {
				fprintf(stderr, "%s: --bytes: bad size \"%s\"\n", argv[0], v);
				return 2;
			}
		} else if (strcmp(o, "--inflight") == 0) {
			if (!parse_size(v, &ck.inflight_max) || ck.inflight_max == 0) {
				fprintf(stderr, "%s: --inflight: bad size \"%s\"\n", argv[0], v);
				return 2;
			}
		} else if (strcmp(o, "--linger") == 0) {
			ck.linger_s = strtod(v, NULL);
			if (!(ck.linger_s >= 0)) {
				fprintf(stderr, "%s: --linger: bad number \"%s\"\n", argv[0], v);
				return 2;
			}
		} else if (strcmp(o, "--mtu") == 0) {
			cfg.mtu = (unsigned int)strtoul(v, NULL, 10);
		} else if (strcmp(o, "--impair") == 0) {
			char err[128];

			if (rf_impair_check(v, err, sizeof(err)) != 0) {
				fprintf(stderr, "%s: --impair: %s\n", argv[0], err);
				return 2;
			}
			cfg.impair = v;
		} else if (strcmp(o, "--pcap") == 0) {
			cfg.pcap = v;
		} else if (strcmp(o, "--pcap-snaplen") == 0) {
			cfg.pcap_snaplen = (unsigned int)strtoul(v, NULL, 10);
		} else if (strcmp(o, "--timeout") == 0) {
			timeout_s = strtod(v, NULL);
			if (!(timeout_s > 0)) {
				fprintf(stderr, "%s: --timeout: bad number \"%s\"\n", argv[0], v);
				return 2;
			}
		} else {
			fprintf(stderr, "%s: unknown option \"%s\" (try --help)\n", argv[0], o);
			return 2;
		}
	}
	if (to == NULL) {
		fprintf(stderr, "%s: --to is required (try --help)\n", argv[0]);
		return 2;
	} else {
		char host[64];
		const char *colon = strchr(to, ':');
		size_t n = colon ? (size_t)(colon - to) : strlen(to);
		long port = colon ? strtol(colon + 1, NULL, 10) : 7;

		snprintf(host, sizeof(host), "%.*s", (int)n, to);
		if (n >= sizeof(host) || rf_addr_parse(host, &ck.to) != 0 || port < 1 ||
		    port > 65535) {
			fprintf(stderr, "%s: --to: expected A.B.C.D[:PORT], got \"%s\"\n", argv[0], to);
			return 2;
		}
		ck.port = (uint16_t)port;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: libsodium cannot start\n", argv[0]);
		return 1;
	}
	crypto_hash_sha256_init(&ck.tx_sha);
	crypto_hash_sha256_init(&ck.rx_sha);

	rc = rf_loop_create(&ck.l, argc, argv, &cfg);
	if (rc != 0)
		return 1; /* rf_loop_create printed the cause */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ck.deadline_ns = rf_now_ns() + (uint64_t)(timeout_s * NS_PER_S);
	rf_loop_set_poll(ck.l, on_poll, NULL);
	try_connect();
	rf_loop_run(ck.l);
	if (!ck.over)
		fail("interrupted by a signal");
	if (ck.f != NULL) { /* a failure left the flow open */
		rf_flow_abort(ck.f);
		ck.f = NULL;
	}
	for (uint64_t end = rf_now_ns() + (uint64_t)(ck.linger_s * NS_PER_S); rf_now_ns() < end;)
		rf_loop_run_once(ck.l);
	if (ck.hold) {
		/* idle: no burst may run while the server's departure unmaps the link's memory */
		fprintf(stderr, "echo_check: holding\n");
		while (!signalled)
			nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	rf_loop_stats(ck.l, &st);

	crypto_hash_sha256_final(&ck.tx_sha, tx_d);
	crypto_hash_sha256_final(&ck.rx_sha, rx_d);
	hex(tx_d, tx_hex);
	hex(rx_d, rx_hex);
	if (ck.error[0] == '\0') {
		if (ck.received != ck.bytes)
			fail("read back %" PRIu64 " of %" PRIu64 " bytes", ck.received, ck.bytes);
		else if (ck.mismatch)
			fail("byte %" PRIu64 " came back different from what was sent", ck.first_bad);
		else if (memcmp(tx_d, rx_d, sizeof(tx_d)) != 0)
			fail("SHA-256 of what came back differs from what was sent");
		else if (st.flows_open != 0)
			fail("%" PRIu64 " flows still open after the close", st.flows_open);
	}
	/* The leak check: with every port closed no device ring holds a buffer, so all of them
	 * must be back in the pool. (mbufs_in_use while the loop runs may include sent frames
	 * a PMD keeps in its TX ring: net_virtio_user frees them only inside later bursts.) */
	left = rf_loop_destroy(ck.l);
	if (ck.error[0] == '\0' && left != 0)
		fail("leak: %u packet buffers not back in the pool after the port closed", left);
	ok = ck.error[0] == '\0';
	secs = ck.end_ns > ck.start_ns ? (double)(ck.end_ns - ck.start_ns) / NS_PER_S : 0;
	printf("{\"bytes\": %" PRIu64 ", \"sent\": %" PRIu64 ", \"received\": %" PRIu64
	       ", \"match\": %s, \"sha256_tx\": \"%s\", \"sha256_rx\": \"%s\", \"seconds\": %.6f"
	       ", \"mbit_s\": %.1f, \"connects\": %u, \"close\": \"%s\", \"mbufs_in_use\": %" PRIu64
	       ", \"mbufs_idle\": %" PRIu64 ", \"flows_open\": %" PRIu64
	       ", \"tx_copied_bytes\": %" PRIu64 ", \"rx_copied_bytes\": %" PRIu64
	       ", \"tx_retransmit_bytes\": %" PRIu64 ", \"rx_pkts\": %" PRIu64 ", \"tx_pkts\": %" PRIu64
	       ", \"rx_dropped\": %" PRIu64 ", \"rx_bad_cksum\": %" PRIu64
	       ", \"tx_link_down\": %" PRIu64 ", \"mbufs_left_at_exit\": %u"
	       ", \"rto_timeouts\": %" PRIu64 ", \"impaired\": %" PRIu64 "%s%s%s}\n",
	       ck.bytes, ck.written, ck.received,
	       ok ? "true" : "false", tx_hex, rx_hex, secs,
	       secs > 0 ? 8.0 * (double)ck.bytes / secs / 1e6 : 0.0, ck.connects,
	       ck.closed ? rf_error_message(ck.close_status) : "not completed", st.mbufs_in_use,
	       st.mbufs_idle, st.flows_open, st.tx_copied_bytes, st.rx_copied_bytes,
	       st.tx_retransmit_bytes, st.rx_pkts, st.tx_pkts, st.rx_dropped, st.rx_bad_cksum,
	       st.tx_link_down, left, st.rto_timeouts, impaired(&st),
	       ok ? "" : ", \"error\": \"",
	       ok ? "" : ck.error, ok ? "" : "\"");
	fflush(stdout);
	return ok ? 0 : 1;
}
