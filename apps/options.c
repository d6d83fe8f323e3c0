/*
 * options.c: the command line of every rawflow program.
 *
 * argv has two parts, as in every DPDK program: EAL options, then "--", then the program's
 * own options; without "--" everything is the program's (rawflow then starts DPDK with its
 * embedded default). rf_args_first() says where the program's part begins. This file parses
 * that part with getopt_long() on a copy (getopt permutes its array, and the untouched argv
 * goes to rf_loop_create() later), from one table made of the common options
 * (options_common.c) followed by the program's own (struct rf_app_option). The same table
 * produces --help.
 *
 * Everything is validated here, before DPDK starts: a bad value prints one line,
 * "<program>: --<option>: <what is wrong>", and the program exits with code 2.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define EXIT_USAGE 2

/* getopt_long() values: common options are COMMON_BASE + index, program options
 * PROGRAM_BASE + index (above any character). */
#define COMMON_BASE 0x100
#define PROGRAM_BASE 0x200


int
rf_app_opt_error(struct rf_app *app, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(app->err, sizeof(app->err), fmt, ap);
	va_end(ap);
	return -1;
}

int
rf_app_parse_u64(struct rf_app *app, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull() accepts leading blanks and a minus sign; a count does not. */
	if (!isdigit((unsigned char)s[0]))
		return rf_app_opt_error(app, "\"%s\" is not a number", s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return rf_app_opt_error(app, "\"%s\" is not a number", s);
	if (errno == ERANGE || v < min || v > max)
		return rf_app_opt_error(app, "%s is out of range %llu..%llu", s,
					(unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

int
rf_app_parse_bytes(struct rf_app *app, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return rf_app_opt_error(app, "\"%s\" is not a size (expected N, Nk, Nm or Ng)", s);
	errno = 0;
	v = strtoull(s, &end, 10);
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	default:
		return rf_app_opt_error(app, "\"%s\" is not a size (expected N, Nk, Nm or Ng)", s);
	}
	if (shift != 0 && end[1] != '\0')
		return rf_app_opt_error(app, "\"%s\" is not a size (expected N, Nk, Nm or Ng)", s);
	if (errno == ERANGE || v > (ULLONG_MAX >> shift) || (v << shift) < min ||
	    (v << shift) > max)
		return rf_app_opt_error(app, "%s is out of range %llu..%llu bytes", s,
					(unsigned long long)min, (unsigned long long)max);
	*out = v << shift;
	return 0;
}

int
rf_app_parse_seconds(struct rf_app *app, const char *s, double max, double *out)
{
	double v;
	char *end;

	/* Digits or a point first: no sign, blanks, "inf" or "nan". */
	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return rf_app_opt_error(app, "\"%s\" is not a number of seconds", s);
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || end == s)
		return rf_app_opt_error(app, "\"%s\" is not a number of seconds", s);
	if (errno == ERANGE || !isfinite(v) || v > max)
		return rf_app_opt_error(app, "%s is out of range 0..%.0f seconds", s, max);
	*out = v;
	return 0;
}

static unsigned int
count_options(const struct rf_app_option *o)
{
	unsigned int n = 0;

	while (o != NULL && o[n].name != NULL)
		n++;
	return n;
}

static int
help_width(const struct rf_app_option *o, int width)
{
	int w;

	for (; o != NULL && o->name != NULL; o++) {
		w = 2 + (int)strlen(o->name) + (o->value ? 1 + (int)strlen(o->value) : 0);
		if (w > width)
			width = w;
	}
	return width;
}

/* Help text column width: the text wraps at word boundaries to stay within it. */
#define HELP_COLUMNS 79

static void
help_options(FILE *out, const struct rf_app_option *o, int width)
{
	char left[128];
	const char *t;
	int room, n;

	for (; o != NULL && o->name != NULL; o++) {
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->value ? " " : "",
			 o->value ? o->value : "");
		fprintf(out, "  %-*s  ", width, left);
		room = HELP_COLUMNS - width - 4;
		if (room < 20)
			room = 20;
		for (t = o->help; *t != '\0';) {
			n = (int)strlen(t);
			if (n > room) {
				/* last blank within the room; a longer word goes out whole */
				for (n = room; n > 0 && t[n] != ' '; n--)
					;
				if (n == 0)
					n = (int)strcspn(t, " ");
			}
			fprintf(out, "%.*s\n", n, t);
			t += n;
			while (*t == ' ')
				t++;
			if (*t != '\0')
				fprintf(out, "  %-*s  ", width, "");
		}
	}
}

static void
print_help(const struct rf_app *app)
{
	const struct rf_app_spec *s = app->spec;
	int width = help_width(s->options, help_width(rf_app_common_options, 6));

	printf("Usage: %s [EAL options --] [options]\n"
	       "%s\n"
	       "Default port: %u.\n\n",
	       s->name, s->summary, s->default_port);
	if (count_options(s->options) > 0) {
		printf("Options of %s:\n", s->name);
		help_options(stdout, s->options, width);
		printf("\n");
	}
	printf("Common options:\n");
	help_options(stdout, rf_app_common_options, width);
	printf("  %-*s  %s\n\n", width, "--help", "this text");
	printf("Without EAL options: a net_tap device rf0 (no hugepages, no PCI) whose kernel\n"
	       "side gets the first other address of the subnet (198.18.0.1).\n"
	       "With EAL options (e.g. -l 0 -a 0000:01:00.0 --): the ports DPDK probes.\n"
	       "A status line every second and the counters at exit go to stderr.\n"
	       "Exit status: 0 clean stop, 1 run-time failure, 2 bad command line.\n");
}

void
rf_app_usage_error(const struct rf_app *app, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", app->spec->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(EXIT_USAGE);
}

/* A value that the option's handler rejected: "<name>: --<option>: <why>". */
static void __attribute__((noreturn))
value_error(const struct rf_app *app, const char *opt)
{
	fprintf(stderr, "%s: --%s: %s\n", app->spec->name, opt, app->err);
	exit(EXIT_USAGE);
}

/* getopt_long() said '?': find out whether the word was unknown, ambiguous or carried a value
 * it must not, so the message says which. */
static void __attribute__((noreturn))
bad_option(const struct rf_app *app, const struct option *longopts, const char *word, int optopt)
{
	const struct option *o, *match = NULL;
	size_t n;
	int matches = 0;

	if (optopt != 0 && optopt < COMMON_BASE)
		rf_app_usage_error(app, "unknown option \"-%c\"", optopt);
	if (strncmp(word, "--", 2) != 0)
		rf_app_usage_error(app, "unknown option \"%s\"", word);
	n = strcspn(word + 2, "=");
	for (o = longopts; o->name != NULL; o++) {
		if (strncmp(o->name, word + 2, n) != 0)
			continue;
		if (strlen(o->name) == n) {
			match = o;
			matches = 1;
			break;
		}
		match = o;
		matches++;
	}
	if (matches > 1)
		rf_app_usage_error(app, "ambiguous option \"%.*s\"", (int)n + 2, word);
	if (matches == 1 && match->has_arg == no_argument && word[2 + n] == '=')
		rf_app_usage_error(app, "--%s takes no value", match->name);
	rf_app_usage_error(app, "unknown option \"%.*s\"", (int)n + 2, word);
}

/* rf_app_parse's copies while it runs: here rather than on its stack, so that a usage error's
 * exit() leaves them reachable (LeakSanitizer reported them as leaks otherwise); volatile, or
 * the compiler drops stores that nothing in this file reads. */
static char **volatile parse_args;
static struct option *volatile parse_longopts;

void
rf_app_parse(struct rf_app *app, int argc, char **argv)
{
	const struct rf_app_option *prog = app->spec->options;
	unsigned int ncommon = count_options(rf_app_common_options);
	unsigned int nprog = count_options(prog);
	const struct rf_app_option *o;
	const char *o_name;
	struct option *longopts;
	char **args;
	int first, nargs, c, i;
	unsigned int j, k;

	app->argc = argc;
	app->argv = argv;
	rf_app_common_defaults(app);

	/* A program option named like a common one is a bug of the program. */
	for (j = 0; j < nprog; j++) {
		for (k = 0; k < ncommon; k++) {
			if (strcmp(prog[j].name, rf_app_common_options[k].name) == 0 ||
			    strcmp(prog[j].name, "help") == 0) {
				fprintf(stderr, "%s: option --%s defined twice\n", app->spec->name,
					prog[j].name);
				abort();
			}
		}
	}

	/* The program's part of argv, behind a program-name slot, copied: getopt permutes. */
	first = rf_args_first(argc, argv);
	if (first < 1 || first > argc)
		first = argc;
	nargs = argc - first + 1;
	args = parse_args = calloc((size_t)nargs + 1, sizeof(*args));
	longopts = parse_longopts = calloc(ncommon + nprog + 2, sizeof(*longopts));
	if (args == NULL || longopts == NULL) {
		fprintf(stderr, "%s: out of memory\n", app->spec->name);
		exit(1);
	}
	args[0] = argv[0];
	for (i = 1; i < nargs; i++)
		args[i] = argv[first + i - 1];

	for (j = 0; j < ncommon; j++) {
		o = &rf_app_common_options[j];
		longopts[j] = (struct option){o->name, o->value ? required_argument : no_argument,
					      NULL, (int)(COMMON_BASE + j)};
	}
	for (j = 0; j < nprog; j++) {
		o = &prog[j];
		longopts[ncommon + j] = (struct option){
			o->name, o->value ? required_argument : no_argument, NULL,
			(int)(PROGRAM_BASE + j)};
	}
	longopts[ncommon + nprog] = (struct option){"help", no_argument, NULL, 'h'};

	opterr = 0;
	optind = 1;
	/* "+": stop at the first non-option (reported below); ":": report a missing value. */
	while ((c = getopt_long(nargs, args, "+:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			print_help(app);
			exit(0);
		}
		if (c == ':') {
			if (optopt >= COMMON_BASE && optopt < PROGRAM_BASE)
				rf_app_usage_error(app, "--%s: missing value",
					    rf_app_common_options[optopt - COMMON_BASE].name);
			if (optopt >= PROGRAM_BASE)
				rf_app_usage_error(app, "--%s: missing value",
					    prog[optopt - PROGRAM_BASE].name);
			rf_app_usage_error(app, "-%c: missing value", optopt);
		}
		if (c == '?')
			bad_option(app, longopts, args[optind - 1], optopt);
		o = c >= PROGRAM_BASE ? &prog[c - PROGRAM_BASE] : &rf_app_common_options[c - COMMON_BASE];
		app->opt_name = o->name;
		app->err[0] = '\0';
		if (o->handler(app, optarg, c >= PROGRAM_BASE ? app->arg : NULL) < 0) {
			if (app->err[0] == '\0')
				rf_app_opt_error(app, "invalid value \"%s\"",
						 optarg ? optarg : "");
			value_error(app, o->name);
		}
	}
	if (optind < nargs)
		rf_app_usage_error(app, "unexpected argument \"%s\"", args[optind]);
	app->opt_name = NULL;
	o_name = rf_app_common_check(app);
	if (o_name != NULL)
		value_error(app, o_name);
	free(longopts);
	free(args);
	parse_longopts = NULL;
	parse_args = NULL;
}
