/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed-test"

#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "feed/ww-feed-store.h"
#include "feed-test-util.h"

/*
 * The feed against the real server, over real sockets on 127.0.0.1, with
 * libsoup clients on the same main context (and once with the server on
 * a thread of its own, as in the GUI).
 */

static WwFeedConfig *
fast_config (guint64 seed,
             guint   min_ms,
             guint   max_ms)
{
  WwFeedConfig *fc = ww_feed_config_new ();

  fc->has_seed = TRUE;
  fc->seed = seed;
  fc->min_interval_ms = min_ms;
  fc->max_interval_ms = max_ms;
  fc->persist = FALSE;
  fc->rate_limit = 0;
  return fc;
}

/* Seqs after the client's INITIAL follow on one by one. */
static void
assert_gap_free (FeedClient *c)
{
  guint64 prev = c->initial_seq;

  g_assert_cmpuint (c->n_initial, ==, 1);
  for (guint i = 0; i < c->update_seqs->len; i++)
    {
      guint64 seq = g_array_index (c->update_seqs, guint64, i);

      g_assert_cmpuint (seq, ==, prev + 1);
      prev = seq;
    }
}

static gboolean
all_have (FeedClient **clients,
          guint        n,
          guint64      seq)
{
  for (guint i = 0; i < n; i++)
    if (feed_client_last_seq (clients[i]) < seq)
      return FALSE;
  return TRUE;
}

#define N_FANOUT 60

static void
test_fanout (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (1, 20, 60);
  FeedFixture *f = feed_fixture_start (fc, FALSE, 0);
  g_autoptr(SoupSession) session = feed_test_session ();
  g_autoptr(GHashTable) by_seq = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  FeedClient *clients[N_FANOUT];
  guint64 target;

  for (guint i = 0; i < N_FANOUT; i++)
    clients[i] = feed_client_connect (session, f->port, i % 2 ? "/ws" : "/");
  for (guint i = 0; i < N_FANOUT; i++)
    g_assert_true (feed_client_wait_open (clients[i]));

  /* Everyone sees the next 150 updates. */
  target = ww_event_feed_get_seq (f->feed) + 150;
  WAIT_UNTIL (all_have (clients, N_FANOUT, target), 30000);
  g_assert_true (all_have (clients, N_FANOUT, target));

  for (guint i = 0; i < N_FANOUT; i++)
    {
      FeedClient *c = clients[i];

      assert_gap_free (c);
      g_assert_cmpuint (c->welcome_seq, ==, c->initial_seq);
      /* The same UPDATE, byte for byte, for every client. */
      for (guint k = 0; k < c->update_seqs->len; k++)
        {
          gint64 seq = (gint64) g_array_index (c->update_seqs, guint64, k);
          const char *text = g_ptr_array_index (c->update_texts, k);
          const char *seen = g_hash_table_lookup (by_seq, &seq);

          if (seen == NULL)
            g_hash_table_insert (by_seq, g_memdup2 (&seq, sizeof seq), (gpointer) text);
          else
            g_assert_cmpstr (text, ==, seen);
        }
    }


  for (guint i = 0; i < N_FANOUT; i++)
    feed_client_free (clients[i]);
  feed_fixture_stop (f);
}

#define MIN_MS 20
#define MAX_MS 60

/*
 * Per event, the time between two changes is drawn from [MIN_MS, MAX_MS].
 * A late timer delays the schedule but never shortens a gap, so the lower
 * bound holds for every gap; the upper one is stretched by whatever else
 * the loop was doing, so it is checked on the bulk and on the mean.
 */
static void
test_intervals (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (11, MIN_MS, MAX_MS);
  FeedFixture *f = feed_fixture_start (fc, FALSE, 0);
  g_autoptr(SoupSession) session = feed_test_session ();
  g_autoptr(GHashTable) last_ts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  FeedClient *c = feed_client_connect (session, f->port, "/ws");
  guint n_gaps = 0, n_inside = 0;
  gint64 gap_sum = 0, lo = G_MAXINT64, hi = 0;

  g_assert_true (feed_client_wait_open (c));
  WAIT_UNTIL (c->update_seqs->len >= 300, 30000);
  g_assert_cmpuint (c->update_seqs->len, >=, 300);
  assert_gap_free (c);

  for (guint k = 0; k < c->update_seqs->len; k++)
    {
      const char *id = g_ptr_array_index (c->update_ids, k);
      gint64 ts = g_array_index (c->update_ts, gint64, k);
      gint64 *prev = g_hash_table_lookup (last_ts, id);
      gint64 gap;

      if (prev == NULL)
        {
          g_hash_table_insert (last_ts, g_strdup (id), g_memdup2 (&ts, sizeof ts));
          continue;
        }
      gap = ts - *prev;
      *prev = ts;
      n_gaps++;
      gap_sum += gap;
      lo = MIN (lo, gap);
      hi = MAX (hi, gap);
      /* A ms wall clock against a µs schedule: one ms of rounding. */
      g_assert_cmpint (gap, >=, MIN_MS - 1);
      if (gap <= MAX_MS + 20)
        n_inside++;
    }
  g_test_message ("%u per-event gaps: min %" G_GINT64_FORMAT " max %" G_GINT64_FORMAT
                  " mean %.1f ms; %u within %u-%u ms", n_gaps, lo, hi,
                  (double) gap_sum / n_gaps, n_inside, MIN_MS, MAX_MS + 20);
  g_assert_cmpuint (g_hash_table_size (last_ts), ==, 5);
  g_assert_cmpuint (n_gaps, >=, 290);
  /* The upper end stretches with the machine's load (every late timer
   * pushes the whole schedule), so only gross errors fail here; the exact
   * distribution is checked in virtual time by /feed/sim/intervals. */
  g_assert_cmpuint (n_inside * 2, >=, n_gaps);
  g_assert_cmpfloat ((double) gap_sum / n_gaps, >=, MIN_MS);
  g_assert_cmpfloat ((double) gap_sum / n_gaps, <=, MAX_MS + 40);
  /* Uniform: the gaps spread over the range. */
  g_assert_cmpint (lo, <, MIN_MS + 30);
  g_assert_cmpint (hi, >, MAX_MS - 10);

  feed_client_free (c);
  feed_fixture_stop (f);
}

/* Two servers with the same seed: the same events change, the same sides
 * score, in the same order; another seed does something else. */
static char *
score_trail (FeedClient *c,
             guint       n)
{
  GString *trail = g_string_new (NULL);

  for (guint64 seq = 1; seq <= n; seq++)
    {
      guint k = 0;
      const char *text;

      while (k < c->update_seqs->len && g_array_index (c->update_seqs, guint64, k) != seq)
        k++;
      g_assert_cmpuint (k, <, c->update_seqs->len);
      text = g_ptr_array_index (c->update_texts, k);
      g_autofree char *event = feed_test_raw_member (text, "event");
      g_autofree char *home = feed_test_raw_member (event + 1, "homeScore");
      g_autofree char *away = feed_test_raw_member (event + 1, "awayScore");

      g_string_append_printf (trail, "%s %s-%s;", (char *) g_ptr_array_index (c->update_ids, k),
                              home, away);
    }
  return g_string_free (trail, FALSE);
}

static void
test_seed_determinism (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (12345, 10, 30);
  g_autoptr(WwFeedConfig) other = fast_config (54321, 10, 30);
  g_autoptr(SoupSession) session = feed_test_session ();
  FeedFixture *f[3];
  FeedClient *c[3];
  char *trail[3] = { NULL, };

  /* Connecting before the first change is not guaranteed, so the history
   * is read back from the start with RESUME 0. */
  f[0] = feed_fixture_start (fc, FALSE, 0);
  f[1] = feed_fixture_start (fc, FALSE, 0);
  f[2] = feed_fixture_start (other, FALSE, 0);
  for (guint i = 0; i < 3; i++)
    {
      WAIT_UNTIL (ww_event_feed_get_seq (f[i]->feed) >= 40, 10000);
      c[i] = feed_client_connect (session, f[i]->port, "/ws");
      g_assert_true (feed_client_wait_open (c[i]));
      feed_client_send (c[i], "{\"type\":\"RESUME\",\"seq\":0}");
    }
  for (guint i = 0; i < 3; i++)
    {
      /* The replay of 1…WELCOME, in any interleaving with live ones. */
      WAIT_UNTIL (c[i]->update_seqs->len >= c[i]->welcome_seq, 10000);
      g_assert_cmpuint (c[i]->update_seqs->len, >=, c[i]->welcome_seq);
      trail[i] = score_trail (c[i], 40);
    }
  g_assert_cmpstr (trail[0], ==, trail[1]);
  g_assert_cmpstr (trail[0], !=, trail[2]);

  for (guint i = 0; i < 3; i++)
    {
      g_free (trail[i]);
      feed_client_free (c[i]);
      feed_fixture_stop (f[i]);
    }
}

/* An outlet standing in for the backplane: takes our changes and CHATs,
 * hands them back a little later, or refuses while "away". */
typedef struct {
  WwEventFeed *feed;
  GQueue       pending;   /* char *: "U<json>" or "C<json>" */
  gboolean     away;
  guint64      last_seq;
  guint        n_updates;
  guint        n_chats;
  gboolean     seq_error;
} Outlet;

static gboolean
outlet_deliver (gpointer data)
{
  Outlet *o = data;
  char *item;

  while ((item = g_queue_pop_head (&o->pending)) != NULL)
    {
      if (item[0] == 'U')
        g_assert_true (ww_event_feed_apply_update_json (o->feed, item + 1, -1));
      else
        {
          g_autoptr(GBytes) chat = g_bytes_new (item + 1, strlen (item + 1));

          ww_event_feed_broadcast_chat (o->feed, chat);
        }
      g_free (item);
    }
  return G_SOURCE_REMOVE;
}

static gboolean
outlet_update (WwEventFeed *feed,
               guint64      seq,
               const char  *event_json,
               const char  *update_json,
               gpointer     data)
{
  Outlet *o = data;

  if (o->away)
    return FALSE;
  /* Never a seq twice, even with earlier ones still on their way. */
  if (seq != o->last_seq + 1 && o->last_seq != 0)
    o->seq_error = TRUE;
  o->last_seq = seq;
  o->n_updates++;
  g_assert_nonnull (strstr (update_json, event_json));
  g_queue_push_tail (&o->pending, g_strconcat ("U", update_json, NULL));
  g_timeout_add (25, outlet_deliver, o);
  return TRUE;
}

static gboolean
outlet_chat (WwEventFeed *feed,
             const char  *chat_json,
             gpointer     data)
{
  Outlet *o = data;

  if (o->away)
    return FALSE;
  o->n_chats++;
  g_queue_push_tail (&o->pending, g_strconcat ("C", chat_json, NULL));
  g_timeout_add (25, outlet_deliver, o);
  return TRUE;
}

static void
test_outlet (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (13, 5, 15);
  FeedFixture *f = feed_fixture_start (fc, FALSE, 0);
  g_autoptr(SoupSession) session = feed_test_session ();
  static const WwFeedOutlet vtable = { outlet_update, outlet_chat };
  Outlet o = { f->feed, G_QUEUE_INIT, FALSE, 0, 0, 0, FALSE };
  FeedClient *c;
  guint64 target;

  WAIT_UNTIL (ww_event_feed_get_seq (f->feed) >= 3, 5000);
  o.last_seq = ww_event_feed_get_seq (f->feed);
  ww_event_feed_set_outlet (f->feed, &vtable, &o, NULL);
  c = feed_client_connect (session, f->port, "/ws");
  g_assert_true (feed_client_wait_open (c));

  /* Changes go out and come back: clients see them once, in order. */
  target = feed_client_last_seq (c) + 40;
  WAIT_UNTIL (feed_client_last_seq (c) >= target, 10000);
  g_assert_cmpuint (feed_client_last_seq (c), >=, target);
  g_assert_false (o.seq_error);
  g_assert_cmpuint (o.n_updates, >=, 40);
  feed_client_send (c, "{\"type\":\"CHAT\",\"text\":\"via the outlet\"}");
  WAIT_UNTIL (c->chats->len == 1, 5000);
  g_assert_cmpuint (c->chats->len, ==, 1);
  g_assert_cmpuint (o.n_chats, ==, 1);

  /* The outlet is away: delivered locally, still gap-free. */
  o.away = TRUE;
  WAIT_UNTIL (g_queue_is_empty (&o.pending), 5000);
  target = feed_client_last_seq (c) + 20;
  WAIT_UNTIL (feed_client_last_seq (c) >= target, 10000);
  g_assert_cmpuint (feed_client_last_seq (c), >=, target);
  feed_client_send (c, "{\"type\":\"CHAT\",\"text\":\"locally\"}");
  WAIT_UNTIL (c->chats->len == 2, 5000);
  g_assert_cmpuint (c->chats->len, ==, 2);
  g_assert_cmpuint (o.n_chats, ==, 1);
  assert_gap_free (c);

  /* Each event's version and score move one step per UPDATE, even when
   * a change was still with the outlet as the next one was made. */
  {
    g_autoptr(GHashTable) last = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

    for (guint k = 0; k < c->update_texts->len; k++)
      {
        const char *text = g_ptr_array_index (c->update_texts, k);
        g_autofree char *event = feed_test_raw_member (text, "event");
        g_autofree char *version = feed_test_raw_member (event + 1, "version");
        g_autofree char *home = feed_test_raw_member (event + 1, "homeScore");
        g_autofree char *away = feed_test_raw_member (event + 1, "awayScore");
        gint64 v[3] = { g_ascii_strtoll (version, NULL, 10), g_ascii_strtoll (home, NULL, 10),
                        g_ascii_strtoll (away, NULL, 10) };
        gint64 *prev = g_hash_table_lookup (last, g_ptr_array_index (c->update_ids, k));

        if (prev != NULL)
          {
            g_assert_cmpint (v[0], ==, prev[0] + 1);
            g_assert_cmpint (v[1] + v[2], ==, prev[1] + prev[2] + 1);
          }
        g_hash_table_insert (last, g_strdup (g_ptr_array_index (c->update_ids, k)),
                             g_memdup2 (v, sizeof v));
      }
  }

  ww_event_feed_set_outlet (f->feed, NULL, NULL, NULL);
  feed_client_free (c);
  feed_fixture_stop (f);
}

static gboolean
has_seqs_through (FeedClient *c,
                  guint64     last)
{
  return feed_client_last_seq (c) >= last;
}

static void
test_resume (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (2, 10, 30);
  FeedFixture *f;
  g_autoptr(SoupSession) session = feed_test_session ();
  FeedClient *a, *b;
  guint64 s, upto;
  g_autofree char *resume = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);

  fc->history = 64;
  f = feed_fixture_start (fc, FALSE, 0);

  a = feed_client_connect (session, f->port, "/ws");
  g_assert_true (feed_client_wait_open (a));
  WAIT_UNTIL (a->update_seqs->len >= 3, 10000);
  g_assert_cmpuint (a->update_seqs->len, >=, 3);
  feed_client_close (a);
  s = feed_client_last_seq (a);
  assert_gap_free (a);
  feed_client_free (a);

  /* Gone while 10+ updates happen (inside the history of 64). */
  WAIT_UNTIL (ww_event_feed_get_seq (f->feed) >= s + 10, 10000);
  g_assert_cmpuint (ww_event_feed_get_seq (f->feed), >=, s + 10);

  b = feed_client_connect (session, f->port, "/ws");
  g_assert_true (feed_client_wait_open (b));
  g_assert_cmpuint (b->welcome_seq, >=, s + 10);
  resume = g_strdup_printf ("{\"type\":\"RESUME\",\"seq\":%" G_GUINT64_FORMAT "}", s);
  feed_client_send (b, resume);
  upto = b->welcome_seq + 5;
  WAIT_UNTIL (has_seqs_through (b, upto) && b->update_seqs->len >= upto - s, 10000);

  /* Exactly s+1 … upto: the replay up to the WELCOME, live after it;
   * nothing twice, nothing missing, no INITIAL. */
  g_assert_cmpuint (b->n_initial, ==, 1);
  for (guint i = 0; i < b->update_seqs->len; i++)
    {
      gint64 seq = (gint64) g_array_index (b->update_seqs, guint64, i);

      g_assert_cmpint (seq, >, (gint64) s);
      g_assert_false (g_hash_table_contains (seen, &seq));
      g_hash_table_add (seen, g_memdup2 (&seq, sizeof seq));
    }
  for (guint64 q = s + 1; q <= upto; q++)
    {
      gint64 key = (gint64) q;

      g_assert_true (g_hash_table_contains (seen, &key));
    }
  g_assert_cmpuint (b->errors->len, ==, 0);
  feed_client_free (b);

  /* Gone for longer than the history holds: a fresh INITIAL instead. */
  {
    FeedClient *c = feed_client_connect (session, f->port, "/ws");
    guint64 gone_at;

    g_assert_true (feed_client_wait_open (c));
    gone_at = c->initial_seq;
    feed_client_close (c);
    feed_client_free (c);
    WAIT_UNTIL (ww_event_feed_get_seq (f->feed) >= gone_at + 70, 20000);
    g_assert_cmpuint (ww_event_feed_get_seq (f->feed), >=, gone_at + 70);

    c = feed_client_connect (session, f->port, "/ws");
    g_assert_true (feed_client_wait_open (c));
    g_free (resume);
    resume = g_strdup_printf ("{\"type\":\"RESUME\",\"seq\":%" G_GUINT64_FORMAT "}", gone_at);
    feed_client_send (c, resume);
    WAIT_UNTIL (c->n_initial == 2, 10000);
    g_assert_cmpuint (c->n_initial, ==, 2);
    g_assert_cmpuint (c->initial_seq, >=, c->welcome_seq);
    /* No stale UPDATE was replayed. */
    for (guint i = 0; i < c->update_seqs->len; i++)
      g_assert_cmpuint (g_array_index (c->update_seqs, guint64, i), >, c->welcome_seq);

    /* Ahead of the server (it lost its state): INITIAL as well. */
    feed_client_send (c, "{\"type\":\"RESUME\",\"seq\":999999999}");
    WAIT_UNTIL (c->n_initial == 3, 10000);
    g_assert_cmpuint (c->n_initial, ==, 3);
    g_assert_cmpuint (c->errors->len, ==, 0);
    feed_client_free (c);
  }

  feed_fixture_stop (f);
}

static void
test_persist_restart (void)
{
  g_autofree char *dir = feed_test_make_dir ();
  g_autoptr(WwFeedConfig) fc = fast_config (3, 10, 30);
  g_autoptr(SoupSession) session = feed_test_session ();
  g_autofree char *saved_events = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  guint64 saved_seq;
  FeedFixture *f;
  FeedClient *c;

  fc->persist = TRUE;
  fc->state_dir = g_strdup (dir);
  path = g_build_filename (dir, WW_FEED_STATE_FILE, NULL);

  f = feed_fixture_start (fc, FALSE, 0);
  WAIT_UNTIL (ww_event_feed_get_seq (f->feed) >= 20, 10000);
  /* Saved on change, at most once a second. */
  WAIT_UNTIL (g_file_test (path, G_FILE_TEST_EXISTS), 5000);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  ww_server_stop (f->server);
  saved_seq = ww_event_feed_get_seq (f->feed);
  saved_events = ww_event_feed_dup_events_json (f->feed);
  g_assert_cmpuint (saved_seq, >=, 20);
  feed_fixture_stop (f);   /* the last save happens here */

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, saved_events));

  /* A second instance on the same directory continues. */
  f = feed_fixture_start (fc, FALSE, 0);
  g_assert_cmpuint (ww_event_feed_get_seq (f->feed), ==, saved_seq);
  {
    g_autofree char *events = ww_event_feed_dup_events_json (f->feed);

    g_assert_cmpstr (events, ==, saved_events);
  }
  c = feed_client_connect (session, f->port, "/ws");
  g_assert_true (feed_client_wait_open (c));
  g_assert_cmpuint (c->welcome_seq, >=, saved_seq);
  WAIT_UNTIL (c->update_seqs->len >= 3, 10000);
  g_assert_cmpuint (c->update_seqs->len, >=, 3);
  assert_gap_free (c);
  feed_client_free (c);
  feed_fixture_stop (f);

  /* A corrupt file is set aside and the feed starts afresh. */
  g_assert_true (g_file_set_contents (path, "{\"format\":1,\"seq\":", -1, NULL));
  f = feed_fixture_start (fc, FALSE, 0);
  g_assert_cmpuint (ww_event_feed_get_seq (f->feed), ==, 0);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  {
    g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;
    gboolean found = FALSE;

    while ((name = g_dir_read_name (d)) != NULL)
      found |= g_str_has_prefix (name, "feed.json.corrupt-");
    g_assert_true (found);
  }
  feed_fixture_stop (f);

  feed_test_remove_tree (dir);
}

static void
test_persist_unwritable (void)
{
  g_autofree char *dir = feed_test_make_dir ();
  g_autofree char *blocker = g_build_filename (dir, "not-a-dir", NULL);
  g_autoptr(WwFeedConfig) fc = fast_config (3, 10, 30);
  FeedFixture *f;

  /* The state directory cannot be created: logged, the feed runs on. */
  g_assert_true (g_file_set_contents (blocker, "x", -1, NULL));
  fc->persist = TRUE;
  fc->state_dir = g_build_filename (blocker, "state", NULL);
  f = feed_fixture_start (fc, FALSE, 0);
  WAIT_UNTIL (ww_event_feed_get_seq (f->feed) >= 60, 10000);
  g_assert_cmpuint (ww_event_feed_get_seq (f->feed), >=, 60);
  feed_fixture_stop (f);
  feed_test_remove_tree (dir);
}

static const struct {
  const char *text;
  const char *code;
} malformed[] = {
  { "", "bad_json" },
  { "{", "bad_json" },
  { "{\"type\":'PING'}", "bad_json" },
  { "[]", "not_object" },
  { "{}", "missing_type" },
  { "{\"type\":1}", "bad_field" },
  { "{\"type\":\"HELLO\"}", "unknown_type" },
  { "{\"type\":\"PING\",\"ts\":1}", "missing_field" },
  { "{\"type\":\"PING\",\"id\":1,\"ts\":1}", "bad_field" },
  { "{\"type\":\"PING\",\"id\":\"12345678901234567890123456789012345678901234567890123456789012345\",\"ts\":1}", "too_long" },
  { "{\"type\":\"CHAT\",\"text\":false}", "bad_field" },
  { "{\"type\":\"RESUME\",\"seq\":\"x\"}", "bad_field" },
  { "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "too_deep" },
};

static void
test_malformed (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (4, 1000, 2000);
  FeedFixture *f = feed_fixture_start (fc, FALSE, 0);
  g_autoptr(SoupSession) session = feed_test_session ();
  FeedClient *c = feed_client_connect (session, f->port, "/ws");
  g_autofree char *long_chat = NULL;

  g_assert_true (feed_client_wait_open (c));
  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    {
      g_autofree char *ping = g_strdup_printf ("{\"type\":\"PING\",\"id\":\"after-%u\",\"ts\":%u}", i, i);
      guint n_pongs = c->pongs->len;

      feed_client_send (c, malformed[i].text);
      WAIT_UNTIL (c->errors->len == i + 1, 5000);
      g_assert_cmpuint (c->errors->len, ==, i + 1);
      g_assert_cmpstr (g_ptr_array_index (c->errors, i), ==, malformed[i].code);

      /* The connection is still usable. */
      feed_client_send (c, ping);
      WAIT_UNTIL (c->pongs->len == n_pongs + 1, 5000);
      g_assert_cmpuint (c->pongs->len, ==, n_pongs + 1);
      {
        g_autofree char *expect = g_strdup_printf ("\"id\":\"after-%u\",\"ts\":%u,", i, i);

        g_assert_nonnull (strstr (g_ptr_array_index (c->pongs, n_pongs), expect));
      }
    }

  /* Binary frames are not part of the protocol. */
  soup_websocket_connection_send_binary (c->conn, "\x01\x02", 2);
  WAIT_UNTIL (c->errors->len == G_N_ELEMENTS (malformed) + 1, 5000);
  g_assert_cmpstr (g_ptr_array_index (c->errors, G_N_ELEMENTS (malformed)), ==, "binary_unsupported");

  /* Over 4 KiB of chat. */
  {
    g_autofree char *text = g_strnfill (5000, 'z');

    long_chat = g_strdup_printf ("{\"type\":\"CHAT\",\"text\":\"%s\"}", text);
    feed_client_send (c, long_chat);
    WAIT_UNTIL (c->errors->len == G_N_ELEMENTS (malformed) + 2, 5000);
    g_assert_cmpstr (g_ptr_array_index (c->errors, G_N_ELEMENTS (malformed) + 1), ==, "too_long");
    g_assert_cmpuint (c->chats->len, ==, 0);
  }

  g_assert_false (c->closed);
  feed_client_free (c);
  feed_fixture_stop (f);
}

static void
test_ping_chat (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (5, 1000, 2000);
  FeedFixture *f = feed_fixture_start (fc, FALSE, 0);
  g_autoptr(SoupSession) session = feed_test_session ();
  FeedClient *a = feed_client_connect (session, f->port, "/ws");
  FeedClient *b = feed_client_connect (session, f->port, "/");
  g_autofree char *ts = NULL;

  g_assert_true (feed_client_wait_open (a));
  g_assert_true (feed_client_wait_open (b));
  g_assert_cmpstr (a->client_id, !=, b->client_id);

  feed_client_send (a, "{\"type\":\"PING\",\"id\":\"r1\",\"ts\":1763800000000.125000}");
  WAIT_UNTIL (a->pongs->len == 1, 5000);
  g_assert_cmpuint (a->pongs->len, ==, 1);
  ts = feed_test_raw_member (g_ptr_array_index (a->pongs, 0), "ts");
  g_assert_cmpstr (ts, ==, "1763800000000.125000");
  g_assert_cmpuint (b->pongs->len, ==, 0);

  /* A CHAT from one reaches both endpoints' clients, sender included. */
  feed_client_send (b, "{\"type\":\"CHAT\",\"text\":\"grüße \\\"quoted\\\"\"}");
  WAIT_UNTIL (a->chats->len == 1 && b->chats->len == 1, 5000);
  g_assert_cmpuint (a->chats->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (a->chats, 0), ==, g_ptr_array_index (b->chats, 0));
  {
    g_autofree char *from = feed_test_raw_member (g_ptr_array_index (a->chats, 0), "from");
    g_autofree char *expect = g_strdup_printf ("\"%s\"", b->client_id);
    g_autofree char *text = feed_test_raw_member (g_ptr_array_index (a->chats, 0), "text");

    g_assert_cmpstr (from, ==, expect);
    g_assert_cmpstr (text, ==, "\"grüße \\\"quoted\\\"\"");
  }

  feed_client_free (a);
  feed_client_free (b);
  feed_fixture_stop (f);
}

typedef struct {
  GBytes      *body;
  SoupMessage *msg;
  gboolean     done;
} Fetch;

static void
on_fetched (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  Fetch *fetch = data;
  g_autoptr(GError) error = NULL;

  fetch->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_assert_no_error (error);
  fetch->done = TRUE;
}

static char *
fetch (SoupSession *session,
       const char  *method,
       guint16      port,
       const char  *path,
       guint       *status,
       char       **content_type,
       char       **csp)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
  Fetch fe = { NULL, soup_message_new (method, url), FALSE };
  SoupMessageHeaders *headers;
  gsize len;
  const char *data;
  char *text;

  g_assert_nonnull (fe.msg);
  soup_session_send_and_read_async (session, fe.msg, G_PRIORITY_DEFAULT, NULL, on_fetched, &fe);
  WAIT_UNTIL (fe.done, 10000);
  g_assert_true (fe.done);
  *status = soup_message_get_status (fe.msg);
  headers = soup_message_get_response_headers (fe.msg);
  if (content_type)
    *content_type = g_strdup (soup_message_headers_get_content_type (headers, NULL));
  if (csp)
    *csp = g_strdup (soup_message_headers_get_one (headers, "Content-Security-Policy"));
  data = g_bytes_get_data (fe.body, &len);
  text = g_strndup (data, len);
  g_bytes_unref (fe.body);
  g_object_unref (fe.msg);
  return text;
}

static void
assert_json_error (const char *body,
                   const char *code)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *o;

  json_parser_load_from_data (parser, body, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  o = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (o, "error"), ==, code);
}

static void
test_rest (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (6, 10, 20);
  FeedFixture *f = feed_fixture_start (fc, FALSE, 0);
  g_autoptr(SoupSession) session = feed_test_session ();
  FeedClient *c;
  guint status = 0;

  /* Let the scores move, then hold them still to compare. */
  WAIT_UNTIL (ww_event_feed_get_seq (f->feed) >= 30, 10000);
  ww_event_feed_set_simulating (f->feed, FALSE);

  c = feed_client_connect (session, f->port, "/ws");
  g_assert_true (feed_client_wait_open (c));

  {
    g_autofree char *type = NULL;
    g_autofree char *body = fetch (session, "GET", f->port, "/events", &status, &type, NULL);

    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (type, ==, "application/json");
    /* Byte for byte what INITIAL carries. */
    g_assert_cmpstr (body, ==, c->initial_events);
  }

  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *path = g_strdup_printf ("/events/EVENT%%23%02u", i);
      g_autofree char *body = fetch (session, "GET", f->port, path, &status, NULL, NULL);
      g_autofree char *needle = g_strdup_printf ("\"id\":\"EVENT#%02u\"", i);

      g_assert_cmpuint (status, ==, 200);
      g_assert_true (g_str_has_prefix (body, "{"));
      g_assert_nonnull (strstr (body, needle));
      g_assert_nonnull (strstr (c->initial_events, body));
    }

  {
    g_autofree char *body = fetch (session, "GET", f->port, "/events/EVENT%2399", &status, NULL, NULL);

    g_assert_cmpuint (status, ==, 404);
    assert_json_error (body, "not_found");
  }
  {
    g_autofree char *body = fetch (session, "GET", f->port, "/events/EVENT%2300/x", &status, NULL, NULL);

    g_assert_cmpuint (status, ==, 404);
    assert_json_error (body, "not_found");
  }
  {
    g_autofree char *body = fetch (session, "POST", f->port, "/events", &status, NULL, NULL);

    g_assert_cmpuint (status, ==, 405);
    assert_json_error (body, "method_not_allowed");
  }
  {
    g_autofree char *body = fetch (session, "DELETE", f->port, "/events/EVENT%2300", &status, NULL, NULL);

    g_assert_cmpuint (status, ==, 405);
  }

  /* After a change, REST follows. */
  ww_event_feed_set_simulating (f->feed, TRUE);
  WAIT_UNTIL (c->update_seqs->len >= 5, 10000);
  ww_event_feed_set_simulating (f->feed, FALSE);
  {
    FeedClient *d = feed_client_connect (session, f->port, "/ws");
    g_autofree char *body = NULL;

    g_assert_true (feed_client_wait_open (d));
    body = fetch (session, "GET", f->port, "/events/", &status, NULL, NULL);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (body, ==, d->initial_events);
    g_assert_cmpstr (body, !=, c->initial_events);
    feed_client_free (d);
  }

  /* The browser page, with its CSP. */
  if (g_resources_get_info ("/io/github/wirewatch/Wirewatch/web/index.html", 0, NULL, NULL, NULL))
    {
      g_autofree char *type = NULL;
      g_autofree char *csp = NULL;
      g_autofree char *body = fetch (session, "GET", f->port, "/", &status, &type, &csp);

      g_assert_cmpuint (status, ==, 200);
      g_assert_cmpstr (type, ==, "text/html");
      g_assert_nonnull (strstr (csp, "connect-src 'self' ws: wss:"));
      g_assert_nonnull (strstr (csp, "frame-ancestors 'none'"));
      g_assert_nonnull (strstr (body, "<html"));
    }
  else
    g_test_message ("no web resources linked; GET / not checked");

  feed_client_free (c);
  feed_fixture_stop (f);
}

#define N_PRESENCE 20

static void
test_presence (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (7, 5000, 7000);
  FeedFixture *f = feed_fixture_start (fc, FALSE, 0);
  g_autoptr(SoupSession) session = feed_test_session ();
  FeedClient *observer = feed_client_connect (session, f->port, "/ws");
  FeedClient *clients[N_PRESENCE];
  guint n;

  g_assert_true (feed_client_wait_open (observer));
  WAIT_UNTIL (observer->presence_counts->len >= 1, 5000);
  g_assert_cmpuint (g_array_index (observer->presence_counts, guint, 0), ==, 1);

  for (guint i = 0; i < N_PRESENCE; i++)
    clients[i] = feed_client_connect (session, f->port, "/ws");
  for (guint i = 0; i < N_PRESENCE; i++)
    g_assert_true (feed_client_wait_open (clients[i]));
  n = observer->presence_counts->len;
  WAIT_UNTIL (g_array_index (observer->presence_counts, guint, observer->presence_counts->len - 1) == N_PRESENCE + 1, 5000);
  g_assert_cmpuint (g_array_index (observer->presence_counts, guint,
                                   observer->presence_counts->len - 1), ==, N_PRESENCE + 1);

  for (guint i = 0; i < N_PRESENCE / 2; i++)
    feed_client_free (clients[i]);
  WAIT_UNTIL (g_array_index (observer->presence_counts, guint, observer->presence_counts->len - 1) == N_PRESENCE / 2 + 1, 5000);
  g_assert_cmpuint (g_array_index (observer->presence_counts, guint,
                                   observer->presence_counts->len - 1), ==, N_PRESENCE / 2 + 1);
  g_assert_cmpuint (ww_event_feed_get_n_clients (f->feed), ==, N_PRESENCE / 2 + 1);

  /* Coalesced: 30 joins and leaves, a handful of PRESENCE, ≤ 4 a second
   * (sent ≥ 250 ms apart; measured on arrival, so allow for jitter). */
  g_test_message ("%u PRESENCE for %u joins and leaves", observer->presence_counts->len,
                  1 + N_PRESENCE + N_PRESENCE / 2);
  g_assert_cmpuint (observer->presence_counts->len, <, 1 + N_PRESENCE);
  g_assert_cmpuint (n, >=, 1);
  for (guint i = 1; i < observer->presence_us->len; i++)
    {
      gint64 dt = g_array_index (observer->presence_us, gint64, i) -
                  g_array_index (observer->presence_us, gint64, i - 1);

      g_assert_cmpint (dt, >=, 100 * 1000);
      /* Only changes are sent. */
      g_assert_cmpuint (g_array_index (observer->presence_counts, guint, i), !=,
                        g_array_index (observer->presence_counts, guint, i - 1));
    }
  for (guint i = 4; i < observer->presence_us->len; i++)
    g_assert_cmpint (g_array_index (observer->presence_us, gint64, i) -
                     g_array_index (observer->presence_us, gint64, i - 4), >=, 800 * 1000);

  for (guint i = N_PRESENCE / 2; i < N_PRESENCE; i++)
    feed_client_free (clients[i]);
  feed_client_free (observer);
  feed_fixture_stop (f);
}

static void
test_rate_limit (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (8, 5000, 7000);
  FeedFixture *f;
  g_autoptr(SoupSession) session = feed_test_session ();
  FeedClient *c, *calm;

  fc->rate_limit = 5;
  f = feed_fixture_start (fc, FALSE, 0);
  c = feed_client_connect (session, f->port, "/ws");
  calm = feed_client_connect (session, f->port, "/ws");
  g_assert_true (feed_client_wait_open (c));
  g_assert_true (feed_client_wait_open (calm));

  /* Burst of 2 × 5 answered, then one warning, then 1008. */
  for (guint i = 0; i < 40; i++)
    {
      g_autofree char *ping = g_strdup_printf ("{\"type\":\"PING\",\"id\":\"%u\",\"ts\":%u}", i, i);

      feed_client_send (c, ping);
    }
  WAIT_UNTIL (c->closed, 10000);
  g_assert_true (c->closed);
  g_assert_cmpuint (c->close_code, ==, 1008);
  g_assert_cmpuint (c->errors->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (c->errors, 0), ==, "rate_limited");
  g_assert_cmpuint (c->pongs->len, >=, 10);
  /* 5 more a second refill while the burst arrives on a slow machine. */
  g_assert_cmpuint (c->pongs->len, <=, 20);

  /* Others are not affected. */
  feed_client_send (calm, "{\"type\":\"PING\",\"id\":\"ok\",\"ts\":1}");
  WAIT_UNTIL (calm->pongs->len == 1, 5000);
  g_assert_cmpuint (calm->pongs->len, ==, 1);
  g_assert_false (calm->closed);

  feed_client_free (c);
  feed_client_free (calm);
  feed_fixture_stop (f);
}

static void
test_own_thread (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (9, 10, 30);
  FeedFixture *f = feed_fixture_start (fc, TRUE, 0);
  g_autoptr(SoupSession) session = feed_test_session ();
  FeedClient *clients[3];
  guint64 target;

  /* The simulator runs on the server's thread even with nobody there. */
  WAIT_UNTIL (ww_event_feed_get_seq (f->feed) >= 5, 5000);
  g_assert_cmpuint (ww_event_feed_get_seq (f->feed), >=, 5);

  for (guint i = 0; i < 3; i++)
    clients[i] = feed_client_connect (session, f->port, "/ws");
  for (guint i = 0; i < 3; i++)
    g_assert_true (feed_client_wait_open (clients[i]));
  target = feed_client_last_seq (clients[2]) + 20;
  WAIT_UNTIL (all_have (clients, 3, target), 10000);
  g_assert_true (all_have (clients, 3, target));
  for (guint i = 0; i < 3; i++)
    {
      assert_gap_free (clients[i]);
      feed_client_free (clients[i]);
    }

  /* Stop and start again on the same port: the feed carries on. */
  {
    guint16 port = f->port;
    g_autoptr(WwServerConfig) sc = ww_server_config_copy (ww_server_get_config (f->server));
    g_autoptr(GError) error = NULL;
    FeedClient *c;
    guint64 before;

    ww_server_stop (f->server);
    before = ww_event_feed_get_seq (f->feed);
    sc->port = port;
    ww_server_set_config (f->server, sc);
    g_assert_true (ww_server_start (f->server, &error));
    g_assert_no_error (error);
    /* A new I/O thread and context: the feed follows. */
    WAIT_UNTIL (ww_event_feed_get_seq (f->feed) >= before + 5, 5000);
    g_assert_cmpuint (ww_event_feed_get_seq (f->feed), >=, before + 5);
    c = feed_client_connect (session, port, "/ws");
    g_assert_true (feed_client_wait_open (c));
    g_assert_cmpuint (c->welcome_seq, >=, before);
    WAIT_UNTIL (c->update_seqs->len >= 10, 10000);
    g_assert_cmpuint (c->update_seqs->len, >=, 10);
    assert_gap_free (c);
    feed_client_free (c);
  }

  feed_fixture_stop (f);
}

/* ------------------------------------------------------------------ */

static void
child_setup (gpointer data)
{
  /* Never outlive a test that failed. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
on_child_done (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *(gboolean *) data = TRUE;
}

static void
test_python_client (void)
{
  g_autoptr(WwFeedConfig) fc = fast_config (10, 50, 100);
  FeedFixture *f;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) child = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *script = NULL;
  g_autofree char *port = NULL;
  g_autofree char *out = NULL;
  gboolean done = FALSE;

  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("no /usr/bin/python3");
      return;
    }
  g_assert_nonnull (g_getenv ("WW_SOURCE_ROOT"));
  script = g_build_filename (g_getenv ("WW_SOURCE_ROOT"), "tests", "feed", "feed-client.py", NULL);
  f = feed_fixture_start (fc, FALSE, 0);
  port = g_strdup_printf ("%u", f->port);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  child = g_subprocess_launcher_spawn (launcher, &error, "/usr/bin/python3", script, port, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (child, NULL, on_child_done, &done);
  WAIT_UNTIL (done, 30000);
  if (!done)
    {
      g_subprocess_force_exit (child);
      WAIT_UNTIL (done, 5000);
      g_assert_not_reached ();
    }
  g_assert_true (g_subprocess_get_if_exited (child));
  g_assert_cmpint (g_subprocess_get_exit_status (child), ==, 0);
  {
    GInputStream *stdout_pipe = g_subprocess_get_stdout_pipe (child);
    char buf[256] = { 0, };

    g_input_stream_read (stdout_pipe, buf, sizeof buf - 1, NULL, NULL);
    g_test_message ("python: %s", buf);
    g_assert_true (g_str_has_prefix (buf, "ok "));
  }
  feed_fixture_stop (f);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/feed/server/fanout", test_fanout);
  g_test_add_func ("/feed/server/intervals", test_intervals);
  g_test_add_func ("/feed/server/seed-determinism", test_seed_determinism);
  g_test_add_func ("/feed/server/resume", test_resume);
  g_test_add_func ("/feed/server/persist-restart", test_persist_restart);
  g_test_add_func ("/feed/server/persist-unwritable", test_persist_unwritable);
  g_test_add_func ("/feed/server/malformed", test_malformed);
  g_test_add_func ("/feed/server/ping-chat", test_ping_chat);
  g_test_add_func ("/feed/server/rest", test_rest);
  g_test_add_func ("/feed/server/presence", test_presence);
  g_test_add_func ("/feed/server/rate-limit", test_rate_limit);
  g_test_add_func ("/feed/server/own-thread", test_own_thread);
  g_test_add_func ("/feed/server/outlet", test_outlet);
  g_test_add_func ("/feed/server/python-client", test_python_client);
  return g_test_run ();
}
