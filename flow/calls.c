/*
 * A flow's calls from the application (read, write, close, shutdown, abort, accessors) and
 * the completion phase that runs the application's callbacks (rf__dispatch). What they do to
 * the connection is flow.c's; its header comment has the model.
 */
#include <stdlib.h>
#include <string.h>

#include "lwip/tcp.h"

#include "flow_internal.h"

/* ---- the completion phase -------------------------------------------------------------- */

void
rf__dispatch(struct rf_loop *l, struct rf__comp *c)
{
	struct rf_flow *f = c->flow;

	switch (c->kind) {
	case RF__C_ACCEPT:
		c->ls->pending--;
		if (c->ls->closed) {
			rf_flow_abort(f);
			if (c->ls->pending == 0)
				free(c->ls); /* closed with accepts pending */
		} else {
			c->ls->cb(c->ls, f, c->ls->arg);
		}
		break;
	case RF__C_CONNECT:
		if (c->status != RF_OK && !f->closing && !f->aborted)
			f->app_done = true; /* freed when the callback returns */
		((rf_connect_cb *)c->cb)(f, c->status, c->arg);
		if (f->app_done)
			rf__flow_maybe_free(f);
		break;
	case RF__C_READ:
		f->reads_queued--;
		f->ctr.reads++;
		((rf_read_cb *)c->cb)(f, c->status, c->buf, c->arg);
		break;
	case RF__C_WRITE:
		if (c->cb != NULL)
			((rf_write_cb *)c->cb)(f, c->status, c->arg);
		break;
	case RF__C_CLOSE:
		if ((f->read_cb != NULL || f->reads_queued > 0) && !f->aborted) {
			/* a read issued before the close completion: it completes first */
			rf__flow_deliver(f);
			rf__complete(l, c);
			break;
		}
		f->app_done = true; /* nothing may start inside the close callback */
		if (c->cb != NULL)
			((rf_close_cb *)c->cb)(f, c->status, c->arg);
		rf__flow_maybe_free(f);
		break;
	case RF__C_FREE:
		f->app_done = true;
		rf__flow_maybe_free(f);
		break;
	}
}

/* Released bytes go back to lwIP's window (tcp_recved) once per run of releases on one flow,
 * at the latest at the end of the completion phase (rf__flows_credit, before the pass sends),
 * not once per buffer: per buffer, lwIP sent a window update every 4 segments (about 360 for
 * a 2 MiB window) besides the ACKs for the data. */
void
rf__flow_credit(struct rf_flow *f, uint32_t gen, uint32_t bytes)
{
	struct rf_loop *l = rf__loop;

	if (l == NULL) /* released after rf_loop_destroy */
		return;
	if (l->credit_flow != f || l->credit_gen != gen) {
		rf__flows_credit(l);
		l->credit_flow = f;
		l->credit_gen = gen;
	}
	l->credit_bytes += bytes;
}

void
rf__flows_credit(struct rf_loop *l)
{
	struct rf_flow *f = l->credit_flow;
	uint64_t left = l->credit_bytes;

	l->credit_flow = NULL;
	l->credit_bytes = 0;
	if (f == NULL || f->gen != l->credit_gen)
		return;
	while (f->pcb != NULL && left > 0) { /* tcp_recved takes a u16 */
		u16_t n = (u16_t)RTE_MIN(left, (uint64_t)0xffff);

		tcp_recved(f->pcb, n);
		left -= n;
	}
}

static bool
usable(const struct rf_flow *f)
{
	return f != NULL && !f->app_done && !f->aborted;
}

int
rf_flow_read(struct rf_flow *f, rf_read_cb *cb, void *arg)
{
	if (!usable(f) || cb == NULL)
		return RF_EINVAL;
	/* one read at a time: pending, or completed and its callback not yet run */
	if (f->read_cb != NULL || f->reads_queued > 0)
		return RF_EALREADY;
	f->read_cb = cb;
	f->read_arg = arg;
	rf__flow_deliver(f);
	return 0;
}

static void
release_all(struct rf_buf **bufs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (bufs[i] != NULL)
			rf_buf_release(bufs[i]);
}

int
rf_flow_writev(struct rf_flow *f, struct rf_buf **bufs, unsigned int n, rf_write_cb *cb, void *arg)
{
	struct rf__wreq *r;

	if (bufs == NULL || n == 0)
		return RF_EINVAL;
	for (unsigned int i = 0; i < n; i++)
		if (bufs[i] == NULL || bufs[i]->rf_refcnt == 0) {
			/* consume the others: the caller's references are gone in every case */
			for (unsigned int j = 0; j < n; j++)
				if (j != i && bufs[j] != NULL && bufs[j]->rf_refcnt > 0)
					rf_buf_release(bufs[j]);
			return RF_EINVAL;
		}
	if (!usable(f)) {
		release_all(bufs, n);
		return RF_EINVAL;
	}
	if (f->wr_shut) {
		release_all(bufs, n);
		return RF_EPIPE;
	}
	f->ctr.writes++;
	if (f->conn_err != 0) { /* the connection is gone: nothing can be sent */
		release_all(bufs, n);
		if (cb != NULL)
			rf__flow_queue(f, RF__C_WRITE, RF_EOF, (void (*)(void))cb, arg, NULL);
		return 0;
	}
	r = rf__wreq_new(f->loop, n);
	if (r == NULL) {
		release_all(bufs, n);
		return RF_ENOMEM;
	}
	r->next = NULL;
	r->cb = cb;
	r->arg = arg;
	r->n = n;
	r->idx = 0;
	r->off = 0;
	memcpy(r->bufs, bufs, n * sizeof(bufs[0]));
	if (f->wq_tail != NULL)
		f->wq_tail->next = r;
	else
		f->wq_head = r;
	f->wq_tail = r;
	rf__flow_push(f);
	return 0;
}

int
rf_flow_write(struct rf_flow *f, struct rf_buf *b, rf_write_cb *cb, void *arg)
{
	return rf_flow_writev(f, &b, 1, cb, arg);
}

int
rf_flow_close(struct rf_flow *f, rf_close_cb *cb, void *arg)
{
	if (!usable(f))
		return RF_EINVAL;
	if (f->closing)
		return RF_EALREADY;
	f->closing = true;
	f->close_cb = cb;
	f->close_arg = arg;
	f->wr_shut = true;
	if (f->pcb != NULL)
		rf__flow_push(f);
	else
		rf__flow_check_close(f);
	return 0;
}

int
rf_flow_shutdown(struct rf_flow *f, int how)
{
	if (!usable(f) || how < RF_SHUT_RD || how > RF_SHUT_RDWR)
		return RF_EINVAL;
	if ((how & RF_SHUT_RD) && !f->rd_shut) {
		f->rd_shut = true;
		rf__flow_rxq_drop(f);
		rf__flow_deliver(f);
	}
	if ((how & RF_SHUT_WR) && !f->wr_shut) {
		f->wr_shut = true;
		rf__flow_push(f);
	}
	return 0;
}

void
rf_flow_abort(struct rf_flow *f)
{
	struct tcp_pcb *pcb;

	if (!usable(f))
		return;
	f->aborted = true;
	pcb = f->pcb;
	if (pcb != NULL) {
		rf__flow_detach(f);
		tcp_abort(pcb); /* sends RST, frees the pcb and its segments */
	}
	rf__flow_sent_release_all(f);
	rf__flow_rxq_drop(f);
	rf__flow_complete_writes(f, RF_ECANCELED);
	if (f->conn_err == 0)
		f->conn_err = RF_ECANCELED;
	if (f->connecting) {
		f->connecting = false;
		rf__flow_queue(f, RF__C_CONNECT, RF_ECANCELED, (void (*)(void))f->connect_cb, f->connect_arg,
		      NULL);
	}
	if (f->read_cb != NULL) {
		rf__flow_queue(f, RF__C_READ, RF_ECANCELED, (void (*)(void))f->read_cb, f->read_arg, NULL);
		f->reads_queued++;
		f->read_cb = NULL;
	}
	if (f->closing && !f->close_queued) {
		rf__flow_queue(f, RF__C_CLOSE, RF_ECANCELED, (void (*)(void))f->close_cb, f->close_arg, NULL);
		f->close_queued = true;
	} else if (!f->close_queued) {
		rf__flow_queue(f, RF__C_FREE, 0, NULL, NULL, NULL);
	}
}

void
rf__flows_abort_all(struct rf_loop *l)
{
	struct rf_flow *f = l->live;

	while (l->listening != NULL)
		rf_listener_close(l->listening);
	while (f != NULL) {
		struct rf_flow *next = f->next;

		if (f->app_done) { /* detached from the app, still attached to lwIP */
			struct tcp_pcb *pcb = f->pcb;

			rf__flow_detach(f);
			if (pcb != NULL)
				tcp_abort(pcb);
			rf__flow_sent_release_all(f);
			rf__flow_maybe_free(f);
		} else {
			rf_flow_abort(f);
		}
		f = next;
	}
}

void
rf_flow_set_data(struct rf_flow *f, void *data)
{
	f->data = data;
}

void *
rf_flow_data(const struct rf_flow *f)
{
	return f->data;
}

static int
endpoint(const struct rf_flow *f, bool local, struct rf_endpoint *out)
{
	if (f == NULL || out == NULL)
		return RF_EINVAL;
	if (f->pcb == NULL)
		return RF_ENOTCONN;
	rf__addr_from_lwip(local ? &f->pcb->local_ip : &f->pcb->remote_ip, &out->addr);
	out->port = local ? f->pcb->local_port : f->pcb->remote_port;
	return 0;
}

int
rf_flow_local(const struct rf_flow *f, struct rf_endpoint *out)
{
	return endpoint(f, true, out);
}

int
rf_flow_remote(const struct rf_flow *f, struct rf_endpoint *out)
{
	return endpoint(f, false, out);
}

void
rf_flow_counters(const struct rf_flow *f, struct rf_flow_counters *out)
{
	*out = f->ctr;
}

uint64_t
rf_flow_id(const struct rf_flow *f)
{
	return f->id;
}
