/*
 * common.c: the life of a rawflow program, from start-up to the exit code.
 *
 * Start: rf_loop_create() gets the whole argv (rawflow splits off the EAL part itself) and the
 * struct rf_config that options.c filled. SIGINT and SIGTERM then stop the loop; the handler
 * only calls rf_loop_stop(), which is async-signal-safe, and is installed with SA_RESETHAND so
 * that a second Ctrl-C kills a program that does not stop.
 *
 * Run: the loop's poll hook (once per pass, i.e. millions of times a second when idle) does a
 * single comparison of the TSC clock against the next precomputed deadline: the end of
 * --duration or the next live status line, whichever comes first. The program's own poll hook,
 * if any, runs before that.
 *
 * Stop: the program's stop hook closes what it owns, a bounded number of passes lets those
 * completions run, then report.c prints the counters and writes the stats file, and the loop
 * is destroyed.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define NS_PER_S 1000000000ull
/* Live status period. */
#define STATUS_PERIOD_NS NS_PER_S
/* After the stop hook: passes to run at least, and how long to wait at most for flows to go. */
#define DRAIN_MIN_PASSES 16
#define DRAIN_MAX_NS (200ull * 1000 * 1000)
/* rf_app_wait_links(): how long a program that connects out waits for its links at most. */
#define LINK_WAIT_NS (5ull * 1000 * 1000 * 1000)

/*
 * The loop a signal stops. A signal handler can reach nothing else, so this is the one
 * process-wide variable of the apps; it is set while rf_loop_run() may be running.
 */
static struct rf_loop *volatile signal_loop;
/* SIGINT and SIGTERM received so far (--hold waits for the next one). */
static volatile sig_atomic_t signals;

static void
on_signal(int sig)
{
	struct rf_loop *l = signal_loop;

	(void)sig;
	signals++;
	if (l != NULL)
		rf_loop_stop(l);
}

static void
set_signals(void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = handler == SIG_DFL ? 0 : SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void
rf_app_init(struct rf_app *app, const struct rf_app_spec *spec, void *arg)
{
	memset(app, 0, sizeof(*app));
	app->spec = spec;
	app->arg = arg;
	app->port = spec->default_port;
}

void
rf_app_fatal(struct rf_app *app, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", app->spec->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (app->loop != NULL) {
		signal_loop = NULL;
		set_signals(SIG_DFL);
		rf_loop_destroy(app->loop);
		app->loop = NULL;
	}
	exit(1);
}

void *
rf_app_accept(struct rf_flow *f, size_t size, uint64_t *accepted, uint64_t *reset)
{
	void *c;

	(*accepted)++;
	c = calloc(1, size);
	if (c == NULL) {
		(*reset)++;
		rf_flow_abort(f);
		return NULL;
	}
	rf_flow_set_data(f, c);
	return c;
}

void
rf_app_start(struct rf_app *app)
{
	/* rawflow printed the cause already. */
	if (rf_loop_create(&app->loop, app->argc, app->argv, &app->cfg) < 0)
		exit(1);
	/* --cores: each core writes its own stats file, FILE.coreN */
	if (app->cfg.cores > 1 && app->stats_path != NULL && strcmp(app->stats_path, "-") != 0) {
		static char path[4096];

		snprintf(path, sizeof(path), "%s.core%u", app->stats_path, rf_loop_core(app->loop));
		app->stats_path = path;
	}
	signal_loop = app->loop;
	set_signals(on_signal);
}

void
rf_app_wait_links(struct rf_app *app)
{
	uint64_t end = rf_now_ns() + LINK_WAIT_NS;

	while (!rf_loop_links_up(app->loop)) {
		if (rf_now_ns() >= end) {
			fprintf(stderr, "%s: a link is still down after %.0f s; starting anyway\n",
				app->spec->name, (double)LINK_WAIT_NS / NS_PER_S);
			return;
		}
		rf_loop_run_once(app->loop);
	}
}

static double
gbit_per_s(uint64_t bytes, uint64_t ns)
{
	return ns == 0 ? 0.0 : (double)bytes * 8.0 / (double)ns;
}

/* One line: flows open, payload rates and retransmissions over the last period, then the
 * program's own field. */
static void
print_status(struct rf_app *app, uint64_t now)
{
	struct rf_stats st;
	uint64_t dt = now - app->last_ns;
	char extra[128] = "";

	rf_loop_stats(app->loop, &st);
	if (app->spec->status != NULL)
		app->spec->status(extra, sizeof(extra), (double)dt / NS_PER_S, app->arg);
	fprintf(stderr, "%s: %6.1f s | flows %" PRIu64 " | rx %.3f Gbit/s | tx %.3f Gbit/s"
		" | retx %" PRIu64 "%s%s\n",
		app->spec->name, (double)(now - app->start_ns) / NS_PER_S, st.flows_open,
		gbit_per_s(st.rx_payload_bytes - app->last.rx_payload_bytes, dt),
		gbit_per_s(st.tx_payload_bytes - app->last.tx_payload_bytes, dt),
		st.tx_retransmits - app->last.tx_retransmits, extra[0] ? " | " : "", extra);
	app->last = st;
	app->last_ns = now;
}

static void
schedule(struct rf_app *app)
{
	app->next_event_ns = app->quiet || app->next_status_ns > app->end_ns ? app->end_ns
									      : app->next_status_ns;
}

static void
on_poll(struct rf_loop *l, void *arg)
{
	struct rf_app *app = arg;
	uint64_t now;

	if (app->spec->poll != NULL)
		app->spec->poll(l, app->arg);
	now = rf_loop_now_ns(l);
	if (now < app->next_event_ns || app->stopping)
		return;
	if (now >= app->end_ns) {
		rf_loop_stop(l);
		app->stopping = true;
		return;
	}
	if (!app->quiet && now >= app->next_status_ns) {
		print_status(app, now);
		/* Next whole period; skip periods missed by a long pass instead of bursting. */
		app->next_status_ns += STATUS_PERIOD_NS;
		if (app->next_status_ns <= now)
			app->next_status_ns = now + STATUS_PERIOD_NS;
	}
	schedule(app);
}

/*
 * --hold: once the run ended (by itself, or on a first SIGINT/SIGTERM), the ports stay open
 * (a memif link stays up) but nothing polls them until the next SIGINT or SIGTERM. DPDK
 * 22.11's memif PMD can crash a process that polls its end of the link while the peer leaves
 * (docs/devices.md), so a test lets the peer leave during the hold. The signals are blocked
 * but for sigsuspend(), so one cannot slip in between test and wait.
 */
static void
hold(const struct rf_app *app)
{
	sig_atomic_t seen;
	sigset_t stop, old;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, &old);
	seen = signals;
	set_signals(on_signal); /* SA_RESETHAND removed it if a signal ended the run */
	fprintf(stderr, "%s: holding the ports open, not polling, until SIGINT or SIGTERM\n",
		app->spec->name);
	while (signals == seen)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Lets the completions of what the stop hook closed or aborted run, within bounds. */
static void
drain(struct rf_app *app)
{
	uint64_t deadline = rf_now_ns() + DRAIN_MAX_NS;
	struct rf_stats st;
	unsigned int pass;

	for (pass = 0;; pass++) {
		rf_loop_run_once(app->loop);
		if (pass < DRAIN_MIN_PASSES)
			continue;
		rf_loop_stats(app->loop, &st);
		if (st.flows_open == 0 || rf_now_ns() >= deadline)
			break;
	}
}

int
rf_app_run(struct rf_app *app)
{
	struct rf_stats st;
	double elapsed;
	int rc;

	app->start_ns = rf_now_ns();
	app->last_ns = app->start_ns;
	rf_loop_stats(app->loop, &app->last);
	app->end_ns = app->duration_s > 0
			      ? app->start_ns + (uint64_t)(app->duration_s * (double)NS_PER_S)
			      : UINT64_MAX;
	app->next_status_ns = app->start_ns + STATUS_PERIOD_NS;
	schedule(app);
	rf_loop_set_poll(app->loop, on_poll, app);

	rf_loop_run(app->loop);
	elapsed = (double)(rf_now_ns() - app->start_ns) / NS_PER_S;
	app->stopping = true;

	if (app->spec->stop != NULL)
		app->spec->stop(app->arg);
	drain(app);

	rf_loop_stats(app->loop, &st);
	rc = rf_app__report(app, &st, elapsed) < 0 ? 1 : 0;

	signal_loop = NULL;
	if (app->hold)
		hold(app);
	set_signals(SIG_DFL);
	rf_loop_destroy(app->loop);
	app->loop = NULL;
	return rc;
}
