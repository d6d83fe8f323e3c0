/*
 * Shared runner for the unit suites in tests/unit.
 *
 * Each suite is one executable; main() builds its check Suite and hands it to unit_run(),
 * which runs every test (forked, check's default, so one crash fails one test and not the
 * rest) and turns the result into the exit status meson reads. CK_VERBOSITY in the
 * environment chooses how much is printed (meson sets "verbose" so the log names every test).
 */
#ifndef RF_UNIT_H
#define RF_UNIT_H

#include <stdlib.h>

#include <check.h>

static inline int
unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* RF_UNIT_H */
