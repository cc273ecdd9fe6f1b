/* tools/bench_stats.c: percentiles and summaries of latency samples, against values computed with
 * numpy.percentile (method "linear") and numpy.mean / numpy.std on the same samples. */
#include <stdlib.h>

#include "test.h"

/* Test executables link only tools/npy.c besides the library (tests/CMakeLists.txt), so the
 * helper under test is compiled into this file. */
#include "bench_stats.c"

static void test_odd_count(void) {
  double s[] = {5, 1, 4, 2, 3};
  bench_stats st;
  CHECK(bench_stats_compute(s, 5, &st) == 0);
  CHECK(st.count == 5);
  CHECK_NEAR(st.min, 1.0, 1e-12);
  CHECK_NEAR(st.max, 5.0, 1e-12);
  CHECK_NEAR(st.mean, 3.0, 1e-12);
  CHECK_NEAR(st.stddev, 1.4142135623730951, 1e-12);
  CHECK_NEAR(st.median, 3.0, 1e-12);
  CHECK_NEAR(st.p90, 4.6, 1e-12);
  CHECK_NEAR(st.p95, 4.8, 1e-12);
  CHECK_NEAR(st.p99, 4.96, 1e-12);
  /* Sorted in place. */
  for (int i = 0; i < 4; i++) CHECK(s[i] <= s[i + 1]);
}

static void test_even_count(void) {
  double s[] = {0.5, 0.25, 2.0, 1.0};
  bench_stats st;
  CHECK(bench_stats_compute(s, 4, &st) == 0);
  CHECK_NEAR(st.median, 0.75, 1e-12);
  CHECK_NEAR(st.p90, 1.7, 1e-12);
  CHECK_NEAR(st.p95, 1.85, 1e-12);
  CHECK_NEAR(st.p99, 1.97, 1e-12);
  CHECK_NEAR(st.mean, 0.9375, 1e-12);
  CHECK_NEAR(st.stddev, 0.6702378309227255, 1e-12);
}

static void test_hundred_descending(void) {
  double s[100];
  for (int i = 0; i < 100; i++) s[i] = 100 - i;
  bench_stats st;
  CHECK(bench_stats_compute(s, 100, &st) == 0);
  CHECK_NEAR(st.median, 50.5, 1e-12);
  CHECK_NEAR(st.p90, 90.1, 1e-9);
  CHECK_NEAR(st.p95, 95.05, 1e-9);
  CHECK_NEAR(st.p99, 99.01, 1e-9);
}

static void test_edges(void) {
  double one[] = {7.25};
  bench_stats st;
  CHECK(bench_stats_compute(one, 1, &st) == 0);
  CHECK_NEAR(st.min, 7.25, 0);
  CHECK_NEAR(st.median, 7.25, 0);
  CHECK_NEAR(st.p99, 7.25, 0);
  CHECK_NEAR(st.stddev, 0.0, 0);

  double sorted[] = {1, 2, 3};
  CHECK_NEAR(bench_percentile_sorted(sorted, 3, 0.0), 1.0, 0);
  CHECK_NEAR(bench_percentile_sorted(sorted, 3, 100.0), 3.0, 0);
  CHECK_NEAR(bench_percentile_sorted(sorted, 3, -5.0), 1.0, 0);
  CHECK_NEAR(bench_percentile_sorted(sorted, 3, 250.0), 3.0, 0);
  CHECK_NEAR(bench_percentile_sorted(sorted, 3, 25.0), 1.5, 1e-12);

  /* Refused without touching the output. */
  bench_stats untouched = {.count = 42};
  CHECK(bench_stats_compute(NULL, 3, &untouched) == -1);
  CHECK(bench_stats_compute(one, 0, &untouched) == -1);
  CHECK(untouched.count == 42);
}

int main(void) {
  test_odd_count();
  test_even_count();
  test_hundred_descending();
  test_edges();
  return test_summary("test_bench_stats");
}
