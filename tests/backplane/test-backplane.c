/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test-backplane"

#include "config.h"

#include <signal.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <hiredis/hiredis.h>

#include "backplane/ww-backplane.h"
#include "backplane/ww-backplane-private.h"
#include "redis-test-util.h"

#define WAIT_UNTIL WW_TEST_WAIT_UNTIL

/*
 * Every test runs a real redis-server on 127.0.0.1 and an ephemeral port,
 * and up to four WwBackplane instances on one GMainContext.  Short leases
 * (300 ms) and presence intervals (100 ms) keep the whole suite quick.
 */

#define TEST_LEASE_MS   300
#define TEST_PRESENCE   100
#define WAIT_MS         10000

typedef struct {
  WwTestRedis   redis;
  GMainContext *context;
  char         *url;
  char         *ns;
} Fixture;

/* Recorded deliveries of one instance: "U <seq> <json>" / "C <json>". */
typedef struct {
  WwBackplane *bp;
  GPtrArray   *log;
  guint        n_chat_detail;
  guint        n_state_loaded;
  guint64      last_state_seq;
  guint        last_state_events;
  char        *last_state_first;
} Peer;

static guint n_lost_messages;
static guint n_back_messages;

/* ------------------------------------------------------------------ */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->context = g_main_context_new ();
  g_main_context_push_thread_default (f->context);
  f->redis.password = data;
  ww_test_redis_start (&f->redis);
  f->url = g_strdup_printf ("redis://127.0.0.1:%d", f->redis.port);
  f->ns = g_strdup_printf ("wwtest%08x", g_random_int ());
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  ww_test_redis_kill (&f->redis);
  /* Let deferred source teardown (link frees after failed connects) run. */
  for (guint i = 0; i < 100 && g_main_context_iteration (f->context, FALSE); i++)
    ;
  g_main_context_pop_thread_default (f->context);
  g_main_context_unref (f->context);
  g_rmdir (f->redis.tmpdir);
  g_free (f->redis.tmpdir);
  g_free (f->url);
  g_free (f->ns);
}

/* ------------------------------------------------------------------ */


static void
on_message (WwBackplane *bp,
            guint        kind,
            guint64      seq,
            const char  *json,
            Peer        *peer)
{
  if (kind == WW_BACKPLANE_UPDATE)
    g_ptr_array_add (peer->log, g_strdup_printf ("U %" G_GUINT64_FORMAT " %s", seq, json));
  else
    {
      g_assert_cmpuint (seq, ==, 0);
      g_ptr_array_add (peer->log, g_strdup_printf ("C %s", json));
    }
}

static void
on_chat_detail (WwBackplane *bp,
                guint        kind,
                guint64      seq,
                const char  *json,
                Peer        *peer)
{
  g_assert_cmpuint (kind, ==, WW_BACKPLANE_CHAT);
  peer->n_chat_detail++;
}

static void
on_state_loaded (WwBackplane      *bp,
                 WwBackplaneState *state,
                 Peer             *peer)
{
  peer->n_state_loaded++;
  peer->last_state_seq = state->seq;
  peer->last_state_events = state->events->len;
  g_free (peer->last_state_first);
  peer->last_state_first = state->events->len ? g_strdup (state->events->pdata[0]) : NULL;
}

static void
peer_init (Peer    *peer,
           Fixture *f)
{
  g_autoptr(GError) error = NULL;

  memset (peer, 0, sizeof *peer);
  peer->bp = ww_backplane_new (f->url, &error);
  g_assert_no_error (error);
  ww_backplane_set_namespace (peer->bp, f->ns);
  ww_backplane_set_lease_ms (peer->bp, TEST_LEASE_MS);
  ww_backplane_set_presence_interval_ms (peer->bp, TEST_PRESENCE);
  peer->log = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (peer->bp, "message", G_CALLBACK (on_message), peer);
  g_signal_connect (peer->bp, "message::chat", G_CALLBACK (on_chat_detail), peer);
  g_signal_connect (peer->bp, "state-loaded", G_CALLBACK (on_state_loaded), peer);
}

static void
peer_start (Peer    *peer,
            Fixture *f)
{
  ww_backplane_start (peer->bp, f->context);
}

static void
peer_clear (Peer *peer)
{
  if (peer->bp == NULL)
    return;
  ww_backplane_stop (peer->bp);
  g_assert_finalize_object (peer->bp);
  peer->bp = NULL;
  g_ptr_array_unref (peer->log);
  g_free (peer->last_state_first);
}

static guint
count_leaders (Peer *peers,
               guint n)
{
  guint leaders = 0;

  for (guint i = 0; i < n; i++)
    if (peers[i].bp != NULL && ww_backplane_is_leader (peers[i].bp))
      leaders++;
  return leaders;
}

static Peer *
the_leader (Peer *peers,
            guint n)
{
  for (guint i = 0; i < n; i++)
    if (peers[i].bp != NULL && ww_backplane_is_leader (peers[i].bp))
      return &peers[i];
  return NULL;
}

static gboolean
all_connected (Peer *peers,
               guint n)
{
  for (guint i = 0; i < n; i++)
    if (peers[i].bp != NULL && !ww_backplane_is_connected (peers[i].bp))
      return FALSE;
  return TRUE;
}

static char *
event_json (guint   index,
            guint64 version)
{
  return g_strdup_printf ("{\"id\":\"EVENT#%02u\",\"name\":\"A vs B\",\"home\":\"A\",\"away\":\"B\","
                          "\"homeScore\":%" G_GUINT64_FORMAT ",\"awayScore\":0,"
                          "\"version\":%" G_GUINT64_FORMAT ",\"updatedAt\":1763800000000}",
                          index, version, version);
}

static gboolean
publish (Peer   *peer,
         guint64 seq,
         guint   event)
{
  g_autofree char *ev = event_json (event, seq);
  g_autofree char *update = g_strdup_printf ("{\"type\":\"UPDATE\",\"seq\":%" G_GUINT64_FORMAT
                                             ",\"event\":%s,\"ts\":1}", seq, ev);

  return ww_backplane_publish_update (peer->bp, seq, ev, update);
}

/* ------------------------------------------------------------------ */

static void
test_bad_urls (void)
{
  static const struct {
    const char *url;
    const char *says;
  } bad[] = {
    { "", "empty" },
    { "localhost:6379", "scheme" },
    { "http://127.0.0.1:6379", "scheme must be redis" },
    { "rediss://127.0.0.1:6380", "TLS" },
    { "redis://", "no host" },
    { "redis:///3", "no host" },
    { "redis://127.0.0.1:0", "out of range" },
    { "redis://127.0.0.1:99999", "range" },
    { "redis://127.0.0.1:port", "port" },
    { "redis://127.0.0.1:6379/abc", "database number" },
    { "redis://127.0.0.1:6379/1/2", "database number" },
    { "redis://127.0.0.1:6379/-1", "database number" },
    { "redis://127.0.0.1:6379?db=1", "query" },
    { "redis://127.0.0.1:6379#x", "fragment" },
    { "redis://user@127.0.0.1", "password" },
    { "redis://127.0.0.1 6379", "Invalid Redis URL" },
  };
  static const char *good[] = {
    "redis://127.0.0.1:6379",
    "redis://localhost",
    "redis://127.0.0.1:1/3",
    "redis://127.0.0.1/",
    "redis://:secret@127.0.0.1:6379/0",
    "redis://default:secret@127.0.0.1",
    "redis://[::1]:6380",
    "REDIS://127.0.0.1",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(WwBackplane) bp = ww_backplane_new (bad[i].url, &error);

      g_test_message ("%s → %s", bad[i].url, error ? error->message : "(accepted)");
      g_assert_null (bp);
      g_assert_error (error, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_INVALID_URL);
      g_assert_nonnull (strstr (error->message, bad[i].says));
      g_assert_true (g_str_has_prefix (error->message, "Invalid Redis URL"));
    }

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      WwBackplane *bp = ww_backplane_new (good[i], &error);

      g_assert_no_error (error);
      g_assert_nonnull (bp);
      g_assert_cmpstr (ww_backplane_get_url (bp), ==, good[i]);
      g_assert_cmpuint (strlen (ww_backplane_get_id (bp)), ==, 16);
      g_assert_cmpstr (ww_backplane_get_namespace (bp), ==,
                       strstr (good[i], ":1/3") ? "wirewatch.3" : "wirewatch");
      g_assert_false (ww_backplane_is_connected (bp));
      g_assert_finalize_object (bp);
    }
}

/* Nothing listens: the instance stays on its own, says so, and retries. */
static void
test_no_redis (void)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *url = g_strdup_printf ("redis://127.0.0.1:%d", ww_test_free_port ());
  WwBackplane *bp = ww_backplane_new (url, &error);
  WwBackplaneCounters counters;
  gboolean degraded = FALSE;

  g_assert_no_error (error);
  n_lost_messages = 0;
  ww_backplane_set_local_clients (bp, 7);
  ww_backplane_start (bp, context);
  ww_test_spin (context, 700);

  g_object_get (bp, "degraded", &degraded, NULL);
  g_assert_true (degraded);
  g_assert_false (ww_backplane_is_connected (bp));
  g_assert_false (ww_backplane_is_leader (bp));
  g_assert_cmpuint (ww_backplane_get_total_clients (bp), ==, 7);
  g_assert_false (ww_backplane_publish_chat (bp, "{\"type\":\"CHAT\"}"));
  ww_backplane_get_counters (bp, &counters);
  /* 250 ms then 500 ms: at least two failed attempts in 700 ms. */
  g_assert_cmpuint (counters.errors, >=, 2);
  g_assert_cmpuint (counters.connects, ==, 0);
  /* Said once, not once per attempt. */
  g_assert_cmpuint (n_lost_messages, ==, 1);

  ww_backplane_stop (bp);
  ww_backplane_stop (bp);
  g_assert_finalize_object (bp);
  for (guint i = 0; i < 100 && g_main_context_iteration (context, FALSE); i++)
    ;
}

static void
test_order (Fixture       *f,
            gconstpointer  data)
{
  Peer peers[3];
  Peer *leader, *other;
  guint64 base;
  guint n_expected = 0;
  WwBackplaneCounters counters;
  redisReply *reply;

  for (guint i = 0; i < 3; i++)
    peer_init (&peers[i], f);
  for (guint i = 0; i < 3; i++)
    peer_start (&peers[i], f);

  WAIT_UNTIL (f->context, all_connected (peers, 3) && count_leaders (peers, 3) == 1, WAIT_MS);
  leader = the_leader (peers, 3);
  other = leader == &peers[0] ? &peers[1] : &peers[0];
  base = ww_backplane_get_shared_seq (leader->bp);
  g_assert_cmpuint (base, ==, 0);

  for (guint i = 1; i <= 20; i++)
    {
      g_assert_true (publish (leader, base + i, i % 5));
      n_expected++;
      /* Followers may not publish updates. */
      g_assert_false (publish (other, base + i + 1000, 0));
      if (i % 4 == 0)
        {
          g_autofree char *chat = g_strdup_printf ("{\"type\":\"CHAT\",\"text\":\"hi %u\"}", i);

          /* From a follower, and from the leader itself. */
          g_assert_true (ww_backplane_publish_chat ((i % 8 == 0 ? leader : other)->bp, chat));
          n_expected++;
        }
    }
  /* A seq already published: Redis refuses it (it may be in flight, so
   * the local check cannot know yet); nobody may receive it twice. */
  publish (leader, base + 20, 0);
  g_assert_false (publish (leader, 0, 0));
  g_assert_false (ww_backplane_publish_update (leader->bp, base + 21, "{\"noid\":1}", "{}"));
  g_assert_false (ww_backplane_publish_update (leader->bp, base + 21, "not json", "{}"));

  WAIT_UNTIL (f->context,
              peers[0].log->len >= n_expected && peers[1].log->len >= n_expected &&
              peers[2].log->len >= n_expected, WAIT_MS);

  ww_test_spin (f->context, 50);

  /* One order for everyone, the publisher included. */
  for (guint i = 0; i < 3; i++)
    {
      guint64 last = base;

      g_assert_cmpuint (peers[i].log->len, ==, n_expected);
      g_assert_cmpuint (peers[i].n_chat_detail, ==, 5);
      for (guint j = 0; j < n_expected; j++)
        {
          const char *a = peers[0].log->pdata[j];
          const char *b = peers[i].log->pdata[j];

          g_assert_cmpstr (a, ==, b);
          if (b[0] == 'U')
            {
              guint64 seq = g_ascii_strtoull (b + 2, NULL, 10);
              g_assert_cmpuint (seq, ==, last + 1);
              last = seq;
            }
        }
      g_assert_cmpuint (last, ==, base + 20);
      g_assert_cmpuint (ww_backplane_get_shared_seq (peers[i].bp), ==, base + 20);
    }

  ww_backplane_get_counters (leader->bp, &counters);
  g_assert_cmpuint (counters.published, >=, 20);
  g_assert_cmpuint (counters.received, ==, n_expected);
  g_assert_cmpuint (counters.elections, ==, 1);
  {
    g_autoptr(GString) metrics = g_string_new (NULL);
    g_autofree char *published = g_strdup_printf ("\nwirewatch_backplane_published_total %"
                                                  G_GUINT64_FORMAT "\n", counters.published);

    ww_backplane_append_metrics (leader->bp, metrics);
    g_assert_nonnull (strstr (metrics->str, "# TYPE wirewatch_backplane_leader gauge\n"
                                            "wirewatch_backplane_leader 1\n"));
    g_assert_nonnull (strstr (metrics->str, "\nwirewatch_backplane_connected 1\n"));
    g_assert_nonnull (strstr (metrics->str, "\nwirewatch_backplane_shared_seq 20\n"));
    g_assert_nonnull (strstr (metrics->str, "# TYPE wirewatch_backplane_errors_total counter\n"));
    g_assert_nonnull (strstr (metrics->str, published));
  }

  /* Garbage on the channel: counted, never delivered. */
  ww_backplane_get_counters (other->bp, &counters);
  {
    g_autofree char *channel = g_strdup_printf ("%s:feed", f->ns);
    static const char *garbage[] = { "", "X 1 id {}", "U x id {}", "U 0 id {}", "C 5 id {}",
                                     "U 7 id", "U 7 id ", "U 18446744073709551616 id {}" };

    for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
      freeReplyObject (ww_test_redis_command (&f->redis, "PUBLISH %s %s",
                                              channel, garbage[i]));
    /* And one good one after, to know the garbage has been seen. */
    freeReplyObject (ww_test_redis_command (&f->redis, "PUBLISH %s %s",
                                            channel, "C 0 tester {\"ok\":1}"));
  }
  WAIT_UNTIL (f->context, other->log->len == n_expected + 1, WAIT_MS);
  {
    WwBackplaneCounters after;

    ww_backplane_get_counters (other->bp, &after);
    g_assert_cmpuint (after.errors, ==, counters.errors + 8);
    g_assert_cmpuint (after.received, ==, counters.received + 1);
  }

  /* The stored state matches what was published. */
  reply = ww_test_redis_command (&f->redis, "GET %s:seq", f->ns);
  g_assert_cmpstr (reply->str, ==, "20");
  freeReplyObject (reply);
  reply = ww_test_redis_command (&f->redis, "HLEN %s:events", f->ns);
  g_assert_cmpint (reply->integer, ==, 5);
  freeReplyObject (reply);

  for (guint i = 0; i < 3; i++)
    peer_clear (&peers[i]);
}

static void
on_leader_notify (WwBackplane *bp,
                  GParamSpec  *pspec,
                  guint64     *seq_at_election)
{
  if (ww_backplane_is_leader (bp))
    *seq_at_election = ww_backplane_get_shared_seq (bp);
}

static void
test_failover (Fixture       *f,
               gconstpointer  data)
{
  Peer peers[3];
  Peer *leader, *next;
  guint64 seq_at_election[3] = { 0, 0, 0 };
  gint64 t0, elapsed_ms;
  gint64 end;

  for (guint i = 0; i < 3; i++)
    {
      peer_init (&peers[i], f);
      g_signal_connect (peers[i].bp, "notify::leader", G_CALLBACK (on_leader_notify),
                        &seq_at_election[i]);
      peer_start (&peers[i], f);
    }

  WAIT_UNTIL (f->context, all_connected (peers, 3) && count_leaders (peers, 3) == 1, WAIT_MS);

  /* Exactly one leader, over several lease periods. */
  end = g_get_monotonic_time () + 3 * TEST_LEASE_MS * 1000;
  while (g_get_monotonic_time () < end)
    {
      ww_test_iterate (f->context);
      g_assert_cmpuint (count_leaders (peers, 3), ==, 1);
    }

  leader = the_leader (peers, 3);
  for (guint i = 1; i <= 5; i++)
    g_assert_true (publish (leader, i, i % 5));
  WAIT_UNTIL (f->context,
              peers[0].log->len == 5 && peers[1].log->len == 5 && peers[2].log->len == 5,
              WAIT_MS);

  /* The leader "crashes": no release, the lease must expire. */
  ww_backplane_abandon (leader->bp);
  t0 = g_get_monotonic_time ();
  WAIT_UNTIL (f->context, count_leaders (peers, 3) == 1, WAIT_MS);
  elapsed_ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("takeover after a crash: %" G_GINT64_FORMAT " ms (lease %d ms)",
                  elapsed_ms, TEST_LEASE_MS);
  /* One lease period plus the scheduling slack of a loaded 2-core box. */
  g_assert_cmpint (elapsed_ms, <, 3 * TEST_LEASE_MS);

  next = the_leader (peers, 3);
  g_assert_true (next != leader);
  g_assert_cmpuint (seq_at_election[next - peers], ==, 5);
  g_assert_cmpuint (ww_backplane_get_shared_seq (next->bp), ==, 5);
  g_assert_cmpuint (next->last_state_seq, ==, 5);
  g_assert_cmpuint (next->last_state_events, ==, 5);

  /* It continues the sequence; the crashed one hears nothing more. */
  g_assert_false (publish (next, 5, 0));
  g_assert_true (publish (next, 6, 1));
  WAIT_UNTIL (f->context, next->log->len == 6, WAIT_MS);
  ww_test_spin (f->context, 50);
  g_assert_cmpuint (leader->log->len, ==, 5);
  for (guint i = 0; i < 3; i++)
    if (&peers[i] != leader)
      {
        g_assert_cmpuint (peers[i].log->len, ==, 6);
        g_assert_true (g_str_has_prefix (peers[i].log->pdata[5], "U 6 "));
      }

  /* A clean stop releases the lease: the last one takes over at once
   * (well before the lease would have run out). */
  peer_clear (leader);
  ww_backplane_stop (next->bp);
  t0 = g_get_monotonic_time ();
  WAIT_UNTIL (f->context, count_leaders (peers, 3) == 1, WAIT_MS);
  elapsed_ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("takeover after a clean stop: %" G_GINT64_FORMAT " ms", elapsed_ms);
  g_assert_cmpint (elapsed_ms, <, 3 * TEST_LEASE_MS);
  next = the_leader (peers, 3);
  g_assert_nonnull (next);
  g_assert_cmpuint (ww_backplane_get_shared_seq (next->bp), ==, 6);

  for (guint i = 0; i < 3; i++)
    peer_clear (&peers[i]);
}

/* Someone else takes the lease: the old leader's writes are refused by
 * Redis itself and it steps down. */
static void
test_fencing (Fixture       *f,
              gconstpointer  data)
{
  Peer peer;
  WwBackplaneCounters before, after;
  redisReply *reply;

  peer_init (&peer, f);
  /* A long lease, so only the theft can end it. */
  ww_backplane_set_lease_ms (peer.bp, 5000);
  peer_start (&peer, f);
  WAIT_UNTIL (f->context, ww_backplane_is_leader (peer.bp), WAIT_MS);

  g_assert_true (publish (&peer, 1, 0));
  WAIT_UNTIL (f->context, peer.log->len == 1, WAIT_MS);

  freeReplyObject (ww_test_redis_command (&f->redis, "SET %s:leader intruder PX 60000", f->ns));
  ww_backplane_get_counters (peer.bp, &before);
  g_assert_true (publish (&peer, 2, 0));  /* sent; Redis says no */
  WAIT_UNTIL (f->context, !ww_backplane_is_leader (peer.bp), WAIT_MS);
  ww_backplane_get_counters (peer.bp, &after);
  g_assert_cmpuint (after.errors, ==, before.errors + 1);
  g_assert_cmpuint (after.published, ==, before.published);

  ww_test_spin (f->context, 100);
  g_assert_cmpuint (peer.log->len, ==, 1);
  g_assert_false (ww_backplane_is_leader (peer.bp));
  reply = ww_test_redis_command (&f->redis, "GET %s:seq", f->ns);
  g_assert_cmpstr (reply->str, ==, "1");
  freeReplyObject (reply);
  /* Its renewals must not extend the intruder's lease either. */
  reply = ww_test_redis_command (&f->redis, "GET %s:leader", f->ns);
  g_assert_cmpstr (reply->str, ==, "intruder");
  freeReplyObject (reply);

  /* The stored seq is the floor: Redis refuses a stale one. */
  freeReplyObject (ww_test_redis_command (&f->redis, "DEL %s:leader", f->ns));
  freeReplyObject (ww_test_redis_command (&f->redis, "SET %s:seq 40", f->ns));
  WAIT_UNTIL (f->context, ww_backplane_is_leader (peer.bp), WAIT_MS);
  g_assert_cmpuint (ww_backplane_get_shared_seq (peer.bp), ==, 40);
  g_assert_false (publish (&peer, 40, 0));
  g_assert_true (publish (&peer, 41, 0));
  WAIT_UNTIL (f->context, peer.log->len == 2, WAIT_MS);

  peer_clear (&peer);
}

static void
state_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  WwBackplaneState **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = ww_backplane_load_state_finish (WW_BACKPLANE (source), result, &error);
  g_assert_no_error (error);
}

static void
not_connected_done (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;
  WwBackplaneState *state = ww_backplane_load_state_finish (WW_BACKPLANE (source), result, &error);

  g_assert_null (state);
  g_assert_error (error, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_NOT_CONNECTED);
  *done = TRUE;
}

static void
test_state (Fixture       *f,
            gconstpointer  data)
{
  Peer a, late;
  WwBackplaneState *state = NULL;
  gboolean done = FALSE;
  g_autofree char *latest0 = event_json (0, 7);

  peer_init (&a, f);
  peer_init (&late, f);

  /* Not started: a clear error, no crash. */
  ww_backplane_load_state_async (late.bp, NULL, not_connected_done, &done);
  WAIT_UNTIL (f->context, done, WAIT_MS);

  peer_start (&a, f);
  WAIT_UNTIL (f->context, ww_backplane_is_leader (a.bp), WAIT_MS);
  g_assert_cmpuint (a.n_state_loaded, >=, 1);
  g_assert_cmpuint (a.last_state_seq, ==, 0);
  g_assert_cmpuint (a.last_state_events, ==, 0);

  /* EVENT#00 twice: the hash keeps the last. */
  for (guint i = 1; i <= 7; i++)
    g_assert_true (publish (&a, i, i == 7 ? 0 : i % 3));
  WAIT_UNTIL (f->context, a.log->len == 7, WAIT_MS);

  peer_start (&late, f);
  WAIT_UNTIL (f->context, late.n_state_loaded >= 1, WAIT_MS);
  g_assert_cmpuint (late.last_state_seq, ==, 7);
  g_assert_cmpuint (late.last_state_events, ==, 3);
  g_assert_cmpstr (late.last_state_first, ==, latest0);
  g_assert_cmpuint (ww_backplane_get_shared_seq (late.bp), ==, 7);
  g_assert_false (ww_backplane_is_leader (late.bp));

  ww_backplane_load_state_async (late.bp, NULL, state_done, &state);
  WAIT_UNTIL (f->context, state != NULL, WAIT_MS);
  g_assert_cmpuint (state->seq, ==, 7);
  g_assert_cmpuint (state->events->len, ==, 3);
  g_assert_cmpstr (state->events->pdata[0], ==, latest0);
  g_assert_true (g_str_has_prefix (state->events->pdata[1], "{\"id\":\"EVENT#01\""));
  g_assert_true (g_str_has_prefix (state->events->pdata[2], "{\"id\":\"EVENT#02\""));
  {
    g_autoptr(WwBackplaneState) copy = ww_backplane_state_copy (state);
    g_assert_cmpuint (copy->seq, ==, 7);
    g_assert_cmpstr (copy->events->pdata[2], ==, state->events->pdata[2]);
  }
  ww_backplane_state_free (state);

  /* The local seq is a floor for the stored one (an instance that ran on
   * its own must not see seq go backwards). */
  ww_backplane_set_local_seq (late.bp, 100);
  state = NULL;
  ww_backplane_load_state_async (late.bp, NULL, state_done, &state);
  WAIT_UNTIL (f->context, state != NULL, WAIT_MS);
  g_assert_cmpuint (state->seq, ==, 100);
  ww_backplane_state_free (state);
  /* The leader learns the raised seq from Redis' refusal. */
  g_assert_true (publish (&a, 8, 0));
  WAIT_UNTIL (f->context, ww_backplane_get_shared_seq (a.bp) == 100, WAIT_MS);
  g_assert_true (publish (&a, 101, 0));
  WAIT_UNTIL (f->context, late.log->len == 1, WAIT_MS);
  g_assert_true (g_str_has_prefix (late.log->pdata[0], "U 101 "));

  peer_clear (&a);
  peer_clear (&late);
}

static void
test_presence (Fixture       *f,
               gconstpointer  data)
{
  Peer peers[3];
  redisReply *reply;

  for (guint i = 0; i < 3; i++)
    peer_init (&peers[i], f);
  ww_backplane_set_local_clients (peers[0].bp, 3);
  ww_backplane_set_local_clients (peers[1].bp, 4);
  peer_start (&peers[0], f);
  peer_start (&peers[1], f);
  WAIT_UNTIL (f->context,
              ww_backplane_get_total_clients (peers[0].bp) == 7 &&
              ww_backplane_get_total_clients (peers[1].bp) == 7, WAIT_MS);

  ww_backplane_set_local_clients (peers[2].bp, 5);
  peer_start (&peers[2], f);
  WAIT_UNTIL (f->context,
              ww_backplane_get_total_clients (peers[0].bp) == 12 &&
              ww_backplane_get_total_clients (peers[1].bp) == 12 &&
              ww_backplane_get_total_clients (peers[2].bp) == 12, WAIT_MS);

  /* A change is written at once (and summed by the others on their tick). */
  ww_backplane_set_local_clients (peers[0].bp, 13);
  WAIT_UNTIL (f->context, ww_backplane_get_total_clients (peers[0].bp) == 22, WAIT_MS);
  WAIT_UNTIL (f->context, ww_backplane_get_total_clients (peers[2].bp) == 22, WAIT_MS);

  /* A dead instance drops out once its liveness key expires. */
  ww_backplane_abandon (peers[1].bp);
  g_assert_cmpuint (ww_backplane_get_total_clients (peers[1].bp), ==, 4);
  WAIT_UNTIL (f->context,
              ww_backplane_get_total_clients (peers[0].bp) == 18 &&
              ww_backplane_get_total_clients (peers[2].bp) == 18, WAIT_MS);
  reply = ww_test_redis_command (&f->redis, "HEXISTS %s:presence %s",
                                 f->ns, ww_backplane_get_id (peers[1].bp));
  g_assert_cmpint (reply->integer, ==, 0);
  freeReplyObject (reply);

  /* A clean stop removes its entry right away. */
  peer_clear (&peers[2]);
  reply = ww_test_redis_command (&f->redis, "HEXISTS %s:presence %s",
                                 f->ns, ww_backplane_get_id (peers[0].bp));
  g_assert_cmpint (reply->integer, ==, 1);
  freeReplyObject (reply);
  WAIT_UNTIL (f->context, ww_backplane_get_total_clients (peers[0].bp) == 13, WAIT_MS);

  for (guint i = 0; i < 3; i++)
    peer_clear (&peers[i]);
}

static void
test_redis_restart (Fixture       *f,
                    gconstpointer  data)
{
  Peer peers[2];
  Peer *leader;
  WwBackplaneCounters counters;

  n_lost_messages = n_back_messages = 0;
  for (guint i = 0; i < 2; i++)
    {
      peer_init (&peers[i], f);
      ww_backplane_set_local_clients (peers[i].bp, 2 + i);
      peer_start (&peers[i], f);
    }
  WAIT_UNTIL (f->context, all_connected (peers, 2) && count_leaders (peers, 2) == 1 &&
              ww_backplane_get_total_clients (peers[0].bp) == 5, WAIT_MS);
  leader = the_leader (peers, 2);
  for (guint i = 1; i <= 3; i++)
    g_assert_true (publish (leader, i, i));
  WAIT_UNTIL (f->context, peers[0].log->len == 3 && peers[1].log->len == 3, WAIT_MS);
  for (guint i = 0; i < 2; i++)
    ww_backplane_set_local_seq (peers[i].bp, 3);

  ww_test_redis_kill (&f->redis);
  WAIT_UNTIL (f->context, !ww_backplane_is_connected (peers[0].bp) &&
              !ww_backplane_is_connected (peers[1].bp), WAIT_MS);
  g_assert_cmpuint (count_leaders (peers, 2), ==, 0);
  for (guint i = 0; i < 2; i++)
    {
      gboolean degraded = FALSE;

      g_object_get (peers[i].bp, "degraded", &degraded, NULL);
      g_assert_true (degraded);
      g_assert_cmpuint (ww_backplane_get_total_clients (peers[i].bp), ==, 2 + i);
      g_assert_false (ww_backplane_publish_chat (peers[i].bp, "{\"type\":\"CHAT\"}"));
      g_assert_false (publish (&peers[i], 4, 0));
      ww_backplane_get_counters (peers[i].bp, &counters);
      g_assert_cmpuint (counters.disconnects, ==, 1);
      g_assert_cmpuint (counters.reconnects, ==, 0);
    }

  /* A few failed attempts while it is away, logged once. */
  ww_test_spin (f->context, 800);
  ww_backplane_get_counters (peers[0].bp, &counters);
  g_assert_cmpuint (counters.errors, >=, 1);
  g_assert_cmpuint (n_lost_messages, ==, 2);

  ww_test_redis_start (&f->redis);
  WAIT_UNTIL (f->context, all_connected (peers, 2) && count_leaders (peers, 2) == 1, WAIT_MS);
  g_assert_cmpuint (n_back_messages, ==, 2);
  g_assert_cmpuint (n_lost_messages, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      ww_backplane_get_counters (peers[i].bp, &counters);
      g_assert_cmpuint (counters.reconnects, ==, 1);
      g_assert_cmpuint (counters.connects, ==, 2);
      /* The new (empty) Redis got the seq floor: no going back. */
      g_assert_cmpuint (ww_backplane_get_shared_seq (peers[i].bp), ==, 3);
    }

  /* Resubscribed, leadership back, presence back. */
  leader = the_leader (peers, 2);
  g_assert_true (publish (leader, 4, 0));
  g_assert_true (ww_backplane_publish_chat (peers[0].bp, "{\"type\":\"CHAT\",\"text\":\"back\"}"));
  WAIT_UNTIL (f->context, peers[0].log->len == 5 && peers[1].log->len == 5, WAIT_MS);
  /* Two publishers on two connections: either order, but the same one
   * on both instances. */
  g_assert_cmpstr (peers[0].log->pdata[3], ==, peers[1].log->pdata[3]);
  g_assert_cmpstr (peers[0].log->pdata[4], ==, peers[1].log->pdata[4]);
  g_assert_true (g_str_has_prefix (peers[0].log->pdata[3], "U 4 ") ||
                 g_str_has_prefix (peers[0].log->pdata[4], "U 4 "));
  g_assert_true (g_str_has_prefix (peers[0].log->pdata[3], "C ") ||
                 g_str_has_prefix (peers[0].log->pdata[4], "C "));
  WAIT_UNTIL (f->context, ww_backplane_get_total_clients (peers[0].bp) == 5 &&
              ww_backplane_get_total_clients (peers[1].bp) == 5, WAIT_MS);

  for (guint i = 0; i < 2; i++)
    peer_clear (&peers[i]);
}

/* Redis goes away while instances are being stopped and dropped: nothing
 * may crash or leak (run under ASan). */
static void
test_churn (Fixture       *f,
            gconstpointer  data)
{
  for (guint round = 0; round < 5; round++)
    {
      Peer peer;

      peer_init (&peer, f);
      peer_start (&peer, f);
      /* Stop at different moments: before, during and after coming up. */
      ww_test_spin (f->context, round * 15);
      if (round == 3)
        {
          WAIT_UNTIL (f->context, ww_backplane_is_leader (peer.bp), WAIT_MS);
          ww_backplane_publish_chat (peer.bp, "{\"type\":\"CHAT\"}");
        }
      peer_clear (&peer);
    }

  /* Dropped without stop: dispose does it. */
  {
    Peer peer;

    peer_init (&peer, f);
    peer_start (&peer, f);
    WAIT_UNTIL (f->context, ww_backplane_is_connected (peer.bp), WAIT_MS);
    g_assert_finalize_object (peer.bp);
    g_ptr_array_unref (peer.log);
    g_free (peer.last_state_first);
  }
}

/* A Redis that stops answering without closing anything (SIGSTOP): the
 * watchdog must call it a loss, and the link must come back on SIGCONT. */
static void
test_redis_hangs (Fixture       *f,
                  gconstpointer  data)
{
  Peer peers[2];
  WwBackplaneCounters counters;
  gint64 t0;

  for (guint i = 0; i < 2; i++)
    {
      peer_init (&peers[i], f);
      peer_start (&peers[i], f);
    }
  WAIT_UNTIL (f->context, all_connected (peers, 2) && count_leaders (peers, 2) == 1, WAIT_MS);

  g_subprocess_send_signal (f->redis.proc, SIGSTOP);
  t0 = g_get_monotonic_time ();
  WAIT_UNTIL (f->context, !ww_backplane_is_connected (peers[0].bp) &&
              !ww_backplane_is_connected (peers[1].bp), WAIT_MS);
  g_test_message ("hung Redis noticed after %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - t0) / 1000);
  g_assert_cmpuint (count_leaders (peers, 2), ==, 0);
  ww_backplane_get_counters (peers[0].bp, &counters);
  g_assert_cmpuint (counters.disconnects, ==, 1);
  g_assert_cmpuint (counters.errors, >=, 1);

  /* Reconnect attempts meet a listening socket that never answers: they
   * must time out too, not hang. */
  ww_test_spin (f->context, 1200);
  g_assert_false (ww_backplane_is_connected (peers[0].bp));

  g_subprocess_send_signal (f->redis.proc, SIGCONT);
  WAIT_UNTIL (f->context, all_connected (peers, 2) && count_leaders (peers, 2) == 1, WAIT_MS);
  g_assert_true (ww_backplane_publish_chat (peers[1].bp, "{\"type\":\"CHAT\"}"));
  WAIT_UNTIL (f->context, peers[0].log->len == 1 && peers[1].log->len == 1, WAIT_MS);
  ww_backplane_get_counters (peers[0].bp, &counters);
  g_assert_cmpuint (counters.reconnects, ==, 1);

  for (guint i = 0; i < 2; i++)
    peer_clear (&peers[i]);
}

/* requirepass and a database number in the URL; a wrong password is a
 * loss like any other (said once, retried), never a crash. */
static void
test_auth_db (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *escaped = g_uri_escape_string (f->redis.password, NULL, FALSE);
  g_autofree char *good = g_strdup_printf ("redis://:%s@127.0.0.1:%d/3", escaped, f->redis.port);
  g_autofree char *bad = g_strdup_printf ("redis://:wrong@127.0.0.1:%d/3", f->redis.port);
  g_autofree char *none = g_strdup_printf ("redis://127.0.0.1:%d", f->redis.port);
  const char *urls[] = { bad, none };
  g_autoptr(GError) error = NULL;
  WwBackplaneCounters counters;
  WwBackplane *bp;
  Peer peer;
  redisReply *reply;

  for (guint i = 0; i < G_N_ELEMENTS (urls); i++)
    {
      n_lost_messages = 0;
      bp = ww_backplane_new (urls[i], &error);
      g_assert_no_error (error);
      ww_backplane_set_namespace (bp, f->ns);
      ww_backplane_start (bp, f->context);
      ww_test_spin (f->context, 600);
      g_assert_false (ww_backplane_is_connected (bp));
      ww_backplane_get_counters (bp, &counters);
      g_assert_cmpuint (counters.errors, >=, 2);
      g_assert_cmpuint (n_lost_messages, ==, 1);
      g_assert_finalize_object (bp);
    }

  memset (&peer, 0, sizeof peer);
  g_free (f->url);
  f->url = g_strdup (good);
  peer_init (&peer, f);
  peer_start (&peer, f);
  WAIT_UNTIL (f->context, ww_backplane_is_leader (peer.bp), WAIT_MS);
  g_assert_true (publish (&peer, 1, 0));
  WAIT_UNTIL (f->context, peer.log->len == 1, WAIT_MS);

  /* The keys live in database 3. */
  reply = ww_test_redis_command (&f->redis, "GET %s:seq", f->ns);
  g_assert_cmpint (reply->type, ==, REDIS_REPLY_NIL);
  freeReplyObject (reply);
  {
    redisContext *c = ww_test_redis_connect (&f->redis);

    g_assert_nonnull (c);
    freeReplyObject (redisCommand (c, "AUTH %s", f->redis.password));
    freeReplyObject (redisCommand (c, "SELECT 3"));
    reply = redisCommand (c, "GET %s:seq", f->ns);
    g_assert_cmpstr (reply->str, ==, "1");
    freeReplyObject (reply);
    redisFree (c);
  }

  peer_clear (&peer);
}

static void
stop_in_handler (WwBackplane *bp,
                 guint        kind,
                 guint64      seq,
                 const char  *json,
                 gpointer     user_data)
{
  ww_backplane_stop (bp);
}

static void
stop_on_leader (WwBackplane *bp,
                GParamSpec  *pspec,
                gpointer     user_data)
{
  if (ww_backplane_is_leader (bp))
    ww_backplane_stop (bp);
}

/* Stopping from inside the backplane's own signals (reply callbacks of
 * hiredis underneath) must neither crash nor leak. */
static void
test_stop_reentrant (Fixture       *f,
                     gconstpointer  data)
{
  Peer a, b;

  peer_init (&a, f);
  g_signal_connect (a.bp, "notify::leader", G_CALLBACK (stop_on_leader), NULL);
  peer_start (&a, f);
  WAIT_UNTIL (f->context, a.n_state_loaded >= 1 && !ww_backplane_is_connected (a.bp), WAIT_MS);
  g_assert_false (ww_backplane_is_leader (a.bp));
  ww_test_spin (f->context, 50);
  peer_clear (&a);

  peer_init (&a, f);
  peer_init (&b, f);
  g_signal_connect (b.bp, "message", G_CALLBACK (stop_in_handler), NULL);
  peer_start (&a, f);
  peer_start (&b, f);
  WAIT_UNTIL (f->context, ww_backplane_is_connected (a.bp) && ww_backplane_is_connected (b.bp),
              WAIT_MS);
  g_assert_true (ww_backplane_publish_chat (a.bp, "{\"type\":\"CHAT\",\"text\":\"1\"}"));
  g_assert_true (ww_backplane_publish_chat (a.bp, "{\"type\":\"CHAT\",\"text\":\"2\"}"));
  WAIT_UNTIL (f->context, a.log->len == 2 && !ww_backplane_is_connected (b.bp), WAIT_MS);
  ww_test_spin (f->context, 50);
  /* b stopped inside the first delivery and saw nothing more. */
  g_assert_cmpuint (b.log->len, ==, 1);
  peer_clear (&a);
  peer_clear (&b);
}

/* Many UPDATEs in a burst: all arrive, in order, on every instance.  The
 * rate is reported, not asserted. */
static void
test_burst (Fixture       *f,
            gconstpointer  data)
{
  const guint n = 2000;
  Peer peers[3];
  Peer *leader;
  gint64 t0, elapsed_us;

  for (guint i = 0; i < 3; i++)
    {
      peer_init (&peers[i], f);
      peer_start (&peers[i], f);
    }
  WAIT_UNTIL (f->context, all_connected (peers, 3) && count_leaders (peers, 3) == 1, WAIT_MS);
  leader = the_leader (peers, 3);

  t0 = g_get_monotonic_time ();
  for (guint i = 1; i <= n; i++)
    g_assert_true (publish (leader, i, i % 5));
  WAIT_UNTIL (f->context, peers[0].log->len == n && peers[1].log->len == n &&
              peers[2].log->len == n, 60000);
  elapsed_us = g_get_monotonic_time () - t0;
  g_test_message ("%u UPDATEs published and delivered to 3 instances in %.1f ms "
                  "(%.0f UPDATEs/s, %.0f deliveries/s)",
                  n, elapsed_us / 1000.0, n * 1e6 / elapsed_us, 3 * n * 1e6 / elapsed_us);

  for (guint i = 0; i < 3; i++)
    for (guint j = 0; j < n; j++)
      {
        const char *line = peers[i].log->pdata[j];

        g_assert_cmpuint (g_ascii_strtoull (line + 2, NULL, 10), ==, j + 1);
        g_assert_cmpstr (line, ==, peers[0].log->pdata[j]);
      }

  for (guint i = 0; i < 3; i++)
    peer_clear (&peers[i]);
}

/* Keys of the wrong type or content in Redis: errors are counted, the
 * instance stays connected and takes over once the keys are sane. */
static void
test_corrupt_state (Fixture       *f,
                    gconstpointer  data)
{
  Peer peer;
  WwBackplaneCounters counters;

  freeReplyObject (ww_test_redis_command (&f->redis, "SET %s:events not-a-hash", f->ns));
  freeReplyObject (ww_test_redis_command (&f->redis, "SET %s:seq garbage", f->ns));

  peer_init (&peer, f);
  peer_start (&peer, f);
  WAIT_UNTIL (f->context, ww_backplane_is_connected (peer.bp), WAIT_MS);
  ww_test_spin (f->context, 3 * TEST_LEASE_MS);
  g_assert_true (ww_backplane_is_connected (peer.bp));
  g_assert_false (ww_backplane_is_leader (peer.bp));
  g_assert_cmpuint (peer.n_state_loaded, ==, 0);
  ww_backplane_get_counters (peer.bp, &counters);
  g_assert_cmpuint (counters.errors, >=, 2);

  freeReplyObject (ww_test_redis_command (&f->redis, "DEL %s:events", f->ns));
  freeReplyObject (ww_test_redis_command (&f->redis, "SET %s:seq 9", f->ns));
  WAIT_UNTIL (f->context, ww_backplane_is_leader (peer.bp), WAIT_MS);
  g_assert_cmpuint (peer.last_state_seq, ==, 9);
  g_assert_cmpuint (ww_backplane_get_shared_seq (peer.bp), ==, 9);
  g_assert_true (publish (&peer, 10, 0));
  WAIT_UNTIL (f->context, peer.log->len == 1, WAIT_MS);

  peer_clear (&peer);
}

static GLogWriterOutput
count_writer (GLogLevelFlags   level,
              const GLogField *fields,
              gsize            n_fields,
              gpointer         user_data)
{
  if (level & G_LOG_LEVEL_MESSAGE)
    {
      for (gsize i = 0; i < n_fields; i++)
        {
          if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].length < 0)
            {
              const char *text = fields[i].value;

              if (g_str_has_prefix (text, "Lost Redis") || g_str_has_prefix (text, "Cannot reach"))
                n_lost_messages++;
              else if (strstr (text, "is back") != NULL)
                n_back_messages++;
            }
        }
    }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_writer_func (count_writer, NULL, NULL);

  g_test_add_func ("/backplane/url/bad-and-good", test_bad_urls);

  if (!g_file_test (WW_TEST_REDIS_SERVER, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("no " WW_TEST_REDIS_SERVER);
      return g_test_run ();
    }

  g_test_add_func ("/backplane/no-redis", test_no_redis);
#define ADD(path, fn) \
  g_test_add ("/backplane/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("order", test_order);
  ADD ("failover", test_failover);
  ADD ("fencing", test_fencing);
  ADD ("state", test_state);
  ADD ("presence", test_presence);
  ADD ("redis-restart", test_redis_restart);
  ADD ("churn", test_churn);
  ADD ("redis-hangs", test_redis_hangs);
  ADD ("stop-reentrant", test_stop_reentrant);
  ADD ("burst", test_burst);
  ADD ("corrupt-state", test_corrupt_state);
#undef ADD
  g_test_add ("/backplane/auth-db", Fixture, "s3cr@t:pw", fixture_setup, test_auth_db,
              fixture_teardown);

  return g_test_run ();
}
