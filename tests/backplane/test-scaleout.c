/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test-scaleout"

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "backplane/ww-backplane.h"
#include "backplane/ww-backplane-private.h"
#include "client/ww-client.h"
#include "feed/ww-event-feed.h"
#include "server/ww-server.h"
#include "redis-test-util.h"

#define WAIT_UNTIL WW_TEST_WAIT_UNTIL

/*
 * Three whole instances (WwServer + WwEventFeed + WwBackplane, joined by
 * ww_event_feed_set_backplane()) in one process on one main context, one real
 * redis-server, and a WwClient on each instance's /ws.  Every client must
 * see the same UPDATEs under the same seqs, and keep doing so, without a
 * gap or a duplicate, when the leading instance dies.
 */

#define N_INSTANCES  3
#define LEASE_MS     300
#define WAIT_MS      15000

typedef struct {
  WwServer     *server;
  WwEventFeed  *feed;
  WwBackplane  *bp;
  WwClient     *client;
  GArray       *seqs;     /* guint64, in the order the client saw them */
  GHashTable   *by_seq;   /* seq → "id home-away vN" */
} Instance;

typedef struct {
  WwTestRedis   redis;
  GMainContext *context;
  char         *ns;
  guint         min_ms;   /* simulator interval; 0 = 40–80 ms */
  guint         max_ms;
  Instance      inst[N_INSTANCES];
} Fixture;

static void
on_update (WwClient   *client,
           guint64     seq,
           JsonObject *event,
           gint64      ts,
           Instance   *inst)
{
  g_autofree char *text = g_strdup_printf ("%s %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT
                                           " v%" G_GINT64_FORMAT,
                                           json_object_get_string_member (event, "id"),
                                           json_object_get_int_member (event, "homeScore"),
                                           json_object_get_int_member (event, "awayScore"),
                                           json_object_get_int_member (event, "version"));

  g_array_append_val (inst->seqs, seq);
  g_hash_table_insert (inst->by_seq, g_memdup2 (&seq, sizeof seq), g_steal_pointer (&text));
}

static void
instance_start (Fixture  *f,
                Instance *inst,
                guint     index)
{
  g_autoptr(WwServerConfig) sc = ww_server_config_new ();
  g_autoptr(WwFeedConfig) fc = ww_feed_config_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *redis_url = g_strdup_printf ("redis://127.0.0.1:%d", f->redis.port);
  g_autofree char *ws_url = NULL;

  g_free (sc->bind_address);
  sc->bind_address = g_strdup ("127.0.0.1");
  sc->port = 0;
  sc->own_thread = FALSE;
  sc->heartbeat_ms = 0;
  fc->persist = FALSE;
  fc->has_seed = TRUE;
  fc->seed = 100 + index;
  /* Each event changes every 40–80 ms: ~80 UPDATEs a second in all. */
  fc->min_interval_ms = f->min_ms ? f->min_ms : 40;
  fc->max_interval_ms = f->max_ms ? f->max_ms : 80;

  inst->bp = ww_backplane_new (redis_url, &error);
  g_assert_no_error (error);
  ww_backplane_set_namespace (inst->bp, f->ns);
  ww_backplane_set_lease_ms (inst->bp, LEASE_MS);
  ww_backplane_set_presence_interval_ms (inst->bp, 100);

  inst->server = ww_server_new (sc);
  inst->feed = ww_event_feed_new (fc);
  ww_event_feed_set_backplane (inst->feed, inst->bp);
  g_assert_true (ww_event_feed_get_backplane (inst->feed) == inst->bp);
  g_assert_true (ww_event_feed_attach (inst->feed, inst->server, &error));
  g_assert_no_error (error);
  g_assert_true (ww_server_start (inst->server, &error));
  g_assert_no_error (error);
  /* The feed starts the backplane on the server's context by itself. */

  inst->seqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  inst->by_seq = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  inst->client = ww_client_new ();
  g_signal_connect (inst->client, "update", G_CALLBACK (on_update), inst);
  ws_url = ww_server_dup_url (inst->server, "/ws");
  ww_client_connect (inst->client, ws_url);
}

static void
instance_stop (Instance *inst,
               gboolean  crash)
{
  if (inst->server == NULL)
    return;

  ww_client_disconnect (inst->client);
  g_clear_object (&inst->client);
  if (crash)
    ww_backplane_abandon (inst->bp);
  ww_backplane_stop (inst->bp);
  ww_event_feed_set_backplane (inst->feed, NULL);
  g_assert_finalize_object (inst->bp);
  inst->bp = NULL;

  ww_server_stop (inst->server);
  /* The server holds the feed through its registrations. */
  g_object_add_weak_pointer (G_OBJECT (inst->feed), (gpointer *) &inst->feed);
  g_object_unref (inst->feed);
  g_assert_finalize_object (inst->server);
  g_assert_null (inst->feed);
  inst->server = NULL;
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->context = g_main_context_new ();
  g_main_context_push_thread_default (f->context);
  ww_test_redis_start (&f->redis);
  f->ns = g_strdup_printf ("wwscale%08x", g_random_int ());
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  for (guint i = 0; i < N_INSTANCES; i++)
    {
      instance_stop (&f->inst[i], FALSE);
      g_clear_pointer (&f->inst[i].seqs, g_array_unref);
      g_clear_pointer (&f->inst[i].by_seq, g_hash_table_unref);
    }
  ww_test_redis_kill (&f->redis);
  ww_test_spin (f->context, 50);
  g_main_context_pop_thread_default (f->context);
  g_main_context_unref (f->context);
  g_rmdir (f->redis.tmpdir);
  g_free (f->redis.tmpdir);
  g_free (f->ns);
}

static guint
count_leaders (Fixture *f)
{
  guint n = 0;

  for (guint i = 0; i < N_INSTANCES; i++)
    if (f->inst[i].bp != NULL && ww_backplane_is_leader (f->inst[i].bp))
      n++;
  return n;
}

static Instance *
leader (Fixture *f)
{
  for (guint i = 0; i < N_INSTANCES; i++)
    if (f->inst[i].bp != NULL && ww_backplane_is_leader (f->inst[i].bp))
      return &f->inst[i];
  return NULL;
}

static gboolean
all_have (Fixture *f,
          guint    n_updates)
{
  for (guint i = 0; i < N_INSTANCES; i++)
    if (f->inst[i].server != NULL && f->inst[i].seqs->len < n_updates)
      return FALSE;
  return TRUE;
}

static gboolean
totals_are (Fixture *f,
            guint    total)
{
  for (guint i = 0; i < N_INSTANCES; i++)
    if (f->inst[i].bp != NULL && ww_backplane_get_total_clients (f->inst[i].bp) != total)
      return FALSE;
  return TRUE;
}

/* Gap-free and duplicate-free on the wire, the same content per seq. */
static void
check_agreement (Fixture *f)
{
  for (guint i = 0; i < N_INSTANCES; i++)
    {
      Instance *a = &f->inst[i];
      WwClientCounters counters;

      if (a->server == NULL)
        continue;
      for (guint k = 1; k < a->seqs->len; k++)
        g_assert_cmpuint (g_array_index (a->seqs, guint64, k), ==,
                          g_array_index (a->seqs, guint64, k - 1) + 1);
      ww_client_get_counters (a->client, &counters);
      g_assert_cmpuint (counters.gaps_detected, ==, 0);
      g_assert_cmpuint (counters.duplicates_dropped, ==, 0);

      for (guint j = 0; j < N_INSTANCES; j++)
        {
          Instance *b = &f->inst[j];
          GHashTableIter iter;
          gpointer key, value;
          guint common = 0;

          if (j == i || b->server == NULL)
            continue;
          g_hash_table_iter_init (&iter, a->by_seq);
          while (g_hash_table_iter_next (&iter, &key, &value))
            {
              const char *other = g_hash_table_lookup (b->by_seq, key);

              if (other == NULL)
                continue;
              g_assert_cmpstr (value, ==, other);
              common++;
            }
          g_assert_cmpuint (common, >=, 10);
        }
    }
}

static void
test_three_instances (Fixture       *f,
                      gconstpointer  data)
{
  Instance *old, *next;
  guint64 seq_at_kill = 0;
  guint base[N_INSTANCES];
  gint64 t0, takeover_ms;

  for (guint i = 0; i < N_INSTANCES; i++)
    instance_start (f, &f->inst[i], i);

  WAIT_UNTIL (f->context, count_leaders (f) == 1, WAIT_MS);
  WAIT_UNTIL (f->context, all_have (f, 40), WAIT_MS);
  WAIT_UNTIL (f->context, totals_are (f, 3), WAIT_MS);
  g_assert_cmpuint (count_leaders (f), ==, 1);
  check_agreement (f);

  /* The leader dies without a word: its lease has to run out. */
  old = leader (f);
  g_assert_nonnull (old);
  for (guint i = 0; i < N_INSTANCES; i++)
    if (&f->inst[i] != old)
      seq_at_kill = MAX (seq_at_kill, ww_client_get_last_seq (f->inst[i].client));
  instance_stop (old, TRUE);
  t0 = g_get_monotonic_time ();

  WAIT_UNTIL (f->context, count_leaders (f) == 1, WAIT_MS);
  takeover_ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("new leader after %" G_GINT64_FORMAT " ms (lease %d ms), seq %"
                  G_GUINT64_FORMAT " at the kill", takeover_ms, LEASE_MS, seq_at_kill);
  g_assert_cmpint (takeover_ms, <, 3 * LEASE_MS);
  next = leader (f);
  g_assert_true (next != old);

  for (guint i = 0; i < N_INSTANCES; i++)
    base[i] = f->inst[i].seqs ? f->inst[i].seqs->len : 0;
  WAIT_UNTIL (f->context, all_have (f, MAX (base[0], MAX (base[1], base[2])) + 40), WAIT_MS);
  WAIT_UNTIL (f->context, totals_are (f, 2), WAIT_MS);

  /* Continuity across the failover, and the same story on both. */
  check_agreement (f);
  for (guint i = 0; i < N_INSTANCES; i++)
    if (f->inst[i].server != NULL)
      g_assert_cmpuint (ww_client_get_last_seq (f->inst[i].client), >, seq_at_kill + 30);
}

static gint64
event_version (const char *events_json,
               guint       index)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonArray *array;

  g_assert_true (json_parser_load_from_data (parser, events_json, -1, NULL));
  array = json_node_get_array (json_parser_get_root (parser));
  return json_object_get_int_member (json_array_get_object_element (array, index), "version");
}

/*
 * Everyone leaves (gracefully); a newcomer with a fresh state must carry
 * on from the shared state in Redis — the stored seq and the stored
 * events — not from its own defaults, and its client must not see a seq
 * at or below the stored one.
 */
static void
test_newcomer_adopts (Fixture       *f,
                      gconstpointer  data)
{
  Instance *late = &f->inst[2];
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  guint64 stored_seq, left_seq;

  for (guint i = 0; i < 2; i++)
    instance_start (f, &f->inst[i], i);
  WAIT_UNTIL (f->context, count_leaders (f) == 1, WAIT_MS);
  WAIT_UNTIL (f->context, all_have (f, 40), WAIT_MS);

  /* The follower stops first, then the leader: no change after this. */
  if (ww_backplane_is_leader (f->inst[0].bp))
    {
      instance_stop (&f->inst[1], FALSE);
      before = ww_event_feed_dup_events_json (f->inst[0].feed);
      left_seq = ww_event_feed_get_seq (f->inst[0].feed);
      instance_stop (&f->inst[0], FALSE);
    }
  else
    {
      instance_stop (&f->inst[0], FALSE);
      before = ww_event_feed_dup_events_json (f->inst[1].feed);
      left_seq = ww_event_feed_get_seq (f->inst[1].feed);
      instance_stop (&f->inst[1], FALSE);
    }
  ww_test_spin (f->context, 100);
  {
    redisReply *reply = ww_test_redis_command (&f->redis, "GET %s:seq", f->ns);

    g_assert_cmpint (reply->type, ==, REDIS_REPLY_STRING);
    /* A change or two may have been on its way when the leader left. */
    stored_seq = g_ascii_strtoull (reply->str, NULL, 10);
    freeReplyObject (reply);
  }
  g_assert_cmpuint (stored_seq, >=, left_seq);
  g_assert_cmpuint (left_seq, >=, 40);

  instance_start (f, late, 2);
  WAIT_UNTIL (f->context, ww_backplane_is_leader (late->bp), WAIT_MS);
  WAIT_UNTIL (f->context, ww_event_feed_get_seq (late->feed) > stored_seq, WAIT_MS);
  after = ww_event_feed_dup_events_json (late->feed);
  /* Every event is at least where it was left (fresh ones are at 1 or
   * 2 after a few changes: one of them at least would be behind). */
  for (guint i = 0; i < 5; i++)
    g_assert_cmpint (event_version (after, i), >=, event_version (before, i));

  WAIT_UNTIL (f->context, late->seqs->len >= 20, WAIT_MS);
  g_assert_cmpuint (g_array_index (late->seqs, guint64, 0), >, stored_seq);
  for (guint k = 1; k < late->seqs->len; k++)
    g_assert_cmpuint (g_array_index (late->seqs, guint64, k), ==,
                      g_array_index (late->seqs, guint64, k - 1) + 1);
}

static gboolean
all_connected (Fixture *f,
               gboolean connected)
{
  for (guint i = 0; i < N_INSTANCES; i++)
    if (f->inst[i].bp != NULL && ww_backplane_is_connected (f->inst[i].bp) != connected)
      return FALSE;
  return TRUE;
}

static gboolean
feeds_agree (Fixture *f)
{
  g_autofree char *a = ww_event_feed_dup_events_json (f->inst[0].feed);
  g_autofree char *b = ww_event_feed_dup_events_json (f->inst[1].feed);

  return ww_event_feed_get_seq (f->inst[0].feed) == ww_event_feed_get_seq (f->inst[1].feed) &&
         g_str_equal (a, b);
}

/*
 * Redis goes away long enough for two instances to change every event on
 * their own, differently (each event every 1.5–3 s, different seeds).
 * When it comes back they must agree on all five events at once — not
 * only on the next UPDATEs, which would leave the unchanged events apart
 * for seconds — and their clients never see a seq twice.
 */
static void
test_rejoin_converges (Fixture       *f,
                       gconstpointer  data)
{
  gint64 t0, converge_ms;

  f->min_ms = 1500;
  f->max_ms = 3000;
  for (guint i = 0; i < 2; i++)
    instance_start (f, &f->inst[i], i);
  WAIT_UNTIL (f->context, count_leaders (f) == 1 && all_connected (f, TRUE), WAIT_MS);
  WAIT_UNTIL (f->context, feeds_agree (f), WAIT_MS);

  ww_test_redis_kill (&f->redis);
  WAIT_UNTIL (f->context, all_connected (f, FALSE), WAIT_MS);
  /* Every event changes at least once on each side. */
  ww_test_spin (f->context, 3500);
  g_assert_false (feeds_agree (f));

  ww_test_redis_start (&f->redis);
  WAIT_UNTIL (f->context, all_connected (f, TRUE) && count_leaders (f) == 1, WAIT_MS);
  t0 = g_get_monotonic_time ();
  /* Well within one simulator interval (1.5 s). */
  WAIT_UNTIL (f->context, feeds_agree (f), 1200);
  converge_ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("agreed %" G_GINT64_FORMAT " ms after both were back", converge_ms);

  for (guint i = 0; i < 2; i++)
    {
      Instance *inst = &f->inst[i];
      WwClientCounters counters;

      for (guint k = 1; k < inst->seqs->len; k++)
        g_assert_cmpuint (g_array_index (inst->seqs, guint64, k), >,
                          g_array_index (inst->seqs, guint64, k - 1));
      ww_client_get_counters (inst->client, &counters);
      g_assert_cmpuint (counters.duplicates_dropped, ==, 0);
    }
}

static gboolean
stop_backplane_cb (gpointer data)
{
  WwBackplane *bp = data;

  ww_backplane_stop (bp);
  g_object_set_data (G_OBJECT (bp), "stopped", GINT_TO_POINTER (TRUE));
  return G_SOURCE_REMOVE;
}

/* As the window does: stop the backplane on the server's I/O thread,
 * then the server. */
static void
stop_on_io_thread (Fixture     *f,
                   WwServer    *server,
                   WwBackplane *bp)
{
  g_object_set_data (G_OBJECT (bp), "stopped", NULL);
  ww_server_invoke (server, stop_backplane_cb, bp, NULL);
  WAIT_UNTIL (f->context, g_object_get_data (G_OBJECT (bp), "stopped") != NULL, WAIT_MS);
  ww_server_stop (server);
  g_assert_false (ww_backplane_is_connected (bp));
}

/*
 * With own_thread (the window's server) the feed starts the backplane on
 * the server's own thread, and after a stop and a start (a new thread, a
 * new context) starts it again there; the feed goes on from its seq.
 */
static void
test_own_thread_restart (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(WwServerConfig) sc = ww_server_config_new ();
  g_autoptr(WwFeedConfig) fc = ww_feed_config_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *redis_url = g_strdup_printf ("redis://127.0.0.1:%d", f->redis.port);
  WwServer *server;
  WwEventFeed *feed;
  WwBackplane *bp;
  guint64 seq;

  g_free (sc->bind_address);
  sc->bind_address = g_strdup ("127.0.0.1");
  sc->port = 0;
  sc->own_thread = TRUE;
  sc->heartbeat_ms = 0;
  fc->persist = FALSE;
  fc->min_interval_ms = 40;
  fc->max_interval_ms = 80;

  bp = ww_backplane_new (redis_url, &error);
  g_assert_no_error (error);
  ww_backplane_set_namespace (bp, f->ns);
  ww_backplane_set_lease_ms (bp, LEASE_MS);
  server = ww_server_new (sc);
  feed = ww_event_feed_new (fc);
  ww_event_feed_set_backplane (feed, bp);
  g_assert_true (ww_event_feed_attach (feed, server, &error));
  g_assert_no_error (error);
  g_object_unref (feed);  /* the server's registrations hold it */

  for (guint round = 0; round < 2; round++)
    {
      g_assert_true (ww_server_start (server, &error));
      g_assert_no_error (error);
      WAIT_UNTIL (f->context, ww_backplane_is_connected (bp) && ww_backplane_is_leader (bp),
                  WAIT_MS);
      seq = ww_event_feed_get_seq (feed);
      WAIT_UNTIL (f->context, ww_event_feed_get_seq (feed) >= seq + 10, WAIT_MS);
      g_assert_cmpuint (ww_backplane_get_shared_seq (bp), >=, seq + 10);
      stop_on_io_thread (f, server, bp);
    }

  g_object_add_weak_pointer (G_OBJECT (feed), (gpointer *) &feed);
  g_assert_finalize_object (server);
  g_assert_null (feed);
  g_assert_finalize_object (bp);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  if (!g_file_test (WW_TEST_REDIS_SERVER, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("no " WW_TEST_REDIS_SERVER);
      return g_test_run ();
    }
  g_test_add ("/backplane/scaleout/three-instances-kill-leader", Fixture, NULL,
              fixture_setup, test_three_instances, fixture_teardown);
  g_test_add ("/backplane/scaleout/newcomer-adopts-shared-state", Fixture, NULL,
              fixture_setup, test_newcomer_adopts, fixture_teardown);
  g_test_add ("/backplane/scaleout/rejoin-converges", Fixture, NULL,
              fixture_setup, test_rejoin_converges, fixture_teardown);
  g_test_add ("/backplane/scaleout/own-thread-restart", Fixture, NULL,
              fixture_setup, test_own_thread_restart, fixture_teardown);
  return g_test_run ();
}
