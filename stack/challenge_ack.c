/*
 * RFC 5961 section 7: a budget for challenge ACKs, for the hook that stack/patches/0003 adds
 * to lwIP (LWIP_HOOK_TCP_CHALLENGE_ACK_ALLOWED).
 *
 * lwIP answers an in-window RST that is not exact, a SYN on a synchronized connection and
 * (patch 0004) a segment with an unacceptable ACK with an ACK, so that a real peer can prove
 * itself; without a limit an attacker gets one ACK per forged segment. The budget is per
 * process (lwIP is one per process), RF_CHALLENGE_ACK_LIMIT per second on average like
 * Linux's tcp_challenge_ack_limit, and its size is drawn at random each second from
 * [limit/2, 3*limit/2): a fixed global budget is itself a side channel (CVE-2016-5696: an
 * off-path attacker spends it and counts the ACKs left to learn whether a connection exists).
 *
 * The ACK for a segment outside the receive window (stack/patches/0015 sends it, 0027 asks
 * LWIP_HOOK_TCP_OOW_ACK_ALLOWED first) is limited the same way, plus per connection: at most
 * one per RF_OOW_ACK_INTERVAL_MS (500 ms, Linux's tcp_invalid_ratelimit), and each one takes
 * from the same budget; data wholly before RCV.NXT (what a real peer retransmits when our ACK
 * was lost) takes from the budget only. Duplicate ACKs for out-of-order data inside the window are not
 * limited (fast retransmit depends on them); they never come here.
 * Time is lwIP's sys_now() (milliseconds from the TSC; a fake clock in tests).
 */
#include <sodium.h>

#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "rf_lwip_hooks.h"

#include "rf_security.h"

bool
rf_challenge_ack_take(struct rf_challenge_budget *b, uint32_t now_ms, uint32_t limit,
		      uint32_t (*rnd)(uint32_t upper_bound))
{
	uint32_t second = now_ms / 1000;

	if (!b->started || second != b->second) {
		b->second = second;
		b->left = limit / 2 + (limit ? rnd(limit) : 0);
		b->started = true;
	}
	if (b->left == 0)
		return false;
	b->left--;
	return true;
}

bool
rf_oow_ack_take(uint32_t *last_ms, uint32_t now_ms, uint32_t interval_ms)
{
	if (*last_ms != 0 && now_ms - *last_ms < interval_ms)
		return false;
	*last_ms = now_ms != 0 ? now_ms : 1; /* 0 means never */
	return true;
}

uint64_t rf_acks_rate_limited;

static uint32_t
uniform(uint32_t upper_bound)
{
	return randombytes_uniform(upper_bound);
}

int
rf__tcp_challenge_ack_allowed(void)
{
	static struct rf_challenge_budget budget; /* per process, as lwIP's globals */

	/* randombytes_uniform needs libsodium started; the ISN hook usually did that already */
	if (rf_isn_init() == 0 &&
	    rf_challenge_ack_take(&budget, sys_now(), RF_CHALLENGE_ACK_LIMIT, uniform))
		return 1;
	rf_acks_rate_limited++;
	return 0;
}

int
rf__tcp_oow_ack_allowed(struct tcp_pcb *pcb, int old_data)
{
	/* data we already have: the peer lost our ACK and retransmits, maybe several segments
	 * after an RTO or duplicated on the way; a 500 ms silence would cost it another RTO. So
	 * only the budget (Linux does not limit data segments here at all) */
	if (!old_data && !rf_oow_ack_take(&pcb->oow_ack_ms, sys_now(), RF_OOW_ACK_INTERVAL_MS)) {
		rf_acks_rate_limited++;
		return 0;
	}
	return rf__tcp_challenge_ack_allowed();
}
