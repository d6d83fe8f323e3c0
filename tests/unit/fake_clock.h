/*
 * Moving the fake clock (stack/clock.c's rf_clock_fake) the way the harnesses that run a
 * whole loop on it do (tests/segments/wire.c, tests/fuzz/wire.c): in steps of at most
 * RF_TEST_STEP_MS, the length of lwIP's fast timer tick, with the loop run after each step,
 * so that every timer that falls due in between fires at its own time.
 */
#ifndef RF_TEST_FAKE_CLOCK_H
#define RF_TEST_FAKE_CLOCK_H

#include <stdint.h>

#include "rf_stack.h" /* rf_clock_fake */

#define RF_TEST_STEP_MS 100

/* Moves *now (ms) forward by ms, calling settle (passes until the loop is idle) after each
 * step. */
static inline void
rf_test_advance(uint64_t *now, uint64_t ms, void (*settle)(void))
{
	while (ms > 0) {
		uint64_t step = ms < RF_TEST_STEP_MS ? ms : RF_TEST_STEP_MS;

		*now += step;
		ms -= step;
		rf_clock_fake(*now);
		settle();
	}
}

#endif /* RF_TEST_FAKE_CLOCK_H */
