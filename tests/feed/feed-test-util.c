/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed-test"

#include "config.h"

#include <string.h>
#include <glib/gstdio.h>

#include "feed-test-util.h"

gboolean
feed_test_tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

FeedFixture *
feed_fixture_start (const WwFeedConfig *config,
                    gboolean            own_thread,
                    guint16             port)
{
  g_autoptr(WwServerConfig) sc = ww_server_config_new ();
  g_autoptr(GError) error = NULL;
  FeedFixture *f = g_new0 (FeedFixture, 1);

  g_free (sc->bind_address);
  sc->bind_address = g_strdup ("127.0.0.1");
  sc->port = port;
  sc->own_thread = own_thread;
  sc->heartbeat_ms = 0;
  f->server = ww_server_new (sc);
  f->feed = ww_event_feed_new (config);
  g_assert_true (ww_event_feed_attach (f->feed, f->server, &error));
  g_assert_no_error (error);
  g_assert_true (ww_server_start (f->server, &error));
  g_assert_no_error (error);
  f->port = ww_server_get_port (f->server);
  g_assert_cmpuint (f->port, >, 0);
  return f;
}

void
feed_fixture_stop (FeedFixture *f)
{
  ww_server_stop (f->server);
  /* The server holds the feed through its registrations. */
  g_object_add_weak_pointer (G_OBJECT (f->feed), (gpointer *) &f->feed);
  g_object_unref (f->feed);
  g_assert_finalize_object (f->server);
  g_assert_null (f->feed);
  g_free (f);
}

SoupSession *
feed_test_session (void)
{
  /* libsoup allows 2 connections per host by default (ENVIRONMENT.md). */
  return soup_session_new_with_options ("max-conns", 4096, "max-conns-per-host", 4096,
                                        "timeout", 20, NULL);
}

static void
on_message (SoupWebsocketConnection *conn,
            gint                     type,
            GBytes                  *message,
            FeedClient              *c)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  gsize len;
  const char *data = g_bytes_get_data (message, &len);
  g_autofree char *text = g_strndup (data, len);
  JsonObject *msg;
  const char *kind;

  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  c->n_messages++;
  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  msg = json_node_get_object (json_parser_get_root (parser));
  kind = json_object_get_string_member (msg, "type");

  if (g_str_equal (kind, "WELCOME"))
    {
      g_assert_false (c->have_welcome);
      c->have_welcome = TRUE;
      c->welcome_seq = (guint64) json_object_get_int_member (msg, "seq");
      c->client_id = g_strdup (json_object_get_string_member (msg, "clientId"));
    }
  else if (g_str_equal (kind, "INITIAL"))
    {
      g_assert_true (c->have_welcome);
      c->n_initial++;
      c->initial_seq = (guint64) json_object_get_int_member (msg, "seq");
      g_free (c->initial_events);
      c->initial_events = feed_test_raw_member (text, "events");
    }
  else if (g_str_equal (kind, "UPDATE"))
    {
      guint64 seq = (guint64) json_object_get_int_member (msg, "seq");
      gint64 ts = json_object_get_int_member (msg, "ts");
      JsonObject *event = json_object_get_object_member (msg, "event");

      g_assert_true (c->n_initial > 0);
      g_array_append_val (c->update_seqs, seq);
      g_array_append_val (c->update_ts, ts);
      g_ptr_array_add (c->update_texts, g_strdup (text));
      g_ptr_array_add (c->update_ids, g_strdup (json_object_get_string_member (event, "id")));
    }
  else if (g_str_equal (kind, "PRESENCE"))
    {
      gint64 now = g_get_monotonic_time ();
      guint n = (guint) json_object_get_int_member (msg, "clients");

      g_array_append_val (c->presence_us, now);
      g_array_append_val (c->presence_counts, n);
    }
  else if (g_str_equal (kind, "ERROR"))
    g_ptr_array_add (c->errors, g_strdup (json_object_get_string_member (msg, "code")));
  else if (g_str_equal (kind, "PONG"))
    g_ptr_array_add (c->pongs, g_strdup (text));
  else if (g_str_equal (kind, "CHAT"))
    g_ptr_array_add (c->chats, g_strdup (text));
  else
    g_assert_not_reached ();
}

static void
on_closed (SoupWebsocketConnection *conn,
           FeedClient              *c)
{
  c->closed = TRUE;
  c->close_code = soup_websocket_connection_get_close_code (conn);
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  FeedClient *c = data;

  c->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &c->error);
  c->connect_done = TRUE;
  if (c->conn != NULL)
    {
      g_signal_connect (c->conn, "message", G_CALLBACK (on_message), c);
      g_signal_connect (c->conn, "closed", G_CALLBACK (on_closed), c);
    }
}

FeedClient *
feed_client_connect (SoupSession *session,
                     guint16      port,
                     const char  *path)
{
  FeedClient *c = g_new0 (FeedClient, 1);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u%s", port, path);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);

  c->update_seqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  c->update_ts = g_array_new (FALSE, FALSE, sizeof (gint64));
  c->update_texts = g_ptr_array_new_with_free_func (g_free);
  c->update_ids = g_ptr_array_new_with_free_func (g_free);
  c->presence_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  c->presence_counts = g_array_new (FALSE, FALSE, sizeof (guint));
  c->errors = g_ptr_array_new_with_free_func (g_free);
  c->pongs = g_ptr_array_new_with_free_func (g_free);
  c->chats = g_ptr_array_new_with_free_func (g_free);
  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        on_connected, c);
  return c;
}

gboolean
feed_client_wait_open (FeedClient *c)
{
  WAIT_UNTIL (c->connect_done && (c->conn == NULL || c->n_initial > 0), 10000);
  g_assert_no_error (c->error);
  return c->conn != NULL && c->n_initial > 0;
}

void
feed_client_send (FeedClient *c,
                  const char *text)
{
  g_assert_nonnull (c->conn);
  soup_websocket_connection_send_text (c->conn, text);
}

void
feed_client_close (FeedClient *c)
{
  if (c->conn != NULL && !c->closed &&
      soup_websocket_connection_get_state (c->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      soup_websocket_connection_close (c->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      WAIT_UNTIL (c->closed, 5000);
    }
}

void
feed_client_free (FeedClient *c)
{
  if (c == NULL)
    return;
  if (c->conn != NULL)
    {
      feed_client_close (c);
      g_signal_handlers_disconnect_by_data (c->conn, c);
      g_object_unref (c->conn);
    }
  g_clear_error (&c->error);
  g_free (c->client_id);
  g_free (c->initial_events);
  g_array_unref (c->update_seqs);
  g_array_unref (c->update_ts);
  g_ptr_array_unref (c->update_texts);
  g_ptr_array_unref (c->update_ids);
  g_array_unref (c->presence_us);
  g_array_unref (c->presence_counts);
  g_ptr_array_unref (c->errors);
  g_ptr_array_unref (c->pongs);
  g_ptr_array_unref (c->chats);
  g_free (c);
}

guint64
feed_client_last_seq (FeedClient *c)
{
  guint64 last = c->initial_seq;

  for (guint i = 0; i < c->update_seqs->len; i++)
    last = MAX (last, g_array_index (c->update_seqs, guint64, i));
  return last;
}

char *
feed_test_make_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("ww-feed-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

void
feed_test_remove_tree (const char *dir)
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
        feed_test_remove_tree (path);
      else
        g_remove (path);
    }
  g_rmdir (dir);
}

char *
feed_test_raw_member (const char *json,
                      const char *member)
{
  g_autofree char *key = g_strdup_printf ("\"%s\":", member);
  const char *start = strstr (json, key);
  const char *p;
  int depth = 0;
  gboolean in_string = FALSE;

  g_assert_nonnull (start);
  start += strlen (key);
  for (p = start; *p; p++)
    {
      if (in_string)
        {
          if (*p == '\\')
            p++;
          else if (*p == '"')
            in_string = FALSE;
          continue;
        }
      if (*p == '"')
        in_string = TRUE;
      else if (*p == '[' || *p == '{')
        depth++;
      else if (*p == ']' || *p == '}')
        {
          if (depth == 0)
            break;
          if (--depth == 0)
            {
              p++;
              break;
            }
        }
      else if (*p == ',' && depth == 0)
        break;
    }
  return g_strndup (start, (gsize) (p - start));
}
