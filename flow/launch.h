/*
 * flow/launch.c: --cores N, one process per core (see there). Private to flow/.
 */
#ifndef RF_LAUNCH_H
#define RF_LAUNCH_H

#include <stdbool.h>
#include <stdint.h>

#include "rawflow.h"

#define RF_LAUNCH_MAX 16 /* RF_MAX_CORES of drivers/ */
#define RF_LAUNCH_EMBEDDED_IFACE "rf0"

/* What a core's process knows of the launch. */
struct rf_launch {
	unsigned int cores, core;
	bool embedded; /* the program gave no EAL arguments: net_tap rf0, as with one core */
	int ready_fd; /* written once the core's loop is up */
	int stats_fd; /* the core's struct rf_launch_stats at rf_loop_destroy() */
	int argc;     /* the core's own argv: its EAL arguments, "--", the program's */
	char **argv;
	struct rf_mc_zone *zone; /* shared: the secondaries still attached */
};

struct rf_launch_stats {
	uint64_t core;
	struct rf_stats st;
};

/* Becomes the launcher of `cores` processes needing about `mb` MiB of pools in all: returns 0
 * in each core's process (with *out filled), never in the launcher (it exits with the cores'
 * status); -1 after a message when nothing could start. */
int rf__launch(int argc, char **argv, unsigned int cores, unsigned long mb, struct rf_launch *out);
/* Tells the launcher this core is up (the primary's devices and pools exist). */
void rf__launch_ready(struct rf_launch *mc);
/* Sends this core's final counters to the launcher. */
void rf__launch_report(struct rf_launch *mc, const struct rf_stats *st);

/* In a core, once DPDK runs: joins the shared list of cores (0 or -1 after a message). */
int rf__launch_attach(struct rf_launch *mc);
/* At rf_loop_destroy(), first: ignores stop signals from now on; in the primary, waits until
 * no secondary uses the devices (asking the launcher to stop them). */
void rf__launch_stopping(struct rf_launch *mc);
/* A secondary, once its ports are released: leaves the list. */
void rf__launch_detach(struct rf_launch *mc);

#endif /* RF_LAUNCH_H */
