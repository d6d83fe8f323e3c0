/*
 * Unit suite "timers": stack/timers.c, lwIP's periodic timers driven by a clock passed in.
 *
 * Time is a parameter here, never the wall clock: every test steps a fake "now" through
 * rf_timers_init() and rf_timers_run(). What is pinned:
 *   - the table holds each of lwIP's timers once, with lwIP's interval, first due one
 *     interval after init;
 *   - a timer runs when now reaches its deadline, not a millisecond before, and is re-armed
 *     one interval after the time it ran;
 *   - rf_timers_run() returns the earliest deadline left (the engine skips the phase
 *     until then);
 *   - a loop that stalled for many intervals runs each timer once, not a burst of catch-up
 *     calls (lwIP's timers count ticks; a burst would fire retransmissions early);
 *   - polled every millisecond, a timer runs exactly elapsed / interval times (no drift);
 *   - deadlines are 64-bit: nothing breaks when milliseconds pass 2^32;
 *   - the real lwIP timer functions run after lwip_init(): tcp_tmr's slow half ticks every
 *     second call, and every timer in the table runs without tripping an lwIP assertion.
 * Where call counts matter, the table's functions are replaced after init with counting
 * stubs (struct rf_timer is plain data), one stub per slot.
 */
#include <stdint.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/mld6.h"
#include "lwip/nd6.h"
#include "lwip/priv/tcp_priv.h"

#include "rf_stack.h"
#include "unit.h"

#define T0 1000 /* fake "now" at init, in ms */

static struct rf_timer timers[RF_NUM_TIMERS];
static unsigned int calls[RF_NUM_TIMERS];

#define COUNTING_STUB(i) \
	static void \
	stub_##i(void) \
	{ \
		calls[i]++; \
	}
COUNTING_STUB(0)
COUNTING_STUB(1)
COUNTING_STUB(2)
COUNTING_STUB(3)
COUNTING_STUB(4)
COUNTING_STUB(5)
_Static_assert(RF_NUM_TIMERS == 6, "one counting stub per timer slot");
static void (*const stubs[RF_NUM_TIMERS])(void) = {stub_0, stub_1, stub_2,
						    stub_3, stub_4, stub_5};

static void
setup(void)
{
	lwip_init();
	memset(timers, 0, sizeof(timers));
	memset(calls, 0, sizeof(calls));
}

/* Installs the real table at T0, then swaps every function for its counting stub. */
static void
init_with_stubs(uint64_t now_ms)
{
	rf_timers_init(timers, now_ms);
	for (int i = 0; i < RF_NUM_TIMERS; i++)
		timers[i].fn = stubs[i];
}

static uint32_t
shortest_interval(void)
{
	uint32_t min = UINT32_MAX;

	for (int i = 0; i < RF_NUM_TIMERS; i++)
		if (timers[i].interval_ms < min)
			min = timers[i].interval_ms;
	return min;
}

static int
slot_of(void (*fn)(void))
{
	int found = -1;

	for (int i = 0; i < RF_NUM_TIMERS; i++) {
		if (timers[i].fn != fn)
			continue;
		ck_assert_msg(found < 0, "timer function in slots %d and %d", found, i);
		found = i;
	}
	ck_assert_msg(found >= 0, "timer function missing from the table");
	return found;
}

START_TEST(test_init_installs_each_lwip_timer_once_with_its_interval)
{
	static const struct {
		void (*fn)(void);
		uint32_t interval_ms;
	} want[] = {
		{tcp_tmr, TCP_TMR_INTERVAL},	  {etharp_tmr, ARP_TMR_INTERVAL},
		{ip_reass_tmr, IP_TMR_INTERVAL},  {nd6_tmr, ND6_TMR_INTERVAL},
		{ip6_reass_tmr, IP6_REASS_TMR_INTERVAL}, {mld6_tmr, MLD6_TMR_INTERVAL},
	};

	rf_timers_init(timers, T0);
	ck_assert_uint_eq(sizeof(want) / sizeof(want[0]), RF_NUM_TIMERS);
	for (unsigned int i = 0; i < RF_NUM_TIMERS; i++)
		ck_assert_uint_eq(timers[slot_of(want[i].fn)].interval_ms, want[i].interval_ms);
}
END_TEST

START_TEST(test_init_sets_each_deadline_one_interval_after_now)
{
	rf_timers_init(timers, T0);
	for (int i = 0; i < RF_NUM_TIMERS; i++) {
		ck_assert_uint_gt(timers[i].interval_ms, 0);
		ck_assert_uint_eq(timers[i].due_ms, T0 + timers[i].interval_ms);
	}
}
END_TEST

START_TEST(test_timer_does_not_run_before_its_deadline)
{
	uint64_t due[RF_NUM_TIMERS];

	init_with_stubs(T0);
	ck_assert_uint_eq(shortest_interval(), TCP_TMR_INTERVAL);
	for (int i = 0; i < RF_NUM_TIMERS; i++)
		due[i] = timers[i].due_ms;

	rf_timers_run(timers, T0);
	rf_timers_run(timers, T0 + TCP_TMR_INTERVAL - 1);
	for (int i = 0; i < RF_NUM_TIMERS; i++) {
		ck_assert_uint_eq(calls[i], 0);
		ck_assert_uint_eq(timers[i].due_ms, due[i]);
	}
}
END_TEST

START_TEST(test_timer_runs_at_its_deadline_and_rearms_one_interval_later)
{
	const uint64_t now = T0 + TCP_TMR_INTERVAL;
	int tcp;

	rf_timers_init(timers, T0);
	tcp = slot_of(tcp_tmr);
	init_with_stubs(T0);

	rf_timers_run(timers, now);
	ck_assert_uint_eq(calls[tcp], 1);
	ck_assert_uint_eq(timers[tcp].due_ms, now + TCP_TMR_INTERVAL);
	/* Exactly the timers whose interval has passed ran. */
	for (int i = 0; i < RF_NUM_TIMERS; i++) {
		bool due = timers[i].interval_ms <= TCP_TMR_INTERVAL;

		ck_assert_uint_eq(calls[i], due ? 1 : 0);
		ck_assert_uint_eq(timers[i].due_ms, due ? now + timers[i].interval_ms
							: T0 + timers[i].interval_ms);
	}
}
END_TEST

static uint64_t
earliest_due(void)
{
	uint64_t earliest = UINT64_MAX;

	for (int i = 0; i < RF_NUM_TIMERS; i++)
		earliest = timers[i].due_ms < earliest ? timers[i].due_ms : earliest;
	return earliest;
}

/* The engine skips the timers phase until the deadline rf_timers_run() returns: it must be
 * the earliest one in the table, before and after a timer ran. */
START_TEST(test_run_returns_the_earliest_deadline_left)
{
	uint64_t next;
	int tcp;

	rf_timers_init(timers, T0);
	tcp = slot_of(tcp_tmr);
	init_with_stubs(T0);
	ck_assert_uint_eq(rf_timers_run(timers, T0), earliest_due());
	ck_assert_uint_eq(earliest_due(), T0 + TCP_TMR_INTERVAL); /* TCP's is the shortest */

	next = rf_timers_run(timers, T0 + TCP_TMR_INTERVAL);
	ck_assert_uint_eq(calls[tcp], 1);
	ck_assert_uint_eq(next, earliest_due());
	ck_assert_uint_eq(next, T0 + 2 * TCP_TMR_INTERVAL);
}
END_TEST

START_TEST(test_late_run_rearms_from_the_time_it_ran)
{
	const uint64_t now = T0 + TCP_TMR_INTERVAL + 30;
	int tcp;

	rf_timers_init(timers, T0);
	tcp = slot_of(tcp_tmr);
	init_with_stubs(T0);

	rf_timers_run(timers, now);
	ck_assert_uint_eq(calls[tcp], 1);
	ck_assert_uint_eq(timers[tcp].due_ms, now + TCP_TMR_INTERVAL);
}
END_TEST

START_TEST(test_timer_runs_once_after_long_stall)
{
	const uint64_t now = T0 + 10000;

	init_with_stubs(T0);
	rf_timers_run(timers, now);
	for (int i = 0; i < RF_NUM_TIMERS; i++) {
		ck_assert_msg(calls[i] == 1, "slot %d ran %u times after a 10 s stall", i, calls[i]);
		ck_assert_uint_eq(timers[i].due_ms, now + timers[i].interval_ms);
	}

	/* Polling again at the same instant runs nothing more. */
	rf_timers_run(timers, now);
	for (int i = 0; i < RF_NUM_TIMERS; i++)
		ck_assert_uint_eq(calls[i], 1);
}
END_TEST

START_TEST(test_timer_polled_every_ms_runs_once_per_interval)
{
	const uint64_t span = 10000;

	init_with_stubs(T0);
	for (uint64_t now = T0; now <= T0 + span; now++)
		rf_timers_run(timers, now);
	for (int i = 0; i < RF_NUM_TIMERS; i++)
		ck_assert_msg(calls[i] == span / timers[i].interval_ms,
			      "slot %d (every %u ms) ran %u times in %u ms", i,
			      timers[i].interval_ms, calls[i], (unsigned int)span);
}
END_TEST

START_TEST(test_deadlines_do_not_wrap_at_32_bits)
{
	const uint64_t start = (UINT64_C(1) << 32) - 50;
	int tcp;

	rf_timers_init(timers, start);
	tcp = slot_of(tcp_tmr);
	init_with_stubs(start);
	ck_assert_uint_eq(timers[tcp].due_ms, start + TCP_TMR_INTERVAL);

	rf_timers_run(timers, start + TCP_TMR_INTERVAL - 1);
	ck_assert_uint_eq(calls[tcp], 0);
	rf_timers_run(timers, start + TCP_TMR_INTERVAL);
	ck_assert_uint_eq(calls[tcp], 1);
	ck_assert_uint_eq(timers[tcp].due_ms, start + 2 * TCP_TMR_INTERVAL);
}
END_TEST

START_TEST(test_real_tcp_timer_runs_after_lwip_init)
{
	uint64_t now = T0 + 10000;
	u32_t ticks;
	int tcp;

	/* The real tcp_tmr, the others stubbed (each has its own test below). */
	rf_timers_init(timers, T0);
	tcp = slot_of(tcp_tmr);
	init_with_stubs(T0);
	timers[tcp].fn = tcp_tmr;
	ticks = tcp_ticks;

	/* tcp_tmr runs its slow half (which counts tcp_ticks) every second call. */
	rf_timers_run(timers, now);
	now += TCP_TMR_INTERVAL;
	rf_timers_run(timers, now);
	ck_assert_uint_eq(tcp_ticks - ticks, 1);
	ck_assert_uint_eq(timers[tcp].due_ms, now + TCP_TMR_INTERVAL);
}
END_TEST

START_TEST(test_every_real_lwip_timer_runs_after_lwip_init)
{
	/* The table exactly as the engine runs it; a timer that trips an lwIP assertion
	 * aborts this test. */
	const uint64_t now = T0 + 10000;

	rf_timers_init(timers, T0);
	rf_timers_run(timers, now);
	for (int i = 0; i < RF_NUM_TIMERS; i++)
		ck_assert_uint_eq(timers[i].due_ms, now + timers[i].interval_ms);
}
END_TEST

static Suite *
timers_suite(void)
{
	Suite *s = suite_create("timers");
	TCase *tc = tcase_create("fake clock");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_init_installs_each_lwip_timer_once_with_its_interval);
	tcase_add_test(tc, test_init_sets_each_deadline_one_interval_after_now);
	tcase_add_test(tc, test_timer_does_not_run_before_its_deadline);
	tcase_add_test(tc, test_timer_runs_at_its_deadline_and_rearms_one_interval_later);
	tcase_add_test(tc, test_run_returns_the_earliest_deadline_left);
	tcase_add_test(tc, test_late_run_rearms_from_the_time_it_ran);
	tcase_add_test(tc, test_timer_runs_once_after_long_stall);
	tcase_add_test(tc, test_timer_polled_every_ms_runs_once_per_interval);
	tcase_add_test(tc, test_deadlines_do_not_wrap_at_32_bits);
	tcase_add_test(tc, test_real_tcp_timer_runs_after_lwip_init);
	tcase_add_test(tc, test_every_real_lwip_timer_runs_after_lwip_init);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(timers_suite());
}
