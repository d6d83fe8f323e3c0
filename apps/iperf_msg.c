/*
 * iperf_msg.c: the iperf3 protocol's messages (parameters and results as JSON, state names)
 * and the small helpers both ends share (cookie, CPU use, byte counts in words). The
 * connections that carry them are iperf_proto.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>

#include "iperf_proto.h"

const char *
ipf_state_name(int state, char *buf, size_t len)
{
	switch (state) {
	case IPF_TEST_START: return "TEST_START";
	case IPF_TEST_RUNNING: return "TEST_RUNNING";
	case IPF_TEST_END: return "TEST_END";
	case IPF_PARAM_EXCHANGE: return "PARAM_EXCHANGE";
	case IPF_CREATE_STREAMS: return "CREATE_STREAMS";
	case IPF_SERVER_TERMINATE: return "SERVER_TERMINATE";
	case IPF_CLIENT_TERMINATE: return "CLIENT_TERMINATE";
	case IPF_EXCHANGE_RESULTS: return "EXCHANGE_RESULTS";
	case IPF_DISPLAY_RESULTS: return "DISPLAY_RESULTS";
	case IPF_IPERF_DONE: return "IPERF_DONE";
	case IPF_ACCESS_DENIED: return "ACCESS_DENIED";
	case IPF_SERVER_ERROR: return "SERVER_ERROR";
	default:
		snprintf(buf, len, "state %d", state);
		return buf;
	}
}

/* ---- messages ------------------------------------------------------------------------ */

/* A non-negative whole number, as iperf3 writes them (cJSON numbers may come as reals). */
static int
get_uint(const json_t *j, const char *key, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(j, key);
	double d;

	if (v == NULL)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
	} else if (json_is_real(v) && (d = json_real_value(v)) >= 0 && d < 1.8e19) {
		*out = (uint64_t)d;
	} else {
		snprintf(err, errlen, "\"%s\" is not a non-negative number", key);
		return -1;
	}
	if (*out > max) {
		snprintf(err, errlen, "\"%s\" is %" PRIu64 ", more than %" PRIu64, key, *out, max);
		return -1;
	}
	return 0;
}

static int
get_double(const json_t *j, const char *key, double *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(j, key);

	if (v == NULL || !json_is_number(v)) {
		snprintf(err, errlen, "\"%s\" is missing or not a number", key);
		return -1;
	}
	*out = json_number_value(v);
	return 0;
}

json_t *
ipf_params_to_json(const struct ipf_params *p)
{
	json_t *j = json_object();

	if (j == NULL)
		return NULL;
	/* As iperf3 sends them; flags are present only when set (the server tests presence). */
	json_object_set_new(j, "tcp", json_true());
	json_object_set_new(j, "omit", json_integer(p->omit));
	json_object_set_new(j, "time", json_integer(p->time));
	json_object_set_new(j, "num", json_integer((json_int_t)p->num));
	json_object_set_new(j, "blockcount", json_integer((json_int_t)p->blockcount));
	json_object_set_new(j, "parallel", json_integer(p->parallel));
	if (p->reverse)
		json_object_set_new(j, "reverse", json_true());
	if (p->bidir)
		json_object_set_new(j, "bidirectional", json_true());
	json_object_set_new(j, "len", json_integer((json_int_t)p->len));
	json_object_set_new(j, "pacing_timer", json_integer(1000));
	return j;
}

int
ipf_params_from_json(const json_t *j, struct ipf_params *p, char *err, size_t errlen)
{
	uint64_t v;
	const json_t *s;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(j)) {
		snprintf(err, errlen, "parameters are not a JSON object");
		return -1;
	}
	/* iperf3 tests these by presence, whatever their value. */
	p->tcp = json_object_get(j, "udp") == NULL && json_object_get(j, "sctp") == NULL;
	p->reverse = json_object_get(j, "reverse") != NULL;
	p->bidir = json_object_get(j, "bidirectional") != NULL;
	v = 0;
	if (get_uint(j, "time", UINT32_MAX, &v, err, errlen) < 0)
		return -1;
	p->time = (unsigned int)v;
	v = 0;
	if (get_uint(j, "omit", UINT32_MAX, &v, err, errlen) < 0)
		return -1;
	p->omit = (unsigned int)v;
	v = 1;
	if (get_uint(j, "parallel", UINT32_MAX, &v, err, errlen) < 0)
		return -1;
	p->parallel = (unsigned int)v;
	if (get_uint(j, "len", UINT64_MAX, &p->len, err, errlen) < 0 ||
	    get_uint(j, "num", UINT64_MAX, &p->num, err, errlen) < 0 ||
	    get_uint(j, "blockcount", UINT64_MAX, &p->blockcount, err, errlen) < 0)
		return -1;
	s = json_object_get(j, "client_version");
	if (json_is_string(s))
		snprintf(p->client_version, sizeof(p->client_version), "%s", json_string_value(s));
	return 0;
}

json_t *
ipf_results_to_json(const struct ipf_results *r)
{
	json_t *j = json_object(), *streams = json_array();

	if (j == NULL || streams == NULL) {
		json_decref(j);
		json_decref(streams);
		return NULL;
	}
	json_object_set_new(j, "cpu_util_total", json_real(r->cpu_total));
	json_object_set_new(j, "cpu_util_user", json_real(r->cpu_user));
	json_object_set_new(j, "cpu_util_system", json_real(r->cpu_system));
	json_object_set_new(j, "sender_has_retransmits", json_integer(r->sender_has_retransmits));
	for (unsigned int i = 0; i < r->n; i++) {
		const struct ipf_stream_result *s = &r->s[i];
		json_t *o = json_object();

		if (o == NULL)
			break;
		json_object_set_new(o, "id", json_integer(s->id));
		json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes));
		json_object_set_new(o, "retransmits", json_integer(s->retransmits));
		/* UDP figures; zero for TCP, as iperf3 sends them. */
		json_object_set_new(o, "jitter", json_real(0));
		json_object_set_new(o, "errors", json_integer(0));
		json_object_set_new(o, "packets", json_integer(0));
		json_object_set_new(o, "start_time", json_real(s->start_s));
		json_object_set_new(o, "end_time", json_real(s->end_s));
		json_array_append_new(streams, o);
	}
	json_object_set_new(j, "streams", streams);
	return j;
}

int
ipf_results_from_json(const json_t *j, struct ipf_results *r, char *err, size_t errlen)
{
	const json_t *streams, *o, *v;
	uint64_t u;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(j)) {
		snprintf(err, errlen, "results are not a JSON object");
		return -1;
	}
	if (get_double(j, "cpu_util_total", &r->cpu_total, err, errlen) < 0 ||
	    get_double(j, "cpu_util_user", &r->cpu_user, err, errlen) < 0 ||
	    get_double(j, "cpu_util_system", &r->cpu_system, err, errlen) < 0)
		return -1;
	v = json_object_get(j, "sender_has_retransmits");
	if (!json_is_number(v)) {
		snprintf(err, errlen, "\"sender_has_retransmits\" is missing or not a number");
		return -1;
	}
	r->sender_has_retransmits = json_number_value(v) > 0 ? 1 : -1;
	streams = json_object_get(j, "streams");
	if (!json_is_array(streams) || json_array_size(streams) > IPF_MAX_STREAMS * 2) {
		snprintf(err, errlen, "\"streams\" is missing, not an array or too long");
		return -1;
	}
	json_array_foreach(streams, i, o) {
		struct ipf_stream_result *s = &r->s[r->n];

		u = 0;
		if (!json_is_object(o) || get_uint(o, "id", INT32_MAX, &u, err, errlen) < 0)
			return -1;
		s->id = (int)u;
		if (get_uint(o, "bytes", UINT64_MAX, &s->bytes, err, errlen) < 0)
			return -1;
		v = json_object_get(o, "retransmits");
		s->retransmits = json_is_number(v) && json_number_value(v) >= 0 &&
						 json_number_value(v) < 9e18
					 ? (int64_t)json_number_value(v)
					 : -1;
		s->has_times = json_is_number(json_object_get(o, "start_time")) &&
			       json_is_number(json_object_get(o, "end_time"));
		if (s->has_times) {
			s->start_s = json_number_value(json_object_get(o, "start_time"));
			s->end_s = json_number_value(json_object_get(o, "end_time"));
		}
		r->n++;
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

void
ipf_make_cookie(char cookie[IPF_COOKIE_SIZE])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t rnd[IPF_COOKIE_SIZE - 1];
	uint64_t x;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* No entropy source: the clock is enough for a test identifier. */
		x = rf_now_ns() | 1;
		for (size_t i = 0; i < sizeof(rnd); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			rnd[i] = (uint8_t)x;
		}
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		cookie[i] = alphabet[rnd[i] % 32];
	cookie[IPF_COOKIE_SIZE - 1] = '\0';
}

void
ipf_cpu_now(struct ipf_cpu *c)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	c->wall_ns = rf_now_ns();
	c->user_us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec;
	c->system_us = (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

void
ipf_cpu_util(const struct ipf_cpu *a, const struct ipf_cpu *b, double out[3])
{
	double wall_us = (double)(b->wall_ns - a->wall_ns) / 1000.0;
	double user = (double)(b->user_us - a->user_us), sys = (double)(b->system_us - a->system_us);

	if (wall_us <= 0) {
		out[0] = out[1] = out[2] = 0;
		return;
	}
	out[0] = 100.0 * (user + sys) / wall_us;
	out[1] = 100.0 * user / wall_us;
	out[2] = 100.0 * sys / wall_us;
}

const char *
ipf_bytes_text(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = {"Bytes", "KBytes", "MBytes", "GBytes", "TBytes"};
	double v = (double)bytes;
	unsigned int u = 0;

	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}
