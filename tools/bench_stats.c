/* bench_stats.c: see bench_stats.h. */
#include "bench_stats.h"

#include <math.h>
#include <stdlib.h>

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_percentile_sorted(const double *sorted, size_t n, double p) {
  if (n == 1 || p <= 0.0) return sorted[0];
  if (p >= 100.0) return sorted[n - 1];
  /* Rank on the 0 .. n-1 scale; the value lies between the neighbouring samples. */
  double rank = p / 100.0 * (double)(n - 1);
  size_t below = (size_t)floor(rank);
  if (below >= n - 1) return sorted[n - 1];
  double frac = rank - (double)below;
  return sorted[below] + frac * (sorted[below + 1] - sorted[below]);
}

int bench_stats_compute(double *samples, size_t n, bench_stats *out) {
  if (!samples || n == 0) return -1;
  qsort(samples, n, sizeof *samples, compare_doubles);
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) sum += samples[i];
  double mean = sum / (double)n;
  double squares = 0.0;
  for (size_t i = 0; i < n; i++) squares += (samples[i] - mean) * (samples[i] - mean);
  out->count = n;
  out->min = samples[0];
  out->max = samples[n - 1];
  out->mean = mean;
  out->stddev = sqrt(squares / (double)n);
  out->median = bench_percentile_sorted(samples, n, 50.0);
  out->p90 = bench_percentile_sorted(samples, n, 90.0);
  out->p95 = bench_percentile_sorted(samples, n, 95.0);
  out->p99 = bench_percentile_sorted(samples, n, 99.0);
  return 0;
}
