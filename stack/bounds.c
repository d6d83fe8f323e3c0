/*
 * Per-core bounds of issue 9 (docs/security.md), for the hooks of stack/patches/0016 and 0017:
 * what all connections of one lwIP (one core) may hold together, on top of what each
 * connection or listener may hold.
 *
 *   out-of-order pbufs  every queued out-of-order segment pins one mbuf of the core's packet
 *                       pool. A connection keeps at most TCP_OOSEQ_MAX_PBUFS (lwipopts.h);
 *                       all connections together at most rf_core_bounds.ooseq_max_pbufs, a
 *                       quarter of the pool by default (RF_OOSEQ_POOL_SHARE). Past it a
 *                       connection's queue cannot grow: lwIP drops the highest segments, the
 *                       sender retransmits them later, and ooseq_dropped counts the pbufs.
 *   half-open           each listener keeps at most its backlog (255) of SYN_RCVD connections;
 *                       all listeners together at most rf_core_bounds.half_open_max: a
 *                       quarter of --max-flows (RF_HALF_OPEN_FLOWS_SHARE), at least
 *                       RF_HALF_OPEN_MIN (1024). Past it SYNs get SYN cookies (patch 0005)
 *                       whatever their listener's backlog; half_open_cookies counts them.
 */
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "rf_lwip_hooks.h"

#include "rf_security.h"

struct rf_core_bounds rf_core_bounds = {
	.ooseq_max_pbufs = 65535 / RF_OOSEQ_POOL_SHARE,
	.half_open_max = RF_HALF_OPEN_MIN,
};

uint32_t
rf_half_open_max(unsigned int max_flows)
{
	unsigned int share = max_flows / RF_HALF_OPEN_FLOWS_SHARE;

	return share > RF_HALF_OPEN_MIN ? share : RF_HALF_OPEN_MIN;
}

void
rf_core_bounds_init(unsigned int pool_mbufs, unsigned int max_flows)
{
	rf_core_bounds.ooseq_max_pbufs = pool_mbufs / RF_OOSEQ_POOL_SHARE;
	rf_core_bounds.half_open_max = rf_half_open_max(max_flows);
}

uint32_t
rf_ooseq_limit(uint32_t flow_max, uint32_t flow_held, uint32_t core_held, uint32_t core_max)
{
	uint32_t left = core_held < core_max ? core_max - core_held : 0;

	return flow_held + left < flow_max ? flow_held + left : flow_max;
}

u16_t
rf__tcp_ooseq_pbufs_limit(const struct tcp_pcb *pcb)
{
	uint32_t limit = rf_ooseq_limit(TCP_OOSEQ_MAX_PBUFS, pcb->ooseq_pbufs,
					tcp_ooseq_pbufs_total, rf_core_bounds.ooseq_max_pbufs);
	uint32_t queued = 0;

	if (limit == TCP_OOSEQ_MAX_PBUFS)
		return (u16_t)limit;
	/* the core's bound is the tighter one: lwIP is about to drop what lies past it (the
	 * queue already holds the new segment); count it here, where it is known */
	for (const struct tcp_seg *s = pcb->ooseq; s != NULL; s = s->next)
		queued += pbuf_clen(s->p);
	if (queued > limit)
		rf_core_bounds.ooseq_dropped += queued - limit;
	return (u16_t)limit;
}

int
rf__tcp_half_open_full(const struct tcp_pcb_listen *lpcb)
{
	uint32_t n = 0;

	(void)lpcb;
	for (const struct tcp_pcb_listen *l = tcp_listen_pcbs.listen_pcbs; l != NULL; l = l->next)
		n += l->accepts_pending;
	if (n < rf_core_bounds.half_open_max)
		return 0;
	rf_core_bounds.half_open_cookies++;
	return 1;
}
