/*
 * A minimal DPDK EAL for the unit suites that need one (an mbuf pool, the TSC rate): no
 * hugepages, no PCI, no shared files, no telemetry, one lcore, mem_mb MiB of ordinary memory.
 */
#ifndef RF_UNIT_EAL_H
#define RF_UNIT_EAL_H

#include <stdio.h>

#include <rte_eal.h>
#include <rte_errno.h>

/* 0, or -1 after a line naming prog and the cause. */
static inline int
unit_eal_start(char *prog, char *mem_mb)
{
	char *eal_argv[] = {prog, "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
			    "-l", "0", "-m", mem_mb, "--log-level=lib.eal:error", NULL};
	int eal_argc = (int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1;

	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "%s: cannot start DPDK's EAL: %s\n", prog, rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

#endif /* RF_UNIT_EAL_H */
