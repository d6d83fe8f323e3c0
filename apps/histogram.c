/*
 * histogram.c: the queries of the latency histogram (histogram.h has the layout and the
 * recording, which is inline). Queries walk all buckets: a few microseconds, fine once a
 * second and at exit.
 */
#include <string.h>

#include "histogram.h"

void
rf_hist_reset(struct rf_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint64_t
rf_hist_bucket_low(unsigned int idx)
{
	unsigned int k, shift;

	if (idx < RF_HIST_SUB)
		return idx;
	k = idx - RF_HIST_SUB;
	shift = k / RF_HIST_SUB;
	return (uint64_t)(RF_HIST_SUB + k % RF_HIST_SUB) << shift;
}

uint64_t
rf_hist_bucket_width(unsigned int idx)
{
	if (idx < RF_HIST_SUB)
		return 1;
	return (uint64_t)1 << ((idx - RF_HIST_SUB) / RF_HIST_SUB);
}

uint64_t
rf_hist_quantile(const struct rf_hist *h, double q)
{
	uint64_t rank, seen = 0, v;
	unsigned int i;

	if (h->total == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	/* The rank-th smallest value (1-based), rank = ceil(q * total), at least 1. */
	rank = (uint64_t)(q * (double)h->total);
	if ((double)rank < q * (double)h->total)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < RF_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank)
			break;
	}
	if (i == RF_HIST_BUCKETS) /* counts and total disagree: cannot happen */
		return h->max;
	v = rf_hist_bucket_low(i) + rf_hist_bucket_width(i) / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

double
rf_hist_mean(const struct rf_hist *h)
{
	return h->total == 0 ? 0.0 : h->sum / (double)h->total;
}
