/*
 * Flows: lwIP's raw TCP callbacks turned into MirageOS FLOW semantics.
 *
 * lwIP calls back during input and timers (on_recv, on_sent, on_err, on_accept,
 * on_connected). Those callbacks only change the flow's state and queue completions; the
 * application's callbacks run later from the loop's completion phase (rf__dispatch), in order.
 *
 * Receive: each pbuf of a received chain becomes a root rf_buf in the flow's receive queue,
 * holding its own reference to the mbuf; lwIP's reference is dropped at once. The bytes are not
 * acknowledged to lwIP (tcp_recved) until the application releases the buffer, so unread data
 * keeps the window shut: end-to-end backpressure.
 *
 * Send: a write request's buffers are handed to tcp_write() without the copy flag, as much as
 * TCP's send buffer takes; the request completes when its last byte is in. A handed buffer is
 * kept (struct rf__sent, with the sequence number after its last byte) until the peer
 * acknowledges it, because lwIP retransmits straight from that memory.
 *
 * Close: FIN goes after the last queued byte (tcp_shutdown). The close completes once our FIN
 * is queued and the peer's has arrived, or when the connection fails. The flow is detached
 * from lwIP when both FINs are through and everything sent was acknowledged (lwIP finishes
 * LAST-ACK / TIME-WAIT on its own), and freed when the application is done with it too.
 *
 * This file has the flow objects and what lwIP calls; open.c listens, accepts and connects;
 * calls.c has the application's calls on a flow and the completion phase.
 */
#include <stdlib.h>
#include <string.h>

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include "flow_internal.h"

/* Entries of a new flow's sent ring (16 bytes each; it doubles when full and keeps its size
 * when the flow is reused): small, since it is memory every open flow holds. */
#define RF_SENT_INITIAL 8

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err);
static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len);
static void on_err(void *arg, err_t err);

/* ---- flow objects ---------------------------------------------------------------------- */

struct rf_flow *
rf__flow_new(struct rf_loop *l)
{
	struct rf_flow *f = l->free_flows;
	struct rf__sent *sent;
	uint32_t gen, mask;

	if (l->flows_open >= l->max_flows) /* --max-flows: the budget of docs/scaling.md */
		return NULL;
	if (f != NULL) {
		l->free_flows = f->next;
	} else {
		f = calloc(1, sizeof(*f));
		if (f == NULL)
			return NULL;
		f->sent = malloc(RF_SENT_INITIAL * sizeof(*f->sent));
		if (f->sent == NULL) {
			free(f);
			return NULL;
		}
		f->sent_mask = RF_SENT_INITIAL - 1;
	}
	sent = f->sent;
	mask = f->sent_mask;
	gen = f->gen;
	memset(f, 0, sizeof(*f));
	f->sent = sent;
	f->sent_mask = mask;
	f->gen = gen;
	f->loop = l;
	f->next = l->live;
	if (l->live != NULL)
		l->live->prev = f;
	l->live = f;
	l->flows_open++;
	l->flows_opened++;
	f->id = l->flows_opened;
	return f;
}

void
rf__flow_rxq_drop(struct rf_flow *f)
{
	while (f->rxq_head != NULL) {
		struct rf_buf *b = f->rxq_head;

		f->rxq_head = b->rf_next;
		rf_buf_release(b);
	}
	f->rxq_tail = NULL;
}

static void
flow_release(struct rf_flow *f)
{
	struct rf_loop *l = f->loop;

	RTE_ASSERT(f->pcb == NULL && f->sent_head == f->sent_tail && f->wq_head == NULL &&
		   !f->on_unsent);
	rf__flow_rxq_drop(f);
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		l->live = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	l->flows_open--;
	rf__tel_flow_state(f, true);
	f->gen++;
	f->next = l->free_flows;
	l->free_flows = f;
}

void
rf__flow_maybe_free(struct rf_flow *f)
{
	if (f->app_done && f->pcb == NULL)
		flow_release(f);
}

void
rf__flow_queue(struct rf_flow *f, uint8_t kind, int status, void (*cb)(void), void *arg,
	       struct rf_buf *b)
{
	struct rf__comp c = {.kind = kind, .status = status, .flow = f, .cb = cb, .arg = arg, .buf = b};

	rf__complete(f->loop, &c);
}

void
rf__flow_attach(struct rf_flow *f, struct tcp_pcb *pcb)
{
	f->pcb = pcb;
	f->snd_max = pcb->snd_nxt; /* accepted: past the SYN; rf_connect sets it again */
	tcp_arg(pcb, f);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	/* Request/response traffic must not wait for ACKs of small segments; writes mark
	 * continuation with TCP_WRITE_FLAG_MORE instead. */
	tcp_nagle_disable(pcb);
	rf__tel_flow_state(f, false);
}

/* The unsent list: flows whose pcb holds bytes (or a FIN) not sent yet. Only those can send
 * new sequence space without a callback of ours (lwIP sends them when an ACK opens the
 * window), so rf__flows_track_sent() visits them and not every open flow: with many idle
 * connections the stats (and telemetry, every 100 ms) would otherwise walk them all. */
static void
unsent_del(struct rf_flow *f)
{
	if (!f->on_unsent)
		return;
	if (f->unsent_prev != NULL)
		f->unsent_prev->unsent_next = f->unsent_next;
	else
		f->loop->unsent = f->unsent_next;
	if (f->unsent_next != NULL)
		f->unsent_next->unsent_prev = f->unsent_prev;
	f->on_unsent = false;
}

static void
unsent_add(struct rf_flow *f)
{
	if (f->on_unsent)
		return;
	f->unsent_prev = NULL;
	f->unsent_next = f->loop->unsent;
	if (f->unsent_next != NULL)
		f->unsent_next->unsent_prev = f;
	f->loop->unsent = f;
	f->on_unsent = true;
}

/* Counts sequence space the pcb sent for the first time (lwIP moves snd_nxt back when it
 * retransmits after a timeout, so only growth past the highest value is new), and keeps the
 * flow on the unsent list while it has more to send. */
static void
track_sent(struct rf_flow *f)
{
	rf__tel_flow_state(f, false); /* after output, shutdown, ACKs: for telemetry.c */
	if (f->pcb != NULL && TCP_SEQ_GT(f->pcb->snd_nxt, f->snd_max)) {
		f->loop->tx_new_bytes += f->pcb->snd_nxt - f->snd_max;
		f->snd_max = f->pcb->snd_nxt;
	}
	if (f->pcb != NULL && f->pcb->unsent != NULL)
		unsent_add(f);
	else
		unsent_del(f);
}

void
rf__flows_track_sent(struct rf_loop *l)
{
	struct rf_flow *f = l->unsent, *next;

	for (; f != NULL; f = next) {
		next = f->unsent_next; /* track_sent may take f off the list */
		track_sent(f);
	}
}

/* Leaves the pcb to lwIP: no callback reaches this flow any more. */
void
rf__flow_detach(struct rf_flow *f)
{
	struct tcp_pcb *pcb = f->pcb;

	if (pcb == NULL)
		return;
	track_sent(f);
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	f->pcb = NULL;
	unsent_del(f);
	rf__tel_flow_state(f, false);
}

/* ---- the send side ------------------------------------------------------------------- */

/* Write requests of up to RF_WREQ_SMALL buffers (nearly all) come from a free list, so a
 * write costs no malloc; larger writev requests are allocated to size. */
struct rf__wreq *
rf__wreq_new(struct rf_loop *l, unsigned int n)
{
	struct rf__wreq *r;

	if (n <= RF_WREQ_SMALL && l->free_wreqs != NULL) {
		r = l->free_wreqs;
		l->free_wreqs = r->next;
		return r;
	}
	return malloc(sizeof(*r) + RTE_MAX(n, (unsigned int)RF_WREQ_SMALL) * sizeof(r->bufs[0]));
}

static void
wreq_free(struct rf_loop *l, struct rf__wreq *r)
{
	if (r->n > RF_WREQ_SMALL) {
		free(r);
		return;
	}
	r->next = l->free_wreqs;
	l->free_wreqs = r;
}

void
rf__wreqs_free(struct rf_loop *l)
{
	while (l->free_wreqs != NULL) {
		struct rf__wreq *r = l->free_wreqs;

		l->free_wreqs = r->next;
		free(r);
	}
}

static void
sent_push(struct rf_flow *f, struct rf_buf *b, uint32_t end_seq)
{
	if (f->sent_tail - f->sent_head > f->sent_mask) {
		uint32_t n = (f->sent_mask + 1) * 2;
		struct rf__sent *v = malloc(n * sizeof(*v));

		if (v == NULL) {
			/* keep the data safe: hold the buffer forever rather than free memory
			 * lwIP may still retransmit from */
			f->loop->stack.stats.alloc_failures++;
			return;
		}
		for (uint32_t i = 0; f->sent_head + i != f->sent_tail; i++)
			v[i] = f->sent[(f->sent_head + i) & f->sent_mask];
		f->sent_tail -= f->sent_head;
		f->sent_head = 0;
		free(f->sent);
		f->sent = v;
		f->sent_mask = n - 1;
	}
	f->sent[f->sent_tail & f->sent_mask] = (struct rf__sent){b, end_seq};
	f->sent_tail++;
}

static void
sent_release_acked(struct rf_flow *f)
{
	while (f->sent_head != f->sent_tail) {
		struct rf__sent *s = &f->sent[f->sent_head & f->sent_mask];

		if (!TCP_SEQ_LEQ(s->end_seq, f->pcb->lastack))
			break;
		rf_buf_release(s->buf);
		f->sent_head++;
	}
}

/* After lwIP freed the pcb (reset, timeout, abort): nothing will be retransmitted. */
void
rf__flow_sent_release_all(struct rf_flow *f)
{
	for (; f->sent_head != f->sent_tail; f->sent_head++)
		rf_buf_release(f->sent[f->sent_head & f->sent_mask].buf);
}

void
rf__flow_complete_writes(struct rf_flow *f, int status)
{
	while (f->wq_head != NULL) {
		struct rf__wreq *r = f->wq_head;

		f->wq_head = r->next;
		for (uint32_t i = r->idx; i < r->n; i++)
			rf_buf_release(r->bufs[i]);
		if (r->cb != NULL)
			rf__flow_queue(f, RF__C_WRITE, status, (void (*)(void))r->cb, r->arg, NULL);
		wreq_free(f->loop, r);
	}
	f->wq_tail = NULL;
}

/* ---- the receive side ---------------------------------------------------------------- */

/* Completes the pending read if there is something to give it: data first, then EOF, then
 * the connection's error. */
void
rf__flow_deliver(struct rf_flow *f)
{
	struct rf_buf *b;

	if (f->read_cb == NULL)
		return;
	if ((b = f->rxq_head) != NULL) {
		f->rxq_head = b->rf_next;
		if (f->rxq_head == NULL)
			f->rxq_tail = NULL;
		b->rf_next = NULL;
		f->ctr.rx_bytes += b->len;
		rf__flow_queue(f, RF__C_READ, RF_OK, (void (*)(void))f->read_cb, f->read_arg, b);
		f->reads_queued++;
	} else if (f->rx_eof || f->rd_shut) {
		rf__flow_queue(f, RF__C_READ, RF_EOF, (void (*)(void))f->read_cb, f->read_arg, NULL);
		f->reads_queued++;
	} else if (f->conn_err != 0) {
		rf__flow_queue(f, RF__C_READ, f->conn_err, (void (*)(void))f->read_cb, f->read_arg, NULL);
		f->reads_queued++;
	} else {
		return;
	}
	f->read_cb = NULL;
}

void
rf__flow_check_close(struct rf_flow *f)
{
	if (!f->closing || f->close_queued)
		return;
	rf__flow_deliver(f);
	if ((f->fin_sent && f->rx_eof) || f->conn_err != 0) {
		rf__flow_queue(f, RF__C_CLOSE, f->conn_err, (void (*)(void))f->close_cb, f->close_arg, NULL);
		f->close_queued = true;
	}
}

/* Both FINs through and every sent byte acknowledged: lwIP can finish alone. */
static void
maybe_detach(struct rf_flow *f)
{
	if (f->pcb != NULL && f->fin_sent && f->rx_eof && f->sent_head == f->sent_tail &&
	    f->wq_head == NULL) {
		rf__flow_detach(f);
		rf__flow_maybe_free(f);
	}
}

/* Hands queued writes to TCP as far as its send buffer allows, then the FIN if asked. */
void
rf__flow_push(struct rf_flow *f)
{
	struct tcp_pcb *pcb = f->pcb;
	struct rf__wreq *r;

	if (pcb == NULL || f->connecting)
		return;
	while ((r = f->wq_head) != NULL) {
		while (r->idx < r->n) {
			struct rf_buf *b = r->bufs[r->idx];
			uint32_t left = b->len - r->off, room = tcp_sndbuf(pcb), n;
			bool more;
			err_t err;

			if (left == 0) { /* an empty buffer carries nothing */
				rf_buf_release(b);
				r->idx++;
				continue;
			}
			if (room == 0)
				goto out;
			n = RTE_MIN(RTE_MIN(left, room), 0xffffu); /* tcp_write takes a u16 */
			more = n < left || r->idx + 1 < r->n || r->next != NULL;
			err = tcp_write(pcb, b->data + r->off, (u16_t)n, more ? TCP_WRITE_FLAG_MORE : 0);
			if (err == ERR_MEM)
				goto out; /* queue full: on_sent resumes */
			if (err != ERR_OK) {
				rf__flow_complete_writes(f, RF_EOF);
				goto out;
			}
			r->off += n;
			f->ctr.tx_bytes += n;
			if (r->off == b->len) {
				sent_push(f, b, pcb->snd_lbb);
				r->idx++;
				r->off = 0;
			}
		}
		f->wq_head = r->next;
		if (f->wq_head == NULL)
			f->wq_tail = NULL;
		if (r->cb != NULL)
			rf__flow_queue(f, RF__C_WRITE, RF_OK, (void (*)(void))r->cb, r->arg, NULL);
		wreq_free(f->loop, r);
	}
	if (f->wr_shut && !f->fin_sent && tcp_shutdown(pcb, 0, 1) == ERR_OK)
		f->fin_sent = true;
out:
	tcp_output(pcb);
	track_sent(f);
	rf__flow_check_close(f);
	maybe_detach(f);
}

/* ---- lwIP's callbacks ------------------------------------------------------------------ */

static int
map_err(err_t err, bool connecting)
{
	switch (err) {
	case ERR_RST:
		return connecting ? RF_ECONNREFUSED : RF_ECONNRESET;
	case ERR_ABRT:
		/* lwIP reports its own retransmission and keepalive timeouts as aborts; our
		 * own aborts detach first and never get here. */
		return RF_ETIMEDOUT;
	case ERR_MEM:
		return RF_ENOMEM;
	case ERR_CLSD:
		return RF_ECONNRESET;
	default:
		return RF_ECONNABORTED;
	}
}

static void
on_err(void *arg, err_t err)
{
	struct rf_flow *f = arg;

	if (f == NULL)
		return;
	f->pcb = NULL; /* lwIP has freed it */
	unsent_del(f);
	rf__tel_flow_state(f, false);
	f->conn_err = map_err(err, f->connecting);
	rf__flow_sent_release_all(f);
	rf__flow_complete_writes(f, RF_EOF);
	if (f->connecting) {
		f->connecting = false;
		rf__flow_queue(f, RF__C_CONNECT, f->conn_err, (void (*)(void))f->connect_cb, f->connect_arg,
		      NULL);
	}
	rf__flow_deliver(f);
	rf__flow_check_close(f);
	rf__flow_maybe_free(f);
}

/* Wraps one piece of received data as a buffer: a reference to its mbuf, or a copy when the
 * piece is not in an mbuf (never on rawflow's own RX path; counted). */
static struct rf_buf *
take_piece(struct rf_flow *f, struct pbuf *q)
{
	struct rte_mbuf *m = rf_pbuf_mbuf(q);
	struct rf_buf *b;

	if (m != NULL) {
		rte_mbuf_refcnt_update(m, 1);
		b = rf__buf_root(m, q->payload, q->len);
	} else {
		b = rf_buf_alloc(f->loop, q->len);
		if (b == NULL)
			return NULL;
		memcpy(b->data, q->payload, q->len);
		f->loop->rx_copied_bytes += q->len;
	}
	b->rf_flow = f;
	b->rf_flow_gen = f->gen;
	b->rf_credit = q->len;
	return b;
}

static err_t
on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct rf_flow *f = arg;
	struct rf_buf *first = NULL, *last = NULL;

	if (p == NULL) { /* the peer's FIN */
		rf__tel_flow_state(f, false);
		f->rx_eof = true;
		rf__flow_deliver(f);
		rf__flow_check_close(f);
		maybe_detach(f);
		return ERR_OK;
	}
	if (err != ERR_OK || f->rd_shut) {
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
		return ERR_OK;
	}
	for (struct pbuf *q = p; q != NULL; q = q->next) {
		struct rf_buf *b;

		if (q->len == 0)
			continue;
		b = take_piece(f, q);
		if (b == NULL) {
			/* nothing taken: lwIP keeps the data and offers it again later */
			while (first != NULL) {
				b = first->rf_next;
				first->rf_flow = NULL;
				rf_buf_release(first);
				first = b;
			}
			return ERR_MEM;
		}
		if (last != NULL)
			last->rf_next = b;
		else
			first = b;
		last = b;
	}
	f->loop->rx_payload_bytes += p->tot_len;
	pbuf_free(p);
	if (first != NULL) {
		if (f->rxq_tail != NULL)
			f->rxq_tail->rf_next = first;
		else
			f->rxq_head = first;
		f->rxq_tail = last;
	}
	rf__flow_deliver(f);
	return ERR_OK;
}

static err_t
on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct rf_flow *f = arg;

	(void)pcb;
	(void)len;
	track_sent(f);
	sent_release_acked(f);
	rf__flow_push(f);
	return ERR_OK;
}
