/*
 * histogram.h: latency histogram for the load generator, log-linear in the manner of
 * HdrHistogram.
 *
 * Values are nanoseconds. Below 2^RF_HIST_SUB_BITS (128 ns) every value has its own bucket;
 * above, each power of two [2^m, 2^(m+1)) is cut into 2^RF_HIST_SUB_BITS equal buckets, so a
 * bucket is at most 1/128 (0.78%) of the values it holds wide: better than 1% everywhere from
 * 100 ns up. The top power of two ends at 2^34 ns (17 s); larger values go into the last
 * bucket and are counted in `clamped` (the exact maximum is still kept in `max`).
 * 3,584 buckets of 8 bytes: 28 KiB per histogram.
 *
 * Why hand-written: Debian packages HdrHistogram for Java and Go only, not for C, and
 * recording sits on the load generator's hot path (once per response), where it must be a
 * handful of instructions with no call into a library: a count-leading-zeros, a shift, an
 * increment.
 *
 * Recording is inline (rf_hist_index() once, then rf_hist_add() into one or more histograms);
 * queries walk the buckets and are meant for reports, not for every request.
 */
#ifndef RF_APPS_HISTOGRAM_H
#define RF_APPS_HISTOGRAM_H

#include <stdint.h>

#define RF_HIST_SUB_BITS 7
#define RF_HIST_SUB (1u << RF_HIST_SUB_BITS)
/* Values below 2^RF_HIST_MAX_EXP ns have a bucket of their own precision. */
#define RF_HIST_MAX_EXP 34
#define RF_HIST_BUCKETS (RF_HIST_SUB + (RF_HIST_MAX_EXP - RF_HIST_SUB_BITS) * RF_HIST_SUB)

struct rf_hist {
	uint64_t total;   /* values recorded */
	uint64_t min, max; /* exact; min is UINT64_MAX while empty */
	uint64_t clamped; /* values at or above 2^RF_HIST_MAX_EXP ns */
	double sum;       /* for the mean */
	uint64_t counts[RF_HIST_BUCKETS];
};

/* Empties h. */
void rf_hist_reset(struct rf_hist *h);

/* The bucket of value v (ns). */
static inline unsigned int
rf_hist_index(uint64_t v)
{
	unsigned int m, shift;

	if (v < RF_HIST_SUB)
		return (unsigned int)v;
	if (v >> RF_HIST_MAX_EXP)
		return RF_HIST_BUCKETS - 1;
	m = 63u - (unsigned int)__builtin_clzll(v); /* v in [2^m, 2^(m+1)), m >= SUB_BITS */
	shift = m - RF_HIST_SUB_BITS;
	/* (v >> shift) keeps the leading 1 and SUB_BITS bits below it: SUB..2*SUB-1 */
	return RF_HIST_SUB + shift * RF_HIST_SUB + (unsigned int)(v >> shift) - RF_HIST_SUB;
}

/* Records v, whose bucket idx = rf_hist_index(v) the caller computed (once for several
 * histograms). */
static inline void
rf_hist_add(struct rf_hist *h, unsigned int idx, uint64_t v)
{
	h->counts[idx]++;
	h->total++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	if (v >> RF_HIST_MAX_EXP)
		h->clamped++;
}

static inline void
rf_hist_record(struct rf_hist *h, uint64_t v)
{
	rf_hist_add(h, rf_hist_index(v), v);
}

/* Lowest value of bucket idx, and its width. */
uint64_t rf_hist_bucket_low(unsigned int idx);
uint64_t rf_hist_bucket_width(unsigned int idx);

/*
 * The value at quantile q (0 < q <= 1; 0.99 for p99): the smallest recorded value v such that
 * at least q of all values are <= v, to within the bucket's precision (the middle of the
 * bucket that holds it, kept within [min, max]). 0 for an empty histogram.
 */
uint64_t rf_hist_quantile(const struct rf_hist *h, double q);

/* Mean of the recorded values; 0 for an empty histogram. */
double rf_hist_mean(const struct rf_hist *h);

#endif /* RF_APPS_HISTOGRAM_H */
