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
 * Time is lwIP's sys_now() (milliseconds from the TSC; a fake clock in tests).
 */
#include <sodium.h>

#include "lwip/sys.h"
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
	if (rf_isn_init() != 0)
		return 0;
	return rf_challenge_ack_take(&budget, sys_now(), RF_CHALLENGE_ACK_LIMIT, uniform);
}
