/*
 * Unit suite "clock": stack/clock.c, milliseconds from the TSC and lwIP's sys_now().
 *
 * Pinned: the TSC frequency the clock divides by is a real CPU frequency (taken from DPDK);
 * rf_clock_ms() never goes backwards; it counts milliseconds (a 100 ms sleep reads as about
 * 100 ms, with room for noisy virtual machines); lwIP's sys_now() is the same clock.
 * Nanoseconds (rf_clock_tsc_to_ns(), behind flow/'s rf_now_ns()): 0 before rf_clock_init()
 * (rf_now_ns() reads 0 until a loop started the EAL), one second of TSC cycles reads as one
 * second, and they agree with the milliseconds.
 *
 * DPDK learns the TSC frequency while its EAL starts (rte_get_tsc_hz() is 0 before that), so
 * main() starts a minimal EAL first, as every rawflow program does before rf_clock_init():
 * no hugepages, no PCI, no shared files, one lcore.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include "lwip/sys.h"

#include "rf_stack.h"
#include "unit.h"
#include "unit_eal.h"

static void
setup(void)
{
	rf_clock_init();
}

START_TEST(test_tsc_hz_is_a_real_cpu_frequency)
{
	ck_assert_uint_gt(rf_clock_tsc_hz(), 100000000);
	/* The clock divides by whole kHz: at most 999 Hz below DPDK's figure. */
	ck_assert_uint_le(rf_clock_tsc_hz(), rte_get_tsc_hz());
	ck_assert_uint_lt(rte_get_tsc_hz() - rf_clock_tsc_hz(), 1000);
}
END_TEST

START_TEST(test_clock_ms_never_goes_backwards)
{
	uint64_t first = rf_clock_ms(), prev = first;
	unsigned int backwards = 0;

	/* Counted, not asserted per read: a check assertion costs a system call. */
	for (int i = 0; i < 1000000; i++) {
		uint64_t now = rf_clock_ms();

		if (now < prev)
			backwards++;
		prev = now;
	}
	ck_assert_uint_eq(backwards, 0);
	ck_assert_uint_ge(prev, first);
}
END_TEST

START_TEST(test_clock_ms_advances_about_100_ms_across_a_100_ms_sleep)
{
	const struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
	uint64_t before, elapsed;

	before = rf_clock_ms();
	ck_assert_int_eq(nanosleep(&ts, NULL), 0);
	elapsed = rf_clock_ms() - before;
	/* Below 100 means a wrong frequency (the sleep cannot be shorter); the upper bound
	 * leaves room for a descheduled virtual CPU. */
	ck_assert_msg(elapsed >= 80 && elapsed <= 400, "100 ms sleep measured as %llu ms",
		      (unsigned long long)elapsed);
}
END_TEST

START_TEST(test_sys_now_is_the_same_clock)
{
	for (int i = 0; i < 1000; i++) {
		uint32_t before = (uint32_t)rf_clock_ms();
		uint32_t now = sys_now();
		uint32_t after = (uint32_t)rf_clock_ms();

		/* sys_now() is rf_clock_ms() truncated to lwIP's u32: it lies between two reads
		 * of rf_clock_ms() (modular arithmetic, so a 32-bit wrap is no exception). */
		ck_assert_msg((uint32_t)(now - before) <= (uint32_t)(after - before),
			      "sys_now %u outside [%u, %u]", now, before, after);
	}
}
END_TEST

START_TEST(test_ns_are_0_before_rf_clock_init)
{
	/* This test case has no fixture: in check's child (or first, with CK_FORK=no) nothing
	 * called rf_clock_init() yet, although the EAL knows the TSC rate. */
	ck_assert_uint_gt(rte_get_tsc_hz(), 0);
	ck_assert_uint_eq(rf_clock_tsc_to_ns(rte_rdtsc()), 0);
}
END_TEST

START_TEST(test_ns_count_nanoseconds)
{
	uint64_t hz = rte_get_tsc_hz(), tsc = rte_rdtsc(), ms = rf_clock_ms_at(tsc);
	uint64_t ns = rf_clock_tsc_to_ns(tsc);

	/* The factor is DPDK's exact rate (not rf_clock_tsc_hz()'s whole kHz): one second of
	 * cycles reads 1e9 ns, give or take a double's rounding. */
	ck_assert_uint_ge(rf_clock_tsc_to_ns(hz), 999999999);
	ck_assert_uint_le(rf_clock_tsc_to_ns(hz), 1000000001);
	ck_assert_uint_le(rf_clock_tsc_to_ns(hz / 1000), 1000000);
	ck_assert_uint_ge(rf_clock_tsc_to_ns(hz / 1000), 999000);
	/* The same clock as the milliseconds: within 1 ms of them (truncation, the kHz round) */
	ck_assert_msg(ns / 1000000 + 1 >= ms && ns / 1000000 <= ms + 1, "%llu ns but %llu ms",
		      (unsigned long long)ns, (unsigned long long)ms);
}
END_TEST

static Suite *
clock_suite(void)
{
	Suite *s = suite_create("clock");
	TCase *before = tcase_create("before_init");
	TCase *tc = tcase_create("tsc");

	tcase_add_test(before, test_ns_are_0_before_rf_clock_init);
	suite_add_tcase(s, before);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_tsc_hz_is_a_real_cpu_frequency);
	tcase_add_test(tc, test_clock_ms_never_goes_backwards);
	tcase_add_test(tc, test_clock_ms_advances_about_100_ms_across_a_100_ms_sleep);
	tcase_add_test(tc, test_sys_now_is_the_same_clock);
	tcase_add_test(tc, test_ns_count_nanoseconds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int rc;

	if (unit_eal_start("test_clock", "64") != 0)
		return EXIT_FAILURE;
	rc = unit_run(clock_suite());
	rte_eal_cleanup();
	return rc;
}
