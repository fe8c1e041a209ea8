/* histogram.c: the log-linear histogram (see histogram.h). */
#include "common/histogram.h"

#include <string.h>

void
tp_hist_init(tp_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = INT64_MAX;
}

int
tp_hist_bucket_index(int64_t value)
{
	int msb;
	int shift;
	int top;

	if (value < 128) {
		return value < 0 ? 0 : (int) value;
	}
	msb   = 63 - __builtin_clzll((unsigned long long) value);
	shift = msb - 6;
	top   = (int) (value >> shift); /* 64..127 */
	if (msb > 62) {
		return TP_HIST_BUCKETS - 1;
	}
	return 128 + (msb - 7) * 64 + (top - 64);
}

int64_t
tp_hist_bucket_high(int index)
{
	int k;
	int msb;
	int top;

	if (index < 128) {
		return index;
	}
	k   = index - 128;
	msb = 7 + k / 64;
	top = 64 + k % 64;
	return (((int64_t) top + 1) << (msb - 6)) - 1;
}

void
tp_hist_record(tp_hist *h, int64_t value)
{
	if (value < 0) {
		value = 0;
	}
	h->counts[tp_hist_bucket_index(value)]++;
	h->total++;
	h->sum += (double) value;
	if (value < h->min) {
		h->min = value;
	}
	if (value > h->max) {
		h->max = value;
	}
}

void
tp_hist_merge(tp_hist *dst, const tp_hist *src)
{
	for (int i = 0; i < TP_HIST_BUCKETS; i++) {
		dst->counts[i] += src->counts[i];
	}
	dst->total += src->total;
	dst->sum += src->sum;
	if (src->min < dst->min) {
		dst->min = src->min;
	}
	if (src->max > dst->max) {
		dst->max = src->max;
	}
}

int64_t
tp_hist_percentile(const tp_hist *h, double p)
{
	uint64_t rank;
	uint64_t seen = 0;

	if (h->total == 0) {
		return 0;
	}
	if (p <= 0) {
		return h->min;
	}
	if (p >= 100) {
		return h->max;
	}
	/* The smallest value with at least p% of the values at or below it. */
	rank = (uint64_t) ((p / 100.0) * (double) h->total + 0.5);
	if (rank == 0) {
		rank = 1;
	}
	for (int i = 0; i < TP_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			int64_t v = tp_hist_bucket_high(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double
tp_hist_mean(const tp_hist *h)
{
	return h->total == 0 ? 0.0 : h->sum / (double) h->total;
}
