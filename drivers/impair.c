/*
 * Impairment: a seeded bad wire on a port's RX and TX, for testing the stack (and whatever
 * runs on it) against loss, duplication, reordering, corruption, delay and outages.
 *
 * It lives inside rawflow's own driver calls, not in DPDK RX/TX callbacks, so it works the
 * same on every PMD: rf_port_rx() passes each received burst through it, rf_port_tx() hands it
 * each frame before the frame joins the port's TX queue, and rf_port_flush() (every loop pass)
 * lets held TX frames go when they are due. A port without impairment pays one NULL test.
 *
 * Each direction is a pipeline of stages, decided per frame by a PRNG seeded from the spec's
 * seed, the port and the direction:
 *
 *   blackout -> drop -> corrupt -> duplicate -> reorder -> delay -> out
 *
 *   blackout   inside the window(s), every frame is dropped (counted apart from random drops)
 *   drop       the frame is freed
 *   corrupt    one random bit past the Ethernet header is flipped. The frame must look like one
 *              corrupted on the wire, so checksums must catch it: on RX the device's checksum
 *              verdict is cleared (lwIP verifies in software); on TX the frame is copied (its
 *              payload may be the application's buffer, which retransmissions reuse) and the
 *              checksums the device would have filled are filled here, before the flip
 *   duplicate  a copy from the packet pool follows the frame (a deep copy: a TX frame is a
 *              header mbuf chained to indirect mbufs, and a clone of that would share them)
 *   reorder    the frame is held back until `reorder_gap` later frames have passed this stage,
 *              or `reorder_max` has elapsed, whichever comes first
 *   delay      the frame is held for `delay` (always, or with a probability)
 *
 * Held frames wait in two FIFOs per direction (reorder, delay), each bounded by `queue`:
 * a full reorder FIFO lets the frame through, a full delay FIFO lets its oldest frame go early
 * (order kept). Frames leave in the order they became due. The time is the TSC, passed in to
 * the core functions so that tests drive them with a fake clock; rf_impair_destroy() (at port
 * close) frees whatever is still held, so the pool's leak baseline holds.
 *
 * RX output goes through a ring: a burst can grow (duplicates, released frames) beyond what
 * the caller's array takes, so what does not fit waits for the next pass, and the device is
 * asked for fewer frames while the ring is full.
 *
 * The spec (text, parsed by drivers/impair_spec.c): comma-separated KEY=VALUE tokens, e.g.
 *   drop=0.02,reorder=0.02,dup=0.01,corrupt=0.001,delay=200us,blackout=1000+300ms,seed=7
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include "rf_drivers.h"

/* A received burst, before the layer: rf_port_rx()'s callers ask for at most this many. */
#define RF_IMPAIR_RX_BURST_MAX 256

/* ---- the PRNG -------------------------------------------------------------------------- */

/* splitmix64: a 64-bit state stepped by a constant and mixed; small, fast, and good enough
 * for test decisions (it passes BigCrush). */
uint64_t
rf_impair_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* True with probability p; no draw (so the stream does not move) when p is 0. */
static bool
chance(uint64_t *rng, double p)
{
	if (p <= 0.0)
		return false;
	return (double)(rf_impair_rand(rng) >> 11) * 0x1.0p-53 < p;
}

/* ---- held frames ----------------------------------------------------------------------- */

struct held {
	struct rte_mbuf *m;
	uint64_t due_tsc; /* leaves at this time at the latest */
	uint64_t due_seq; /* reorder: ... or once the stage has passed this many frames */
};

struct fifo {
	struct held *v;
	uint32_t head, tail, mask, cap;
};

static int
fifo_init(struct fifo *f, uint32_t cap)
{
	uint32_t size = 1;

	while (size < cap)
		size <<= 1;
	f->v = calloc(size, sizeof(*f->v));
	f->head = f->tail = 0;
	f->mask = size - 1;
	f->cap = cap;
	return f->v == NULL ? -ENOMEM : 0;
}

static inline uint32_t
fifo_len(const struct fifo *f)
{
	return f->tail - f->head;
}

static inline struct held *
fifo_front(struct fifo *f)
{
	return &f->v[f->head & f->mask];
}

static inline void
fifo_push(struct fifo *f, struct rte_mbuf *m, uint64_t due_tsc, uint64_t due_seq)
{
	f->v[f->tail++ & f->mask] = (struct held){m, due_tsc, due_seq};
}

static inline struct rte_mbuf *
fifo_pop(struct fifo *f)
{
	return f->v[f->head++ & f->mask].m;
}

static void
fifo_free(struct fifo *f)
{
	while (f->v != NULL && fifo_len(f) != 0)
		rte_pktmbuf_free(fifo_pop(f));
	free(f->v);
	f->v = NULL;
}

/* ---- state ------------------------------------------------------------------------------ */

struct impair_dir {
	struct rf_impair_dir_conf conf;
	uint64_t rng;
	uint64_t delay_tsc, reorder_max_tsc;
	uint64_t passed; /* frames that left the reorder stage: the reorder gap counts these */
	struct fifo reorder, delay;
	struct rf_impair_counters cnt;
};

struct rf_impair {
	struct impair_dir dir[RF_IMPAIR_DIRS];
	struct rte_mempool *pool; /* for copies: duplicates, corrupted TX frames */
	uint64_t start_tsc, tsc_hz;
	/* RX: frames through the layer, waiting for the stack */
	struct rte_mbuf **ready;
	uint32_t ready_head, ready_tail, ready_mask;
	uint64_t ready_overflow; /* never expected: the device is asked for fewer frames */
};

/* ---- life ------------------------------------------------------------------------------- */

struct rf_impair *
rf_impair_create(const struct rf_impair_conf *conf, uint16_t port_id, struct rte_mempool *pool,
		 uint64_t now_tsc, uint64_t tsc_hz)
{
	struct rf_impair *im = calloc(1, sizeof(*im));
	uint32_t ready = 1;

	if (im == NULL)
		return NULL;
	im->pool = pool;
	im->start_tsc = now_tsc;
	im->tsc_hz = tsc_hz;
	for (int d = 0; d < RF_IMPAIR_DIRS; d++) {
		struct impair_dir *dir = &im->dir[d];
		/* one stream per port and direction, all from the one seed */
		uint64_t s = conf->seed ^ ((uint64_t)port_id << 32) ^ ((uint64_t)d << 48);

		dir->conf = conf->dir[d];
		dir->rng = rf_impair_rand(&s);
		dir->delay_tsc = dir->conf.delay_us * tsc_hz / 1000000;
		dir->reorder_max_tsc = dir->conf.reorder_max_us * tsc_hz / 1000000;
		if (fifo_init(&dir->reorder, conf->queue) != 0 ||
		    fifo_init(&dir->delay, conf->queue) != 0)
			goto fail;
	}
	/* Room for everything the FIFOs can release at once, plus two bursts' growth. */
	while (ready < 2 * conf->queue + 4 * RF_IMPAIR_RX_BURST_MAX)
		ready <<= 1;
	im->ready = calloc(ready, sizeof(*im->ready));
	if (im->ready == NULL)
		goto fail;
	im->ready_mask = ready - 1;
	return im;
fail:
	rf_impair_destroy(im);
	return NULL;
}

void
rf_impair_destroy(struct rf_impair *im)
{
	if (im == NULL)
		return;
	for (int d = 0; d < RF_IMPAIR_DIRS; d++) {
		fifo_free(&im->dir[d].reorder);
		fifo_free(&im->dir[d].delay);
	}
	if (im->ready != NULL)
		while (im->ready_tail != im->ready_head)
			rte_pktmbuf_free(im->ready[im->ready_head++ & im->ready_mask]);
	free(im->ready);
	free(im);
}

void
rf_impair_counters(const struct rf_impair *im, int dir, struct rf_impair_counters *out)
{
	*out = im->dir[dir].cnt;
}

unsigned int
rf_impair_held(const struct rf_impair *im)
{
	unsigned int n = im->ready_tail - im->ready_head;

	for (int d = 0; d < RF_IMPAIR_DIRS; d++)
		n += fifo_len(&im->dir[d].reorder) + fifo_len(&im->dir[d].delay);
	return n;
}

/* ---- the stages ------------------------------------------------------------------------- */

static bool
in_blackout(const struct rf_impair *im, const struct rf_impair_dir_conf *c, uint64_t now_tsc)
{
	uint64_t t_us, start = c->blackout_start_us;

	if (c->blackout_len_us == 0 || now_tsc < im->start_tsc)
		return false;
	t_us = (uint64_t)((double)(now_tsc - im->start_tsc) * 1e6 / (double)im->tsc_hz);
	if (t_us < start)
		return false;
	if (c->blackout_period_us == 0)
		return t_us - start < c->blackout_len_us;
	return (t_us - start) % c->blackout_period_us < c->blackout_len_us;
}

/* Flips one random bit past the Ethernet header. Returns the frame to go on with (on TX a
 * copy replaces m), and sets *done when a bit was flipped. */
static struct rte_mbuf *
corrupt(struct rf_impair *im, struct impair_dir *dir, int d, struct rte_mbuf *m, bool *done)
{
	uint64_t r = rf_impair_rand(&dir->rng);
	uint32_t off, bit = (uint32_t)(r & 7);
	struct rte_mbuf *seg;

	*done = false;
	if (m->pkt_len <= RTE_ETHER_HDR_LEN)
		return m;
	if (d == RF_IMPAIR_TX) {
		struct rte_mbuf *c = rte_pktmbuf_copy(m, im->pool, 0, UINT32_MAX);

		if (c == NULL)
			return m; /* no memory for the copy: this frame stays intact */
		if (c->nb_segs > 1 && rte_pktmbuf_linearize(c) != 0) {
			rte_pktmbuf_free(c);
			return m;
		}
		rte_pktmbuf_free(m);
		m = c;
		/* the checksums the device was asked to fill, filled here, so that the flip is
		 * what a receiver finds wrong */
		rf_offload_fill(rte_pktmbuf_mtod(m, uint8_t *), m->data_len, m->pkt_len,
				m->ol_flags, m->l2_len, m->l3_len);
		m->ol_flags &= ~(RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_L4_MASK);
	} else {
		/* whatever the device verified no longer holds: lwIP verifies in software */
		m->ol_flags &= ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK);
	}
	off = RTE_ETHER_HDR_LEN + (uint32_t)((r >> 3) % (m->pkt_len - RTE_ETHER_HDR_LEN));
	for (seg = m; seg != NULL && off >= seg->data_len; seg = seg->next)
		off -= seg->data_len;
	if (seg == NULL)
		return m;
	*rte_pktmbuf_mtod_offset(seg, uint8_t *, off) ^= (uint8_t)(1u << bit);
	*done = true;
	return m;
}

static void
delay_stage(struct impair_dir *dir, struct rte_mbuf *m, uint64_t now_tsc, rf_impair_out *out,
	    void *arg)
{
	if (chance(&dir->rng, dir->conf.delay)) {
		if (fifo_len(&dir->delay) == dir->delay.cap)
			out(arg, fifo_pop(&dir->delay)); /* full: the oldest goes early */
		fifo_push(&dir->delay, m, now_tsc + dir->delay_tsc, 0);
		dir->cnt.delayed++;
		return;
	}
	out(arg, m);
}

static void
reorder_stage(struct impair_dir *dir, struct rte_mbuf *m, uint64_t now_tsc, rf_impair_out *out,
	      void *arg)
{
	if (chance(&dir->rng, dir->conf.reorder) && fifo_len(&dir->reorder) < dir->reorder.cap) {
		fifo_push(&dir->reorder, m, now_tsc + dir->reorder_max_tsc,
			  dir->passed + dir->conf.reorder_gap);
		dir->cnt.reordered++;
		return;
	}
	delay_stage(dir, m, now_tsc, out, arg);
	dir->passed++;
	/* held frames whose gap has passed follow this one */
	while (fifo_len(&dir->reorder) != 0 && fifo_front(&dir->reorder)->due_seq <= dir->passed)
		delay_stage(dir, fifo_pop(&dir->reorder), now_tsc, out, arg);
}

void
rf_impair_frame(struct rf_impair *im, int d, struct rte_mbuf *m, uint64_t now_tsc,
		rf_impair_out *out, void *arg)
{
	struct impair_dir *dir = &im->dir[d];
	struct rte_mbuf *copy = NULL;
	bool flipped;

	if (in_blackout(im, &dir->conf, now_tsc)) {
		dir->cnt.blackout_dropped++;
		rte_pktmbuf_free(m);
		return;
	}
	if (chance(&dir->rng, dir->conf.drop)) {
		dir->cnt.dropped++;
		rte_pktmbuf_free(m);
		return;
	}
	if (chance(&dir->rng, dir->conf.corrupt)) {
		m = corrupt(im, dir, d, m, &flipped);
		if (flipped)
			dir->cnt.corrupted++;
	}
	if (chance(&dir->rng, dir->conf.dup)) {
		copy = rte_pktmbuf_copy(m, im->pool, 0, UINT32_MAX);
		if (copy != NULL)
			dir->cnt.duplicated++;
	}
	reorder_stage(dir, m, now_tsc, out, arg);
	if (copy != NULL)
		reorder_stage(dir, copy, now_tsc, out, arg);
}

unsigned int
rf_impair_release(struct rf_impair *im, int d, uint64_t now_tsc, unsigned int max,
		  rf_impair_out *out, void *arg)
{
	struct impair_dir *dir = &im->dir[d];
	unsigned int n = 0;

	/* Every pop yields at most one frame out (a full delay FIFO swaps one for one). */
	while (n < max && fifo_len(&dir->reorder) != 0 &&
	       fifo_front(&dir->reorder)->due_tsc <= now_tsc) {
		delay_stage(dir, fifo_pop(&dir->reorder), now_tsc, out, arg);
		n++;
	}
	while (n < max && fifo_len(&dir->delay) != 0 && fifo_front(&dir->delay)->due_tsc <= now_tsc) {
		out(arg, fifo_pop(&dir->delay));
		n++;
	}
	return n;
}

/* ---- on a port -------------------------------------------------------------------------- */

int
rf_port_impair(struct rf_port *port, const struct rf_impair_conf *conf, struct rte_mempool *pool)
{
	char text[512];

	port->impair = rf_impair_create(conf, port->id, pool, rte_rdtsc(), rte_get_tsc_hz());
	if (port->impair == NULL) {
		fprintf(stderr, "port %u (%s): out of memory for the impairment queues\n", port->id,
			port->name);
		return -ENOMEM;
	}
	rf_impair_describe(conf, text, sizeof(text));
	/* NOTICE: a user must see that the wire is impaired on purpose */
	RF_LOG(NOTICE, drivers, "port %u (%s): impairment on: %s\n", port->id, port->name, text);
	return 0;
}

static void
ready_push(void *arg, struct rte_mbuf *m)
{
	struct rf_impair *im = arg;

	if (im->ready_tail - im->ready_head > im->ready_mask) {
		im->ready_overflow++;
		rte_pktmbuf_free(m);
		return;
	}
	im->ready[im->ready_tail++ & im->ready_mask] = m;
}

static inline uint32_t
ready_free(const struct rf_impair *im)
{
	return im->ready_mask + 1 - (im->ready_tail - im->ready_head);
}

uint16_t
rf_impair_rx_room(const struct rf_impair *im, uint16_t n)
{
	/* a burst of k frames may come out as 2k, plus every reorder-held frame released */
	uint32_t free = ready_free(im), held = fifo_len(&im->dir[RF_IMPAIR_RX].reorder);

	if (n > RF_IMPAIR_RX_BURST_MAX)
		n = RF_IMPAIR_RX_BURST_MAX;
	if (free < held + 2)
		return 0;
	free = (free - held) / 2;
	return free < n ? (uint16_t)free : n;
}

uint16_t
rf_impair_rx(struct rf_impair *im, struct rte_mbuf **pkts, uint16_t got, uint16_t n,
	     uint64_t now_tsc)
{
	uint16_t i;

	rf_impair_release(im, RF_IMPAIR_RX, now_tsc, ready_free(im), ready_push, im);
	for (i = 0; i < got; i++)
		rf_impair_frame(im, RF_IMPAIR_RX, pkts[i], now_tsc, ready_push, im);
	for (i = 0; i < n && im->ready_head != im->ready_tail; i++)
		pkts[i] = im->ready[im->ready_head++ & im->ready_mask];
	return i;
}

static void
tx_out(void *arg, struct rte_mbuf *m)
{
	rf__port_enqueue(arg, m);
}

void
rf_impair_tx(struct rf_port *port, struct rte_mbuf *m)
{
	rf_impair_frame(port->impair, RF_IMPAIR_TX, m, rte_rdtsc(), tx_out, port);
}

/* Only into free room: rf__port_enqueue() would flush, and this runs inside the flush. */
static void
tx_out_noflush(void *arg, struct rte_mbuf *m)
{
	struct rf_port *port = arg;

	port->tx_buf[port->tx_len++] = m;
}

void
rf_impair_tx_release(struct rf_port *port)
{
	rf_impair_release(port->impair, RF_IMPAIR_TX, rte_rdtsc(), RF_TX_QUEUE - port->tx_len,
			  tx_out_noflush, port);
}
