/*
 * Unit suite "impair": drivers/impair_spec.c (the spec) and drivers/impair.c (the layer).
 *
 * The layer is driven directly, without a port: frames from a small mbuf pool go in through
 * rf_impair_frame(), held ones come out through rf_impair_release(), and time is a parameter
 * (a fake TSC at 1 MHz, so one tick is one microsecond). What is pinned:
 *   - the spec: the documented example, defaults, percentages and units, dir= and rx./tx.
 *     prefixes (order does not matter), and an error naming the token for every bad one;
 *   - the PRNG: one seed, one stream; another seed, another stream;
 *   - decisions: each probability is kept over many frames, 0 never and 1 always acts, the
 *     same seed makes the same decisions, and every frame is accounted for (out or counted);
 *   - duplicate: an independent copy with the same bytes;
 *   - reorder: held until `gap` later frames passed, or `reorder_max` elapsed; nothing lost;
 *   - delay: held for exactly `delay`, released in order; a full queue lets the oldest go;
 *   - corrupt: exactly one bit past the Ethernet header; RX loses the device's checksum
 *     verdict; TX works on a copy whose offloaded checksums were filled before the flip (so
 *     a receiver's check fails), leaving the original frame untouched;
 *   - blackout: every frame inside the window, once or periodic, and none outside;
 *   - nothing leaks: destroying the layer frees what it held (the pool is back to empty).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ALLOW_EXPERIMENTAL_API /* rte_ipv4_udptcp_cksum_verify() */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "rf_drivers.h"
#include "unit.h"
#include "unit_eal.h"

#define HZ 1000000ull /* fake TSC: one tick per microsecond */
#define FRAME_LEN 100
#define ID_OFF 60 /* where a test frame carries its number */
#define MAX_OUT 65536

static struct rte_mempool *pool;

/* What came out of the layer, in order: every frame's number, and the frames themselves
 * unless `keep` is off (long runs free them at once: the pool is small). */
static struct rte_mbuf *outv[MAX_OUT];
static uint32_t outid[MAX_OUT];
static unsigned int nout;
static bool keep;

static uint32_t frame_id(const struct rte_mbuf *m);

static void
collect(void *arg, struct rte_mbuf *m)
{
	(void)arg;
	ck_assert_uint_lt(nout, MAX_OUT);
	outid[nout] = frame_id(m);
	if (keep) {
		outv[nout] = m;
	} else {
		outv[nout] = NULL;
		rte_pktmbuf_free(m);
	}
	nout++;
}

static uint32_t
frame_id(const struct rte_mbuf *m)
{
	uint32_t id;

	memcpy(&id, rte_pktmbuf_mtod_offset(m, const uint8_t *, ID_OFF), sizeof(id));
	return id;
}

/* A 100-byte frame numbered id (bytes after the Ethernet header are a pattern). */
static struct rte_mbuf *
frame(uint32_t id)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *p;

	ck_assert_ptr_nonnull(m);
	p = (uint8_t *)rte_pktmbuf_append(m, FRAME_LEN);
	for (int i = 0; i < FRAME_LEN; i++)
		p[i] = (uint8_t)(i * 7 + 1);
	memcpy(p + ID_OFF, &id, sizeof(id));
	return m;
}

static struct rf_impair *
layer(const char *spec)
{
	struct rf_impair_conf conf;
	char err[256];
	struct rf_impair *im;

	ck_assert_msg(rf_impair_parse(spec, &conf, err, sizeof(err)) == 0, "%s: %s", spec, err);
	im = rf_impair_create(&conf, 0, pool, 0, HZ);
	ck_assert_ptr_nonnull(im);
	return im;
}

static void
free_out(void)
{
	for (unsigned int i = 0; i < nout; i++)
		rte_pktmbuf_free(outv[i]);
	nout = 0;
}

/*
 * A pool per test, created in the test's own process: check forks for each test, and the
 * EAL's memory (no hugepages) is shared between the forks, so a pool made before the fork
 * would carry one test's leftovers into the next.
 */
static void
setup(void)
{
	char name[32];

	snprintf(name, sizeof(name), "impair%d", (int)getpid());
	/* no per-lcore cache: the in-use count is exact at every moment */
	pool = rte_pktmbuf_pool_create(name, 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	ck_assert_msg(pool != NULL, "cannot create the mbuf pool: %s", rte_strerror(rte_errno));
	nout = 0;
	keep = true;
}

/* Every test ends with the pool as it found it: empty. */
static void
teardown(void)
{
	free_out();
	ck_assert_uint_eq(rte_mempool_in_use_count(pool), 0);
	rte_mempool_free(pool);
	pool = NULL;
}

/* ---- the spec ----------------------------------------------------------------------------- */

START_TEST(test_parse_the_documented_example)
{
	struct rf_impair_conf c;
	char err[256];

	ck_assert_int_eq(rf_impair_parse("drop=0.02,reorder=0.02,dup=0.01,corrupt=0.001,"
					 "delay=200us,blackout=1000+300ms,seed=7,dir=both",
					 &c, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(c.seed, 7);
	for (int d = 0; d < RF_IMPAIR_DIRS; d++) {
		ck_assert_double_eq(c.dir[d].drop, 0.02);
		ck_assert_double_eq(c.dir[d].reorder, 0.02);
		ck_assert_double_eq(c.dir[d].dup, 0.01);
		ck_assert_double_eq(c.dir[d].corrupt, 0.001);
		ck_assert_double_eq(c.dir[d].delay, 1.0);
		ck_assert_uint_eq(c.dir[d].delay_us, 200);
		ck_assert_uint_eq(c.dir[d].blackout_start_us, 1000000);
		ck_assert_uint_eq(c.dir[d].blackout_len_us, 300000);
		ck_assert_uint_eq(c.dir[d].blackout_period_us, 0);
	}
	ck_assert(rf_impair_conf_active(&c));
}
END_TEST

START_TEST(test_parse_defaults)
{
	struct rf_impair_conf c;

	ck_assert_int_eq(rf_impair_parse("seed=3", &c, NULL, 0), 0);
	ck_assert_uint_eq(c.seed, 3);
	ck_assert_uint_eq(c.queue, 1024);
	for (int d = 0; d < RF_IMPAIR_DIRS; d++) {
		ck_assert_uint_eq(c.dir[d].reorder_gap, 3);
		ck_assert_uint_eq(c.dir[d].reorder_max_us, 1000);
		ck_assert_double_eq(c.dir[d].drop, 0);
	}
	ck_assert(!rf_impair_conf_active(&c));
}
END_TEST

START_TEST(test_parse_percentages_units_and_periodic_blackout)
{
	struct rf_impair_conf c;
	char err[256];

	ck_assert_int_eq(rf_impair_parse("drop=2%,delay=1.5ms@0.25,blackout=1s+300/5s,"
					 "reorder_max=2ms,reorder_gap=5,queue=16",
					 &c, err, sizeof(err)),
			 0);
	ck_assert_double_eq_tol(c.dir[RF_IMPAIR_RX].drop, 0.02, 1e-12);
	ck_assert_uint_eq(c.dir[RF_IMPAIR_TX].delay_us, 1500);
	ck_assert_double_eq(c.dir[RF_IMPAIR_TX].delay, 0.25);
	ck_assert_uint_eq(c.dir[RF_IMPAIR_RX].blackout_start_us, 1000000);
	ck_assert_uint_eq(c.dir[RF_IMPAIR_RX].blackout_len_us, 300000); /* bare: ms */
	ck_assert_uint_eq(c.dir[RF_IMPAIR_RX].blackout_period_us, 5000000);
	ck_assert_uint_eq(c.dir[RF_IMPAIR_TX].reorder_max_us, 2000);
	ck_assert_uint_eq(c.dir[RF_IMPAIR_TX].reorder_gap, 5);
	ck_assert_uint_eq(c.queue, 16);
}
END_TEST

START_TEST(test_parse_dir_picks_the_direction_wherever_it_stands)
{
	struct rf_impair_conf c;

	ck_assert_int_eq(rf_impair_parse("drop=0.5,dir=rx", &c, NULL, 0), 0);
	ck_assert_double_eq(c.dir[RF_IMPAIR_RX].drop, 0.5);
	ck_assert_double_eq(c.dir[RF_IMPAIR_TX].drop, 0);
	ck_assert_int_eq(rf_impair_parse("dir=tx,drop=0.5", &c, NULL, 0), 0);
	ck_assert_double_eq(c.dir[RF_IMPAIR_RX].drop, 0);
	ck_assert_double_eq(c.dir[RF_IMPAIR_TX].drop, 0.5);
	ck_assert_int_eq(rf_impair_parse("dir=rx|tx,drop=0.5", &c, NULL, 0), 0);
	ck_assert_double_eq(c.dir[RF_IMPAIR_RX].drop, 0.5);
	ck_assert_double_eq(c.dir[RF_IMPAIR_TX].drop, 0.5);
}
END_TEST

START_TEST(test_parse_prefixed_key_overrides_in_any_order)
{
	struct rf_impair_conf c;

	ck_assert_int_eq(rf_impair_parse("tx.drop=0.1,drop=0.02,rx.dup=1%", &c, NULL, 0), 0);
	ck_assert_double_eq(c.dir[RF_IMPAIR_RX].drop, 0.02);
	ck_assert_double_eq(c.dir[RF_IMPAIR_TX].drop, 0.1);
	ck_assert_double_eq_tol(c.dir[RF_IMPAIR_RX].dup, 0.01, 1e-12);
	ck_assert_double_eq(c.dir[RF_IMPAIR_TX].dup, 0);
	/* a prefix also applies to a direction dir= left out */
	ck_assert_int_eq(rf_impair_parse("dir=rx,drop=0.3,tx.corrupt=0.1", &c, NULL, 0), 0);
	ck_assert_double_eq(c.dir[RF_IMPAIR_TX].drop, 0);
	ck_assert_double_eq(c.dir[RF_IMPAIR_TX].corrupt, 0.1);
}
END_TEST

START_TEST(test_parse_errors_name_the_bad_token)
{
	static const struct {
		const char *spec, *token;
	} bad[] = {
		{"drop=2x", "drop=2x"},
		{"drop=1.5", "drop=1.5"},
		{"drop=-0.1", "drop=-0.1"},
		{"drop=150%", "drop=150%"},
		{"seed=7,drop", "\"drop\""},
		{"=3", "\"=3\""},
		{"dup=", "\"dup=\""},
		{"bogus=1", "bogus"},
		{"rx.seed=1", "rx.seed=1"},
		{"delay=200", "delay=200"},       /* a delay needs a unit */
		{"delay=200us@2", "delay=200us@2"},
		{"delay=2h", "delay=2h"},
		{"blackout=1000", "blackout=1000"},
		{"blackout=1000+0", "blackout=1000+0"},
		{"blackout=10+300/200", "blackout=10+300/200"}, /* period shorter than the window */
		{"blackout=1+2ms,x", "\"x\""},
		{"dir=up", "dir=up"},
		{"queue=0", "queue=0"},
		{"reorder_gap=0", "reorder_gap=0"},
		{"reorder_max=5", "reorder_max=5"},
		{"seed=abc", "seed=abc"},
	};
	struct rf_impair_conf c;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(rf_impair_parse(bad[i].spec, &c, err, sizeof(err)) == -EINVAL,
			      "\"%s\" was accepted", bad[i].spec);
		ck_assert_msg(strstr(err, bad[i].token) != NULL, "\"%s\": message \"%s\"",
			      bad[i].spec, err);
	}
	ck_assert_int_eq(rf_impair_parse("", &c, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(rf_impair_parse(NULL, &c, err, sizeof(err)), -EINVAL);
}
END_TEST

/* ---- the PRNG ----------------------------------------------------------------------------- */

START_TEST(test_rand_one_seed_one_stream)
{
	uint64_t a = 7, b = 7, c = 8;
	unsigned int same = 0, ones = 0;

	for (int i = 0; i < 10000; i++) {
		uint64_t x = rf_impair_rand(&a), y = rf_impair_rand(&b), z = rf_impair_rand(&c);

		ck_assert_uint_eq(x, y);
		same += x == z;
		ones += (unsigned int)__builtin_popcountll(x);
	}
	ck_assert_uint_eq(same, 0);
	/* about 32 bits of 64 set */
	ck_assert_uint_gt(ones, 10000 * 31);
	ck_assert_uint_lt(ones, 10000 * 33);
}
END_TEST

/* ---- decisions ---------------------------------------------------------------------------- */

/* n frames through direction d at time 0; returns what came out. */
static unsigned int
pass_frames(struct rf_impair *im, int d, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		rf_impair_frame(im, d, frame(i), 0, collect, NULL);
	return nout;
}

START_TEST(test_drop_rate_keeps_its_probability_and_counts_every_frame)
{
	struct rf_impair *im = layer("drop=0.02,seed=11");
	struct rf_impair_counters c;
	unsigned int out;

	keep = false;
	out = pass_frames(im, RF_IMPAIR_RX, 50000);

	rf_impair_counters(im, RF_IMPAIR_RX, &c);
	ck_assert_uint_eq(out + c.dropped, 50000);
	/* 1000 expected, sigma 31 */
	ck_assert_uint_gt(c.dropped, 850);
	ck_assert_uint_lt(c.dropped, 1150);
	ck_assert_uint_eq(rf_impair_held(im), 0);
	free_out();
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_probability_zero_never_one_always)
{
	struct rf_impair *im = layer("rx.drop=1,tx.drop=0,tx.dup=0");
	struct rf_impair_counters c;

	ck_assert_uint_eq(pass_frames(im, RF_IMPAIR_RX, 1000), 0);
	rf_impair_counters(im, RF_IMPAIR_RX, &c);
	ck_assert_uint_eq(c.dropped, 1000);
	ck_assert_uint_eq(pass_frames(im, RF_IMPAIR_TX, 1000), 1000);
	for (unsigned int i = 0; i < nout; i++)
		ck_assert_uint_eq(outid[i], i);
	rf_impair_counters(im, RF_IMPAIR_TX, &c);
	ck_assert_uint_eq(c.dropped + c.duplicated + c.reordered + c.corrupted + c.delayed, 0);
	free_out();
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_same_seed_same_decisions_other_seed_others)
{
	static uint32_t first[MAX_OUT];
	const char *spec = "drop=0.05,dup=0.05,reorder=0.05,seed=42";
	struct rf_impair *im = layer(spec);
	unsigned int n1, differ = 0;

	keep = false;
	n1 = pass_frames(im, RF_IMPAIR_TX, 5000);
	for (unsigned int i = 0; i < n1; i++)
		first[i] = outid[i];
	free_out();
	rf_impair_destroy(im);

	im = layer(spec);
	ck_assert_uint_eq(pass_frames(im, RF_IMPAIR_TX, 5000), n1);
	for (unsigned int i = 0; i < n1; i++)
		ck_assert_uint_eq(outid[i], first[i]);
	free_out();
	rf_impair_destroy(im);

	im = layer("drop=0.05,dup=0.05,reorder=0.05,seed=43");
	pass_frames(im, RF_IMPAIR_TX, 5000);
	for (unsigned int i = 0; i < n1 && i < nout; i++)
		differ += outid[i] != first[i];
	ck_assert_uint_gt(differ + (nout != n1), 0);
	free_out();
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_directions_are_independent)
{
	struct rf_impair *im = layer("drop=1,dir=tx");

	ck_assert_uint_eq(pass_frames(im, RF_IMPAIR_RX, 100), 100);
	free_out();
	ck_assert_uint_eq(pass_frames(im, RF_IMPAIR_TX, 100), 0);
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_duplicate_is_an_independent_copy_right_behind)
{
	struct rf_impair *im = layer("dup=1");
	struct rf_impair_counters c;

	ck_assert_uint_eq(pass_frames(im, RF_IMPAIR_TX, 100), 200);
	rf_impair_counters(im, RF_IMPAIR_TX, &c);
	ck_assert_uint_eq(c.duplicated, 100);
	for (unsigned int i = 0; i < 200; i += 2) {
		ck_assert_ptr_ne(outv[i], outv[i + 1]);
		ck_assert_uint_eq(rte_mbuf_refcnt_read(outv[i]), 1);
		ck_assert_uint_eq(rte_mbuf_refcnt_read(outv[i + 1]), 1);
		ck_assert_uint_eq(outv[i + 1]->pkt_len, FRAME_LEN);
		ck_assert_mem_eq(rte_pktmbuf_mtod(outv[i], void *),
				 rte_pktmbuf_mtod(outv[i + 1], void *), FRAME_LEN);
		ck_assert_uint_eq(outid[i], i / 2);
	}
	free_out();
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_reorder_holds_until_gap_frames_passed)
{
	struct rf_impair *im = layer("reorder=0.2,reorder_gap=3,reorder_max=1s,seed=5");
	static unsigned char seen[20000];
	struct rf_impair_counters c;
	unsigned int inversions = 0;

	memset(seen, 0, sizeof(seen));
	keep = false;
	pass_frames(im, RF_IMPAIR_RX, 20000);
	/* the tail still held leaves when its time is up */
	ck_assert_uint_eq(rf_impair_release(im, RF_IMPAIR_RX, 999999, UINT32_MAX, collect, NULL), 0);
	rf_impair_release(im, RF_IMPAIR_RX, 1000000, UINT32_MAX, collect, NULL);
	ck_assert_uint_eq(rf_impair_held(im), 0);
	ck_assert_uint_eq(nout, 20000);
	rf_impair_counters(im, RF_IMPAIR_RX, &c);
	ck_assert_uint_gt(c.reordered, 3500);
	ck_assert_uint_lt(c.reordered, 4500);
	for (unsigned int i = 0; i < nout; i++) {
		uint32_t id = outid[i];

		ck_assert_uint_lt(id, 20000);
		ck_assert_msg(!seen[id], "frame %u twice", id);
		seen[id] = 1;
		if (i > 0 && id < outid[i - 1])
			inversions++;
	}
	ck_assert_uint_gt(inversions, 1000);
	free_out();
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_reorder_gap_is_exact)
{
	/* Probability 1 would hold every frame; a seed is found where frame 0 is held and the
	 * next three pass: frame 0 must come out right after frame 3. */
	struct rf_impair *im;
	char spec[64];
	int seed;

	for (seed = 1; seed < 1000; seed++) {
		snprintf(spec, sizeof(spec), "reorder=0.5,reorder_gap=3,seed=%d", seed);
		im = layer(spec);
		pass_frames(im, RF_IMPAIR_TX, 4);
		if (nout == 4 && outid[0] == 1 && outid[1] == 2 &&
		    outid[2] == 3)
			break;
		free_out();
		rf_impair_destroy(im);
		im = NULL;
	}
	ck_assert_ptr_nonnull(im);
	ck_assert_uint_eq(outid[3], 0);
	free_out();
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_reorder_max_releases_by_time)
{
	struct rf_impair *im = layer("reorder=1,reorder_max=500us");

	rf_impair_frame(im, RF_IMPAIR_TX, frame(1), 1000, collect, NULL);
	ck_assert_uint_eq(rf_impair_release(im, RF_IMPAIR_TX, 1499, 100, collect, NULL), 0);
	ck_assert_uint_eq(nout, 0);
	ck_assert_uint_eq(rf_impair_release(im, RF_IMPAIR_TX, 1500, 100, collect, NULL), 1);
	ck_assert_uint_eq(nout, 1);
	ck_assert_uint_eq(outid[0], 1);
	free_out();
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_delay_holds_exactly_and_keeps_order)
{
	struct rf_impair *im = layer("delay=200us");
	struct rf_impair_counters c;

	for (uint32_t i = 0; i < 10; i++)
		rf_impair_frame(im, RF_IMPAIR_RX, frame(i), i, collect, NULL);
	ck_assert_uint_eq(nout, 0);
	ck_assert_uint_eq(rf_impair_release(im, RF_IMPAIR_RX, 199, 100, collect, NULL), 0);
	ck_assert_uint_eq(rf_impair_release(im, RF_IMPAIR_RX, 200, 100, collect, NULL), 1);
	ck_assert_uint_eq(rf_impair_release(im, RF_IMPAIR_RX, 205, 2, collect, NULL), 2); /* max */
	ck_assert_uint_eq(rf_impair_release(im, RF_IMPAIR_RX, 1000, 100, collect, NULL), 7);
	for (unsigned int i = 0; i < 10; i++)
		ck_assert_uint_eq(outid[i], i);
	rf_impair_counters(im, RF_IMPAIR_RX, &c);
	ck_assert_uint_eq(c.delayed, 10);
	free_out();
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_delay_full_queue_lets_the_oldest_go_early)
{
	struct rf_impair *im = layer("delay=1s,queue=4");

	for (uint32_t i = 0; i < 6; i++)
		rf_impair_frame(im, RF_IMPAIR_TX, frame(i), 0, collect, NULL);
	ck_assert_uint_eq(nout, 2);
	ck_assert_uint_eq(outid[0], 0);
	ck_assert_uint_eq(outid[1], 1);
	ck_assert_uint_eq(rf_impair_held(im), 4);
	free_out();
	rf_impair_destroy(im); /* frees the four it holds: teardown checks the pool */
}
END_TEST

/* The bit positions where two frames of the same length differ. */
static unsigned int
diff_bits(const uint8_t *a, const uint8_t *b, uint32_t len, uint32_t *byte, uint8_t *mask)
{
	unsigned int n = 0;

	for (uint32_t i = 0; i < len; i++)
		if (a[i] != b[i]) {
			n += (unsigned int)__builtin_popcount(a[i] ^ b[i]);
			*byte = i;
			*mask = a[i] ^ b[i];
		}
	return n;
}

START_TEST(test_corrupt_rx_flips_one_bit_and_drops_the_checksum_verdict)
{
	struct rf_impair *im = layer("corrupt=1,seed=9");
	uint8_t orig[FRAME_LEN];
	uint32_t byte = 0;
	uint8_t mask = 0;

	for (uint32_t i = 0; i < 200; i++) {
		struct rte_mbuf *m = frame(i);

		m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		memcpy(orig, rte_pktmbuf_mtod(m, void *), FRAME_LEN);
		rf_impair_frame(im, RF_IMPAIR_RX, m, 0, collect, NULL);
		ck_assert_uint_eq(nout, 1);
		ck_assert_ptr_eq(outv[0], m); /* RX corrupts in place */
		ck_assert_uint_eq(diff_bits(orig, rte_pktmbuf_mtod(m, uint8_t *), FRAME_LEN, &byte,
					    &mask),
				  1);
		ck_assert_uint_ge(byte, RTE_ETHER_HDR_LEN);
		ck_assert_uint_eq(m->ol_flags &
					  (RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK),
				  0);
		free_out();
	}
	rf_impair_destroy(im);
}
END_TEST

/* An Ethernet/IPv4/TCP frame with 40 bytes of payload, its checksums left to the device as
 * drivers/offload.c asks for them (IP checksum 0, TCP field holding the pseudo-header sum). */
static struct rte_mbuf *
tcp_frame_for_offload(void)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint16_t len = RTE_ETHER_HDR_LEN + 20 + 20 + 40;
	uint8_t *p;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *tcp;

	ck_assert_ptr_nonnull(m);
	p = (uint8_t *)rte_pktmbuf_append(m, len);
	memset(p, 0, len);
	eth = (struct rte_ether_hdr *)p;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(80);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(0xc6120002);
	ip->dst_addr = rte_cpu_to_be_32(0xc6120001);
	tcp = (struct rte_tcp_hdr *)(ip + 1);
	tcp->src_port = rte_cpu_to_be_16(7);
	tcp->dst_port = rte_cpu_to_be_16(40000);
	tcp->sent_seq = rte_cpu_to_be_32(12345);
	tcp->data_off = 5 << 4;
	tcp->tcp_flags = RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG;
	tcp->rx_win = rte_cpu_to_be_16(1000);
	for (int i = 0; i < 40; i++)
		p[RTE_ETHER_HDR_LEN + 40 + i] = (uint8_t)(0xa0 + i);
	m->l2_len = RTE_ETHER_HDR_LEN;
	m->l3_len = 20;
	m->l4_len = 20;
	m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
	tcp->cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	return m;
}

START_TEST(test_corrupt_tx_copies_and_fills_checksums_before_the_flip)
{
	struct rf_impair *im = layer("corrupt=1,seed=3");

	for (int round = 0; round < 100; round++) {
		struct rte_mbuf *m = tcp_frame_for_offload(), *c;
		uint32_t len = m->pkt_len, byte = 0;
		uint8_t before[256], mask = 0;
		uint8_t *p;
		struct rte_ipv4_hdr *ip;

		memcpy(before, rte_pktmbuf_mtod(m, void *), len);
		rte_mbuf_refcnt_update(m, 1); /* keep the original to look at it afterwards */
		rf_impair_frame(im, RF_IMPAIR_TX, m, 0, collect, NULL);
		ck_assert_uint_eq(nout, 1);
		c = outv[0];
		ck_assert_ptr_ne(c, m);
		ck_assert_mem_eq(rte_pktmbuf_mtod(m, void *), before, len); /* untouched */
		rte_pktmbuf_free(m);
		ck_assert_uint_eq(c->pkt_len, len);
		ck_assert_uint_eq(c->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_L4_MASK), 0);

		/* the frame as the device would have sent it: both checksums filled */
		ip = (struct rte_ipv4_hdr *)(before + RTE_ETHER_HDR_LEN);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		((struct rte_tcp_hdr *)(ip + 1))->cksum = 0;
		((struct rte_tcp_hdr *)(ip + 1))->cksum = rte_ipv4_udptcp_cksum(ip, ip + 1);
		/* the copy is that frame with one bit flipped; undone, both checksums verify,
		 * so with the bit flipped a receiver's check fails */
		p = rte_pktmbuf_mtod(c, uint8_t *);
		ip = (struct rte_ipv4_hdr *)(p + RTE_ETHER_HDR_LEN);
		ck_assert_uint_eq(diff_bits(before, p, len, &byte, &mask), 1);
		ck_assert_uint_ge(byte, RTE_ETHER_HDR_LEN);
		p[byte] ^= mask;
		ck_assert_int_eq(rte_raw_cksum(ip, 20), 0xffff);
		ck_assert_int_eq(rte_ipv4_udptcp_cksum_verify(ip, ip + 1), 0);
		p[byte] ^= mask;
		ck_assert(rte_raw_cksum(ip, 20) != 0xffff ||
			  rte_ipv4_udptcp_cksum_verify(ip, ip + 1) != 0);
		free_out();
	}
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_blackout_window_once_and_periodic)
{
	struct rf_impair *im = layer("rx.blackout=10+5ms,tx.blackout=10+5ms/20ms");
	static const struct {
		uint64_t t_us;
		bool dropped_rx, dropped_tx;
	} at[] = {
		{0, false, false},      {9999, false, false},   {10000, true, true},
		{14999, true, true},    {15000, false, false},  {29999, false, false},
		{30000, false, true},   {34999, false, true},   {35000, false, false},
		{50000, false, true},
	};
	struct rf_impair_counters rx, tx;
	unsigned int want_rx = 0, want_tx = 0;

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		nout = 0;
		rf_impair_frame(im, RF_IMPAIR_RX, frame((uint32_t)i), at[i].t_us, collect, NULL);
		ck_assert_msg(nout == (at[i].dropped_rx ? 0u : 1u), "rx at %llu us",
			      (unsigned long long)at[i].t_us);
		free_out();
		rf_impair_frame(im, RF_IMPAIR_TX, frame((uint32_t)i), at[i].t_us, collect, NULL);
		ck_assert_msg(nout == (at[i].dropped_tx ? 0u : 1u), "tx at %llu us",
			      (unsigned long long)at[i].t_us);
		free_out();
		want_rx += at[i].dropped_rx;
		want_tx += at[i].dropped_tx;
	}
	rf_impair_counters(im, RF_IMPAIR_RX, &rx);
	rf_impair_counters(im, RF_IMPAIR_TX, &tx);
	ck_assert_uint_eq(rx.blackout_dropped, want_rx);
	ck_assert_uint_eq(tx.blackout_dropped, want_tx);
	ck_assert_uint_eq(rx.dropped + tx.dropped, 0);
	rf_impair_destroy(im);
}
END_TEST

START_TEST(test_destroy_frees_what_it_holds)
{
	struct rf_impair *im = layer("reorder=0.3,delay=1s@0.5,dup=0.2,seed=77");

	pass_frames(im, RF_IMPAIR_RX, 500);
	pass_frames(im, RF_IMPAIR_TX, 500);
	ck_assert_uint_gt(rf_impair_held(im), 100);
	free_out();
	rf_impair_destroy(im);
	/* teardown: the pool is empty again */
}
END_TEST

static Suite *
impair_suite(void)
{
	Suite *s = suite_create("impair");
	TCase *spec = tcase_create("spec");
	TCase *layer_tc = tcase_create("layer");

	tcase_add_test(spec, test_parse_the_documented_example);
	tcase_add_test(spec, test_parse_defaults);
	tcase_add_test(spec, test_parse_percentages_units_and_periodic_blackout);
	tcase_add_test(spec, test_parse_dir_picks_the_direction_wherever_it_stands);
	tcase_add_test(spec, test_parse_prefixed_key_overrides_in_any_order);
	tcase_add_test(spec, test_parse_errors_name_the_bad_token);
	tcase_add_test(spec, test_rand_one_seed_one_stream);
	suite_add_tcase(s, spec);

	tcase_add_checked_fixture(layer_tc, setup, teardown);
	tcase_add_test(layer_tc, test_drop_rate_keeps_its_probability_and_counts_every_frame);
	tcase_add_test(layer_tc, test_probability_zero_never_one_always);
	tcase_add_test(layer_tc, test_same_seed_same_decisions_other_seed_others);
	tcase_add_test(layer_tc, test_directions_are_independent);
	tcase_add_test(layer_tc, test_duplicate_is_an_independent_copy_right_behind);
	tcase_add_test(layer_tc, test_reorder_holds_until_gap_frames_passed);
	tcase_add_test(layer_tc, test_reorder_gap_is_exact);
	tcase_add_test(layer_tc, test_reorder_max_releases_by_time);
	tcase_add_test(layer_tc, test_delay_holds_exactly_and_keeps_order);
	tcase_add_test(layer_tc, test_delay_full_queue_lets_the_oldest_go_early);
	tcase_add_test(layer_tc, test_corrupt_rx_flips_one_bit_and_drops_the_checksum_verdict);
	tcase_add_test(layer_tc, test_corrupt_tx_copies_and_fills_checksums_before_the_flip);
	tcase_add_test(layer_tc, test_blackout_window_once_and_periodic);
	tcase_add_test(layer_tc, test_destroy_frees_what_it_holds);
	suite_add_tcase(s, layer_tc);
	return s;
}

int
main(void)
{
	int rc;

	if (unit_eal_start("test_impair", "128") != 0)
		return EXIT_FAILURE;
	rc = unit_run(impair_suite());
	rte_eal_cleanup();
	return rc;
}
