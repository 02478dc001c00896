/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server-test"

#include "config.h"

#include "stats/ww-histogram.h"

static void
test_percentiles (void)
{
  g_autoptr(WwHistogram) h = ww_histogram_new ();

  g_assert_cmpuint (ww_histogram_percentile (h, 0.5), ==, 0);
  for (guint64 v = 1; v <= 10000; v++)
    ww_histogram_record (h, v);
  g_assert_cmpuint (ww_histogram_count (h), ==, 10000);
  g_assert_cmpuint (ww_histogram_sum (h), ==, 10000ull * 10001 / 2);
  g_assert_cmpuint (ww_histogram_max (h), ==, 10000);
  /* Log-linear buckets: within ~3 % above the true value. */
  g_assert_cmpuint (ww_histogram_percentile (h, 0.50), >=, 5000);
  g_assert_cmpuint (ww_histogram_percentile (h, 0.50), <=, 5000 * 1.04);
  g_assert_cmpuint (ww_histogram_percentile (h, 0.99), >=, 9900);
  g_assert_cmpuint (ww_histogram_percentile (h, 0.99), <=, 9900 * 1.04);
  g_assert_cmpuint (ww_histogram_percentile (h, 1.0), ==, 10000);
  /* Small values are exact. */
  ww_histogram_reset (h);
  ww_histogram_record (h, 7);
  g_assert_cmpuint (ww_histogram_percentile (h, 0.5), ==, 7);
  ww_histogram_record (h, G_MAXUINT64);
  g_assert_cmpuint (ww_histogram_percentile (h, 1.0), ==, G_MAXUINT64);
}

static void
test_merge_and_cumulative (void)
{
  g_autoptr(WwHistogram) a = ww_histogram_new ();
  g_autoptr(WwHistogram) b = ww_histogram_new ();
  g_autoptr(WwHistogram) c = NULL;
  const guint64 bounds[] = { 10, 100, 1000 };
  guint64 out[3];

  for (guint i = 0; i < 10; i++)
    ww_histogram_record (a, 5);
  for (guint i = 0; i < 5; i++)
    ww_histogram_record (b, 500);
  ww_histogram_merge (a, b);
  c = ww_histogram_copy (a);
  g_assert_cmpuint (ww_histogram_count (c), ==, 15);
  g_assert_cmpuint (ww_histogram_max (c), ==, 500);
  ww_histogram_cumulative (c, bounds, out, 3);
  g_assert_cmpuint (out[0], ==, 10);
  g_assert_cmpuint (out[1], ==, 10);
  g_assert_cmpuint (out[2], ==, 15);
}

typedef struct {
  WwHistogram *h;
  guint        n;
} Writer;

static gpointer
writer (gpointer data)
{
  Writer *w = data;

  for (guint i = 0; i < w->n; i++)
    ww_histogram_record (w->h, i % 1000);
  return NULL;
}

static void
test_concurrent (void)
{
  g_autoptr(WwHistogram) h = ww_histogram_new ();
  Writer w = { h, 200000 };
  GThread *t1 = g_thread_new ("w1", writer, &w);
  GThread *t2 = g_thread_new ("w2", writer, &w);

  /* Readers see sane values while the writers run. */
  for (guint i = 0; i < 100; i++)
    g_assert_cmpuint (ww_histogram_percentile (h, 0.99), <=, 1000);
  g_thread_join (t1);
  g_thread_join (t2);
  g_assert_cmpuint (ww_histogram_count (h), ==, 400000);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/stats/histogram/percentiles", test_percentiles);
  g_test_add_func ("/stats/histogram/merge-cumulative", test_merge_and_cumulative);
  g_test_add_func ("/stats/histogram/concurrent", test_concurrent);
  return g_test_run ();
}
