/*
 * load_options.c: rf-load's own options and their checks (load.c's top comment describes rf-load).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

/* ---- options ---------------------------------------------------------------------------- */

/* "A.B.C.D:PORT", "[IPv6]:PORT", or an address alone (the port is then --port's). */
static int
opt_to(struct rf_app *app, const char *v, void *arg)
{
	struct load *ld = arg;
	const char *host = v, *port = NULL, *end;
	char text[64];
	uint64_t p;
	size_t n;

	if (v[0] == '[') {
		host = v + 1;
		end = strchr(v, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			goto malformed;
		n = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
	} else if ((end = strchr(v, ':')) != NULL && strchr(end + 1, ':') == NULL) {
		n = (size_t)(end - v); /* one colon: host:port (several: a bare IPv6 address) */
		port = end + 1;
	} else {
		n = strlen(v);
	}
	if (n == 0 || n >= sizeof(text))
		goto malformed;
	memcpy(text, host, n);
	text[n] = '\0';
	if (rf_addr_parse(text, &ld->to) != 0)
		return rf_app_opt_error(app, "\"%s\" is not an IP address", text);
	if (port != NULL) {
		if (rf_app_parse_u64(app, port, 1, 65535, &p) < 0)
			return rf_app_opt_error(app, "port \"%s\" is not a number in 1..65535",
						port);
		ld->to_port = (uint16_t)p;
	}
	ld->to_text = v;
	ld->to_set = true;
	return 0;
malformed:
	return rf_app_opt_error(app, "malformed \"%s\" (expected A.B.C.D:PORT or [IPv6]:PORT)",
				v);
}

static int
opt_conns(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_CONNS, &((struct load *)arg)->conns);
}

static int
opt_size(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_bytes(app, v, 1, LOAD_MAX_SIZE, &((struct load *)arg)->size);
}

static int
opt_depth(struct rf_app *app, const char *v, void *arg)
{
	struct load *ld = arg;

	ld->depth_set = true;
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_DEPTH, &ld->depth);
}

static int
opt_requests(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, UINT64_MAX / 2, &((struct load *)arg)->requests_max);
}

static int
opt_rate(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_RATE, &((struct load *)arg)->rate);
}

static int
opt_short_flows(struct rf_app *app, const char *v, void *arg)
{
	(void)app;
	(void)v;
	((struct load *)arg)->short_flows = true;
	return 0;
}

static int
opt_once(struct rf_app *app, const char *v, void *arg)
{
	(void)app;
	(void)v;
	((struct load *)arg)->once = true;
	return 0;
}

static int
opt_idle(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_CONNS, &((struct load *)arg)->idle);
}

static int
opt_ports(struct rf_app *app, const char *v, void *arg)
{
	return rf_app_parse_u64(app, v, 1, LOAD_MAX_PORTS, &((struct load *)arg)->nports);
}

static int
opt_json(struct rf_app *app, const char *v, void *arg)
{
	(void)app;
	(void)v;
	((struct load *)arg)->json = true;
	return 0;
}

const struct rf_app_option load_options[] = {
	{"to", "ADDR:PORT", "the server (required); ADDR alone: port from --port", opt_to},
	{"conns", "N", "connections (default 1)", opt_conns},
	{"size", "BYTES", "bytes of each request, and of its response (default 64)", opt_size},
	{"depth", "D",
	 "requests in flight per connection (default 1; with --rate: at most, default 64)",
	 opt_depth},
	{"requests", "N", "stop after N requests (default: by --duration or a signal)",
	 opt_requests},
	{"rate", "R", "open loop: R requests/s in all, on schedule, latency from the schedule",
	 opt_rate},
	{"short-flows", NULL, "one request per connection: connect, request, close (conn/s)",
	 opt_short_flows},
	{"once", NULL,
	 "one request per connection, which then stays open and idle until the end (holds "
	 "--conns idle connections)",
	 opt_once},
	{"idle", "K",
	 "also hold K idle connections (opened first, one request each); the figures start "
	 "once all are held",
	 opt_idle},
	{"ports", "N",
	 "spread the connections over N server ports from --to's (default 1; 16383 "
	 "connections per port at most)",
	 opt_ports},
	{"json", NULL, "print the results as one JSON object on stdout at the end", opt_json},
	{NULL, NULL, NULL, NULL},
};

void
check_options(struct load *ld, struct rf_app *app)
{
	if (!ld->to_set)
		rf_app_usage_error(app, "--to ADDR:PORT is required");
	if (ld->short_flows && ld->depth_set && ld->depth != 1)
		rf_app_usage_error(app, "--depth: --short-flows sends one request per connection");
	if (!ld->depth_set)
		ld->depth = ld->rate != 0 && !ld->short_flows ? LOAD_RATE_DEPTH : 1;
	if (ld->short_flows)
		ld->depth = 1;
	if (ld->once && (ld->short_flows || ld->rate != 0 || ld->requests_max != 0 ||
			 ld->depth != 1 || ld->idle != 0))
		rf_app_usage_error(app, "--once: one request per connection, without --short-flows, "
				 "--rate, --requests, --depth or --idle");
	if (ld->idle != 0 && (ld->short_flows || ld->rate != 0 || ld->requests_max != 0))
		rf_app_usage_error(app, "--idle: with the closed loop only (no --short-flows, --rate or "
				 "--requests)");
	ld->nslots = ld->conns + ld->idle;
	if (ld->to_port == 0)
		ld->to_port = app->port;
	if (ld->to_port + ld->nports - 1 > 65535)
		rf_app_usage_error(app, "--ports: %" PRIu64 " ports from %u go past 65535", ld->nports,
			    ld->to_port);
	if (ld->nslots > LOAD_PORTS_PER_TARGET * ld->nports)
		rf_app_usage_error(app, "%" PRIu64 " connections: %u local ports per server port, so --ports %"
				 PRIu64 " or more", ld->nslots, LOAD_PORTS_PER_TARGET,
			    (ld->nslots + LOAD_PORTS_PER_TARGET - 1) / LOAD_PORTS_PER_TARGET);
	if (app->cfg.max_flows == 0 && ld->nslots > RF_MAX_FLOWS_DEFAULT)
		app->cfg.max_flows = (unsigned int)ld->nslots;
}
