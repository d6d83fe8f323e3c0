/*
 * --cores N: one process per core, started and stopped together (DESIGN.md section 4).
 *
 * lwIP keeps its state in globals, so each core is a process of its own with its own lwIP
 * and loop. rf_loop_create() with cores > 1 calls rf__launch() before DPDK starts. The calling
 * process becomes the launcher, which never runs DPDK itself:
 *
 *   1. reserves 2 MiB hugepages (nr_hugepages raised by what the cores need, under a lock) on
 *      a hugetlbfs (/dev/hugepages when mounted, else a private mount it makes);
 *   2. forks core 0, the DPDK primary (--proc-type=primary), which creates the pools and the
 *      hand-off rings and configures every port with N queue pairs, and waits until its loop
 *      is up; then forks cores 1..N-1 (--proc-type=secondary), which attach. All share one
 *      --file-prefix, unique to the launcher; core i runs as lcore i on the i-th allowed CPU;
 *   3. waits (waitpid). SIGINT/SIGTERM/SIGHUP to the launcher stop the cores: the secondaries
 *      first, then the primary, each with SIGINT (SIGKILL after RF_STOP_WAIT_S). A core that
 *      dies (a signal, or a non-zero exit) while others run is reported with its core and
 *      signal, and the others are stopped the same way;
 *   4. prints each core's counters (each core sends its struct rf_stats at rf_loop_destroy)
 *      and their sum, removes the hugepage files and the EAL's runtime folder of its prefix,
 *      gives the hugepages back, and exits: 0 when every core exited 0, else the first failed
 *      core's exit code (128 + signal for a signal).
 *
 * (flow/launch_core.c is the cores' side of it.)
 *
 * Each child is a fork (no exec): it returns from rf__launch() into rf_loop_create() with the
 * EAL arguments of its core, in a process group of its own (a terminal's Ctrl-C reaches only
 * the launcher), and dies with SIGINT if the launcher goes away.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"


#define HP_SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define HP_LOCK "/run/rawflow-hugepages.lock"
#define HP_DEFAULT_DIR "/dev/hugepages"
#define HUGETLBFS_MAGIC 0x958458f6
#define HP_SIZE (2u << 20)
/* beyond the pools: the EAL, PMD rings, hand-off rings (MiB) */
#define HP_EXTRA_MB 384
#define RF_READY_WAIT_S 60
#define RF_STOP_WAIT_S 10
#define EAL_MAX 96

static volatile sig_atomic_t stop_signal;

static void
on_stop(int sig)
{
	stop_signal = sig;
}

struct core_proc {
	pid_t pid;
	int status;
	bool running;
};

static struct {
	bool start_failed; /* a core never came up */
	char prefix[64];
	char huge_dir[128];
	bool mounted;
	long pages_added;
	unsigned int cores;
	struct core_proc proc[RF_LAUNCH_MAX];
	int stats_rd;
} L;

/* "-l", "--lcores", ... and "--x=..." forms: EAL options the launcher sets itself. */
static const char *
refused_eal_arg(const char *a)
{
	static const char *const longs[] = {"--no-huge", "--no-shconf", "--in-memory", "--lcores",
					    "--proc-type", "--file-prefix", "--huge-dir",
					    "--socket-mem", "--main-lcore", NULL};

	for (int i = 0; longs[i] != NULL; i++) {
		size_t n = strlen(longs[i]);

		if (strncmp(a, longs[i], n) == 0 && (a[n] == '\0' || a[n] == '='))
			return longs[i];
	}
	if (a[0] == '-' && (a[1] == 'l' || a[1] == 'c' || a[1] == 'm') &&
	    (a[2] == '\0' || (a[2] >= '0' && a[2] <= '9')))
		return a[1] == 'l' ? "-l" : a[1] == 'c' ? "-c" : "-m";
	return NULL;
}

static int
read_long(const char *path, long *v)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (f == NULL)
		return -errno;
	ok = fscanf(f, "%ld", v) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static int
write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (f == NULL)
		return -errno;
	rc = fprintf(f, "%ld\n", v) > 0 ? 0 : -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Raises (delta > 0) or lowers nr_hugepages under a lock shared by rawflow launchers; returns
 * the pages actually added (the kernel may find fewer), or a negative errno. */
static long
adjust_hugepages(long delta)
{
	int fd = open(HP_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	long before, after = 0;
	int rc;

	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rc = read_long(HP_SYSFS, &before);
	if (rc == 0)
		rc = write_long(HP_SYSFS, before + delta < 0 ? 0 : before + delta);
	if (rc == 0)
		rc = read_long(HP_SYSFS, &after);
	close(fd); /* unlocks */
	return rc != 0 ? rc : after - before;
}

static bool
is_hugetlbfs(const char *dir)
{
	struct statfs sf;

	return statfs(dir, &sf) == 0 && (unsigned long)sf.f_type == HUGETLBFS_MAGIC;
}

static int
setup_hugepages(unsigned long mb)
{
	long want = (long)((mb + 1) / 2), got;

	got = adjust_hugepages(want);
	if (got < 0) {
		fprintf(stderr, "rawflow: --cores: cannot reserve hugepages in %s: %s (root needed)\n",
			HP_SYSFS, strerror((int)-got));
		return -1;
	}
	L.pages_added = got;
	if (got < want) {
		fprintf(stderr, "rawflow: --cores: the kernel gave %ld of the %ld 2 MiB hugepages needed (%lu MiB; free memory is fragmented or short)\n",
			got, want, mb);
		return -1;
	}
	if (is_hugetlbfs(HP_DEFAULT_DIR)) {
		snprintf(L.huge_dir, sizeof(L.huge_dir), "%s", HP_DEFAULT_DIR);
		return 0;
	}
	snprintf(L.huge_dir, sizeof(L.huge_dir), "/run/rawflow-huge-%d", (int)getpid());
	if (mkdir(L.huge_dir, 0700) != 0 ||
	    mount("nodev", L.huge_dir, "hugetlbfs", 0, "pagesize=2M") != 0) {
		fprintf(stderr, "rawflow: --cores: cannot mount hugetlbfs on %s: %s\n", L.huge_dir,
			strerror(errno));
		rmdir(L.huge_dir);
		L.huge_dir[0] = '\0';
		return -1;
	}
	L.mounted = true;
	return 0;
}

/* Files in dir whose names start with prefix (all of them when prefix is NULL) go away. */
static unsigned int
remove_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' ||
		    (prefix != NULL && strncmp(e->d_name, prefix, strlen(prefix)) != 0))
			continue;
		n += unlinkat(dirfd(d), e->d_name, 0) == 0;
	}
	closedir(d);
	return n;
}

static void
cleanup_hugepages(void)
{
	char run[192];

	if (L.huge_dir[0] != '\0') {
		remove_files(L.huge_dir, L.prefix);
		if (L.mounted) {
			umount(L.huge_dir);
			rmdir(L.huge_dir);
		}
	}
	/* the EAL's runtime folder of this prefix (config, fbarrays, sockets) */
	snprintf(run, sizeof(run), "/var/run/dpdk/%s", L.prefix);
	remove_files(run, NULL);
	rmdir(run);
	if (L.pages_added > 0) {
		long back = -adjust_hugepages(-L.pages_added);

		fprintf(stderr, "rawflow: %ld of %ld hugepages given back\n", back, L.pages_added);
	}
	L.pages_added = 0;
}

/* The i-th CPU this process may run on (wrapping). */
static int
nth_cpu(unsigned int i)
{
	cpu_set_t set;
	int count, k = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0 || (count = CPU_COUNT(&set)) == 0)
		return (int)i;
	i %= (unsigned int)count;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && (unsigned int)k++ == i)
			return c;
	return 0;
}

/* argv for core `core`: argv[0], the user's EAL arguments (or the embedded default's), the
 * launcher's, "--", the program's. Never freed (the EAL keeps pointers into it). */
static char **
core_argv(int argc, char **argv, unsigned int core, int *argc_out)
{
	char **out = calloc((size_t)argc + EAL_MAX, sizeof(*out));
	int sep = -1, n = 0;
	char buf[256];

	if (out == NULL)
		return NULL;
	for (int i = 1; i < argc && sep < 0; i++)
		if (strcmp(argv[i], "--") == 0)
			sep = i;
	out[n++] = argv[0];
	if (sep > 0) {
		for (int i = 1; i < sep; i++)
			out[n++] = argv[i];
	} else {
		out[n++] = "--no-pci";
		out[n++] = "--vdev=net_tap0,iface=" RF_LAUNCH_EMBEDDED_IFACE;
		out[n++] = "--log-level=lib.*:error";
		out[n++] = "--log-level=pmd.*:error";
	}
	out[n++] = core == 0 ? "--proc-type=primary" : "--proc-type=secondary";
	snprintf(buf, sizeof(buf), "--file-prefix=%s", L.prefix);
	out[n++] = strdup(buf);
	snprintf(buf, sizeof(buf), "--huge-dir=%s", L.huge_dir);
	out[n++] = strdup(buf);
	snprintf(buf, sizeof(buf), "--lcores=%u@%d", core, nth_cpu(core));
	out[n++] = strdup(buf);
	out[n++] = "--";
	for (int i = sep > 0 ? sep + 1 : 1; i < argc; i++)
		out[n++] = argv[i];
	out[n] = NULL;
	*argc_out = n;
	return out;
}

static void
signal_core(unsigned int c, int sig)
{
	if (L.proc[c].running)
		kill(L.proc[c].pid, sig);
}

/* Reaps one child, polling for up to wait_s seconds; true if one was reaped. */
static bool
reap(double wait_s)
{
	for (double waited = 0;; waited += 0.01) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid > 0) {
			for (unsigned int c = 0; c < L.cores; c++)
				if (L.proc[c].running && L.proc[c].pid == pid) {
					L.proc[c].running = false;
					L.proc[c].status = st;
				}
			return true;
		}
		if ((pid < 0 && errno != EINTR) || waited >= wait_s)
			return false;
		usleep(10000);
	}
}

/* Stops core c (SIGINT, then SIGKILL after RF_STOP_WAIT_S) and reaps it. */
static void
stop_core(unsigned int c)
{
	signal_core(c, SIGINT);
	for (int k = 0; k < 2 && L.proc[c].running; k++) {
		while (L.proc[c].running && reap(RF_STOP_WAIT_S))
			;
		if (L.proc[c].running) {
			fprintf(stderr, "rawflow: core %u (pid %d) did not stop within %d s: killed\n",
				c, (int)L.proc[c].pid, RF_STOP_WAIT_S);
			signal_core(c, SIGKILL);
		}
	}
}

/* Secondaries first: the primary owns the devices they use. */
static void
stop_all(void)
{
	for (unsigned int c = L.cores; c-- > 0;)
		stop_core(c);
}

static bool
failed(int st)
{
	return WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0);
}

static void
report_exit(unsigned int c)
{
	int st = L.proc[c].status;

	if (WIFSIGNALED(st))
		fprintf(stderr, "rawflow: core %u (pid %d) was killed by signal %d (%s)\n", c,
			(int)L.proc[c].pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
	else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		fprintf(stderr, "rawflow: core %u (pid %d) exited with status %d\n", c,
			(int)L.proc[c].pid, WEXITSTATUS(st));
}

/* Waits for core c's "ready" byte: true when it came, false when the core died first. */
static bool
wait_ready(unsigned int c, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char b;

	for (int waited = 0; waited < RF_READY_WAIT_S * 10 && !stop_signal; waited++) {
		int r = poll(&p, 1, 100);

		if (r > 0)
			return read(fd, &b, 1) == 1;
		if (r < 0 && errno != EINTR)
			return false;
	}
	if (!stop_signal)
		fprintf(stderr, "rawflow: core %u did not start within %d s\n", c, RF_READY_WAIT_S);
	return false;
}

static pid_t
start_core(unsigned int c, int argc, char **argv, struct rf_launch *out, int *ready_rd)
{
	int ready[2];
	pid_t parent = getpid(), pid;

	if (pipe(ready) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid != 0) {
		close(ready[1]);
		*ready_rd = ready[0];
		if (pid < 0)
			close(ready[0]);
		return pid;
	}
	/* the child: core c */
	close(ready[0]);
	close(L.stats_rd);
	setpgid(0, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGINT);
	if (getppid() != parent)
		_exit(1);
	out->core = c;
	out->ready_fd = ready[1];
	out->argv = core_argv(argc, argv, c, &out->argc);
	if (out->argv == NULL)
		_exit(1);
	return 0;
}

static void
print_stats(const struct rf_launch_stats *s, const char *who)
{
	const struct rf_stats *st = &s->st;

	fprintf(stderr,
		"rawflow: %s: rx %" PRIu64 " frames, tx %" PRIu64 " frames, flows opened %" PRIu64
		", rx payload %" PRIu64 " B, tx payload %" PRIu64 " B, handoff rx %" PRIu64
		" tx %" PRIu64 " dropped %" PRIu64 ", accept refused %" PRIu64 "\n",
		who, st->rx_pkts, st->tx_pkts, st->flows_opened, st->rx_payload_bytes,
		st->tx_payload_bytes, st->handoff_rx, st->handoff_tx, st->handoff_dropped,
		st->accept_refused);
}

/* Every core's counters as they left, and their sum. */
static void
report_stats(void)
{
	struct rf_launch_stats s, sum;
	unsigned int n = 0;
	char who[32];

	memset(&sum, 0, sizeof(sum));
	while (read(L.stats_rd, &s, sizeof(s)) == (ssize_t)sizeof(s)) {
		const uint64_t *a = (const uint64_t *)&s.st;
		uint64_t *b = (uint64_t *)&sum.st;

		snprintf(who, sizeof(who), "core %u", (unsigned int)s.core);
		print_stats(&s, who);
		for (size_t i = 0; i < sizeof(s.st) / sizeof(uint64_t); i++)
			b[i] += a[i];
		n++;
	}
	if (n > 1) {
		snprintf(who, sizeof(who), "all %u cores", n);
		print_stats(&sum, who);
	}
	if (n < L.cores)
		fprintf(stderr, "rawflow: %u of %u cores reported no counters (they did not stop cleanly)\n",
			L.cores - n, L.cores);
}

/* Reports cores that ended badly (once each); true if there was one. */
static bool
report_failures(int *code)
{
	bool any = false;

	for (unsigned int c = 0; c < L.cores; c++) {
		int st = L.proc[c].status;

		if (L.proc[c].running || L.proc[c].pid == 0 || !failed(st))
			continue;
		report_exit(c);
		if (*code == 0)
			*code = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
		L.proc[c].pid = 0; /* reported */
		any = true;
	}
	return any;
}

static int
supervise(void)
{
	int code = 0;
	bool stopping = L.start_failed;

	if (stopping)
		stop_all(); /* the cores started so far */
	for (;;) {
		bool any = false;

		for (unsigned int c = 0; c < L.cores; c++)
			any |= L.proc[c].running;
		if (!any)
			break;
		if (stop_signal && !stopping) {
			stopping = true;
			stop_all();
			continue;
		}
		if (reap(0.1) && report_failures(&code) && !stopping) {
			fprintf(stderr, "rawflow: stopping the other cores\n");
			stopping = true;
			stop_all();
		}
	}
	report_failures(&code);
	return code == 0 && L.start_failed ? 1 : code;
}

int
rf__launch(int argc, char **argv, unsigned int cores, unsigned long mb, struct rf_launch *out)
{
	struct sigaction sa;
	int stats[2], code;

	memset(&L, 0, sizeof(L));
	L.cores = cores;
	snprintf(L.prefix, sizeof(L.prefix), "rawflow-mc-%d", (int)getpid());
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *r = refused_eal_arg(argv[i]);

		if (r != NULL) {
			fprintf(stderr, "rawflow: --cores sets the EAL's %s itself: remove \"%s\"\n", r,
				argv[i]);
			return -1;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: waitpid returns to look at it */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (pipe(stats) != 0 || setup_hugepages(mb + HP_EXTRA_MB) != 0) {
		cleanup_hugepages();
		return -1;
	}
	L.stats_rd = stats[0];
	out->stats_fd = stats[1];
	out->cores = cores;
	fprintf(stderr, "rawflow: %u cores, one process each (EAL file prefix %s, %ld hugepages of 2 MiB on %s)\n",
		cores, L.prefix, L.pages_added, L.huge_dir);
	for (unsigned int c = 0; c < cores && !stop_signal; c++) {
		int ready_rd;
		pid_t pid = start_core(c, argc, argv, out, &ready_rd);

		if (pid == 0)
			return 0; /* the child, as core c */
		if (pid < 0) {
			fprintf(stderr, "rawflow: cannot start core %u: %s\n", c, strerror(errno));
			break;
		}
		L.proc[c].pid = pid;
		L.proc[c].running = true;
		if (!wait_ready(c, ready_rd)) {
			close(ready_rd);
			L.start_failed = !stop_signal; /* a signal while starting is a stop */
			break;
		}
		close(ready_rd);
		fprintf(stderr, "rawflow: core %u up (pid %d)\n", c, (int)pid);
	}
	close(stats[1]);
	code = supervise();
	report_stats();
	cleanup_hugepages();
	exit(code);
}
