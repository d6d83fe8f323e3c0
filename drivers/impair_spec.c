/*
 * The impairment spec: text into struct rf_impair_conf, and back into words for the log.
 *
 * A spec is comma-separated KEY=VALUE tokens (the keys are listed in rf_drivers.h and
 * docs/apps.md). Order does not matter: the parser makes three passes, so that the global keys
 * (seed, queue, dir) apply whatever their place, keys without a prefix apply to the
 * direction(s) dir= names, and rx./tx. keys override them for one direction. Any error names
 * the token and says what its value must be. Nothing here needs the EAL, so programs check a
 * spec while parsing their command line, before DPDK starts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_drivers.h"

#define RF_IMPAIR_QUEUE_DEFAULT 1024
#define RF_IMPAIR_QUEUE_MAX 65536
#define RF_IMPAIR_REORDER_GAP_DEFAULT 3
#define RF_IMPAIR_REORDER_MAX_US_DEFAULT 1000

static int
spec_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* "0.02" or "2%": 0..1. */
static int
parse_prob(const char *s, double *out)
{
	char *end;
	double v;

	if (!(s[0] >= '0' && s[0] <= '9') && s[0] != '.')
		return -1;
	v = strtod(s, &end);
	if (end == s)
		return -1;
	if (*end == '%') {
		v /= 100.0;
		end++;
	}
	if (*end != '\0' || !(v >= 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

/* A duration into microseconds: a decimal number with unit us, ms or s; a bare number takes
 * bare_us_per_unit (0: a unit is required). Returns the characters used, or -1. */
static int
parse_duration(const char *s, uint64_t bare_us_per_unit, uint64_t *out_us)
{
	char *end;
	double v, unit;

	if (!(s[0] >= '0' && s[0] <= '9') && s[0] != '.')
		return -1;
	v = strtod(s, &end);
	if (end == s || !(v >= 0.0 && v < 1e12))
		return -1;
	if (strncmp(end, "us", 2) == 0) {
		unit = 1;
		end += 2;
	} else if (strncmp(end, "ms", 2) == 0) {
		unit = 1e3;
		end += 2;
	} else if (end[0] == 's') {
		unit = 1e6;
		end += 1;
	} else if (bare_us_per_unit != 0) {
		unit = (double)bare_us_per_unit;
	} else {
		return -1;
	}
	*out_us = (uint64_t)(v * unit + 0.5);
	return (int)(end - s);
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!(s[0] >= '0' && s[0] <= '9'))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (*end != '\0' || errno == ERANGE || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "START+LEN[/PERIOD]", milliseconds unless a unit is given. */
static int
parse_blackout(const char *s, struct rf_impair_dir_conf *c)
{
	uint64_t start, len, period = 0;
	int n;

	if ((n = parse_duration(s, 1000, &start)) < 0 || s[n] != '+')
		return -1;
	s += n + 1;
	if ((n = parse_duration(s, 1000, &len)) < 0 || len == 0)
		return -1;
	s += n;
	if (*s == '/') {
		s++;
		if ((n = parse_duration(s, 1000, &period)) < 0 || period < len)
			return -1;
		s += n;
	}
	if (*s != '\0')
		return -1;
	c->blackout_start_us = start;
	c->blackout_len_us = len;
	c->blackout_period_us = period;
	return 0;
}

/* Applies one KEY=VALUE (KEY without its rx./tx. prefix) to c. 0, or -1 for a bad value, -2
 * for an unknown key. */
static int
apply_key(struct rf_impair_dir_conf *c, const char *key, size_t klen, const char *val)
{
#define KEY(name) (klen == sizeof(name) - 1 && strncmp(key, name, klen) == 0)
	uint64_t u;
	int n;

	if (KEY("drop"))
		return parse_prob(val, &c->drop);
	if (KEY("dup"))
		return parse_prob(val, &c->dup);
	if (KEY("reorder"))
		return parse_prob(val, &c->reorder);
	if (KEY("corrupt"))
		return parse_prob(val, &c->corrupt);
	if (KEY("reorder_gap")) {
		if (parse_u64(val, RF_IMPAIR_QUEUE_MAX, &u) < 0 || u == 0)
			return -1;
		c->reorder_gap = (uint32_t)u;
		return 0;
	}
	if (KEY("reorder_max")) {
		if ((n = parse_duration(val, 0, &u)) < 0 || val[n] != '\0' || u == 0)
			return -1;
		c->reorder_max_us = u;
		return 0;
	}
	if (KEY("delay")) {
		/* D or D@P */
		if ((n = parse_duration(val, 0, &u)) < 0)
			return -1;
		if (val[n] == '@') {
			if (parse_prob(val + n + 1, &c->delay) < 0)
				return -1;
		} else if (val[n] == '\0') {
			c->delay = u > 0 ? 1.0 : 0.0;
		} else {
			return -1;
		}
		c->delay_us = u;
		if (u == 0)
			c->delay = 0.0;
		return 0;
	}
	if (KEY("blackout"))
		return parse_blackout(val, c);
	return -2;
#undef KEY
}

static const char *const value_help[] = {
	"drop", "a probability (0..1, or a percentage like 2%)",
	"dup", "a probability (0..1, or a percentage like 2%)",
	"reorder", "a probability (0..1, or a percentage like 2%)",
	"corrupt", "a probability (0..1, or a percentage like 2%)",
	"reorder_gap", "a count of frames (1..65536)",
	"reorder_max", "a duration with unit (500us, 2ms, 1s)",
	"delay", "a duration with unit, optionally @probability (200us, 1ms@0.1)",
	"blackout", "START+LEN or START+LEN/PERIOD, ms unless a unit is given (1000+300ms)",
	"seed", "a number (0..2^64-1)",
	"queue", "a count of frames (1..65536)",
	"dir", "rx, tx or both",
	NULL,
};

static const char *
help_for(const char *key, size_t klen)
{
	for (int i = 0; value_help[i] != NULL; i += 2)
		if (strlen(value_help[i]) == klen && strncmp(value_help[i], key, klen) == 0)
			return value_help[i + 1];
	return "?";
}

static void
dir_defaults(struct rf_impair_dir_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->reorder_gap = RF_IMPAIR_REORDER_GAP_DEFAULT;
	c->reorder_max_us = RF_IMPAIR_REORDER_MAX_US_DEFAULT;
}

/*
 * Three passes over the tokens, so that order does not matter: the global keys (seed, queue,
 * dir), then the keys without a prefix (for the directions dir= names), then the rx./tx.
 * ones, which override them for their direction.
 */
int
rf_impair_parse(const char *spec, struct rf_impair_conf *conf, char *err, size_t errlen)
{
	char buf[1024];
	char *tok, *save;
	unsigned int dirs = (1u << RF_IMPAIR_RX) | (1u << RF_IMPAIR_TX);

	memset(conf, 0, sizeof(*conf));
	conf->seed = 1;
	conf->queue = RF_IMPAIR_QUEUE_DEFAULT;
	for (int d = 0; d < RF_IMPAIR_DIRS; d++)
		dir_defaults(&conf->dir[d]);
	if (spec == NULL || spec[0] == '\0')
		return spec_error(err, errlen, "empty impairment spec");
	if (strlen(spec) >= sizeof(buf))
		return spec_error(err, errlen, "impairment spec longer than %zu characters",
				  sizeof(buf) - 1);

	for (int pass = 0; pass < 3; pass++) {
		strcpy(buf, spec);
		for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(tok, '=');
			const char *key = tok, *val;
			size_t klen;
			int only = -1, rc;
			uint64_t u;

			if (eq == NULL || eq == tok || eq[1] == '\0')
				return spec_error(err, errlen,
						  "bad token \"%s\": expected KEY=VALUE", tok);
			klen = (size_t)(eq - tok);
			val = eq + 1;
			if (klen > 3 && (strncmp(key, "rx.", 3) == 0 || strncmp(key, "tx.", 3) == 0)) {
				only = key[0] == 'r' ? RF_IMPAIR_RX : RF_IMPAIR_TX;
				key += 3;
				klen -= 3;
			}
			if (klen == 4 && strncmp(key, "seed", 4) == 0 && only < 0) {
				if (pass == 0 && parse_u64(val, UINT64_MAX, &conf->seed) < 0)
					goto bad_value;
				continue;
			}
			if (klen == 5 && strncmp(key, "queue", 5) == 0 && only < 0) {
				if (pass != 0)
					continue;
				if (parse_u64(val, RF_IMPAIR_QUEUE_MAX, &u) < 0 || u == 0)
					goto bad_value;
				conf->queue = (uint32_t)u;
				continue;
			}
			if (klen == 3 && strncmp(key, "dir", 3) == 0 && only < 0) {
				if (pass != 0)
					continue;
				if (strcmp(val, "rx") == 0)
					dirs = 1u << RF_IMPAIR_RX;
				else if (strcmp(val, "tx") == 0)
					dirs = 1u << RF_IMPAIR_TX;
				else if (strcmp(val, "both") == 0 || strcmp(val, "rx|tx") == 0)
					dirs = (1u << RF_IMPAIR_RX) | (1u << RF_IMPAIR_TX);
				else
					goto bad_value;
				continue;
			}
			if ((pass == 1 && only >= 0) || (pass == 2 && only < 0))
				continue;
			for (int d = 0; d < RF_IMPAIR_DIRS; d++) {
				struct rf_impair_dir_conf scratch;

				if (pass == 0) { /* check only; applied in the next passes */
					dir_defaults(&scratch);
					rc = apply_key(&scratch, key, klen, val);
				} else if (only == d || (only < 0 && (dirs & (1u << d)))) {
					rc = apply_key(&conf->dir[d], key, klen, val);
				} else {
					continue;
				}
				if (rc == -2)
					return spec_error(err, errlen,
							  "bad token \"%s\": unknown key \"%.*s\" "
							  "(drop, dup, reorder, reorder_gap, "
							  "reorder_max, corrupt, delay, blackout, "
							  "seed, queue, dir; rx./tx. prefixes)",
							  tok, (int)klen, key);
				if (rc < 0)
					goto bad_value;
				if (pass == 0)
					break;
			}
			continue;
bad_value:
			return spec_error(err, errlen, "bad token \"%s\": the value of %.*s must be %s",
					  tok, (int)klen, key, help_for(key, klen));
		}
	}
	return 0;
}

bool
rf_impair_conf_active(const struct rf_impair_conf *conf)
{
	for (int d = 0; d < RF_IMPAIR_DIRS; d++) {
		const struct rf_impair_dir_conf *c = &conf->dir[d];

		if (c->drop > 0 || c->dup > 0 || c->reorder > 0 || c->corrupt > 0 || c->delay > 0 ||
		    c->blackout_len_us > 0)
			return true;
	}
	return false;
}

int
rf_impair_describe(const struct rf_impair_conf *conf, char *buf, size_t len)
{
	static const char *const name[RF_IMPAIR_DIRS] = {"rx", "tx"};
	size_t used = 0;
	int n;

#define OUT(...)                                                                         \
	do {                                                                             \
		n = snprintf(buf + used, used < len ? len - used : 0, __VA_ARGS__);      \
		if (n > 0)                                                               \
			used += (size_t)n;                                               \
	} while (0)
	if (len > 0)
		buf[0] = '\0';
	for (int d = 0; d < RF_IMPAIR_DIRS; d++) {
		const struct rf_impair_dir_conf *c = &conf->dir[d];

		OUT("%s%s:", d ? "; " : "", name[d]);
		if (c->drop > 0)
			OUT(" drop %g%%", c->drop * 100);
		if (c->dup > 0)
			OUT(" dup %g%%", c->dup * 100);
		if (c->reorder > 0)
			OUT(" reorder %g%% (gap %" PRIu32 ", max %" PRIu64 " us)", c->reorder * 100,
			    c->reorder_gap, c->reorder_max_us);
		if (c->corrupt > 0)
			OUT(" corrupt %g%%", c->corrupt * 100);
		if (c->delay > 0)
			OUT(" delay %" PRIu64 " us (%g%%)", c->delay_us, c->delay * 100);
		if (c->blackout_len_us > 0)
			OUT(" blackout %" PRIu64 "+%" PRIu64 " ms%s", c->blackout_start_us / 1000,
			    c->blackout_len_us / 1000, c->blackout_period_us ? " every" : "");
		if (c->blackout_period_us > 0)
			OUT(" %" PRIu64 " ms", c->blackout_period_us / 1000);
		if (!(c->drop > 0 || c->dup > 0 || c->reorder > 0 || c->corrupt > 0 ||
		      c->delay > 0 || c->blackout_len_us > 0))
			OUT(" none");
	}
	OUT("; seed %" PRIu64 ", queue %" PRIu32, conf->seed, conf->queue);
#undef OUT
	return (int)used;
}
