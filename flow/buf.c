/*
 * Buffers: refcounted views into packet memory.
 *
 * A root buffer owns one reference to the mbuf that holds its bytes; its header lives in that
 * mbuf's private area (after the pbuf_custom the stack uses), so neither receiving nor
 * allocating a buffer allocates a header. A sub-view gets a header from a free list and holds
 * a reference to its root. When a root's last reference goes:
 *   - its mbuf reference is dropped (the memory returns to the pool once the NIC and lwIP are
 *     done with it too: they hold references of their own), and
 *   - for received data, the flow's receive window reopens by the bytes the buffer held, if the
 *     flow still exists (the generation check tells a reused flow from the original).
 */
#include <stdlib.h>

#include "flow_internal.h"

_Static_assert(sizeof(struct rf_buf) <= RF_PRIV_UPPER_SIZE, "rf_buf must fit the mbuf private area");

uint32_t
rf_buf_max(void)
{
	if (rf__loop == NULL)
		return 0;
	return rte_pktmbuf_data_room_size(rf__loop->stack.pools.pkt) - RTE_PKTMBUF_HEADROOM;
}

struct rf_buf *
rf__buf_root(struct rte_mbuf *m, uint8_t *data, uint32_t len)
{
	struct rf_buf *b = (struct rf_buf *)rf_mbuf_priv(m)->upper;

	b->data = data;
	b->len = len;
	b->rf_refcnt = 1;
	b->rf_root = b;
	b->rf_mbuf = m;
	b->rf_next = NULL;
	b->rf_flow = NULL;
	b->rf_flow_gen = 0;
	b->rf_credit = 0;
	return b;
}

struct rf_buf *
rf_buf_alloc(struct rf_loop *l, uint32_t len)
{
	struct rte_mbuf *m;

	if (l == NULL || len == 0 || len > rf_buf_max())
		return NULL;
	m = rte_pktmbuf_alloc(l->stack.pools.pkt);
	if (m == NULL) {
		l->stack.stats.alloc_failures++;
		return NULL;
	}
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	return rf__buf_root(m, rte_pktmbuf_mtod(m, uint8_t *), len);
}

struct rf_buf *
rf_buf_ref(struct rf_buf *b)
{
	RTE_ASSERT(b->rf_refcnt > 0);
	b->rf_refcnt++;
	return b;
}

struct rf_buf *
rf_buf_sub(struct rf_buf *b, uint32_t off, uint32_t len)
{
	struct rf_loop *l = rf__loop;
	struct rf_buf *v;

	if (b == NULL || b->rf_refcnt == 0 || off > b->len || len > b->len - off)
		return NULL;
	v = l->free_views;
	if (v != NULL)
		l->free_views = v->rf_next;
	else if ((v = malloc(sizeof(*v))) == NULL)
		return NULL;
	v->data = b->data + off;
	v->len = len;
	v->rf_refcnt = 1;
	v->rf_root = b->rf_root;
	v->rf_mbuf = b->rf_mbuf;
	v->rf_next = NULL;
	v->rf_root->rf_refcnt++;
	return v;
}

int
rf_buf_release(struct rf_buf *b)
{
	struct rf_buf *root;

	if (b == NULL || b->rf_refcnt == 0)
		return RF_EINVAL;
	if (--b->rf_refcnt > 0)
		return 0;
	root = b->rf_root;
	if (b != root) {
		b->rf_next = rf__loop->free_views;
		rf__loop->free_views = b;
		return rf_buf_release(root);
	}
	if (b->rf_flow != NULL)
		rf__flow_credit(b->rf_flow, b->rf_flow_gen, b->rf_credit);
	rte_pktmbuf_free_seg(b->rf_mbuf);
	return 0;
}

void
rf__views_free(struct rf_loop *l)
{
	while (l->free_views != NULL) {
		struct rf_buf *v = l->free_views;

		l->free_views = v->rf_next;
		free(v);
	}
}
