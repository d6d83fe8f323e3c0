/*
 * EAL start-up with rawflow's embedded default.
 *
 * A DPDK program normally takes `prog [EAL args] -- [prog args]`. rawflow keeps that, and adds
 * one rule: a program started without "--" gets the embedded default, so it runs on a laptop
 * or a CI box with no NIC, no hugepages and no configuration:
 *
 *   --no-huge --no-pci --no-shconf -m 512 -l <first allowed cpu> --vdev=net_tap0,iface=rf0
 *
 * (`--in-memory` would be the natural choice but DPDK 22.11 refuses it together with
 * --no-huge; --no-shconf gives the same "no files left behind".) The environment variable
 * RF_EAL_ARGS appends EAL arguments to that default (--log-level, --file-prefix, ...).
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include "rf_drivers.h"

int rf_logtype_drivers;
int rf_logtype_stack;
int rf_logtype_flow;

/* Memory for the no-huge default: the pools need about 100 MiB; the rest is headroom for the
 * EAL and the PMDs. */
#define RF_EMBEDDED_MEM_MB "512"

static int
first_allowed_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return 0;
}

/* Most words RF_EAL_ARGS may add to the embedded default. */
#define RF_EAL_EXTRA_MAX 32

/*
 * RF_EAL_ARGS: EAL arguments appended to the embedded default (which otherwise has no way to
 * receive any), e.g. RF_EAL_ARGS="--log-level=rawflow.*:info --file-prefix=rf1". Words are
 * separated by blanks; there is no quoting. Returns the number of words stored in argv, or -1
 * when there are more than max or no memory. The copy lives until rf_eal_stop(): the EAL may
 * keep pointers into its arguments.
 */
static char *env_args_copy;

static int
env_eal_args(char **argv, int max)
{
	const char *env = getenv("RF_EAL_ARGS");
	char *copy, *save = NULL, *w;
	int n = 0;

	if (env == NULL)
		return 0;
	copy = strdup(env);
	if (copy == NULL)
		return -1;
	free(env_args_copy);
	env_args_copy = copy;
	for (w = strtok_r(copy, " \t\n", &save); w != NULL; w = strtok_r(NULL, " \t\n", &save)) {
		if (n == max)
			return -1;
		argv[n++] = w;
	}
	return n;
}

static void
register_log_types(void)
{
	rf_logtype_drivers = rte_log_register_type_and_pick_level("rawflow.drivers", RTE_LOG_NOTICE);
	rf_logtype_stack = rte_log_register_type_and_pick_level("rawflow.stack", RTE_LOG_NOTICE);
	rf_logtype_flow = rte_log_register_type_and_pick_level("rawflow.flow", RTE_LOG_NOTICE);
}

int
rf_eal_start(int argc, char **argv, bool *embedded)
{
	int sep = -1;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}

	*embedded = sep < 0;
	if (*embedded) {
		char lcores[16];
		char *eal_argv[] = {argv[0], "--no-huge", "--no-pci", "--no-shconf", "-m",
				    RF_EMBEDDED_MEM_MB, "-l", lcores,
				    "--vdev=net_tap0,iface=" RF_EMBEDDED_IFACE, "--log-level=lib.*:error",
				    "--log-level=pmd.*:error", NULL};
		int n = (int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1, extra;
		char *args[RTE_DIM(eal_argv) + RF_EAL_EXTRA_MAX];

		snprintf(lcores, sizeof(lcores), "%d", first_allowed_cpu());
		memcpy(args, eal_argv, (size_t)n * sizeof(args[0]));
		extra = env_eal_args(args + n, RF_EAL_EXTRA_MAX);
		if (extra < 0) {
			fprintf(stderr, "%s: RF_EAL_ARGS: more than %d words (or no memory)\n",
				argv[0], RF_EAL_EXTRA_MAX);
			return -1;
		}
		args[n + extra] = NULL;
		if (rte_eal_init(n + extra, args) < 0) {
			fprintf(stderr, "%s: cannot start DPDK with the embedded default (net_tap %s)%s: %s\n",
				argv[0], RF_EMBEDDED_IFACE, extra ? " and RF_EAL_ARGS" : "",
				rte_strerror(rte_errno));
			return -1;
		}
		register_log_types();
		return 1;
	}

	/* rte_eal_init() parses argv[0..sep-1]; the program's own arguments follow "--". */
	if (rte_eal_init(sep, argv) < 0) {
		fprintf(stderr, "%s: DPDK rejected the EAL arguments before \"--\": %s\n", argv[0],
			rte_strerror(rte_errno));
		return -1;
	}
	register_log_types();
	argv[sep] = argv[0];
	return sep;
}

void
rf_eal_stop(void)
{
	rte_eal_cleanup();
	free(env_args_copy);
	env_args_copy = NULL;
}
