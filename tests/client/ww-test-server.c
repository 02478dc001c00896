/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client-test"

#include "config.h"

#include <json-glib/json-glib.h>

#include "ww-test-server.h"

#define N_EVENTS 5

const char *__lsan_default_suppressions (void);
const char *__asan_default_options (void);

/* GLib is built without frame pointers: the fast unwinder stops at
 * g_malloc and no suppression below could ever match. */
const char *
__asan_default_options (void)
{
  return "fast_unwind_on_malloc=0";
}

/*
 * Under LeakSanitizer: libsoup 3.2's SoupServer loses one reference to
 * each accepted GSocket of a connection that became a WebSocket (server
 * side only; the client under test never accepts), and
 * soup_server_get_uris() leaks an address.  Neither is ours to fix.
 */
const char *
__lsan_default_suppressions (void)
{
  return "leak:g_socket_accept\nleak:soup_server_get_uris\n";
}

struct _WwTestServer {
  SoupServer      *server;
  GTlsCertificate *tls;
  guint16          port;
  guint            update_ms;
  guint            timer;
  GPtrArray       *feed_conns;
  GPtrArray       *echo_conns;
  guint64          seq;
  GPtrArray       *history;   /* char * UPDATE texts; index = seq - 1 */
  gint64           scores[N_EVENTS];
  guint64          versions[N_EVENTS];
  guint            n_resumes;
  gint64           last_resume;
  char            *last_auth;
  guint            n_chats;
  guint64          next_client;
};

static char *
event_json (WwTestServer *self,
            guint         i)
{
  return g_strdup_printf ("{\"id\":\"EVENT#%02u\",\"name\":\"Home%u vs Away%u\",\"home\":\"Home%u\","
                          "\"away\":\"Away%u\",\"homeScore\":%" G_GINT64_FORMAT ",\"awayScore\":0,"
                          "\"version\":%" G_GUINT64_FORMAT ",\"updatedAt\":1763800000000}",
                          i, i, i, i, i, self->scores[i], self->versions[i]);
}

static void
send_all (GPtrArray  *conns,
          const char *text)
{
  for (guint i = 0; i < conns->len; i++)
    {
      SoupWebsocketConnection *c = g_ptr_array_index (conns, i);

      if (soup_websocket_connection_get_state (c) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_send_text (c, text);
    }
}

void
ww_test_server_emit_update (WwTestServer *self,
                            guint64       seq)
{
  g_autofree char *event = NULL;
  char *text;
  guint i;

  if (seq != 0)
    {
      /* A replay of a recorded one (duplicates, reordering). */
      g_assert_cmpuint (seq, >=, 1);
      g_assert_cmpuint (seq, <=, self->history->len);
      send_all (self->feed_conns, g_ptr_array_index (self->history, seq - 1));
      return;
    }

  i = (guint) (self->seq % N_EVENTS);
  self->scores[i]++;
  self->versions[i]++;
  self->seq++;
  event = event_json (self, i);
  text = g_strdup_printf ("{\"type\":\"UPDATE\",\"seq\":%" G_GUINT64_FORMAT ",\"event\":%s,"
                          "\"ts\":%" G_GINT64_FORMAT "}", self->seq, event,
                          g_get_real_time () / 1000);
  g_ptr_array_add (self->history, text);
  send_all (self->feed_conns, text);
}

void
ww_test_server_record_update (WwTestServer *self)
{
  GPtrArray *conns = self->feed_conns;

  self->feed_conns = g_ptr_array_new ();
  ww_test_server_emit_update (self, 0);
  g_ptr_array_unref (self->feed_conns);
  self->feed_conns = conns;
}

static gboolean
on_timer (gpointer data)
{
  ww_test_server_emit_update (data, 0);
  return G_SOURCE_CONTINUE;
}

static void
on_feed_message (SoupWebsocketConnection *conn,
                 SoupWebsocketDataType    type,
                 GBytes                  *message,
                 gpointer                 data)
{
  WwTestServer *self = data;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *obj;
  const char *t;
  gsize len;
  const char *bytes = g_bytes_get_data (message, &len);

  if (!json_parser_load_from_data (parser, bytes, (gssize) len, NULL) ||
      json_parser_get_root (parser) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      soup_websocket_connection_send_text (conn, "{\"type\":\"ERROR\",\"code\":\"bad-json\",\"message\":\"bad JSON\"}");
      return;
    }
  obj = json_node_get_object (json_parser_get_root (parser));
  t = json_object_get_string_member_with_default (obj, "type", "");

  if (g_str_equal (t, "PING"))
    {
      g_autofree char *reply = g_strdup_printf ("{\"type\":\"PONG\",\"id\":\"%s\",\"ts\":%" G_GINT64_FORMAT
                                                ",\"serverTs\":%" G_GINT64_FORMAT "}",
                                                json_object_get_string_member_with_default (obj, "id", ""),
                                                json_object_get_int_member_with_default (obj, "ts", 0),
                                                g_get_real_time () / 1000);
      soup_websocket_connection_send_text (conn, reply);
    }
  else if (g_str_equal (t, "RESUME"))
    {
      gint64 from = json_object_get_int_member_with_default (obj, "seq", 0);

      self->n_resumes++;
      self->last_resume = from;
      for (guint64 s = (guint64) MAX (from, 0) + 1; s <= self->history->len; s++)
        soup_websocket_connection_send_text (conn, g_ptr_array_index (self->history, s - 1));
    }
  else if (g_str_equal (t, "CHAT"))
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonGenerator) gen = json_generator_new ();
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *out = NULL;

      self->n_chats++;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "CHAT");
      json_builder_set_member_name (b, "from");
      json_builder_add_string_value (b, g_object_get_data (G_OBJECT (conn), "client-id"));
      json_builder_set_member_name (b, "text");
      json_builder_add_string_value (b, json_object_get_string_member_with_default (obj, "text", ""));
      json_builder_set_member_name (b, "ts");
      json_builder_add_int_value (b, g_get_real_time () / 1000);
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      out = json_generator_to_data (gen, NULL);
      send_all (self->feed_conns, out);
    }
  else
    soup_websocket_connection_send_text (conn, "{\"type\":\"ERROR\",\"code\":\"unknown-type\",\"message\":\"unknown type\"}");
}

static void
on_echo_message (SoupWebsocketConnection *conn,
                 SoupWebsocketDataType    type,
                 GBytes                  *message,
                 gpointer                 data)
{
  soup_websocket_connection_send_message (conn, type, message);
}

static void
on_conn_closed (SoupWebsocketConnection *conn,
                gpointer                 data)
{
  GPtrArray *conns = data;

  g_ptr_array_remove (conns, conn);
}

static void
on_websocket (SoupServer              *server,
              SoupServerMessage       *msg,
              const char              *path,
              SoupWebsocketConnection *conn,
              gpointer                 data)
{
  WwTestServer *self = data;
  const char *auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                   "Authorization");

  g_free (self->last_auth);
  self->last_auth = g_strdup (auth);

  if (g_str_equal (path, "/echo"))
    {
      g_ptr_array_add (self->echo_conns, g_object_ref (conn));
      g_signal_connect (conn, "message", G_CALLBACK (on_echo_message), self);
      g_signal_connect (conn, "closed", G_CALLBACK (on_conn_closed), self->echo_conns);
      return;
    }

  {
    g_autoptr(GString) initial = g_string_new (NULL);
    g_autofree char *welcome = NULL;
    char *id = g_strdup_printf ("c%" G_GUINT64_FORMAT, ++self->next_client);

    g_object_set_data_full (G_OBJECT (conn), "client-id", id, g_free);
    g_ptr_array_add (self->feed_conns, g_object_ref (conn));
    g_signal_connect (conn, "message", G_CALLBACK (on_feed_message), self);
    g_signal_connect (conn, "closed", G_CALLBACK (on_conn_closed), self->feed_conns);

    welcome = g_strdup_printf ("{\"type\":\"WELCOME\",\"clientId\":\"%s\",\"server\":\"test/1\","
                               "\"heartbeatMs\":15000,\"seq\":%" G_GUINT64_FORMAT "}", id, self->seq);
    soup_websocket_connection_send_text (conn, welcome);
    g_string_append_printf (initial, "{\"type\":\"INITIAL\",\"seq\":%" G_GUINT64_FORMAT ",\"events\":[",
                            self->seq);
    for (guint i = 0; i < N_EVENTS; i++)
      {
        g_autofree char *e = event_json (self, i);

        g_string_append_printf (initial, "%s%s", i ? "," : "", e);
      }
    g_string_append (initial, "]}");
    soup_websocket_connection_send_text (conn, initial->str);
  }
}

WwTestServer *
ww_test_server_new (guint            update_ms,
                    GTlsCertificate *tls)
{
  WwTestServer *self = g_new0 (WwTestServer, 1);

  self->update_ms = update_ms;
  self->tls = tls ? g_object_ref (tls) : NULL;
  self->feed_conns = g_ptr_array_new_with_free_func (g_object_unref);
  self->echo_conns = g_ptr_array_new_with_free_func (g_object_unref);
  self->history = g_ptr_array_new_with_free_func (g_free);
  self->last_resume = -1;
  if (update_ms > 0)
    self->timer = g_timeout_add (update_ms, on_timer, self);
  return self;
}

guint16
ww_test_server_start (WwTestServer *self,
                      guint16       port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSList) uris = NULL;

  g_assert_null (self->server);
  self->server = soup_server_new ("tls-certificate", self->tls, NULL);
  soup_server_add_websocket_handler (self->server, "/echo", NULL, NULL, on_websocket, self, NULL);
  soup_server_add_websocket_handler (self->server, "/ws", NULL, NULL, on_websocket, self, NULL);
  soup_server_listen (self->server, addr, self->tls ? SOUP_SERVER_LISTEN_HTTPS : 0, &error);
  g_assert_no_error (error);

  uris = soup_server_get_uris (self->server);
  g_assert_nonnull (uris);
  self->port = (guint16) g_uri_get_port (uris->data);
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);
  return self->port;
}

static void
drop_all (GPtrArray *conns)
{
  while (conns->len > 0)
    {
      SoupWebsocketConnection *c = g_object_ref (g_ptr_array_index (conns, 0));

      g_signal_handlers_disconnect_by_data (c, conns);
      g_ptr_array_remove_index (conns, 0);
      g_io_stream_close (soup_websocket_connection_get_io_stream (c), NULL, NULL);
      g_object_unref (c);
    }
}

void
ww_test_server_stop (WwTestServer *self)
{
  drop_all (self->feed_conns);
  drop_all (self->echo_conns);
  if (self->server)
    {
      soup_server_disconnect (self->server);
      g_clear_object (&self->server);
    }
}

void
ww_test_server_free (WwTestServer *self)
{
  ww_test_server_stop (self);
  g_clear_handle_id (&self->timer, g_source_remove);
  g_ptr_array_unref (self->feed_conns);
  g_ptr_array_unref (self->echo_conns);
  g_ptr_array_unref (self->history);
  g_clear_object (&self->tls);
  g_free (self->last_auth);
  g_free (self);
}

char *
ww_test_server_url (WwTestServer *self,
                    const char   *path)
{
  return g_strdup_printf ("%s://127.0.0.1:%u%s", self->tls ? "wss" : "ws", self->port, path);
}

guint64
ww_test_server_get_seq (WwTestServer *self)
{
  return self->seq;
}

guint
ww_test_server_get_n_resumes (WwTestServer *self)
{
  return self->n_resumes;
}

gint64
ww_test_server_get_last_resume (WwTestServer *self)
{
  return self->last_resume;
}

const char *
ww_test_server_get_last_auth (WwTestServer *self)
{
  return self->last_auth;
}

guint
ww_test_server_get_n_chats (WwTestServer *self)
{
  return self->n_chats;
}

static gboolean
on_wait_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
ww_test_wait (WwTestCond cond,
              gpointer   data,
              guint      timeout_ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (timeout_ms, on_wait_timeout, &expired);
  gboolean ok;

  /* Bounded in time by the timeout source and in count by it too: every
   * iteration either dispatches something or waits for the timeout. */
  while (!(ok = cond (data)) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return ok;
}

static gboolean
never (gpointer data)
{
  return FALSE;
}

void
ww_test_sleep (guint ms)
{
  ww_test_wait (never, NULL, ms);
}
