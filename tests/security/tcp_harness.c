/*
 * The crafted-segment peer of tcp_harness.h, and lwIP's platform hooks for a process without
 * DPDK (sys_now from a fake clock, assertions that abort, rand from libc).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/ip6.h"
#include "lwip/ip6_addr.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"

#include "tcp_harness.h"

struct th th;
uint32_t th_now_ms = 1000;
uint16_t th_dst_port = TH_PORT;
int th_family = 4;
long th_frames_live;

static struct netif nif;

/* ---- lwIP's platform hooks (arch/cc.h, lwip/sys.h) ------------------------------------- */

u32_t
sys_now(void)
{
	return th_now_ms;
}

void
rf__lwip_assert(const char *msg, const char *file, int line)
{
	fprintf(stderr, "lwIP assertion failed at %s:%d: %s\n", file, line, msg);
	abort();
}

uint32_t
rf__lwip_rand(void)
{
	return (uint32_t)random();
}

/* ---- the netif: output recorded, input from crafted frames ----------------------------- */

/* Records the TCP segment at tcp (tcplen bytes: header and payload) the stack sent. */
static void
record(const uint8_t *tcp, uint16_t tcplen, const uint8_t *src, const uint8_t *dst)
{
	struct th_seg *s;
	uint16_t thl = (uint16_t)((tcp[12] >> 4) * 4);

	if (th.nout >= TH_MAX_OUT) {
		th.nout++;
		return;
	}
	s = &th.out[th.nout++];
	memcpy(&s->src, src, 4);
	memcpy(&s->dst, dst, 4);
	s->src = ntohl(s->src);
	s->dst = ntohl(s->dst);
	s->sport = (uint16_t)(tcp[0] << 8 | tcp[1]);
	s->dport = (uint16_t)(tcp[2] << 8 | tcp[3]);
	memcpy(&s->seq, tcp + 4, 4);
	memcpy(&s->ack, tcp + 8, 4);
	s->seq = ntohl(s->seq);
	s->ack = ntohl(s->ack);
	s->flags = tcp[13];
	s->wnd = (uint16_t)(tcp[14] << 8 | tcp[15]);
	s->len = (uint16_t)(tcplen - thl);
}

static err_t
out4(struct netif *n, struct pbuf *p, const ip4_addr_t *dst)
{
	uint8_t b[60];
	uint16_t ihl;

	(void)n;
	(void)dst;
	if (pbuf_copy_partial(p, b, sizeof(b), 0) < 40 || b[9] != 6)
		return ERR_OK;
	ihl = (uint16_t)((b[0] & 0x0f) * 4);
	record(b + ihl, (uint16_t)((b[2] << 8 | b[3]) - ihl), b + 12, b + 16);
	return ERR_OK;
}

/* IPv6: addresses recorded by their last 32 bits (2001:2::c612:1 as 198.18.0.1). */
static err_t
out6(struct netif *n, struct pbuf *p, const ip6_addr_t *dst)
{
	uint8_t b[80];

	(void)n;
	(void)dst;
	if (pbuf_copy_partial(p, b, sizeof(b), 0) < 60 || b[6] != 6)
		return ERR_OK;
	record(b + 40, (uint16_t)(b[4] << 8 | b[5]), b + 8 + 12, b + 24 + 12);
	return ERR_OK;
}

static err_t
nif_init(struct netif *n)
{
	n->output = out4;
	n->output_ip6 = out6;
	n->mtu = 1500;
	n->flags = NETIF_FLAG_LINK_UP;
	n->name[0] = 't';
	n->name[1] = 'h';
	NETIF_SET_CHECKSUM_CTRL(n, NETIF_CHECKSUM_DISABLE_ALL);
	return ERR_OK;
}

struct frame {
	struct pbuf_custom pc; /* first: lwIP's pbuf pointer is the frame's */
	uint8_t *data;
};

static void
frame_free(struct pbuf *p)
{
	struct frame *f = (struct frame *)p;

	free(f->data);
	free(f);
	th_frames_live--;
}

/* The IP header of a frame from ip (host order; over IPv6 2001:2::/96 + ip) to the stack,
 * for a TCP segment of tcplen bytes; returns its length. */
static uint16_t
ip_header(uint8_t *b, uint32_t ip, uint16_t tcplen)
{
	uint32_t src = htonl(ip), dst = htonl(TH_STACK_IP);

	if (th_family == 6) {
		static const uint8_t prefix[12] = {0x20, 0x01, 0x00, 0x02};

		memset(b, 0, 40);
		b[0] = 0x60;
		b[4] = (uint8_t)(tcplen >> 8);
		b[5] = (uint8_t)tcplen;
		b[6] = 6;
		b[7] = 64;
		memcpy(b + 8, prefix, 12);
		memcpy(b + 20, &src, 4);
		memcpy(b + 24, prefix, 12);
		memcpy(b + 36, &dst, 4);
		return 40;
	}
	memset(b, 0, 20);
	b[0] = 0x45;
	b[2] = (uint8_t)((20 + tcplen) >> 8);
	b[3] = (uint8_t)(20 + tcplen);
	b[8] = 64;
	b[9] = 6;
	memcpy(b + 12, &src, 4);
	memcpy(b + 16, &dst, 4);
	return 20;
}

void
th_send(uint32_t ip, uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd,
	const uint8_t *opts, uint8_t optlen, const void *data, uint16_t len)
{
	uint16_t thl = (uint16_t)(20 + optlen), iphl = th_family == 6 ? 40 : 20;
	uint16_t tot = (uint16_t)(iphl + thl + len);
	struct frame *f = calloc(1, sizeof(*f));
	uint8_t *b = malloc(tot), *t; /* exactly the frame: a read past it is a heap overflow */
	uint32_t v;
	struct pbuf *p;

	if (f == NULL || b == NULL || optlen % 4 != 0)
		abort();
	t = b + ip_header(b, ip, (uint16_t)(thl + len));
	memset(t, 0, 20);
	t[0] = (uint8_t)(port >> 8);
	t[1] = (uint8_t)port;
	t[2] = (uint8_t)(th_dst_port >> 8);
	t[3] = (uint8_t)th_dst_port;
	v = htonl(seq);
	memcpy(t + 4, &v, 4);
	v = htonl(ack);
	memcpy(t + 8, &v, 4);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	t[14] = (uint8_t)(wnd >> 8);
	t[15] = (uint8_t)wnd;
	if (optlen)
		memcpy(t + 20, opts, optlen);
	if (len)
		memcpy(t + thl, data, len);
	f->data = b;
	f->pc.custom_free_function = frame_free;
	p = pbuf_alloced_custom(PBUF_RAW, tot, PBUF_POOL, &f->pc, b, tot);
	th_frames_live++;
	nif.input(p, &nif);
}

void
th_send_data(const void *data, uint16_t len)
{
	th_send(th.peer_ip, th.peer_port, th.snd_nxt, th.rcv_nxt, TH_ACK | TH_PSH, 0xffff, NULL, 0,
		data, len);
}

/* ---- the stack's application side ------------------------------------------------------ */

static err_t
on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)pcb;
	(void)err;
	if (p == NULL) {
		th.got_fin = true;
		return ERR_OK;
	}
	th.received += p->tot_len;
	pbuf_free(p);
	return ERR_OK;
}

static void
on_err(void *arg, err_t err)
{
	(void)arg;
	th.conn = NULL;
	th.conn_err = err;
}

static err_t
on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK || pcb == NULL)
		return ERR_VAL;
	th.accepted++;
	if (th.conn == NULL) {
		th.conn = pcb;
		tcp_recv(pcb, on_recv);
		tcp_err(pcb, on_err);
	}
	return ERR_OK;
}

void
th_recved(uint32_t n)
{
	while (n > 0 && th.conn != NULL) {
		uint16_t k = n > 0xffff ? 0xffff : (uint16_t)n;

		tcp_recved(th.conn, k);
		n -= k;
	}
}

/* ---- set-up, tear-down, leak check ------------------------------------------------------ */

void
th_setup(uint8_t backlog)
{
	ip4_addr_t a, m, g;
	ip6_addr_t a6;
	struct tcp_pcb *pcb;

	memset(&th, 0, sizeof(th));
	th_family = 4;
	lwip_init();
	IP4_ADDR(&a, 198, 18, 0, 2);
	IP4_ADDR(&m, 255, 255, 255, 0);
	IP4_ADDR(&g, 0, 0, 0, 0);
	if (netif_add(&nif, &a, &m, &g, NULL, nif_init, ip_input) == NULL ||
	    !ip6addr_aton("2001:2::c612:2", &a6)) /* TH_STACK_IP's IPv6 twin */
		abort();
	netif_ip6_addr_set(&nif, 0, &a6);
	netif_ip6_addr_set_state(&nif, 0, IP6_ADDR_PREFERRED);
	netif_set_default(&nif);
	netif_set_up(&nif);
	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (pcb == NULL || tcp_bind(pcb, IP_ANY_TYPE, TH_PORT) != ERR_OK)
		abort();
	th.listener = (struct tcp_pcb_listen *)tcp_listen_with_backlog(pcb, backlog);
	if (th.listener == NULL)
		abort();
	tcp_accept((struct tcp_pcb *)th.listener, on_accept);
}

void
th_teardown(void)
{
	while (tcp_active_pcbs != NULL)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs != NULL)
		tcp_abort(tcp_tw_pcbs);
	if (th.listener != NULL)
		tcp_close((struct tcp_pcb *)th.listener);
	th.listener = NULL;
	th.conn = NULL;
	netif_remove(&nif);
}

const char *
th_leaks(void)
{
	static char msg[160];

	if (th_frames_live != 0)
		snprintf(msg, sizeof(msg), "%ld crafted frames still held by lwIP", th_frames_live);
	else if (lwip_stats.memp[MEMP_TCP_PCB]->used != 0)
		snprintf(msg, sizeof(msg), "%u tcp pcbs", (unsigned)lwip_stats.memp[MEMP_TCP_PCB]->used);
	else if (lwip_stats.memp[MEMP_TCP_SEG]->used != 0)
		snprintf(msg, sizeof(msg), "%u tcp segments",
			 (unsigned)lwip_stats.memp[MEMP_TCP_SEG]->used);
	else if (lwip_stats.memp[MEMP_PBUF]->used != 0)
		snprintf(msg, sizeof(msg), "%u pbufs", (unsigned)lwip_stats.memp[MEMP_PBUF]->used);
	else if (tcp_ooseq_pbufs_total != 0)
		snprintf(msg, sizeof(msg), "%u out-of-order pbufs in the per-core count",
			 (unsigned)tcp_ooseq_pbufs_total);
	else if (lwip_stats.mem.used != 0)
		snprintf(msg, sizeof(msg), "%u bytes of lwIP heap", (unsigned)lwip_stats.mem.used);
	else
		return NULL;
	return msg;
}

void
th_fixture_setup(void)
{
	th_setup(8);
}

void
th_fixture_teardown(void)
{
	const char *leak;

	th_teardown();
	leak = th_leaks();
	ck_assert_msg(leak == NULL, "after the test lwIP still holds %s", leak);
}

TCase *
th_tcase(Suite *s, const char *name, void (*setup)(void))
{
	TCase *tc = tcase_create(name);

	if (setup != NULL)
		tcase_add_checked_fixture(tc, setup, th_fixture_teardown);
	suite_add_tcase(s, tc);
	return tc;
}

/* ---- the peer's handshake and the record of what the stack sent ------------------------ */

bool
th_connect(uint16_t port, int wscale)
{
	uint8_t opts[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 0}; /* MSS 1460, NOP, WS */
	uint32_t from = th.nout, iss = 1000000u + port;
	const struct th_seg *sa;

	if (wscale >= 0)
		opts[7] = (uint8_t)wscale;
	th_send(TH_PEER_IP, port, iss, 0, TH_SYN, 0xffff, opts, wscale >= 0 ? 8 : 4, NULL, 0);
	if (th.nout != from + 1 || th.out[from].flags != (TH_SYN | TH_ACK) ||
	    th.out[from].ack != iss + 1)
		return false;
	sa = &th.out[from];
	th.peer_ip = TH_PEER_IP;
	th.peer_port = port;
	th.snd_nxt = iss + 1;
	th.rcv_nxt = sa->seq + 1;
	th_send(TH_PEER_IP, port, th.snd_nxt, th.rcv_nxt, TH_ACK, 0xffff, NULL, 0, NULL, 0);
	return th.conn != NULL && th.conn->state == ESTABLISHED;
}

uint32_t
th_count(uint32_t from, uint8_t all)
{
	uint32_t n = 0;

	for (uint32_t i = from; i < th.nout && i < TH_MAX_OUT; i++)
		if ((th.out[i].flags & all) == all)
			n++;
	return n;
}

const struct th_seg *
th_last(void)
{
	return th.nout == 0 || th.nout > TH_MAX_OUT ? NULL : &th.out[th.nout - 1];
}
