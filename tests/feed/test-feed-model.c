/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed-test"

#include "config.h"

#include <glib/gstdio.h>

#include "feed/ww-feed-state.h"
#include "feed/ww-feed-store.h"

static JsonObject *
parse_object (GBytes *bytes)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr(GError) error = NULL;
  JsonNode *root;

  json_parser_load_from_data (parser, data, (gssize) len, &error);
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_nonnull (root);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return json_object_ref (json_node_get_object (root));
}

static void
test_defaults (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (16);
  g_autoptr(GBytes) initial = NULL;
  g_autoptr(JsonObject) msg = NULL;
  JsonArray *events;

  g_assert_cmpuint (ww_feed_state_get_seq (state), ==, 0);
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    {
      const WwEvent *e = ww_feed_state_get_event (state, i);
      g_autofree char *id = g_strdup_printf ("EVENT#%02u", i);
      g_autofree char *name = g_strdup_printf ("%s vs %s", e->home, e->away);

      g_assert_cmpstr (e->id, ==, id);
      g_assert_cmpstr (e->name, ==, name);
      g_assert_cmpint (ww_feed_state_find (state, id), ==, (int) i);
    }
  g_assert_cmpint (ww_feed_state_find (state, "EVENT#05"), ==, -1);
  g_assert_cmpstr (ww_feed_state_get_event (state, 0)->home, ==, "Harbor City");

  initial = ww_feed_state_get_initial (state);
  msg = parse_object (initial);
  g_assert_cmpstr (json_object_get_string_member (msg, "type"), ==, "INITIAL");
  g_assert_cmpint (json_object_get_int_member (msg, "seq"), ==, 0);
  events = json_object_get_array_member (msg, "events");
  g_assert_cmpuint (json_array_get_length (events), ==, 5);
  for (guint i = 0; i < 5; i++)
    {
      JsonObject *e = json_array_get_object_element (events, i);
      g_autoptr(GError) error = NULL;
      g_autoptr(WwEvent) back = ww_event_new_from_json (e, &error);

      g_assert_no_error (error);
      g_assert_true (ww_event_equal (back, ww_feed_state_get_event (state, i)));
    }
}

static void
test_event_json (void)
{
  g_autoptr(WwEvent) e = ww_event_new ("EVENT#00", "Harbor City", "North\"gate\n");
  g_autofree char *json = NULL;

  e->home_score = 2;
  e->away_score = 1;
  e->version = 17;
  e->updated_at = 1763800000000;
  g_free (e->name);
  e->name = g_strdup ("Harbor City vs Northgate");
  g_free (e->away);
  e->away = g_strdup ("Northgate");
  json = ww_event_to_json (e);
  g_assert_cmpstr (json, ==,
                   "{\"id\":\"EVENT#00\",\"name\":\"Harbor City vs Northgate\","
                   "\"home\":\"Harbor City\",\"away\":\"Northgate\",\"homeScore\":2,"
                   "\"awayScore\":1,\"version\":17,\"updatedAt\":1763800000000}");

  {
    GString *s = g_string_new (NULL);

    ww_json_append_string (s, "a\"b\\c\n\x01é");
    g_assert_cmpstr (s->str, ==, "\"a\\\"b\\\\c\\n\\u0001é\"");
    g_string_free (s, TRUE);
  }
}

static void
test_sim_determinism (void)
{
  g_autoptr(WwFeedSim) a = ww_feed_sim_new (TRUE, 42, 2000, 7000);
  g_autoptr(WwFeedSim) b = ww_feed_sim_new (TRUE, 42, 2000, 7000);
  g_autoptr(WwFeedSim) c = ww_feed_sim_new (TRUE, 43, 2000, 7000);
  g_autoptr(WwFeedSim) big = ww_feed_sim_new (TRUE, G_GUINT64_CONSTANT (42) | (G_GUINT64_CONSTANT (1) << 40), 2000, 7000);
  guint differ = 0, differ_big = 0;
  guint counts[WW_FEED_N_EVENTS] = { 0, };
  guint home = 0;

  for (guint i = 0; i < 500; i++)
    {
      gboolean ha, hb, hc, hbig;
      gint64 da, db, dc, dbig;
      guint ia = ww_feed_sim_next (a, &ha, &da);
      guint ib = ww_feed_sim_next (b, &hb, &db);
      guint ic = ww_feed_sim_next (c, &hc, &dc);
      guint ibig = ww_feed_sim_next (big, &hbig, &dbig);

      g_assert_cmpuint (ia, ==, ib);
      g_assert_cmpint (ha, ==, hb);
      g_assert_cmpint (da, ==, db);
      if (ia != ic || ha != hc)
        differ++;
      if (ia != ibig || ha != hbig)
        differ_big++;
      counts[ia]++;
      home += ha ? 1 : 0;
    }
  /* Another seed (also in the high 32 bits) gives another run. */
  g_assert_cmpuint (differ, >, 100);
  g_assert_cmpuint (differ_big, >, 100);
  /* Every event changes, both sides score. */
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    g_assert_cmpuint (counts[i], >, 50);
  g_assert_cmpuint (home, >, 150);
  g_assert_cmpuint (home, <, 350);
}

static void
test_sim_intervals (void)
{
  g_autoptr(WwFeedSim) sim = ww_feed_sim_new (FALSE, 0, 2000, 7000);
  gint64 last[WW_FEED_N_EVENTS];
  gint64 prev_due = 0;
  gint64 lo = G_MAXINT64, hi = 0;

  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    last[i] = 0;
  for (guint i = 0; i < 5000; i++)
    {
      gint64 due, gap;
      guint index = ww_feed_sim_next (sim, NULL, &due);

      /* The global order is by due time. */
      g_assert_cmpint (due, >=, prev_due);
      prev_due = due;
      gap = due - last[index];
      g_assert_cmpint (gap, >=, 2000);
      g_assert_cmpint (gap, <=, 7000);
      lo = MIN (lo, gap);
      hi = MAX (hi, gap);
      last[index] = due;
    }
  /* Uniform over the range: both ends are reached. */
  g_assert_cmpint (lo, <, 2100);
  g_assert_cmpint (hi, >, 6900);

  /* Reversed or zero bounds are sanitised, never a crash. */
  {
    g_autoptr(WwFeedSim) odd = ww_feed_sim_new (TRUE, 1, 50, 10);
    g_autoptr(WwFeedSim) zero = ww_feed_sim_new (TRUE, 1, 0, 0);
    gint64 d0 = 0, d1 = 0;
    guint i0 = ww_feed_sim_peek (odd, NULL) >= 10 ? 0 : 1;

    g_assert_cmpuint (i0, ==, 0);
    ww_feed_sim_next (zero, NULL, &d0);
    ww_feed_sim_next (zero, NULL, &d1);
    g_assert_cmpint (d0, ==, 1);
    g_assert_cmpint (d1, ==, 1);
    ww_feed_sim_shift (zero, 100);
    g_assert_cmpint (ww_feed_sim_peek (zero, NULL), >=, 101);
  }
}

static void
test_sim_changes (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (64);
  g_autoptr(WwFeedState) twin = ww_feed_state_new (64);
  g_autoptr(WwFeedSim) sim = ww_feed_sim_new (TRUE, 7, 2000, 7000);
  g_autoptr(WwFeedSim) twin_sim = ww_feed_sim_new (TRUE, 7, 2000, 7000);
  gint64 now = g_get_real_time () / 1000 + 1000;

  for (guint step = 1; step <= 200; step++)
    {
      WwEvent before[WW_FEED_N_EVENTS];
      g_autoptr(GBytes) update = NULL;
      g_autoptr(GBytes) twin_update = NULL;
      g_autoptr(JsonObject) msg = NULL;
      g_autoptr(WwEvent) sent = NULL;
      g_autoptr(GError) error = NULL;
      guint index = 99;
      guint changed = 0;

      for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
        before[i] = *ww_feed_state_get_event (state, i);

      now += 10;
      update = ww_feed_simulate_one (state, sim, now, &index);
      twin_update = ww_feed_simulate_one (twin, twin_sim, now, NULL);
      g_assert_nonnull (update);
      g_assert_true (g_bytes_equal (update, twin_update));
      g_assert_cmpuint (ww_feed_state_get_seq (state), ==, step);
      g_assert_cmpuint (index, <, WW_FEED_N_EVENTS);

      for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
        {
          const WwEvent *e = ww_feed_state_get_event (state, i);
          gint64 dh = e->home_score - before[i].home_score;
          gint64 da = e->away_score - before[i].away_score;

          if (i != index)
            {
              g_assert_cmpint (dh, ==, 0);
              g_assert_cmpint (da, ==, 0);
              g_assert_cmpuint (e->version, ==, before[i].version);
              continue;
            }
          changed++;
          /* One side scores one. */
          g_assert_true ((dh == 1 && da == 0) || (dh == 0 && da == 1));
          g_assert_cmpuint (e->version, ==, before[i].version + 1);
          g_assert_cmpint (e->updated_at, ==, now);
        }
      g_assert_cmpuint (changed, ==, 1);

      msg = parse_object (update);
      g_assert_cmpstr (json_object_get_string_member (msg, "type"), ==, "UPDATE");
      g_assert_cmpint (json_object_get_int_member (msg, "seq"), ==, step);
      g_assert_cmpint (json_object_get_int_member (msg, "ts"), ==, now);
      sent = ww_event_new_from_json (json_object_get_object_member (msg, "event"), &error);
      g_assert_no_error (error);
      g_assert_true (ww_event_equal (sent, ww_feed_state_get_event (state, index)));
    }
}

static void
test_initial_cache (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (4);
  g_autoptr(WwFeedSim) sim = ww_feed_sim_new (TRUE, 1, 10, 20);
  g_autoptr(GBytes) a = ww_feed_state_get_initial (state);
  g_autoptr(GBytes) b = ww_feed_state_get_initial (state);
  g_autoptr(GBytes) c = NULL;
  g_autoptr(GBytes) u = NULL;
  g_autoptr(JsonObject) msg = NULL;
  g_autofree char *array = NULL;
  g_autofree char *expect = NULL;

  g_assert_true (a == b);
  u = ww_feed_simulate_one (state, sim, 5, NULL);
  c = ww_feed_state_get_initial (state);
  g_assert_false (a == c);
  msg = parse_object (c);
  g_assert_cmpint (json_object_get_int_member (msg, "seq"), ==, 1);

  /* REST's array is exactly what INITIAL carries. */
  array = ww_feed_state_dup_events_json (state);
  expect = g_strdup_printf ("{\"type\":\"INITIAL\",\"seq\":1,\"events\":%s}", array);
  g_assert_cmpmem (g_bytes_get_data (c, NULL), g_bytes_get_size (c), expect, strlen (expect));
}

static void
test_update_round_trip (void)
{
  g_autoptr(WwEvent) e = ww_event_new ("EVENT#03", "Port Alder", "Granite \"Falls\"");
  g_autoptr(WwEvent) back = NULL;
  g_autoptr(GBytes) msg = NULL;
  g_autoptr(GError) error = NULL;
  guint64 seq = 0;
  gint64 ts = 0;

  e->home_score = 3;
  e->version = 9;
  e->updated_at = 1763800000001;
  msg = ww_feed_message_update (e, 77, 1763800000002);
  g_assert_true (ww_feed_parse_update (g_bytes_get_data (msg, NULL), (gssize) g_bytes_get_size (msg),
                                       &back, &seq, &ts, &error));
  g_assert_no_error (error);
  g_assert_true (ww_event_equal (e, back));
  g_assert_cmpuint (seq, ==, 77);
  g_assert_cmpint (ts, ==, 1763800000002);

  {
    const char *bad[] = {
      "", "[]", "{\"type\":\"CHAT\",\"seq\":1,\"ts\":1,\"event\":{}}",
      "{\"type\":\"UPDATE\",\"seq\":0,\"ts\":1,\"event\":{}}",
      "{\"type\":\"UPDATE\",\"seq\":1,\"ts\":1,\"event\":[]}",
      "{\"type\":\"UPDATE\",\"seq\":1,\"ts\":1,\"event\":{\"id\":\"EVENT#00\"}}",
    };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autoptr(WwEvent) none = NULL;

        g_assert_false (ww_feed_parse_update (bad[i], -1, &none, &seq, &ts, &error));
        g_assert_nonnull (error);
        g_assert_null (none);
        g_clear_error (&error);
      }
  }
}

static guint64
message_seq (GBytes *bytes)
{
  g_autoptr(JsonObject) msg = parse_object (bytes);

  return (guint64) json_object_get_int_member (msg, "seq");
}

static void
assert_replay (WwFeedState *state,
               guint64      since,
               guint64      live_from,
               guint64      first,
               guint64      last)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  g_assert_cmpint (ww_feed_state_resume (state, since, live_from, out), ==,
                   WW_FEED_RESUME_REPLAY);
  g_assert_cmpuint (out->len, ==, last + 1 - first);
  for (guint i = 0; i < out->len; i++)
    {
      g_autoptr(JsonObject) msg = parse_object (out->pdata[i]);

      g_assert_cmpstr (json_object_get_string_member (msg, "type"), ==, "UPDATE");
      g_assert_cmpuint (message_seq (out->pdata[i]), ==, first + i);
    }
}

static void
assert_initial (WwFeedState *state,
                guint64      since,
                guint64      live_from)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  g_assert_cmpint (ww_feed_state_resume (state, since, live_from, out), ==,
                   WW_FEED_RESUME_INITIAL);
  g_assert_cmpuint (out->len, ==, 0);
}

static void
test_history_resume (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (8);
  g_autoptr(WwFeedSim) sim = ww_feed_sim_new (TRUE, 3, 10, 20);

  /* Nothing happened yet. */
  assert_replay (state, 0, G_MAXUINT64, 1, 0);
  assert_initial (state, 1, G_MAXUINT64);

  for (guint i = 0; i < 20; i++)
    g_bytes_unref (ww_feed_simulate_one (state, sim, i, NULL));
  g_assert_cmpuint (ww_feed_state_get_history_len (state), ==, 8);

  assert_replay (state, 15, G_MAXUINT64, 16, 20);   /* exactly the missed ones */
  assert_replay (state, 20, G_MAXUINT64, 21, 20);   /* up to date: nothing */
  assert_replay (state, 12, G_MAXUINT64, 13, 20);   /* the whole history */
  assert_initial (state, 11, G_MAXUINT64);          /* 12 is gone: too old */
  assert_initial (state, 0, G_MAXUINT64);
  assert_initial (state, 21, G_MAXUINT64);          /* ahead of us */
  assert_initial (state, G_MAXUINT64, G_MAXUINT64);
  /* Welcomed at 18: 19 and 20 came live, so only 16..18 are replayed. */
  assert_replay (state, 15, 18, 16, 18);
  assert_replay (state, 18, 18, 19, 18);
  assert_replay (state, 19, 18, 20, 19);
}

static void
test_history_jump (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (8);
  g_autoptr(WwFeedState) none = ww_feed_state_new (0);
  g_autoptr(WwFeedSim) sim = ww_feed_sim_new (TRUE, 3, 10, 20);
  g_autoptr(WwEvent) e = ww_event_copy (ww_feed_state_get_event (state, 2));
  g_autoptr(WwEvent) bad = ww_event_new ("EVENT#99", "A", "B");
  g_autoptr(GBytes) u = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 5; i++)
    g_bytes_unref (ww_feed_simulate_one (state, sim, i, NULL));

  /* Not after the current seq: refused, nothing changes. */
  g_assert_null (ww_feed_state_apply_update (state, e, 5, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (ww_feed_state_apply_update (state, bad, 6, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (ww_feed_state_get_seq (state), ==, 5);

  /* An external source jumps ahead: the history restarts there. */
  e->home_score = 9;
  u = ww_feed_state_apply_update (state, e, 100, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ww_feed_state_get_seq (state), ==, 100);
  g_assert_cmpuint (ww_feed_state_get_history_len (state), ==, 1);
  g_assert_cmpint (ww_feed_state_get_event (state, 2)->home_score, ==, 9);
  assert_replay (state, 99, G_MAXUINT64, 100, 100);
  assert_initial (state, 5, G_MAXUINT64);

  /* No history at all: only "up to date" avoids an INITIAL. */
  g_bytes_unref (ww_feed_simulate_one (none, sim, 1, NULL));
  assert_initial (none, 0, G_MAXUINT64);
  assert_replay (none, 1, G_MAXUINT64, 2, 1);
}

/* ------------------------------------------------------------------ */

static char *
make_temp_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("ww-feed-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_tree (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  if (d == NULL)
    {
      g_remove (dir);
      return;
    }
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        remove_tree (path);
      else
        g_remove (path);
    }
  g_rmdir (dir);
}

static guint
count_entries (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_store_round_trip (void)
{
  g_autofree char *tmp = make_temp_dir ();
  g_autofree char *dir = g_build_filename (tmp, "nested", "wirewatch", NULL);
  g_autoptr(WwFeedState) state = ww_feed_state_new (16);
  g_autoptr(WwFeedState) back = ww_feed_state_new (16);
  g_autoptr(WwFeedSim) sim = ww_feed_sim_new (TRUE, 11, 10, 20);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  GStatBuf st;

  g_assert_cmpint (ww_feed_store_load (dir, back, NULL, &error), ==, WW_FEED_LOAD_MISSING);
  g_assert_no_error (error);

  for (guint i = 0; i < 37; i++)
    g_bytes_unref (ww_feed_simulate_one (state, sim, 1000 + i, NULL));
  text = ww_feed_state_serialize (state, 5);
  g_assert_true (ww_feed_store_save (dir, text, &error));
  g_assert_no_error (error);

  /* Private to the user. */
  path = ww_feed_store_path (dir);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  g_assert_cmpint (ww_feed_store_load (dir, back, NULL, &error), ==, WW_FEED_LOAD_OK);
  g_assert_no_error (error);
  g_assert_cmpuint (ww_feed_state_get_seq (back), ==, 37);
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    g_assert_true (ww_event_equal (ww_feed_state_get_event (state, i),
                                   ww_feed_state_get_event (back, i)));
  /* The history is not saved: a RESUME from before the restart gets an
   * INITIAL, one at the saved seq needs nothing. */
  assert_initial (back, 30, G_MAXUINT64);
  assert_replay (back, 37, G_MAXUINT64, 38, 37);

  /* It continues from there. */
  {
    g_autoptr(GBytes) u = ww_feed_simulate_one (back, sim, 2000, NULL);

    g_assert_cmpuint (message_seq (u), ==, 38);
  }

  remove_tree (tmp);
}

static void
test_store_atomic (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autoptr(WwFeedState) state = ww_feed_state_new (16);
  g_autoptr(WwFeedSim) sim = ww_feed_sim_new (TRUE, 11, 10, 20);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = ww_feed_store_path (dir);

  /* A longer old file must not leave a tail behind. */
  g_assert_true (g_file_set_contents (path, "x", -1, NULL));
  {
    g_autofree char *junk = g_strnfill (8000, ' ');

    g_assert_true (g_file_set_contents (path, junk, -1, NULL));
  }

  for (guint round = 0; round < 20; round++)
    {
      g_autofree char *text = NULL;
      g_autofree char *on_disk = NULL;

      g_bytes_unref (ww_feed_simulate_one (state, sim, round, NULL));
      text = ww_feed_state_serialize (state, round);
      g_assert_true (ww_feed_store_save (dir, text, &error));
      g_assert_no_error (error);
      g_assert_true (g_file_get_contents (path, &on_disk, NULL, NULL));
      g_assert_cmpstr (on_disk, ==, text);
      /* The temporary file was renamed over the old one: nothing else
       * is left in the directory. */
      g_assert_cmpuint (count_entries (dir), ==, 1);
    }
  remove_tree (dir);
}

static void
check_corrupt (const char *contents,
               gssize      len)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = ww_feed_store_path (dir);
  g_autoptr(WwFeedState) state = ww_feed_state_new (16);
  g_autoptr(GBytes) before = ww_feed_state_get_initial (state);
  g_autoptr(GBytes) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *moved = NULL;
  g_autofree char *moved_contents = NULL;
  g_autofree char *base = NULL;
  gsize moved_len = 0;

  if (len < 0)
    len = (gssize) strlen (contents);
  g_assert_true (g_file_set_contents (path, contents, len, NULL));

  g_assert_cmpint (ww_feed_store_load (dir, state, &moved, &error), ==, WW_FEED_LOAD_CORRUPT);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (moved);
  base = g_path_get_basename (moved);
  g_assert_true (g_str_has_prefix (base, "feed.json.corrupt-"));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_get_contents (moved, &moved_contents, &moved_len, NULL));
  g_assert_cmpmem (moved_contents, moved_len, contents, (gsize) len);

  /* The state is untouched and a save afterwards works. */
  after = ww_feed_state_get_initial (state);
  g_assert_true (g_bytes_equal (before, after));
  g_clear_error (&error);
  {
    g_autofree char *text = ww_feed_state_serialize (state, 1);

    g_assert_true (ww_feed_store_save (dir, text, &error));
    g_assert_no_error (error);
  }
  g_assert_cmpuint (count_entries (dir), ==, 2);
  remove_tree (dir);
}

static void
test_store_corrupt (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (4);
  g_autofree char *good = ww_feed_state_serialize (state, 1);
  g_autofree char *wrong_id = NULL;
  g_autofree char *negative = NULL;

  check_corrupt ("", 0);
  check_corrupt ("{", -1);
  check_corrupt ("not json at all", -1);
  check_corrupt ("[1,2,3]", -1);
  check_corrupt ("{\"format\":1}", -1);
  check_corrupt ("{\"format\":2,\"seq\":1,\"events\":[]}", -1);
  check_corrupt ("{\"format\":1,\"seq\":-4,\"events\":[]}", -1);
  check_corrupt ("{\"format\":1,\"seq\":4,\"events\":[1,2,3,4,5]}", -1);
  check_corrupt ("{\"format\":1,\"seq\":4,\"events\":{}}", -1);
  check_corrupt ("\xff\xfe\x00garbage", 10);
  check_corrupt (good, (gssize) strlen (good) / 2);  /* torn */

  wrong_id = g_strdup (good);
  *strstr (wrong_id, "EVENT#03") = 'X';
  check_corrupt (wrong_id, -1);
  negative = g_strdup (good);
  memcpy (strstr (negative, "\"homeScore\":0"), "\"homeScore\":-", 13);
  check_corrupt (negative, -1);
}

static void
test_store_unreadable (void)
{
  g_autofree char *tmp = make_temp_dir ();
  g_autofree char *file = g_build_filename (tmp, "plain-file", NULL);
  g_autofree char *below = g_build_filename (file, "wirewatch", NULL);
  g_autofree char *dir = g_build_filename (tmp, "state", NULL);
  g_autofree char *path = ww_feed_store_path (dir);
  g_autoptr(WwFeedState) state = ww_feed_state_new (4);
  g_autofree char *text = ww_feed_state_serialize (state, 1);
  g_autoptr(GError) error = NULL;

  /* The state directory cannot exist (a file is in the way): saving and
   * loading fail with an error, and nothing else happens. */
  g_assert_true (g_file_set_contents (file, "x", -1, NULL));
  g_assert_false (ww_feed_store_save (below, text, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_cmpint (ww_feed_store_load (below, state, NULL, &error), ==, WW_FEED_LOAD_FAILED);
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* feed.json cannot be read (it is a directory, which even root cannot
   * read as a file): reported, not renamed, not fatal. */
  g_assert_cmpint (g_mkdir_with_parents (path, 0700), ==, 0);
  g_assert_cmpint (ww_feed_store_load (dir, state, NULL, &error), ==, WW_FEED_LOAD_FAILED);
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_DIR));
  g_assert_false (ww_feed_store_save (dir, text, &error));
  g_assert_nonnull (error);
  g_assert_cmpuint (ww_feed_state_get_seq (state), ==, 0);

  remove_tree (tmp);
}

static void
test_store_default_dir (void)
{
  g_autofree char *dir = ww_feed_store_default_dir ();
  g_autofree char *expect = g_build_filename (g_get_user_state_dir (), "wirewatch", NULL);

  g_assert_cmpstr (dir, ==, expect);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/feed/model/defaults", test_defaults);
  g_test_add_func ("/feed/model/event-json", test_event_json);
  g_test_add_func ("/feed/model/initial-cache", test_initial_cache);
  g_test_add_func ("/feed/model/update-round-trip", test_update_round_trip);
  g_test_add_func ("/feed/sim/determinism", test_sim_determinism);
  g_test_add_func ("/feed/sim/intervals", test_sim_intervals);
  g_test_add_func ("/feed/sim/changes", test_sim_changes);
  g_test_add_func ("/feed/history/resume", test_history_resume);
  g_test_add_func ("/feed/history/jump", test_history_jump);
  g_test_add_func ("/feed/store/round-trip", test_store_round_trip);
  g_test_add_func ("/feed/store/atomic", test_store_atomic);
  g_test_add_func ("/feed/store/corrupt", test_store_corrupt);
  g_test_add_func ("/feed/store/unreadable", test_store_unreadable);
  g_test_add_func ("/feed/store/default-dir", test_store_default_dir);
  return g_test_run ();
}
