/*
 * flowtest: rawflow's FLOW-contract scenarios, one per sub-command (see flowtest.h).
 *
 *   flowtest SCENARIO [--port N] [--bytes N]
 *   flowtest --list
 *
 * No EAL arguments: the loop starts with the embedded default (net_tap rf0 in the current
 * network namespace, stack 198.18.0.2/24, kernel side 198.18.0.1/24). tests/flow/run.sh
 * runs it in a fresh namespace next to its peer.
 *
 * This file is the harness: argument parsing, the poll hook (deadline, leak check, verdict)
 * and the re-entrancy guard. Connections are in conn.c, scenarios in scenarios_*.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "flowtest.h"

#define FT_DEFAULT_PORT 5001
/* After ft_done(): the figures must hold this many passes in a row ... */
#define FT_QUIET_PASSES 16
/* ... within this time (the last ACKs of LAST-ACK, buffers the NIC still holds). */
#define FT_LEAK_GRACE_NS (5ull * 1000000000ull)

int ft_in_api;
static struct ft the_ft;

struct ft *
ft_cur(void)
{
	return &the_ft;
}

const char *
ft_status(int status)
{
	switch (status) {
	case RF_OK:
		return "RF_OK";
	case RF_EOF:
		return "RF_EOF";
#define FT__NAME(name, msg) \
	case RF_##name: \
		return "RF_" #name;
		RF_ERRNO_MAP(FT__NAME)
#undef FT__NAME
	}
	return "(unknown status)";
}

double
ft_elapsed_s(const struct ft *t)
{
	return (double)(rf_now_ns() - t->start_ns) / 1e9;
}

static void
vsay(struct ft *t, FILE *out, const char *tag, const char *fmt, va_list ap)
{
	fprintf(out, "%s [%7.3f s] %s", t->sc != NULL ? t->sc->name : "flowtest",
		t->start_ns != 0 ? ft_elapsed_s(t) : 0.0, tag);
	vfprintf(out, fmt, ap);
	fputc('\n', out);
	fflush(out);
}

void
ft_note(struct ft *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(t, stdout, "", fmt, ap);
	va_end(ap);
}

bool
ft_check(struct ft *t, bool cond, const char *fmt, ...)
{
	va_list ap;

	if (cond)
		return true;
	t->failures++;
	va_start(ap, fmt);
	vsay(t, stdout, "check failed: ", fmt, ap);
	va_end(ap);
	return false;
}

/* Prints the one verdict line and stops the loop. */
static void
verdict(struct ft *t, const char *why)
{
	struct rf_stats st;

	if (t->over)
		return;
	t->over = true;
	rf_loop_stats(t->l, &st);
	printf("%s %s: %s%s%s; mbufs_in_use=%" PRIu64 " mbufs_idle=%" PRIu64 " flows_open=%" PRIu64
	       " tcp_pcbs_in_use=%" PRIu64 " tcp_pcbs_time_wait=%" PRIu64 " (%.2f s)\n",
	       t->failures == 0 ? "PASS" : "FAIL", t->sc->name,
	       t->summary[0] != '\0' ? t->summary : t->sc->rule, why[0] != '\0' ? "; " : "", why,
	       st.mbufs_in_use, st.mbufs_idle, st.flows_open, st.tcp_pcbs_in_use,
	       st.tcp_pcbs_time_wait, ft_elapsed_s(t));
	if (t->failures != 0)
		printf("  more figures: rx_pkts=%" PRIu64 " tx_pkts=%" PRIu64 " tx_drops=%" PRIu64
		       " rx_missed=%" PRIu64 " rx_nombuf=%" PRIu64 " rx_dropped=%" PRIu64
		       " rx_bad_cksum=%" PRIu64 " tx_retransmits=%" PRIu64 " alloc_failures=%" PRIu64
		       " rx_payload_bytes=%" PRIu64 " tx_payload_bytes=%" PRIu64
		       " tx_copied_bytes=%" PRIu64 "\n",
		       st.rx_pkts, st.tx_pkts, st.tx_drops, st.rx_missed, st.rx_nombuf, st.rx_dropped,
		       st.rx_bad_cksum, st.tx_retransmits, st.alloc_failures, st.rx_payload_bytes,
		       st.tx_payload_bytes, st.tx_copied_bytes);
	fflush(stdout);
	rf_loop_stop(t->l);
}

void
ft_fatal(struct ft *t, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (t->over)
		return;
	t->failures++;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	verdict(t, why);
}

bool
ft_cb_enter(const char *what)
{
	if (ft_in_api != 0)
		ft_check(&the_ft, false, "%s ran inside a call into rawflow (a re-entrant completion)",
			 what);
	/* after the verdict (rf_loop_destroy cancels what is left) callbacks do nothing */
	return !the_ft.over;
}

void
ft_done(struct ft *t)
{
	if (t->done)
		return;
	t->done = true;
	t->done_ns = rf_now_ns();
}

static bool
no_leak(struct ft *t, struct rf_stats *st)
{
	rf_loop_stats(t->l, st);
	/* rawflow.h: with every flow closed, mbufs_in_use <= mbufs_idle (a PMD may hold one RX
	 * buffer less in its ring than at start-up) */
	return st->mbufs_in_use <= st->mbufs_idle && st->flows_open == 0 &&
	       st->tcp_pcbs_in_use == st->tcp_pcbs_time_wait;
}

static void
on_poll(struct rf_loop *l, void *arg)
{
	struct ft *t = arg;
	struct rf_stats st;
	uint64_t now;

	(void)l;
	if (t->over)
		return;
	now = rf_now_ns();
	if (!t->done) {
		if (t->sc->poll != NULL)
			t->sc->poll(t);
		if (!t->done && !t->over && now > t->deadline_ns) {
			char pending[512] = "";
			char why[640];

			t->sc->pending(t, pending, sizeof(pending));
			snprintf(why, sizeof(why), "deadline of %.0f s passed; still pending: %s",
				 t->sc->timeout_s, pending);
			t->failures++;
			verdict(t, why);
		}
		return;
	}
	if (no_leak(t, &st)) {
		if (++t->quiet_passes < FT_QUIET_PASSES)
			return;
		if (t->sc->final != NULL)
			t->sc->final(t);
		verdict(t, "");
		return;
	}
	t->quiet_passes = 0;
	if (now - t->done_ns > FT_LEAK_GRACE_NS) {
		char why[256];

		snprintf(why, sizeof(why),
			 "leak %.0f s after the last flow closed: mbufs_in_use - mbufs_idle = %" PRId64
			 ", flows_open = %" PRIu64 ", pcbs outside TIME-WAIT = %" PRId64,
			 (double)FT_LEAK_GRACE_NS / 1e9,
			 (int64_t)(st.mbufs_in_use - st.mbufs_idle), st.flows_open,
			 (int64_t)(st.tcp_pcbs_in_use - st.tcp_pcbs_time_wait));
		t->failures++;
		verdict(t, why);
	}
}

static const struct ft_scenario *
find(const char *name)
{
	const struct ft_scenario *tables[] = {ft_data_scenarios, ft_lifecycle_scenarios,
						   ft_call_scenarios};

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (const struct ft_scenario *s = tables[i]; s->name != NULL; s++)
			if (strcmp(s->name, name) == 0)
				return s;
	return NULL;
}

static void
list(FILE *out)
{
	const struct ft_scenario *tables[] = {ft_data_scenarios, ft_lifecycle_scenarios,
						   ft_call_scenarios};

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (const struct ft_scenario *s = tables[i]; s->name != NULL; s++)
			fprintf(out, "  %-44s %s\n", s->name, s->rule);
}

static void
usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s SCENARIO [--port N] [--bytes N]\n"
		"       %s --list\n"
		"Runs one FLOW-contract scenario on rawflow's embedded default (net_tap rf0,\n"
		"198.18.0.2/24) against a peer in the same network namespace (tests/flow/run.sh\n"
		"starts both). Exit status 0 only when the scenario passes.\n"
		"  --port N   TCP port to listen on, or of the kernel peer (default %d)\n"
		"  --bytes N  bytes to transfer (scenario default otherwise)\n"
		"scenarios:\n",
		prog, prog, FT_DEFAULT_PORT);
	list(out);
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct ft *t = &the_ft;
	uint64_t port = FT_DEFAULT_PORT, bytes = 0;
	char *loop_argv[] = {argv[0], NULL};
	bool bytes_set = false;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout, argv[0]);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--list") == 0) {
		list(stdout);
		return 0;
	}
	t->sc = find(argv[1]);
	if (t->sc == NULL) {
		fprintf(stderr, "%s: no scenario \"%s\" (--list shows them)\n", argv[0], argv[1]);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], 65535, &port) != 0 || port == 0) {
				fprintf(stderr, "%s: bad --port \"%s\"\n", argv[0], argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], UINT64_MAX / 2, &bytes) != 0) {
				fprintf(stderr, "%s: bad --bytes \"%s\"\n", argv[0], argv[i]);
				return 2;
			}
			bytes_set = true;
		} else {
			fprintf(stderr, "%s: unknown argument \"%s\"\n", argv[0], argv[i]);
			usage(stderr, argv[0]);
			return 2;
		}
	}
	t->port = (uint16_t)port;
	t->bytes = bytes_set ? bytes : t->sc->default_bytes;

	/* no "--" in this argv: the embedded default */
	rc = rf_loop_create(&t->l, 1, loop_argv, NULL);
	if (rc != 0) {
		printf("FAIL %s: rf_loop_create: %s\n", t->sc->name, ft_status(rc));
		return 1;
	}
	t->start_ns = rf_now_ns();
	t->deadline_ns = t->start_ns + (uint64_t)(t->sc->timeout_s * 1e9);
	rf_loop_set_poll(t->l, on_poll, t);
	ft_note(t, "start: %s", t->sc->rule);
	rc = t->sc->start(t);
	if (rc != 0)
		ft_fatal(t, "start failed: %s", ft_status(rc));
	else
		rf_loop_run(t->l);
	rf_loop_destroy(t->l);
	return t->failures == 0 ? 0 : 1;
}
