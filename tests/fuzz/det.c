/*
 * What the stack draws from secret randomness or the real clock, made deterministic for the
 * fuzz binaries only. They link with -Wl,--wrap=SYMBOL for each function below, so lwIP's
 * and stack/'s calls to SYMBOL land in __wrap_SYMBOL (tests/fuzz/meson.build); the programs
 * keep the real ones.
 *
 *   rf__tcp_isn          RFC 6528's ISN (stack/isn.c) with a fixed key and the fake clock
 *                        instead of a random key and CLOCK_MONOTONIC: the same input gets
 *                        the same ISNs, so the SYN-ACK the fuzzer learnt to send stays valid
 *   rf__tcp_challenge_ack_allowed   stack/challenge_ack.c's budget logic on a budget reset
 *                        for every input, drawing from rte_rand (re-seeded per input)
 *   randombytes_buf      libsodium's random bytes (the SYN-cookie key): a fixed pattern
 */
#include <string.h>

#include <rte_random.h>

#include "lwip/ip_addr.h"
#include "lwip/sys.h"

#include "rf_security.h"

u32_t __wrap_rf__tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
			 const ip_addr_t *remote_ip, u16_t remote_port);
int __wrap_rf__tcp_challenge_ack_allowed(void);
void __wrap_randombytes_buf(void *buf, size_t size);
void fz_det_reset(void);

static const uint8_t isn_key[RF_ISN_KEY_BYTES] = "rawflow-fuzzing";

u32_t
__wrap_rf__tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		   u16_t remote_port)
{
	uint8_t tuple[RF_ISN_TUPLE_MAX];
	size_t n = rf_isn_tuple(tuple, local_ip, local_port, remote_ip, remote_port);

	return rf_isn_compute(isn_key, tuple, n, (uint64_t)sys_now() * 1000000u);
}

static struct rf_challenge_budget budget;

static uint32_t
uniform(uint32_t upper_bound)
{
	return (uint32_t)rte_rand_max(upper_bound);
}

int
__wrap_rf__tcp_challenge_ack_allowed(void)
{
	return rf_challenge_ack_take(&budget, sys_now(), RF_CHALLENGE_ACK_LIMIT, uniform);
}

void
__wrap_randombytes_buf(void *buf, size_t size)
{
	memset(buf, 0x5a, size);
}

void
fz_det_reset(void)
{
	memset(&budget, 0, sizeof(budget));
}
