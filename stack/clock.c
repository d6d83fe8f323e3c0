/*
 * Time from the TSC, and lwIP's platform hooks (sys_now, assert, random).
 *
 * Reading the TSC costs a few nanoseconds; clock_gettime() every loop pass cost a comparable
 * lwIP-on-DPDK server 12% of its time. Milliseconds are derived by one division per read.
 * Nanoseconds (flow/'s rf_now_ns(), rf_loop_now_ns()) by one multiplication: rf_clock_init()
 * divides once, and rf_clock_tsc_to_ns() (inline, rf_stack.h) multiplies by the factor.
 */
#include <stdio.h>
#include <stdlib.h>

#include <rte_cycles.h>
#include <rte_random.h>

#include "lwip/arch.h"
#include "lwip/sys.h"

#include "rf_stack.h"

static uint64_t tsc_per_ms = 1;
double rf__clock_ns_per_tsc; /* 0 until rf_clock_init(): nanoseconds read 0 until then */

/* Needs the EAL started: DPDK reports a TSC frequency of 0 before that. */
int
rf_clock_init(void)
{
	uint64_t hz = rte_get_tsc_hz();

	if (hz < 1000)
		return -1;
	tsc_per_ms = hz / 1000;
	rf__clock_ns_per_tsc = 1e9 / (double)hz;
	return 0;
}

uint64_t
rf_clock_tsc_hz(void)
{
	return tsc_per_ms * 1000;
}

/* Test hook: when non-zero, "now" in milliseconds, instead of the TSC (see rf_clock_fake). */
uint64_t rf__clock_fake_ms;

void
rf_clock_fake(uint64_t now_ms)
{
	rf__clock_fake_ms = now_ms;
}

uint64_t
rf_clock_tsc_at_ms(uint64_t ms)
{
	return ms * tsc_per_ms;
}

uint64_t
rf_clock_ms_at(uint64_t tsc)
{
	if (unlikely(rf__clock_fake_ms != 0))
		return rf__clock_fake_ms;
	return tsc / tsc_per_ms;
}

uint64_t
rf_clock_ms(void)
{
	if (unlikely(rf__clock_fake_ms != 0))
		return rf__clock_fake_ms;
	return rte_rdtsc() / tsc_per_ms;
}

u32_t
sys_now(void)
{
	return (u32_t)rf_clock_ms();
}

void
rf__lwip_assert(const char *msg, const char *file, int line)
{
	fprintf(stderr, "rawflow: lwIP assertion failed at %s:%d: %s\n", file, line, msg);
	abort();
}

uint32_t
rf__lwip_rand(void)
{
	return (uint32_t)rte_rand();
}
