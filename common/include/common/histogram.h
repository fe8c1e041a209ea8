/*
 * histogram.h: a log-linear histogram of non-negative integers (HDR style):
 * exact below 128, then 64 linear sub-buckets per power of two, so any
 * recorded value is reported within 1/64 (1.6%) of itself. Fixed size, no
 * allocation. Not thread-safe: keep one per thread and merge.
 */
#ifndef COMMON_HISTOGRAM_H
#define COMMON_HISTOGRAM_H

#include <stdint.h>

#define TP_HIST_BUCKETS (128 + 56 * 64)

typedef struct tp_hist {
	uint64_t counts[TP_HIST_BUCKETS];
	uint64_t total;
	int64_t  min; /* INT64_MAX while empty */
	int64_t  max; /* 0 while empty */
	double   sum;
} tp_hist;

/* tp_hist_init empties h. */
void tp_hist_init(tp_hist *h);

/* tp_hist_record adds one value; negative values count as 0. */
void tp_hist_record(tp_hist *h, int64_t value);

/* tp_hist_merge adds every count of src to dst. */
void tp_hist_merge(tp_hist *dst, const tp_hist *src);

/*
 * tp_hist_percentile returns the value at percentile p (0..100): the
 * highest value equivalent to the bucket holding it, capped by the
 * recorded maximum; 0 when empty.
 */
int64_t tp_hist_percentile(const tp_hist *h, double p);

/* tp_hist_mean returns the mean of the recorded values (0 when empty). */
double tp_hist_mean(const tp_hist *h);

/* tp_hist_bucket_index and _bucket_high are exposed for the unit test. */
int     tp_hist_bucket_index(int64_t value);
int64_t tp_hist_bucket_high(int index);

#endif /* COMMON_HISTOGRAM_H */
