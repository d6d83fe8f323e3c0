/*
 * --cores N, inside each core's process (flow/launch.c is the launcher's side): telling the
 * launcher the core is up, sending it the core's counters at the end, and who still uses the
 * primary's devices.
 *
 * The primary owns the devices and their queues (in shared memory): closing them while a
 * secondary still polls one makes that secondary crash in its PMD (net_tap did so here). So a
 * memzone lists the secondaries' pids, each cleared once its ports are released; the primary
 * waits for the list to empty (or its processes to be gone) before closing. While it waits it
 * polls no device, and says so after a second ("loop stopped, waiting ..."): a test can then
 * let a memif peer leave without this core being inside a burst (tests/multicore/multicore.sh).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_memzone.h>

#include "launch.h"

void
rf__launch_ready(struct rf_launch *mc)
{
	char b = 'R';

	if (mc->ready_fd > 0) {
		if (write(mc->ready_fd, &b, 1) != 1)
			fprintf(stderr, "rawflow: core %u: the launcher is gone\n", mc->core);
		close(mc->ready_fd);
		mc->ready_fd = -1;
	}
}

void
rf__launch_report(struct rf_launch *mc, const struct rf_stats *st)
{
	struct rf_launch_stats s = {.core = mc->core, .st = *st};

	if (mc->stats_fd > 0 && write(mc->stats_fd, &s, sizeof(s)) != (ssize_t)sizeof(s))
		fprintf(stderr, "rawflow: core %u: cannot report counters to the launcher\n",
			mc->core);
}

#define RF_MC_ZONE "rf_mc_cores"
#define RF_PRIMARY_GRACE_S 30
#define RF_PRIMARY_WAIT_S 15

struct rf_mc_zone {
	volatile int32_t pid[RF_LAUNCH_MAX];
};

int
rf__launch_attach(struct rf_launch *mc)
{
	const struct rte_memzone *mz = mc->core == 0
					       ? rte_memzone_reserve(RF_MC_ZONE, sizeof(struct rf_mc_zone),
								     SOCKET_ID_ANY, 0)
					       : rte_memzone_lookup(RF_MC_ZONE);

	if (mz == NULL) {
		fprintf(stderr, "rawflow: core %u: no shared core list (%s)\n", mc->core, RF_MC_ZONE);
		return -1;
	}
	mc->zone = mz->addr;
	if (mc->core == 0)
		memset(mz->addr, 0, sizeof(struct rf_mc_zone));
	else
		mc->zone->pid[mc->core] = getpid();
	return 0;
}

void
rf__launch_detach(struct rf_launch *mc)
{
	if (mc->zone != NULL && mc->core != 0)
		mc->zone->pid[mc->core] = 0;
	mc->zone = NULL;
}

void
rf__launch_stopping(struct rf_launch *mc)
{
	/* stop signals are moot from here on: the process is leaving */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (mc->zone == NULL || mc->core != 0)
		return;
	/* The secondaries end on their own when the program has an end (--duration, rf-load's
	 * --requests), within moments of each other; after RF_PRIMARY_GRACE_S the launcher is
	 * asked to stop them (a program without an end, or one that failed). */
	for (int waited = 0; waited < (RF_PRIMARY_GRACE_S + RF_PRIMARY_WAIT_S) * 100; waited++) {
		bool busy = false;

		for (unsigned int c = 1; c < mc->cores; c++) {
			pid_t p = mc->zone->pid[c];

			busy |= p != 0 && kill(p, 0) == 0;
		}
		if (!busy)
			return;
		if (waited == 100) /* from here on, this core polls nothing until they are gone */
			fprintf(stderr, "rawflow: core 0: loop stopped, waiting for the other cores to "
					"release the devices\n");
		if (waited == RF_PRIMARY_GRACE_S * 100)
			kill(getppid(), SIGTERM);
		usleep(10000);
	}
	fprintf(stderr, "rawflow: core 0: other cores still attached after %d s; closing the devices anyway\n",
		RF_PRIMARY_GRACE_S + RF_PRIMARY_WAIT_S);
}
