/* bench_stats: summary statistics of latency samples for `krt bench` (and its test).
 *
 * Percentiles interpolate linearly between the two closest ranks of the sorted samples (the
 * "linear" method of NumPy's percentile, Hyndman & Fan type 7), so a median printed here and one
 * computed with numpy.median / statistics.median on the same samples agree. */
#ifndef KRT_TOOLS_BENCH_STATS_H
#define KRT_TOOLS_BENCH_STATS_H

#include <stddef.h>

typedef struct bench_stats {
  size_t count;
  double min, max, mean, stddev; /* stddev: population (divides by count) */
  double median, p90, p95, p99;
} bench_stats;

/* The p-th percentile (0 <= p <= 100) of n >= 1 samples sorted ascending. */
double bench_percentile_sorted(const double *sorted, size_t n, double p);

/* Sorts samples in place (ascending) and fills *out. Returns 0, or -1 when n == 0 or samples is
 * NULL (then *out is untouched). */
int bench_stats_compute(double *samples, size_t n, bench_stats *out);

#endif
