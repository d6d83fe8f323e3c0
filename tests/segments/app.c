/*
 * The segment harness, the application side: flows driven through rawflow.h alone, each with
 * a read kept pending, their completions written into the flow's text log (struct h_app);
 * and the peer's side of whole handshakes (h_accept, h_open). wire.c is the wire.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct {
	struct rf_listener *ls;
	struct h_app *apps[64];
	unsigned int napps;
	struct h_app *accepted[64];
	unsigned int naccepted;
} st;

static const char *
status_str(int status)
{
	switch (status) {
	case RF_OK:
		return "OK";
	case RF_EOF:
		return "EOF";
#define H__NAME(name, msg) \
	case RF_##name:    \
		return #name;
		RF_ERRNO_MAP(H__NAME)
#undef H__NAME
	default:
		return "?";
	}
}

static void
app_log(struct h_app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
app_log(struct h_app *a, const char *fmt, ...)
{
	char ev[128];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev, sizeof(ev), fmt, ap);
	va_end(ap);
	n = strlen(ev);
	if (a->log_len + n + 3 > a->log_cap) {
		a->log_cap = 2 * (a->log_len + n + 3);
		a->log = realloc(a->log, a->log_cap);
		ck_assert_ptr_nonnull(a->log);
	}
	if (a->log_len != 0) {
		memcpy(a->log + a->log_len, ", ", 2);
		a->log_len += 2;
	}
	memcpy(a->log + a->log_len, ev, n + 1);
	a->log_len += n;
	if (h__trace())
		fprintf(stderr, "  app %p: %s\n", (void *)a, ev);
}

/* ---- the application side ------------------------------------------------------------- */

static struct h_app *
app_new(struct rf_flow *f)
{
	struct h_app *a = calloc(1, sizeof(*a));

	ck_assert_ptr_nonnull(a);
	ck_assert_uint_lt(st.napps, sizeof(st.apps) / sizeof(st.apps[0]));
	a->rx = malloc(H_RX_CAP);
	a->log = calloc(1, 64);
	a->log_cap = 64;
	ck_assert(a->rx != NULL && a->log != NULL);
	a->flow = f;
	st.apps[st.napps++] = a;
	return a;
}

static void on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg);

static void
read_next(struct h_app *a)
{
	int rc;

	if (a->reading || a->end != 0 || a->flow == NULL)
		return;
	rc = rf_flow_read(a->flow, on_read, a);
	ck_assert_msg(rc == 0, "rf_flow_read: %s", rf_error_message(rc));
	a->reading = true;
}

static void
on_read(struct rf_flow *f, int status, struct rf_buf *b, void *arg)
{
	struct h_app *a = arg;

	(void)f;
	a->reading = false;
	if (status != RF_OK) {
		app_log(a, "read %s", status_str(status));
		a->end = status;
		return;
	}
	app_log(a, "read %u", b->len);
	if (a->rx_len + b->len <= H_RX_CAP) {
		memcpy(a->rx + a->rx_len, b->data, b->len);
		a->rx_len += b->len;
	}
	if (a->hold && a->nheld < H_MAX_HELD)
		a->held[a->nheld++] = b;
	else
		rf_buf_release(b);
	if (!a->done)
		read_next(a);
}

static void
on_accept(struct rf_listener *ls, struct rf_flow *f, void *arg)
{
	struct h_app *a = app_new(f);

	(void)ls;
	(void)arg;
	rf_flow_set_data(f, a);
	a->connected = true;
	ck_assert_uint_lt(st.naccepted, sizeof(st.accepted) / sizeof(st.accepted[0]));
	st.accepted[st.naccepted++] = a;
	app_log(a, "accept");
	read_next(a);
}

void
h_listen(uint16_t port)
{
	int rc = rf_listen(h_loop(), NULL, port, on_accept, NULL, &st.ls);

	ck_assert_msg(rc == 0, "rf_listen(%u): %s", port, rf_error_message(rc));
}

void
h_listen_close(void)
{
	if (st.ls != NULL)
		rf_listener_close(st.ls);
	st.ls = NULL;
}

struct h_app *
h_accepted(unsigned int i)
{
	return i < st.naccepted ? st.accepted[i] : NULL;
}

unsigned int
h_naccepted(void)
{
	return st.naccepted;
}

static void
on_connect(struct rf_flow *f, int status, void *arg)
{
	struct h_app *a = arg;

	(void)f;
	app_log(a, "connect %s", status_str(status));
	if (status == RF_OK) {
		a->connected = true;
		read_next(a);
	} else {
		a->done = true; /* the flow is freed when this returns */
		a->end = status;
		a->flow = NULL;
	}
}

struct h_app *
h_connect(uint16_t port)
{
	struct rf_addr addr;
	struct rf_flow *f;
	struct h_app *a = app_new(NULL);
	int rc;

	ck_assert_int_eq(rf_addr_parse(H_PEER_IP, &addr), 0);
	rc = rf_connect(h_loop(), &addr, port, on_connect, a, &f);
	ck_assert_msg(rc == 0, "rf_connect: %s", rf_error_message(rc));
	a->flow = f;
	return a;
}

static void
on_write(struct rf_flow *f, int status, void *arg)
{
	(void)f;
	app_log(arg, "write %s", status_str(status));
}

void
h_write(struct h_app *a, uint32_t len, uint8_t seed)
{
	uint32_t max = rf_buf_max(), off = 0;

	ck_assert_ptr_nonnull(a->flow);
	while (off < len) {
		uint32_t n = len - off < max ? len - off : max;
		struct rf_buf *b = rf_buf_alloc(h_loop(), n);
		int rc;

		ck_assert_ptr_nonnull(b);
		for (uint32_t i = 0; i < n; i++)
			b->data[i] = (uint8_t)(seed + off + i);
		off += n;
		rc = rf_flow_write(a->flow, b, off == len ? on_write : NULL, a);
		ck_assert_msg(rc == 0, "rf_flow_write: %s", rf_error_message(rc));
	}
}

static void
on_close(struct rf_flow *f, int status, void *arg)
{
	struct h_app *a = arg;

	(void)f;
	app_log(a, "close %s", status_str(status));
	a->done = true;
	a->close_status = status;
	a->flow = NULL;
}

void
h_close(struct h_app *a)
{
	int rc;

	ck_assert_ptr_nonnull(a->flow);
	rc = rf_flow_close(a->flow, on_close, a);
	ck_assert_msg(rc == 0, "rf_flow_close: %s", rf_error_message(rc));
}

void
h_abort(struct h_app *a)
{
	ck_assert_ptr_nonnull(a->flow);
	h_release(a);
	rf_flow_abort(a->flow);
	a->done = true;
	a->flow = NULL;
}

void
h_shutdown(struct h_app *a, int how)
{
	int rc;

	ck_assert_ptr_nonnull(a->flow);
	rc = rf_flow_shutdown(a->flow, how);
	ck_assert_msg(rc == 0, "rf_flow_shutdown: %s", rf_error_message(rc));
}

uint32_t
h_release(struct h_app *a)
{
	uint32_t bytes = 0;

	for (unsigned int i = 0; i < a->nheld; i++) {
		bytes += a->held[i]->len;
		rf_buf_release(a->held[i]);
	}
	a->nheld = 0;
	return bytes;
}

/* ---- connections ------------------------------------------------------------------------ */

void
h_conn_send(struct h_conn *c, uint8_t flags, const void *data, uint16_t len)
{
	struct h_tcp t = {.sport = c->pport, .dport = c->sport, .seq = c->snd_nxt,
			  .ack = (flags & H_ACK) ? c->rcv_nxt : 0, .flags = flags,
			  .wnd = c->wnd, .data = data, .len = len};

	h_send(&t);
	c->snd_nxt += len + ((flags & H_SYN) ? 1 : 0) + ((flags & H_FIN) ? 1 : 0);
}

void
h_conn_send_pattern(struct h_conn *c, uint8_t flags, uint16_t len, uint8_t seed)
{
	uint8_t buf[H_MAX_PAYLOAD];

	ck_assert_uint_le(len, sizeof(buf));
	for (uint16_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i);
	h_conn_send(c, flags, buf, len);
}

void
h_accept(struct h_conn *c, uint16_t listen_port, uint16_t pport, const struct h_hs_opts *o)
{
	static const struct h_hs_opts none;
	struct h_seg s;
	unsigned int before = st.naccepted;

	if (o == NULL)
		o = &none;
	memset(c, 0, sizeof(*c));
	c->pport = pport;
	c->sport = listen_port;
	c->iss = 1000000;
	c->snd_nxt = c->iss;
	c->wnd = o->wnd ? o->wnd : 65535;
	h_send(&(struct h_tcp){.sport = pport, .dport = listen_port, .seq = c->iss,
			       .flags = H_SYN, .wnd = c->wnd,
			       .mss = o->mss ? o->mss : H_STACK_MSS, .has_ws = !o->no_ws,
			       .ws = o->ws, .sack_perm = o->sack_perm});
	c->snd_nxt++;
	h_run();
	s = h_recv();
	h_assert_seg(s, H_SYN | H_ACK, s.seq, c->iss + 1);
	ck_assert_uint_eq(s.mss, H_STACK_MSS);
	ck_assert(s.has_ws == !o->no_ws);
	c->riss = s.seq;
	c->rcv_nxt = s.seq + 1;
	h_conn_send(c, H_ACK, NULL, 0);
	h_run();
	h_none();
	ck_assert_uint_eq(st.naccepted, before + 1);
	c->app = st.accepted[before];
	h_assert_log(c->app, "accept");
}

void
h_open(struct h_conn *c, uint16_t pport, const struct h_hs_opts *o)
{
	static const struct h_hs_opts none;
	struct h_seg s;

	if (o == NULL)
		o = &none;
	memset(c, 0, sizeof(*c));
	c->pport = pport;
	c->iss = 5000000;
	c->wnd = o->wnd ? o->wnd : 65535;
	c->app = h_connect(pport);
	h_run();
	s = h_recv();
	ck_assert_msg(s.flags == H_SYN && s.dport == pport, "expected a SYN to port %u", pport);
	c->sport = s.sport;
	c->riss = s.seq;
	c->rcv_nxt = s.seq + 1;
	c->snd_nxt = c->iss;
	h_send(&(struct h_tcp){.sport = pport, .dport = c->sport, .seq = c->iss,
			       .ack = c->rcv_nxt, .flags = H_SYN | H_ACK, .wnd = c->wnd,
			       .mss = o->mss ? o->mss : H_STACK_MSS, .has_ws = !o->no_ws,
			       .ws = o->ws, .sack_perm = o->sack_perm});
	c->snd_nxt++;
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK, c->rcv_nxt, c->snd_nxt);
	ck_assert_uint_eq(s.len, 0);
	h_none();
	h_assert_log(c->app, "connect OK");
}

void
h__apps_end(void)
{
	h_listen_close();
	for (unsigned int i = 0; i < st.napps; i++)
		if (st.apps[i]->flow != NULL)
			h_abort(st.apps[i]);
}

void
h__apps_free(void)
{
	for (unsigned int i = 0; i < st.napps; i++) {
		free(st.apps[i]->rx);
		free(st.apps[i]->log);
		free(st.apps[i]);
	}
	memset(&st, 0, sizeof(st));
}

/* The peer's window shuts the way it does in practice: the stack sends len bytes and the
 * peer acknowledges them with a window of 0. (An ACK that acknowledges nothing new and only
 * shrinks the window is ignored by lwIP's update rule, as in BSD: SND.WL2 must advance or
 * the window grow; RFC 1122 4.2.2.16 discourages shrinking anyway.) */
void
h_shut_peer_window(struct h_conn *c, uint32_t len)
{
	struct h_seg s;
	uint32_t got = 0;

	h_write(c->app, len, 0);
	h_run();
	while (h_pending()) {
		s = h_recv();
		ck_assert_uint_eq(s.seq, c->rcv_nxt + got);
		got += s.len;
	}
	ck_assert_uint_eq(got, len);
	c->rcv_nxt += len;
	c->wnd = 0;
	h_conn_send(c, H_ACK, NULL, 0);
	h_run();
	h_none();
}

struct h_seg
h_open_peer_window(struct h_conn *c, uint32_t len)
{
	struct h_seg s;
	uint32_t base = c->rcv_nxt;

	c->wnd = 65535;
	h_conn_send(c, H_ACK, NULL, 0);
	h_run();
	s = h_recv();
	h_assert_seg(s, H_ACK | H_PSH, base, c->snd_nxt);
	ck_assert_uint_eq(s.len, len);
	h_none();
	c->rcv_nxt += len;
	h_conn_send(c, H_ACK, NULL, 0);
	h_run();
	h_none();
	return s;
}
