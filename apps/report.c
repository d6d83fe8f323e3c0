/*
 * report.c: what a rawflow program says about its run when it stops.
 *
 * Two outputs from the same numbers (struct rf_stats after the stop, plus the keys the
 * program's stats hook adds):
 *   - a block on stderr for people: frames and drops of the ports, TCP payload and copies,
 *     buffers against their idle baseline (a leak shows as in_use > idle), flows, then the
 *     program's keys;
 *   - with --stats FILE, one JSON object for scripts: every struct rf_stats field under its C
 *     name, "program", "elapsed_s", then the program's keys.
 *
 * STATS_FIELDS lists struct rf_stats' members; the static assertion below fails to compile
 * when the struct grows without this list, so the file can never silently miss a counter.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define STATS_FIELDS(X)                                                                     \
	X(rx_payload_bytes) X(tx_payload_bytes) X(rx_copied_bytes) X(tx_copied_bytes)       \
	X(rx_segments) X(tx_segments) X(tx_retransmits) X(tx_retransmit_bytes) X(mbufs_in_use) X(mbufs_idle)        \
	X(rto_timeouts)                                                                      \
	X(alloc_failures) X(rx_pkts) X(rx_bytes) X(tx_pkts) X(tx_bytes) X(tx_drops)          \
	X(rx_missed) X(rx_nombuf) X(rx_dropped) X(rx_bad_cksum) X(flows_open)                \
	X(flows_opened) X(listeners) X(tcp_pcbs_in_use) X(tcp_pcbs_time_wait)                \
	X(accept_refused) X(busy_cycles) X(tsc_hz) X(impair_rx_dropped)                    \
	X(impair_rx_duplicated) X(impair_rx_reordered) X(impair_rx_corrupted)                \
	X(impair_rx_delayed) X(impair_rx_blackout_dropped) X(impair_tx_dropped)              \
	X(impair_tx_duplicated) X(impair_tx_reordered) X(impair_tx_corrupted)                \
	X(impair_tx_delayed) X(impair_tx_blackout_dropped) X(impair_held) X(rx_link_dropped)   \
	X(rx_ip_dropped) X(rx_tcp_dropped) X(rx_cksum_errors) X(handoff_rx) X(handoff_tx)        \
	X(handoff_dropped) X(tx_link_down) X(syn_cookies_sent) X(syn_cookies_valid)          \
	X(ooseq_pbufs) X(ooseq_dropped) X(half_open_cookies) X(acks_rate_limited)          \
	X(rx_pool_low_dropped) X(tx_queue_full)

#define COUNT_FIELD(name) +1
static_assert(sizeof(struct rf_stats) == (0 STATS_FIELDS(COUNT_FIELD)) * sizeof(uint64_t),
	      "struct rf_stats changed: update STATS_FIELDS in apps/report.c");
#undef COUNT_FIELD

static void
print_block(const struct rf_app *app, const struct rf_stats *st, double elapsed_s,
	    json_t *prog)
{
	const char *key;
	double busy_s = st->tsc_hz ? (double)st->busy_cycles / (double)st->tsc_hz : 0.0;
	json_t *v;
	char *text;

	fprintf(stderr,
		"%s: stopped after %.2f s\n"
		"  ports     rx %" PRIu64 " frames, %" PRIu64 " bytes;"
		" tx %" PRIu64 " frames, %" PRIu64 " bytes (all ports)\n"
		"  drops     tx_drops %" PRIu64 ", tx_link_down %" PRIu64 ", rx_missed %" PRIu64 ", rx_nombuf %" PRIu64
		", rx_dropped %" PRIu64 ", rx_bad_cksum %" PRIu64
		"; held back for TCP: tx_queue_full %" PRIu64 "\n"
		"  tcp       rx %" PRIu64 " segments, %" PRIu64 " payload bytes (%" PRIu64
		" copied);"
		" tx %" PRIu64 " segments, %" PRIu64 " payload bytes (%" PRIu64 " copied),"
		" %" PRIu64 " retransmitted\n"
		"  buffers   in use %" PRIu64 " (idle baseline %" PRIu64 "), alloc_failures %" PRIu64
		"\n"
		"  flows     open %" PRIu64 ", opened %" PRIu64 ", listeners %" PRIu64
		", tcp_pcbs_in_use %" PRIu64 " (%" PRIu64 " in TIME-WAIT), accept_refused %" PRIu64
		"\n"
		"  loop      busy %.3f s (%.1f%% of the run)\n",
		app->spec->name, elapsed_s, st->rx_pkts, st->rx_bytes, st->tx_pkts, st->tx_bytes,
		st->tx_drops, st->tx_link_down, st->rx_missed, st->rx_nombuf, st->rx_dropped, st->rx_bad_cksum,
		st->tx_queue_full,
		st->rx_segments, st->rx_payload_bytes, st->rx_copied_bytes, st->tx_segments,
		st->tx_payload_bytes, st->tx_copied_bytes, st->tx_retransmits, st->mbufs_in_use,
		st->mbufs_idle, st->alloc_failures, st->flows_open, st->flows_opened,
		st->listeners, st->tcp_pcbs_in_use, st->tcp_pcbs_time_wait, st->accept_refused,
		busy_s, elapsed_s > 0 ? 100.0 * busy_s / elapsed_s : 0.0);
	if (app->cfg.impair != NULL)
		fprintf(stderr,
			"  impaired  rx: dropped %" PRIu64 ", duplicated %" PRIu64
			", reordered %" PRIu64 ", corrupted %" PRIu64 ", delayed %" PRIu64
			", blackout %" PRIu64 "\n"
			"            tx: dropped %" PRIu64 ", duplicated %" PRIu64
			", reordered %" PRIu64 ", corrupted %" PRIu64 ", delayed %" PRIu64
			", blackout %" PRIu64 "; held now %" PRIu64 "\n",
			st->impair_rx_dropped, st->impair_rx_duplicated, st->impair_rx_reordered,
			st->impair_rx_corrupted, st->impair_rx_delayed,
			st->impair_rx_blackout_dropped, st->impair_tx_dropped,
			st->impair_tx_duplicated, st->impair_tx_reordered, st->impair_tx_corrupted,
			st->impair_tx_delayed, st->impair_tx_blackout_dropped, st->impair_held);
	if (json_object_size(prog) == 0)
		return;
	fprintf(stderr, "  %-9s", app->spec->name);
	json_object_foreach(prog, key, v) {
		text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		fprintf(stderr, " %s %s", key, text ? text : "?");
		free(text);
	}
	fputc('\n', stderr);
}

static int
write_file(const struct rf_app *app, json_t *root)
{
	const char *path = app->stats_path;
	bool to_stdout = strcmp(path, "-") == 0;
	FILE *f = to_stdout ? stdout : fopen(path, "w");
	int err;

	if (f == NULL)
		goto fail;
	/* Reals with 12 significant digits: "6.003", not "6.0030000000000001". */
	if (json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) < 0 ||
	    fputc('\n', f) == EOF)
		goto fail_close;
	if (to_stdout ? fflush(f) != 0 : fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	return 0;
fail_close:
	err = errno;
	if (!to_stdout)
		fclose(f);
	errno = err;
fail:
	fprintf(stderr, "%s: --stats: cannot write \"%s\": %s\n", app->spec->name, path,
		strerror(errno));
	return -1;
}

int
rf_app__report(struct rf_app *app, const struct rf_stats *st, double elapsed_s)
{
	json_t *root = json_object();
	json_t *prog = json_object();
	const char *key;
	json_t *v;
	void *tmp;
	int rc = 0;

	if (root == NULL || prog == NULL) {
		fprintf(stderr, "%s: out of memory for the stats\n", app->spec->name);
		json_decref(root);
		json_decref(prog);
		return -1;
	}
	json_object_set_new(root, "program", json_string(app->spec->name));
	/* Milliseconds are all a run length needs; no float noise in the file. */
	json_object_set_new(root, "elapsed_s",
			    json_real((double)(uint64_t)(elapsed_s * 1000.0 + 0.5) / 1000.0));
#define SET_FIELD(name) json_object_set_new(root, #name, json_integer((json_int_t)st->name));
	STATS_FIELDS(SET_FIELD)
#undef SET_FIELD

	if (app->spec->stats != NULL)
		app->spec->stats(prog, app->arg);
	json_object_foreach_safe(prog, tmp, key, v) {
		if (json_object_get(root, key) == NULL) {
			json_object_set(root, key, v);
		} else {
			fprintf(stderr, "%s: stats key \"%s\" of the program clashes, ignored\n",
				app->spec->name, key);
			json_object_del(prog, key);
		}
	}

	print_block(app, st, elapsed_s, prog);
	if (app->stats_path != NULL)
		rc = write_file(app, root);
	json_decref(prog);
	json_decref(root);
	return rc;
}
