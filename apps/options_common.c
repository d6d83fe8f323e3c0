/*
 * options_common.c: the options every rawflow program takes (--ip, --gw, --cores, --impair,
 * ...): their table, which options.c merges with the program's own, their handlers, and the
 * checks between them. Each handler validates its value and fills struct rf_app; a bad
 * value is described with rf_app_opt_error() and reported by the parser.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Defaults shown in --help; the stack applies the same ones when a field is left NULL / 0. */
#define DEFAULT_IP "198.18.0.2/24"
/* Bounds that catch typos; not limits of the stack. */
#define MAX_MBUFS (64u * 1024 * 1024)
#define MAX_FLOWS (64u * 1024 * 1024)
#define MAX_DURATION_S (365.0 * 24 * 3600)
/* --pcap-snaplen: an Ethernet + IPv6 + TCP header at least; pcapng's customary maximum. */
#define MIN_SNAPLEN 64
#define MAX_SNAPLEN 262144

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
static int opt_hold(struct rf_app *app, const char *v, void *arg);
static int opt_impair(struct rf_app *app, const char *v, void *arg);
static int opt_pcap(struct rf_app *app, const char *v, void *arg);
static int opt_pcap_snaplen(struct rf_app *app, const char *v, void *arg);
static int opt_isn_seed(struct rf_app *app, const char *v, void *arg);
static int opt_mtu(struct rf_app *app, const char *v, void *arg);

/* --help is handled by the parser itself and listed last in the help text. */
const struct rf_app_option rf_app_common_options[] = {
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
	{"hold", NULL,
	 "once the run ended (by itself, or on a first SIGINT/SIGTERM), keep the ports open "
	 "but no longer polled until the next SIGINT/SIGTERM, so that a net_memif peer can "
	 "leave first (docs/devices.md); not with --cores",
	 opt_hold},
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
opt_hold(struct rf_app *app, const char *v, void *arg)
{
	(void)v;
	(void)arg;
	app->hold = true;
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

const char *
rf_app_common_check(struct rf_app *app)
{
	uint32_t mask = prefix_mask_be(app->prefix_len);
	char net[INET_ADDRSTRLEN];
	struct in_addr a;

	if (app->hold && app->cfg.cores > 1) {
		rf_app_opt_error(app, "not with --cores %u (one process only)", app->cfg.cores);
		return "hold";
	}
	if (app->cfg.gw == NULL)
		return NULL;
	a.s_addr = app->ip_be & mask;
	inet_ntop(AF_INET, &a, net, sizeof(net));
	if ((app->gw_be & mask) != (app->ip_be & mask)) {
		rf_app_opt_error(app, "%s is outside the subnet %s/%u of --ip", app->cfg.gw, net,
				 app->prefix_len);
		return "gw";
	}
	if (app->gw_be == app->ip_be) {
		rf_app_opt_error(app, "%s is the stack's own address", app->cfg.gw);
		return "gw";
	}
	return NULL;
}

void
rf_app_common_defaults(struct rf_app *app)
{
	if (opt_ip(app, DEFAULT_IP, NULL) < 0)
		abort(); /* the default must parse */
}
