/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client"

#include "config.h"

#include <stdio.h>
#include <glib-unix.h>
#include <gio/gunixinputstream.h>

#include "ww-client.h"
#include "ww-client-cli.h"

typedef struct {
  GMainLoop        *loop;
  WwClient         *client;
  GDataInputStream *input;
  GCancellable     *cancellable;
  gboolean          json;
  gboolean          quitting;
  int               status;
} Cli;

static const char *
state_word (WwClientState state)
{
  switch (state)
    {
    case WW_CLIENT_STATE_IDLE:         return "idle";
    case WW_CLIENT_STATE_CONNECTING:   return "connecting";
    case WW_CLIENT_STATE_OPEN:         return "open";
    case WW_CLIENT_STATE_RECONNECTING: return "reconnecting";
    case WW_CLIENT_STATE_CLOSED:       return "closed";
    default:                           return "unknown";
    }
}

/* stdout is a pipe for scripts and tests: flush every line. */
static void
print_line (const char *line)
{
  fputs (line, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

static void
print_builder (JsonBuilder *b)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = NULL;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  print_line (text);
}

static void
begin_kind (JsonBuilder *b,
            const char  *kind)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, kind);
}

static char *
describe_event (JsonObject *event)
{
  JsonNode *id = json_object_get_member (event, "id");
  JsonNode *home = json_object_get_member (event, "home");
  JsonNode *away = json_object_get_member (event, "away");
  JsonNode *hs = json_object_get_member (event, "homeScore");
  JsonNode *as = json_object_get_member (event, "awayScore");

#define STR(n) ((n) && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING \
                ? json_node_get_string (n) : "?")
#define NUM(n) ((n) && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64 \
                ? json_node_get_int (n) : (gint64) -1)
  return g_strdup_printf ("%s %s %" G_GINT64_FORMAT "–%" G_GINT64_FORMAT " %s",
                          STR (id), STR (home), NUM (hs), NUM (as), STR (away));
#undef STR
#undef NUM
}

static void
on_state (WwClient   *client,
          GParamSpec *pspec,
          Cli        *cli)
{
  WwClientState state = ww_client_get_state (client);
  const char *error = ww_client_get_error_message (client);

  if (cli->json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();

      begin_kind (b, "state");
      json_builder_set_member_name (b, "state");
      json_builder_add_string_value (b, state_word (state));
      json_builder_set_member_name (b, "url");
      json_builder_add_string_value (b, ww_client_get_url (client));
      if (state == WW_CLIENT_STATE_OPEN)
        {
          const char *ext = ww_client_get_extensions (client);

          json_builder_set_member_name (b, "deflate");
          json_builder_add_boolean_value (b, ww_client_get_deflate_active (client));
          json_builder_set_member_name (b, "extensions");
          json_builder_add_string_value (b, ext ? ext : "");
        }
      if (state == WW_CLIENT_STATE_RECONNECTING)
        {
          json_builder_set_member_name (b, "reconnectIn");
          json_builder_add_int_value (b, ww_client_get_reconnect_in (client));
        }
      if (state == WW_CLIENT_STATE_CLOSED || state == WW_CLIENT_STATE_RECONNECTING)
        {
          json_builder_set_member_name (b, "closeCode");
          json_builder_add_int_value (b, ww_client_get_close_code (client));
          json_builder_set_member_name (b, "closeReason");
          json_builder_add_string_value (b, ww_client_get_close_reason (client));
        }
      if (error)
        {
          json_builder_set_member_name (b, "error");
          json_builder_add_string_value (b, error);
        }
      json_builder_end_object (b);
      print_builder (b);
    }
  else
    {
      g_autofree char *line = NULL;

      if (state == WW_CLIENT_STATE_RECONNECTING)
        line = g_strdup_printf ("state reconnecting in %u s%s%s", ww_client_get_reconnect_in (client),
                                error ? " — " : "", error ? error : "");
      else if (state == WW_CLIENT_STATE_CLOSED)
        line = g_strdup_printf ("state closed %u %s%s%s", ww_client_get_close_code (client),
                                ww_client_get_close_reason (client),
                                error ? " — " : "", error ? error : "");
      else if (state == WW_CLIENT_STATE_OPEN)
        line = g_strdup_printf ("state open %s (permessage-deflate %s)", ww_client_get_url (client),
                                ww_client_get_deflate_active (client) ? "on" : "off");
      else
        line = g_strdup_printf ("state %s %s", state_word (state), ww_client_get_url (client));
      print_line (line);
    }

  /* Closed without our asking: a failure retrying can not fix. */
  if (state == WW_CLIENT_STATE_CLOSED && !cli->quitting)
    {
      g_printerr ("wirewatch: %s\n", error ? error : "connection closed");
      cli->status = 1;
      cli->quitting = TRUE;
      g_main_loop_quit (cli->loop);
    }
}

static void
on_initial (WwClient  *client,
            guint64    seq,
            JsonArray *events,
            Cli       *cli)
{
  if (cli->json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);

      json_node_set_array (node, events);
      begin_kind (b, "initial");
      json_builder_set_member_name (b, "seq");
      json_builder_add_int_value (b, (gint64) seq);
      json_builder_set_member_name (b, "events");
      json_builder_add_value (b, g_steal_pointer (&node));
      json_builder_end_object (b);
      print_builder (b);
      return;
    }

  {
    g_autofree char *head = g_strdup_printf ("initial seq %" G_GUINT64_FORMAT ", %u events", seq,
                                             json_array_get_length (events));
    print_line (head);
  }
  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      JsonNode *n = json_array_get_element (events, i);
      g_autofree char *text = NULL;
      g_autofree char *line = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (n))
        continue;
      text = describe_event (json_node_get_object (n));
      line = g_strdup_printf ("  %s", text);
      print_line (line);
    }
}

static void
on_update (WwClient   *client,
           guint64     seq,
           JsonObject *event,
           gint64      ts,
           Cli        *cli)
{
  if (cli->json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

      json_node_set_object (node, event);
      begin_kind (b, "update");
      json_builder_set_member_name (b, "seq");
      json_builder_add_int_value (b, (gint64) seq);
      json_builder_set_member_name (b, "ts");
      json_builder_add_int_value (b, ts);
      json_builder_set_member_name (b, "event");
      json_builder_add_value (b, g_steal_pointer (&node));
      json_builder_end_object (b);
      print_builder (b);
    }
  else
    {
      g_autofree char *text = describe_event (event);
      g_autofree char *line = g_strdup_printf ("update seq %" G_GUINT64_FORMAT " %s", seq, text);

      print_line (line);
    }
}

static void
on_chat (WwClient   *client,
         const char *from,
         const char *text,
         gint64      ts,
         Cli        *cli)
{
  if (cli->json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();

      begin_kind (b, "chat");
      json_builder_set_member_name (b, "from");
      json_builder_add_string_value (b, from);
      json_builder_set_member_name (b, "text");
      json_builder_add_string_value (b, text);
      json_builder_set_member_name (b, "ts");
      json_builder_add_int_value (b, ts);
      json_builder_end_object (b);
      print_builder (b);
    }
  else
    {
      g_autofree char *line = g_strdup_printf ("chat %s: %s", from, text);

      print_line (line);
    }
}

static void
on_rtt (WwClient *client,
        gint64    rtt_us,
        Cli      *cli)
{
  WwHistogram *h = ww_client_get_rtt_histogram (client);
  guint64 p50 = ww_histogram_percentile (h, 0.50);
  guint64 p95 = ww_histogram_percentile (h, 0.95);
  guint64 p99 = ww_histogram_percentile (h, 0.99);

  if (cli->json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();

      begin_kind (b, "rtt");
      json_builder_set_member_name (b, "rttUs");
      json_builder_add_int_value (b, rtt_us);
      json_builder_set_member_name (b, "p50Us");
      json_builder_add_int_value (b, (gint64) p50);
      json_builder_set_member_name (b, "p95Us");
      json_builder_add_int_value (b, (gint64) p95);
      json_builder_set_member_name (b, "p99Us");
      json_builder_add_int_value (b, (gint64) p99);
      json_builder_set_member_name (b, "samples");
      json_builder_add_int_value (b, (gint64) ww_histogram_count (h));
      json_builder_end_object (b);
      print_builder (b);
    }
  else
    {
      g_autofree char *line = g_strdup_printf ("rtt %.3f ms (p50 %.3f, p95 %.3f, p99 %.3f ms)",
                                               rtt_us / 1000.0, p50 / 1000.0, p95 / 1000.0,
                                               p99 / 1000.0);
      print_line (line);
    }
}

static void
on_presence (WwClient *client,
             guint     clients,
             Cli      *cli)
{
  if (cli->json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();

      begin_kind (b, "presence");
      json_builder_set_member_name (b, "clients");
      json_builder_add_int_value (b, clients);
      json_builder_end_object (b);
      print_builder (b);
    }
  else
    {
      g_autofree char *line = g_strdup_printf ("presence %u clients", clients);

      print_line (line);
    }
}

static void
on_server_error (WwClient   *client,
                 const char *code,
                 const char *message,
                 Cli        *cli)
{
  if (cli->json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();

      begin_kind (b, "server-error");
      json_builder_set_member_name (b, "code");
      json_builder_add_string_value (b, code);
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, message);
      json_builder_end_object (b);
      print_builder (b);
    }
  else
    {
      g_autofree char *line = g_strdup_printf ("server-error %s: %s", code, message);

      print_line (line);
    }
}

static void
on_welcome (WwClient   *client,
            JsonObject *msg,
            Cli        *cli)
{
  if (cli->json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

      json_node_set_object (node, msg);
      begin_kind (b, "welcome");
      json_builder_set_member_name (b, "message");
      json_builder_add_value (b, g_steal_pointer (&node));
      json_builder_end_object (b);
      print_builder (b);
    }
  else
    print_line ("welcome: the server speaks the Wirewatch feed");
}

static void read_next_line (Cli *cli);

static void
on_line (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  Cli *cli = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  gsize len;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, &len,
                                                    &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error)
    {
      /* Bad UTF-8 or a read error: report, keep running, stop reading. */
      g_printerr ("wirewatch: standard input: %s\n", error->message);
      return;
    }
  if (line == NULL)
    return; /* EOF does not quit: the client keeps watching */

  g_strchomp (line);
  if (*line == '\0')
    ;
  else if (g_str_equal (line, "/ping"))
    {
      g_autofree char *id = ww_client_send_ping (cli->client);

      if (id == NULL)
        g_printerr ("wirewatch: not connected; PING not sent\n");
    }
  else if (!ww_client_send_chat (cli->client, line))
    g_printerr ("wirewatch: not connected or message too long; CHAT not sent\n");

  read_next_line (cli);
}

static void
read_next_line (Cli *cli)
{
  g_data_input_stream_read_line_async (cli->input, G_PRIORITY_DEFAULT, cli->cancellable,
                                       on_line, cli);
}

static gboolean
on_quit_signal (gpointer data)
{
  Cli *cli = data;

  cli->quitting = TRUE;
  g_main_loop_quit (cli->loop);
  return G_SOURCE_CONTINUE;
}

typedef struct {
  GMainLoop *loop;
  guint      id;
} Grace;

static gboolean
on_close_grace (gpointer data)
{
  Grace *grace = data;

  grace->id = 0;
  g_main_loop_quit (grace->loop);
  return G_SOURCE_REMOVE;
}

static void
on_closed_while_leaving (WwClient   *client,
                         GParamSpec *pspec,
                         GMainLoop  *loop)
{
  if (ww_client_get_state (client) == WW_CLIENT_STATE_CLOSED)
    g_main_loop_quit (loop);
}

int
ww_client_cli_run (const char *url,
                   int         ping_interval_s,
                   gboolean    json,
                   const char *accept_certificate_file,
                   const char *token)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsCertificate) cert = NULL;
  g_autoptr(WwClient) client = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GInputStream) stdin_stream = NULL;
  Cli cli = { 0 };
  guint sigint, sigterm;

  if (!ww_client_check_url (url, &error))
    {
      g_printerr ("wirewatch: %s\n", error->message);
      return 2;
    }
  if (accept_certificate_file)
    {
      cert = g_tls_certificate_new_from_file (accept_certificate_file, &error);
      if (cert == NULL)
        {
          g_printerr ("wirewatch: cannot read the certificate %s: %s\n", accept_certificate_file,
                      error->message);
          return 2;
        }
    }

  loop = g_main_loop_new (NULL, FALSE);
  client = ww_client_new ();
  cli.loop = loop;
  cli.client = client;
  cli.json = json;
  cli.cancellable = g_cancellable_new ();

  if (token)
    ww_client_set_token (client, token);
  if (cert)
    ww_client_set_accepted_certificate (client, cert);
  if (ping_interval_s >= 0)
    ww_client_set_ping_interval (client, (guint) ping_interval_s);

  g_signal_connect (client, "notify::state", G_CALLBACK (on_state), &cli);
  g_signal_connect (client, "welcome", G_CALLBACK (on_welcome), &cli);
  g_signal_connect (client, "initial", G_CALLBACK (on_initial), &cli);
  g_signal_connect (client, "update", G_CALLBACK (on_update), &cli);
  g_signal_connect (client, "chat", G_CALLBACK (on_chat), &cli);
  g_signal_connect (client, "rtt", G_CALLBACK (on_rtt), &cli);
  g_signal_connect (client, "presence", G_CALLBACK (on_presence), &cli);
  g_signal_connect (client, "server-error", G_CALLBACK (on_server_error), &cli);

  stdin_stream = g_unix_input_stream_new (0, FALSE);
  cli.input = g_data_input_stream_new (stdin_stream);
  read_next_line (&cli);

  sigint = g_unix_signal_add (SIGINT, on_quit_signal, &cli);
  sigterm = g_unix_signal_add (SIGTERM, on_quit_signal, &cli);

  ww_client_connect (client, url);
  if (!cli.quitting)
    g_main_loop_run (loop);

  g_cancellable_cancel (cli.cancellable);
  g_signal_handlers_disconnect_by_data (client, &cli);

  /* Say goodbye with 1000, but never wait on a peer that does not answer. */
  if (ww_client_get_state (client) == WW_CLIENT_STATE_OPEN)
    {
      Grace grace = { loop, 0 };
      gulong id = g_signal_connect (client, "notify::state",
                                    G_CALLBACK (on_closed_while_leaving), loop);

      grace.id = g_timeout_add (1000, on_close_grace, &grace);
      ww_client_disconnect (client);
      if (ww_client_get_state (client) != WW_CLIENT_STATE_CLOSED)
        g_main_loop_run (loop);
      g_signal_handler_disconnect (client, id);
      g_clear_handle_id (&grace.id, g_source_remove);
    }
  else
    ww_client_disconnect (client);

  g_source_remove (sigint);
  g_source_remove (sigterm);
  /* Let the cancelled stdin read finish before its stream goes away. */
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  g_clear_object (&cli.input);
  g_clear_object (&cli.cancellable);
  return cli.status;
}
