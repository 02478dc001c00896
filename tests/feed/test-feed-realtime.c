/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed-test"

#include "config.h"

#include "feed-test-util.h"

/*
 * The default schedule in real time: each event changes every 2–7 s.
 * Bounded at 20 s; suites 'feed' and 'slow'.
 */
static void
test_default_intervals (void)
{
  g_autoptr(WwFeedConfig) fc = ww_feed_config_new ();
  g_autoptr(SoupSession) session = feed_test_session ();
  g_autoptr(GHashTable) last_ts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  FeedFixture *f;
  FeedClient *c;
  guint n_gaps = 0;
  gint64 start;

  g_assert_cmpuint (fc->min_interval_ms, ==, 2000);
  g_assert_cmpuint (fc->max_interval_ms, ==, 7000);
  fc->persist = FALSE;
  f = feed_fixture_start (fc, FALSE, 0);
  c = feed_client_connect (session, f->port, "/ws");
  g_assert_true (feed_client_wait_open (c));
  start = g_get_real_time () / 1000;

  /* Five events at one change per 2–7 s: 4 to 12 changes in 14 s. */
  WAIT_UNTIL (FALSE, 14000);
  g_test_message ("%u updates in 14 s", c->update_seqs->len);
  g_assert_cmpuint (c->update_seqs->len, >=, 5 * 14 / 7 - 1);
  g_assert_cmpuint (c->update_seqs->len, <=, 5 * 14 / 2 + 5);

  for (guint k = 0; k < c->update_seqs->len; k++)
    {
      const char *id = g_ptr_array_index (c->update_ids, k);
      gint64 ts = g_array_index (c->update_ts, gint64, k);
      gint64 *prev = g_hash_table_lookup (last_ts, id);

      /* The first change of each event comes 2–7 s after the start. */
      if (prev == NULL)
        {
          g_assert_cmpint (ts - start, <=, 7000 + 500);
          g_hash_table_insert (last_ts, g_strdup (id), g_memdup2 (&ts, sizeof ts));
          continue;
        }
      g_test_message ("%s changed after %" G_GINT64_FORMAT " ms", id, ts - *prev);
      g_assert_cmpint (ts - *prev, >=, 2000 - 1);
      g_assert_cmpint (ts - *prev, <=, 7000 + 500);
      *prev = ts;
      n_gaps++;
    }
  /* Every event changed within the first 7 s. */
  g_assert_cmpuint (g_hash_table_size (last_ts), ==, 5);
  g_assert_cmpuint (n_gaps, >=, 5);

  feed_client_free (c);
  feed_fixture_stop (f);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/feed/realtime/default-intervals", test_default_intervals);
  return g_test_run ();
}
