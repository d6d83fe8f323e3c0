/*
 * Packet-pool pressure (issue 8, running out; docs/scaling.md): what the stack does when the
 * core's packet pool runs low, so that it never runs dry.
 *
 * Every received frame needs a pool element before the stack sees it (the PMD refills its RX
 * ring from the pool), and received data keeps its element until the application releases it
 * (and, echoed or forwarded, until the peer acknowledges it). Flows whose peers send but
 * never take the answers, or whose application does not read, each pin up to a receive
 * window (2 MiB: about 1,437 elements). Without a rule a few of them drain the pool, and then
 * no frame at all can be received: not the ACKs or RSTs that would release the elements, not
 * the data of the flows that still move. The core stalls for good (tests/exhaust: 3 such
 * flows against --mbufs 4096 stopped a streaming flow and every later connection until exit).
 *
 * The rule, in lwIP's LWIP_HOOK_TCP_INPACKET_PCB (tcp_input, once the segment's pcb is found):
 * while the pool is low (fewer than reserve elements free, 1/8 of what the RX rings leave
 * free, until 1.5 times that is free again),
 *   - a segment carrying data for a connection that holds more than RF_PRESSURE_FLOW_SHARE
 *     bytes received but not yet released is dropped (its sender retransmits it later);
 *   - a segment to a listener (a new connection) is dropped: the client's SYN is retried;
 * and below reserve / 4, every segment carrying data is dropped. Segments without data (ACKs,
 * RSTs, FINs) always go through: they release elements. A dropped segment's element goes
 * straight back to the pool, so the RX ring always has elements to receive with, flows that
 * keep their data moving keep moving, and everything resumes when the pinning flows release
 * or go. rx_pool_low_dropped counts the drops; rf_connect() fails with RF_ENOBUFS meanwhile.
 */
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "rf_lwip_hooks.h"

#include "rf_pressure.h"

struct rf_pool_pressure rf_pool_pressure = {
	.avail = UINT32_MAX, /* no pool (unit tests driving lwIP alone): never low */
};

void
rf_pool_pressure_init(unsigned int free_mbufs)
{
	unsigned int min = RF_PRESSURE_RESERVE_MIN < free_mbufs / 2 ? RF_PRESSURE_RESERVE_MIN
								     : free_mbufs / 2;

	rf_pool_pressure.reserve = free_mbufs / RF_PRESSURE_RESERVE_SHARE;
	if (rf_pool_pressure.reserve < min)
		rf_pool_pressure.reserve = min;
	rf_pool_pressure.avail = UINT32_MAX;
	rf_pool_pressure.low = false;
	rf_pool_pressure.dropped = 0;
}

/* Low below the reserve, and until 1.5 times the reserve is free again: what the drops give
 * back (a burst at a time) does not flip it back and forth at the mark. */
void
rf_pool_pressure_sample(uint32_t avail)
{
	struct rf_pool_pressure *pp = &rf_pool_pressure;

	pp->avail = avail;
	if (avail < pp->reserve)
		pp->low = true;
	else if (avail >= pp->reserve + pp->reserve / 2)
		pp->low = false;
}

bool
rf_pool_low(void)
{
	return rf_pool_pressure.low;
}

err_t
rf__tcp_inpacket(struct tcp_pcb *pcb, const struct pbuf *p)
{
	const struct rf_pool_pressure *pp = &rf_pool_pressure;
	tcpwnd_size_t held;

	if (!pp->low || pcb->state == TIME_WAIT)
		return ERR_OK;
	if (pcb->state == LISTEN)
		goto drop;
	if (p->tot_len == 0)
		return ERR_OK; /* ACK, RST or FIN alone: releases, pins nothing */
	if (pp->avail < pp->reserve / 4)
		goto drop;
	held = pcb->rcv_wnd < TCP_WND_MAX(pcb) ? TCP_WND_MAX(pcb) - pcb->rcv_wnd : 0;
	if (held <= RF_PRESSURE_FLOW_SHARE)
		return ERR_OK;
drop:
	rf_pool_pressure.dropped++;
	return ERR_ABRT;
}
