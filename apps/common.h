/*
 * common.h: what every rawflow program shares, so that each program's main() is wiring only.
 *
 * A program describes itself once (struct rf_app_spec: name, default port, its own options,
 * hooks for the live status line and the stats file) and then goes through three phases:
 *
 *   rf_app_init(&app, &spec, arg);
 *   rf_app_parse(&app, argc, argv);   options; --help, bad options: exit before DPDK starts
 *   rf_app_start(&app);               the loop (DPDK + stack), signals; exit 1 on failure
 *   ... the program sets up its listeners / connections on app.loop ...
 *   return rf_app_run(&app);          runs until a signal or --duration, then stats, cleanup
 *
 * Options common to every program: --ip, --gw, --mac, --port, --duration, --stats, --quiet,
 * --mbufs, --copy, --impair, --pcap, --pcap-snaplen, --help. They come after "--" when DPDK
 * (EAL) arguments are given, as in every DPDK program: `rf-echo -l 0 -a 0000:01:00.0 -- --port 7`.
 *
 * Exit codes: 0 clean stop, 1 failure at run time (start-up, listen, writing the stats file),
 * 2 bad command line.
 *
 * The stats file (--stats FILE, "-" for stdout) is one JSON object: every field of struct
 * rf_stats under its own name, "program", "elapsed_s", and the keys the program adds through
 * its stats hook.
 */
#ifndef RF_APPS_COMMON_H
#define RF_APPS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rawflow.h"

struct rf_app;

/*
 * Handles the value of a program option (NULL for an option without value). Returns 0, or -1
 * after describing the problem with rf_app_opt_error() (or one of the rf_app_parse_* helpers,
 * which do that themselves); the program then exits with code 2.
 */
typedef int(rf_app_opt_cb)(struct rf_app *app, const char *value, void *arg);

/* One program-specific option; a table of them ends with an entry whose name is NULL. */
struct rf_app_option {
	const char *name;     /* long name without "--" */
	const char *value;    /* name of the value in --help ("BYTES"); NULL: takes no value */
	const char *help;     /* one line for --help */
	rf_app_opt_cb *handler;
};

/* Writes the program's own field of the live status line (a few words, no newline) into buf.
 * interval_s is the time since the previous status line, for rates. */
typedef void(rf_app_status_cb)(char *buf, size_t len, double interval_s, void *arg);
/* Adds program-specific keys to obj (json_object_set_new ...); they go to the stats file and
 * are printed at exit. Keys that clash with struct rf_stats' names are ignored. */
typedef void(rf_app_stats_cb)(json_t *obj, void *arg);
/* Called after the loop stopped, before the final stats: close listeners, abort or close the
 * remaining flows. The loop then runs a few more passes so those completions can happen. */
typedef void(rf_app_stop_cb)(void *arg);

struct rf_app_spec {
	const char *name;     /* "rf-echo": the prefix of every message */
	const char *summary;  /* one line for --help */
	uint16_t default_port;
	const struct rf_app_option *options; /* NULL or a NULL-name-terminated table */
	rf_poll_cb *poll;     /* optional: runs every loop pass (the loop's own poll hook is
				 taken by this module) */
	rf_app_status_cb *status;  /* optional */
	rf_app_stats_cb *stats;    /* optional */
	rf_app_stop_cb *stop;      /* optional */
};

struct rf_app {
	/* Results of rf_app_parse() / rf_app_start(); programs read them. */
	struct rf_loop *loop;
	struct rf_config cfg;
	uint16_t port;
	double duration_s;      /* 0: until SIGINT / SIGTERM */
	const char *stats_path; /* NULL: no stats file */
	bool quiet;

	/* private to apps/common*.c */
	const struct rf_app_spec *spec;
	void *arg;
	int argc;
	char **argv;
	const char *opt_name;  /* the option being parsed, for messages */
	char err[256];
	uint32_t ip_be;        /* --ip, parsed, for checking --gw against it */
	unsigned int prefix_len;
	const char *gw_text;
	uint32_t gw_be;
	uint64_t start_ns;
	uint64_t end_ns;       /* --duration deadline, UINT64_MAX without one */
	uint64_t next_status_ns;
	uint64_t next_event_ns; /* min(end_ns, next_status_ns): the only test per loop pass */
	uint64_t last_ns;
	struct rf_stats last;
	bool stopping;
	bool hold;             /* --hold */
};

/* Prepares app for spec; arg is passed to every option handler and hook. */
void rf_app_init(struct rf_app *app, const struct rf_app_spec *spec, void *arg);
/* Parses the program's part of argv (see rf_args_first()). Prints --help and exits 0, or
 * prints one line and exits 2 on a bad option. argv is not modified. */
void rf_app_parse(struct rf_app *app, int argc, char **argv);
/* Creates the loop from the full argv (exit 1 if that fails: rawflow printed why) and
 * installs the SIGINT / SIGTERM handlers. */
void rf_app_start(struct rf_app *app);
/* For programs that connect out at start: runs the loop until every port's link is up (a
 * net_memif client's comes up once it has reached its server; a SYN sent before is lost
 * and resent only after 3 s), 5 s at most, then says so on stderr and goes on. */
void rf_app_wait_links(struct rf_app *app);
/* Runs the loop until stopped, then the stop hook, then prints the counters, writes the stats
 * file and destroys the loop. Returns the exit code for main(). */
int rf_app_run(struct rf_app *app);

/* Prints "<name>: <message>", destroys the loop if there is one and exits 1. For start-up
 * failures only (a program never exits from the data path). */
void rf_app_fatal(struct rf_app *app, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* For accept callbacks: counts the connection in *accepted and returns a zeroed record of
 * size bytes, already the flow's data; without memory the flow is reset, counted in *reset,
 * and NULL returned. */
void *rf_app_accept(struct rf_flow *f, size_t size, uint64_t *accepted, uint64_t *reset);
/* A bad command line (e.g. a bad combination of options), before DPDK starts: prints
 * "<name>: <message> (try --help)" and exits with status 2. */
void rf_app_usage_error(const struct rf_app *app, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* For option handlers: records why the value is bad; returns -1. */
int rf_app_opt_error(struct rf_app *app, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Decimal unsigned integer in [min, max]. 0, or -1 with the error recorded. */
int rf_app_parse_u64(struct rf_app *app, const char *s, uint64_t min, uint64_t max,
		     uint64_t *out);
/* Like rf_app_parse_u64, with an optional binary suffix: k/K (KiB), m/M (MiB), g/G (GiB). */
int rf_app_parse_bytes(struct rf_app *app, const char *s, uint64_t min, uint64_t max,
		       uint64_t *out);
/* Non-negative decimal number of seconds ("2", "0.5") up to max. */
int rf_app_parse_seconds(struct rf_app *app, const char *s, double max, double *out);

/* Private to apps/common*.c: prints the counters at exit and writes the stats file; 0, or -1
 * after a message if the file could not be written. */
int rf_app__report(struct rf_app *app, const struct rf_stats *st, double elapsed_s);

/* Private to apps/options*.c: the common options' table (ends with a NULL name), their
 * defaults, and the checks between them once all are parsed (NULL, or the name of the option
 * at fault with the error recorded). */
extern const struct rf_app_option rf_app_common_options[];
void rf_app_common_defaults(struct rf_app *app);
const char *rf_app_common_check(struct rf_app *app);

#endif /* RF_APPS_COMMON_H */
