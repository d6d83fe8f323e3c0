/*
 * lwIP's timers, driven by the engine with the time passed in.
 *
 * lwIP is built with NO_SYS_NO_TIMERS: it never schedules anything itself. Each protocol has
 * a periodic function; this table says how often each runs. rf_timers_run() takes "now" as an
 * argument, so tests step it with a fake clock.
 */
#include "lwip/etharp.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/mld6.h"
#include "lwip/nd6.h"
#include "lwip/priv/tcp_priv.h"

#include "rf_stack.h"

void
rf_timers_init(struct rf_timer *t, uint64_t now_ms)
{
	const struct rf_timer table[RF_NUM_TIMERS] = {
		{tcp_tmr, TCP_TMR_INTERVAL, 0},	      {etharp_tmr, ARP_TMR_INTERVAL, 0},
		{ip_reass_tmr, IP_TMR_INTERVAL, 0},   {nd6_tmr, ND6_TMR_INTERVAL, 0},
		{ip6_reass_tmr, IP6_REASS_TMR_INTERVAL, 0}, {mld6_tmr, MLD6_TMR_INTERVAL, 0},
	};

	for (int i = 0; i < RF_NUM_TIMERS; i++) {
		t[i] = table[i];
		t[i].due_ms = now_ms + t[i].interval_ms;
	}
}

uint64_t
rf_timers_run(struct rf_timer *t, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < RF_NUM_TIMERS; i++) {
		if (now_ms >= t[i].due_ms) {
			t[i].fn();
			/* A loop that stalled for several intervals runs the timer once, not once
			 * per missed interval: lwIP's timers count ticks, and a burst of ticks
			 * would fire retransmissions early. */
			t[i].due_ms = now_ms + t[i].interval_ms;
		}
		if (t[i].due_ms < next)
			next = t[i].due_ms;
	}
	return next;
}
