/*
 * options.c: the command line of every rawflow program.
 *
 * argv has two parts, as in every DPDK program: EAL options, then "--", then the program's
 * own options; without "--" everything is the program's (rawflow then starts DPDK with its
 * embedded default). rf_args_first() says where the program's part begins. This file parses
 * that part with getopt_long() on a copy (getopt permutes its array, and the untouched argv
 * goes to rf_loop_create() later), from one table made of the common options followed by the
 * program's own (struct rf_app_option). The same table produces --help.
 *
 * Everything is validated here, before DPDK starts: a bad value prints one line,
 * "<program>: --<option>: <what is wrong>", and the program exits with code 2.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define EXIT_USAGE 2

/* Defaults shown in --help; the stack applies the same ones when a field is left NULL / 0. */
#define DEFAULT_IP "198.18.0.2/24"
/* Bounds that catch typos; not limits of the stack. */
#define MAX_MBUFS (64u * 1024 * 1024)
#define MAX_FLOWS (64u * 1024 * 1024)
#define MAX_DURATION_S (365.0 * 24 * 3600)
/* --pcap-snaplen: an Ethernet + IPv6 + TCP header at least; pcapng's customary maximum. */
#define MIN_SNAPLEN 64
#define MAX_SNAPLEN 262144

/* getopt_long() values: common options are COMMON_BASE + index, program options
 * PROGRAM_BASE + index (above any character). */
#define COMMON_BASE 0x100
#define PROGRAM_BASE 0x200

static int opt_ip(struct rf_app *app, const char *v, void *arg);
static int opt_gw(struct rf_app *app, const char *v, void *arg);
static int opt_ip6(struct rf_app *app, const char *v, void *arg);
static int opt_mac(struct rf_app *app, const char *v, void *arg);
static int opt_port(struct rf_app *app, const char *v, void *arg);
static int opt_duration(struct rf_app *app, const char *v, void *arg);
static int opt_stats(struct rf_app *app, const char *v, void *arg);
static int opt_quiet(struct rf_app *app, const char *v, void *arg);
static int opt_mbufs(struct rf_app *app, const char *v, void *arg);
static int opt_max_flows(struct rf_app *app, const char *v, void *arg);
static int opt_cores(struct rf_app *app, const char *v, void *arg);
static int opt_copy(struct rf_app *app, const char *v, void *arg);
static int opt_impair(struct rf_app *app, const char *v, void *arg);
static int opt_pcap(struct rf_app *app, const char *v, void *arg);
static int opt_pcap_snaplen(struct rf_app *app, const char *v, void *arg);
static int opt_isn_seed(struct rf_app *app, const char *v, void *arg);
static int opt_mtu(struct rf_app *app, const char *v, void *arg);

/* --help is handled by the parser itself and listed last in the help text. */
static const struct rf_app_option common_options[] = {
	{"ip", "A.B.C.D/len", "address and prefix length of the stack (default " DEFAULT_IP ")",
	 opt_ip},
	{"gw", "A.B.C.D", "default gateway, inside the --ip subnet (default: none)", opt_gw},
	{"ip6", "ADDR/64",
	 "IPv6 address of the stack, prefix 64 (default 2001:2::2/64 on the embedded default, "
	 "else none)",
	 opt_ip6},
	{"mac", "aa:bb:cc:dd:ee:ff", "MAC address of the port (default: the device's)", opt_mac},
	{"port", "N", "TCP port (default: the program's, see above)", opt_port},
	{"duration", "SECONDS", "stop after this long; 0 runs until SIGINT/SIGTERM (default 0)",
	 opt_duration},
	{"stats", "FILE", "write the counters as JSON to FILE at exit (\"-\": stdout)", opt_stats},
	{"quiet", NULL, "no live status line (the summary at exit is still printed)", opt_quiet},
	{"mbufs", "N",
	 "packet buffers in the pool (default 65535, or --max-flows + 32767 when more)",
	 opt_mbufs},
	{"max-flows", "N",
	 "connections open at once at most: more are reset (accept) or fail (connect); sizes "
	 "the connection hash (default 16384; memory per flow: docs/scaling.md)",
	 opt_max_flows},
	{"cores", "N",
	 "N processes, one per core, each with its own stack and queue pair of every port "
	 "(root: hugepages; --mbufs and --max-flows per core; docs/scaling.md; default 1)",
	 opt_cores},
	{"mtu", "BYTES",
	 "MTU of every port, 1280..65000, up to the device's maximum (docs/devices.md); TCP "
	 "segments follow it up to 8960 bytes (default: the device's, 1500 on virtual devices)",
	 opt_mtu},
	{"copy", NULL, "send by copying even where zero-copy works (for comparisons)", opt_copy},
	{"impair", "SPEC",
	 "for tests: a seeded bad wire on every port, comma-separated KEY=VALUE: drop=P, "
	 "dup=P, reorder=P, corrupt=P, delay=T[@P], blackout=S+L[/R], seed=N, "
	 "dir=rx|tx|both (P: 0..1 or N%; all keys in docs/apps.md)",
	 opt_impair},
	{"pcap", "FILE", "capture every frame, both ways, into FILE (pcapng: tshark -r FILE)",
	 opt_pcap},
	{"pcap-snaplen", "BYTES", "bytes kept of each captured frame (default: all)",
	 opt_pcap_snaplen},
	{"isn-seed", "N",
	 "TESTS ONLY: TCP initial sequence numbers from seed N, without the clock, the same in "
	 "every run (for replaying a capture; predictable, never on a real network)",
	 opt_isn_seed},
	{NULL, NULL, NULL, NULL},
};

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

/* "A.B.C.D" into a network-order word; inet_pton() takes exactly four decimal parts. */
static int
parse_ipv4(const char *s, uint32_t *out_be)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out_be = a.s_addr;
	return 0;
}

static uint32_t
prefix_mask_be(unsigned int len)
{
	return htonl(len == 0 ? 0 : 0xffffffffu << (32 - len));
}

static int
opt_ip(struct rf_app *app, const char *v, void *arg)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(v, '/');
	uint64_t len;
	size_t n;

	(void)arg;
	if (slash == NULL || (n = (size_t)(slash - v)) >= sizeof(addr))
		goto malformed;
	memcpy(addr, v, n);
	addr[n] = '\0';
	if (parse_ipv4(addr, &app->ip_be) < 0)
		goto malformed;
	if (!isdigit((unsigned char)slash[1]) || strspn(slash + 1, "0123456789") != strlen(slash + 1))
		goto malformed;
	if (strlen(slash + 1) > 2 || (len = strtoull(slash + 1, NULL, 10)) < 1 || len > 32)
		return rf_app_opt_error(app, "prefix length %s is out of range 1..32", slash + 1);
	app->prefix_len = (unsigned int)len;
	app->cfg.ip = v;
	return 0;
malformed:
	return rf_app_opt_error(app, "malformed address \"%s\" (expected A.B.C.D/len)", v);
}

static int
opt_gw(struct rf_app *app, const char *v, void *arg)
{
	(void)arg;
	if (parse_ipv4(v, &app->gw_be) < 0)
		return rf_app_opt_error(app, "malformed address \"%s\" (expected A.B.C.D)", v);
	app->cfg.gw = v;
	return 0;
}

static int
opt_ip6(struct rf_app *app, const char *v, void *arg)
{
	const char *slash = strchr(v, '/');
	char addr[INET6_ADDRSTRLEN];
	unsigned char bytes[16];
	size_t n = slash != NULL ? (size_t)(slash - v) : strlen(v);

	(void)arg;
	if (n >= sizeof(addr))
		goto malformed;
	memcpy(addr, v, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET6, addr, bytes) != 1)
		goto malformed;
	if (slash != NULL && strcmp(slash + 1, "64") != 0)
		return rf_app_opt_error(app, "prefix length %s: only /64 is supported", slash + 1);
	app->cfg.ip6 = v;
	return 0;
malformed:
	return rf_app_opt_error(app, "malformed address \"%s\" (expected ADDR/64)", v);
}

static int
opt_mac(struct rf_app *app, const char *v, void *arg)
{
	unsigned int b[6];
	int i;

	(void)arg;
	/* Exactly six two-digit hex bytes separated by colons. */
	if (strlen(v) != 17)
		goto malformed;
	for (i = 0; i < 17; i++) {
		if (i % 3 == 2 ? v[i] != ':' : !isxdigit((unsigned char)v[i]))
			goto malformed;
	}
	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		goto malformed;
	if (b[0] & 1)
		return rf_app_opt_error(app, "%s is a multicast address, not a port's", v);
	if ((b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0)
		return rf_app_opt_error(app, "%s is not a usable address", v);
	app->cfg.mac = v;
	return 0;
malformed:
	return rf_app_opt_error(app, "malformed address \"%s\" (expected aa:bb:cc:dd:ee:ff)", v);
}

static int
opt_port(struct rf_app *app, const char *v, void *arg)
{
	uint64_t port;

	(void)arg;
	if (rf_app_parse_u64(app, v, 1, 65535, &port) < 0)
		return -1;
	app->port = (uint16_t)port;
	return 0;
}

static int
opt_duration(struct rf_app *app, const char *v, void *arg)
{
	(void)arg;
	return rf_app_parse_seconds(app, v, MAX_DURATION_S, &app->duration_s);
}

/* An output file (--stats, --pcap) is written later; find out now, before the run, whether
 * that can work. 0, or -1 with the error recorded. */
static int
check_writable(struct rf_app *app, const char *v)
{
	char dir[PATH_MAX];
	const char *slash;

	if (v[0] == '\0')
		return rf_app_opt_error(app, "empty file name");
	if (access(v, F_OK) == 0) {
		if (access(v, W_OK) != 0)
			return rf_app_opt_error(app, "cannot write \"%s\": %s", v, strerror(errno));
	} else {
		slash = strrchr(v, '/');
		if (slash == NULL)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == v)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - v), v);
		if (access(dir, W_OK | X_OK) != 0)
			return rf_app_opt_error(app, "cannot create \"%s\": %s: %s", v, dir,
						strerror(errno));
	}
	return 0;
}

static int
opt_stats(struct rf_app *app, const char *v, void *arg)
{
	(void)arg;
	if (strcmp(v, "-") != 0 && check_writable(app, v) != 0)
		return -1;
	app->stats_path = v;
	return 0;
}

static int
opt_pcap(struct rf_app *app, const char *v, void *arg)
{
	(void)arg;
	if (check_writable(app, v) != 0)
		return -1;
	app->cfg.pcap = v;
	return 0;
}

static int
opt_pcap_snaplen(struct rf_app *app, const char *v, void *arg)
{
	uint64_t n;

	(void)arg;
	if (rf_app_parse_u64(app, v, MIN_SNAPLEN, MAX_SNAPLEN, &n) < 0)
		return -1;
	app->cfg.pcap_snaplen = (unsigned int)n;
	return 0;
}

/* The stack reads RF_ISN_SEED when it computes its first ISN (stack/isn.c), after parsing. */
static int
opt_isn_seed(struct rf_app *app, const char *v, void *arg)
{
	uint64_t n;

	(void)arg;
	if (rf_app_parse_u64(app, v, 0, UINT64_MAX, &n) < 0)
		return -1;
	if (setenv("RF_ISN_SEED", v, 1) != 0)
		return rf_app_opt_error(app, "cannot set RF_ISN_SEED: %s", strerror(errno));
	return 0;
}

static int
opt_quiet(struct rf_app *app, const char *v, void *arg)
{
	(void)v;
	(void)arg;
	app->quiet = true;
	return 0;
}

static int
opt_mbufs(struct rf_app *app, const char *v, void *arg)
{
	uint64_t n;

	(void)arg;
	if (rf_app_parse_u64(app, v, 1, MAX_MBUFS, &n) < 0)
		return -1;
	app->cfg.mbufs = (unsigned int)n;
	return 0;
}

static int
opt_mtu(struct rf_app *app, const char *v, void *arg)
{
	uint64_t n;

	(void)arg;
	if (rf_app_parse_u64(app, v, RF_MTU_MIN, RF_MTU_MAX, &n) < 0)
		return -1;
	app->cfg.mtu = (unsigned int)n;
	return 0;
}

static int
opt_max_flows(struct rf_app *app, const char *v, void *arg)
{
	uint64_t n;

	(void)arg;
	if (rf_app_parse_u64(app, v, 1, MAX_FLOWS, &n) < 0)
		return -1;
	app->cfg.max_flows = (unsigned int)n;
	return 0;
}

static int
opt_cores(struct rf_app *app, const char *v, void *arg)
{
	uint64_t n;

	(void)arg;
	if (rf_app_parse_u64(app, v, 1, RF_MAX_CORES_CONFIG, &n) < 0)
		return -1;
	app->cfg.cores = (unsigned int)n;
	return 0;
}

static int
opt_copy(struct rf_app *app, const char *v, void *arg)
{
	(void)v;
	(void)arg;
	app->cfg.force_copy = true;
	return 0;
}

static int
opt_impair(struct rf_app *app, const char *v, void *arg)
{
	char err[256];

	(void)arg;
	if (rf_impair_check(v, err, sizeof(err)) != 0)
		return rf_app_opt_error(app, "%s", err);
	app->cfg.impair = v;
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
	int width = help_width(s->options, help_width(common_options, 6));

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
	help_options(stdout, common_options, width);
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

/* Checks between options, once all are known. */
static void
check_combination(struct rf_app *app)
{
	uint32_t mask = prefix_mask_be(app->prefix_len);
	char net[INET_ADDRSTRLEN];
	struct in_addr a;

	if (app->cfg.gw == NULL)
		return;
	a.s_addr = app->ip_be & mask;
	inet_ntop(AF_INET, &a, net, sizeof(net));
	if ((app->gw_be & mask) != (app->ip_be & mask)) {
		fprintf(stderr, "%s: --gw: %s is outside the subnet %s/%u of --ip\n", app->spec->name,
			app->cfg.gw, net, app->prefix_len);
		exit(EXIT_USAGE);
	}
	if (app->gw_be == app->ip_be) {
		fprintf(stderr, "%s: --gw: %s is the stack's own address\n", app->spec->name,
			app->cfg.gw);
		exit(EXIT_USAGE);
	}
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
	unsigned int ncommon = count_options(common_options);
	unsigned int nprog = count_options(prog);
	const struct rf_app_option *o;
	struct option *longopts;
	char **args;
	int first, nargs, c, i;
	unsigned int j, k;

	app->argc = argc;
	app->argv = argv;
	if (opt_ip(app, DEFAULT_IP, NULL) < 0)
		abort(); /* the default must parse */

	/* A program option named like a common one is a bug of the program. */
	for (j = 0; j < nprog; j++) {
		for (k = 0; k < ncommon; k++) {
			if (strcmp(prog[j].name, common_options[k].name) == 0 ||
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
		o = &common_options[j];
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
					    common_options[optopt - COMMON_BASE].name);
			if (optopt >= PROGRAM_BASE)
				rf_app_usage_error(app, "--%s: missing value",
					    prog[optopt - PROGRAM_BASE].name);
			rf_app_usage_error(app, "-%c: missing value", optopt);
		}
		if (c == '?')
			bad_option(app, longopts, args[optind - 1], optopt);
		o = c >= PROGRAM_BASE ? &prog[c - PROGRAM_BASE] : &common_options[c - COMMON_BASE];
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
	check_combination(app);
	free(longopts);
	free(args);
	parse_longopts = NULL;
	parse_args = NULL;
}
