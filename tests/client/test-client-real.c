/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client-test"

#include "config.h"

#include "client/ww-client.h"
#include "feed/ww-event-feed.h"
#include "server/ww-server.h"

#include <string.h>

/*
 * The client against the real embedded server (WwServer + WwEventFeed),
 * built only once the feed layer exists (tests/client/meson.build).
 */

#define WAIT_MS 10000

typedef struct {
  GArray *seqs;   /* guint64; an INITIAL is recorded as G_MAXUINT64 then its seq */
  guint   n_initial;
  guint   n_updates;
  guint   n_rtt;
  guint   n_chat;
  char   *last_chat;
} Rec;

static void
on_chat (WwClient *c, const char *from, const char *text, gint64 ts, Rec *r)
{
  g_free (r->last_chat);
  r->last_chat = g_strdup (text);
  r->n_chat++;
}

static void
on_initial (WwClient *c, guint64 seq, JsonArray *events, Rec *r)
{
  guint64 mark = G_MAXUINT64;

  g_assert_cmpuint (json_array_get_length (events), ==, 5);
  g_array_append_val (r->seqs, mark);
  g_array_append_val (r->seqs, seq);
  r->n_initial++;
}

static void
on_update (WwClient *c, guint64 seq, JsonObject *event, gint64 ts, Rec *r)
{
  g_array_append_val (r->seqs, seq);
  r->n_updates++;
}

static void
on_rtt (WwClient *c, gint64 rtt, Rec *r)
{
  r->n_rtt++;
}

static gboolean
timed_out (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
wait_until (guint *counter, guint target)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (WAIT_MS, timed_out, &expired);

  while (*counter < target && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return *counter >= target;
}

static gboolean
wait_state (WwClient *client, WwClientState state)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (WAIT_MS, timed_out, &expired);

  while (ww_client_get_state (client) != state && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return ww_client_get_state (client) == state;
}

static void
test_real_feed_reconnect (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  g_autoptr(WwFeedConfig) feed_config = ww_feed_config_new ();
  g_autoptr(WwServer) server = NULL;
  g_autoptr(WwEventFeed) feed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  WwClient *client;
  WwClientCounters c;
  Rec r = { g_array_new (FALSE, FALSE, sizeof (guint64)), 0, 0, 0, 0, NULL };
  guint16 port;
  guint64 prev = 0;
  gboolean after_initial = FALSE;

  g_free (config->bind_address);
  config->bind_address = g_strdup ("127.0.0.1");
  config->port = 0;
  feed_config->has_seed = TRUE;
  feed_config->seed = 7;
  feed_config->min_interval_ms = 10;
  feed_config->max_interval_ms = 30;
  feed_config->persist = FALSE;

  server = ww_server_new (config);
  feed = ww_event_feed_new (feed_config);
  g_assert_true (ww_event_feed_attach (feed, server, &error));
  g_assert_no_error (error);
  g_assert_true (ww_server_start (server, &error));
  g_assert_no_error (error);
  port = ww_server_get_port (server);
  url = ww_server_dup_url (server, "/ws");

  client = ww_client_new ();
  g_signal_connect (client, "initial", G_CALLBACK (on_initial), &r);
  g_signal_connect (client, "update", G_CALLBACK (on_update), &r);
  g_signal_connect (client, "rtt", G_CALLBACK (on_rtt), &r);
  ww_client_set_backoff (client, 100, 400, 10000);
  ww_client_connect (client, url);
  g_assert_true (wait_until (&r.n_initial, 1));
  g_assert_true (wait_until (&r.n_updates, 5));
  g_assert_true (wait_until (&r.n_rtt, 1)); /* the PING sent on open */
  g_assert_true (ww_client_get_speaks_feed (client));

  /* Stop the server, start it again on the same port. */
  ww_server_stop (server);
  g_assert_true (wait_state (client, WW_CLIENT_STATE_RECONNECTING));
  config->port = port;
  ww_server_set_config (server, config);
  g_assert_true (ww_server_start (server, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ww_server_get_port (server), ==, port);

  g_assert_true (wait_state (client, WW_CLIENT_STATE_OPEN));
  g_assert_true (wait_until (&r.n_updates, r.n_updates + 10));

  ww_client_get_counters (client, &c);
  g_assert_cmpuint (c.connects, ==, 2);
  g_assert_cmpuint (c.drops, ==, 1);
  g_assert_cmpuint (c.connect_attempts, <=, 10);

  /* No gap and no duplicate across the restart. */
  for (guint i = 0; i < r.seqs->len; i++)
    {
      guint64 s = g_array_index (r.seqs, guint64, i);

      if (s == G_MAXUINT64)
        {
          after_initial = TRUE;
          continue;
        }
      if (!after_initial)
        g_assert_cmpuint (s, ==, prev + 1);
      after_initial = FALSE;
      prev = s;
    }

  ww_client_disconnect (client);
  wait_state (client, WW_CLIENT_STATE_CLOSED);
  g_signal_handlers_disconnect_by_data (client, &r);
  g_assert_finalize_object (client);
  ww_server_stop (server);
  g_array_unref (r.seqs);
}

typedef struct {
  gboolean server_deflate;
  gboolean client_deflate;
} DeflateCase;

/*
 * The client offers permessage-deflate by default; it is negotiated only
 * when the server has it on (--deflate) and the client did not turn it off,
 * and the feed works the same either way: WELCOME, INITIAL, UPDATEs in
 * order without a gap, PING answered by PONG.
 */
static void
test_real_deflate (gconstpointer data)
{
  const DeflateCase *dc = data;
  gboolean expect = dc->server_deflate && dc->client_deflate;
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  g_autoptr(WwFeedConfig) feed_config = ww_feed_config_new ();
  g_autoptr(WwServer) server = NULL;
  g_autoptr(WwEventFeed) feed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *ping_id = NULL;
  WwClient *client;
  WwClientCounters c;
  Rec r = { g_array_new (FALSE, FALSE, sizeof (guint64)), 0, 0, 0, 0, NULL };
  g_autoptr(GString) chat = g_string_new (NULL);
  const char *ext;
  guint64 prev = 0;
  guint rtt_before;

  g_free (config->bind_address);
  config->bind_address = g_strdup ("127.0.0.1");
  config->port = 0;
  config->deflate = dc->server_deflate;
  feed_config->has_seed = TRUE;
  feed_config->seed = 11;
  feed_config->min_interval_ms = 5;
  feed_config->max_interval_ms = 15;
  feed_config->persist = FALSE;

  server = ww_server_new (config);
  feed = ww_event_feed_new (feed_config);
  g_assert_true (ww_event_feed_attach (feed, server, &error));
  g_assert_no_error (error);
  g_assert_true (ww_server_start (server, &error));
  g_assert_no_error (error);
  url = ww_server_dup_url (server, "/ws");

  client = ww_client_new ();
  g_assert_true (ww_client_get_deflate (client));
  ww_client_set_deflate (client, dc->client_deflate);
  g_assert_cmpint (ww_client_get_deflate (client), ==, dc->client_deflate);
  g_signal_connect (client, "initial", G_CALLBACK (on_initial), &r);
  g_signal_connect (client, "update", G_CALLBACK (on_update), &r);
  g_signal_connect (client, "rtt", G_CALLBACK (on_rtt), &r);
  g_signal_connect (client, "chat", G_CALLBACK (on_chat), &r);
  ww_client_connect (client, url);
  g_assert_true (wait_state (client, WW_CLIENT_STATE_OPEN));

  g_assert_cmpint (ww_client_get_deflate_active (client), ==, expect);
  ext = ww_client_get_extensions (client);
  if (expect)
    {
      g_assert_nonnull (ext);
      g_assert_nonnull (strstr (ext, "permessage-deflate"));
    }
  else
    g_assert_true (ext == NULL || strstr (ext, "permessage-deflate") == NULL);

  g_assert_true (wait_until (&r.n_initial, 1));
  g_assert_true (ww_client_get_speaks_feed (client)); /* WELCOME came */
  g_assert_true (wait_until (&r.n_updates, 30));
  g_assert_true (wait_until (&r.n_rtt, 1)); /* the PING sent on open */
  rtt_before = r.n_rtt;
  ping_id = ww_client_send_ping (client);
  g_assert_nonnull (ping_id);
  g_assert_true (wait_until (&r.n_rtt, rtt_before + 1));
  /* Long enough to be compressed on the way out (past the threshold). */
  for (guint i = 0; i < 60; i++)
    g_string_append_printf (chat, "chat line %u, compressed both ways. ", i);
  g_assert_true (ww_client_send_chat (client, chat->str));
  g_assert_true (wait_until (&r.n_chat, 1));
  g_assert_cmpstr (r.last_chat, ==, chat->str);

  /* One INITIAL, then every seq exactly once and in order. */
  g_assert_cmpuint (r.n_initial, ==, 1);
  g_assert_cmpuint (g_array_index (r.seqs, guint64, 0), ==, G_MAXUINT64);
  prev = g_array_index (r.seqs, guint64, 1);
  for (guint i = 2; i < r.seqs->len; i++)
    {
      guint64 s = g_array_index (r.seqs, guint64, i);

      g_assert_cmpuint (s, ==, prev + 1);
      prev = s;
    }
  ww_client_get_counters (client, &c);
  g_assert_cmpuint (c.gaps_detected, ==, 0);
  g_assert_cmpuint (c.duplicates_dropped, ==, 0);
  g_assert_cmpuint (c.connects, ==, 1);
  g_assert_cmpuint (c.drops, ==, 0);
  g_assert_cmpint (ww_client_get_state (client), ==, WW_CLIENT_STATE_OPEN);

  ww_client_disconnect (client);
  wait_state (client, WW_CLIENT_STATE_CLOSED);
  g_signal_handlers_disconnect_by_data (client, &r);
  g_assert_finalize_object (client);
  ww_server_stop (server);
  g_array_unref (r.seqs);
  g_free (r.last_chat);
}

int
main (int argc, char *argv[])
{
  static const DeflateCase both_on = { TRUE, TRUE };
  static const DeflateCase server_off = { FALSE, TRUE };
  static const DeflateCase client_off = { TRUE, FALSE };

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/client/real-server/reconnect-resume", test_real_feed_reconnect);
  g_test_add_data_func ("/client/real-server/deflate/negotiated", &both_on, test_real_deflate);
  g_test_add_data_func ("/client/real-server/deflate/server-off", &server_off, test_real_deflate);
  g_test_add_data_func ("/client/real-server/deflate/client-off", &client_off, test_real_deflate);
  return g_test_run ();
}
