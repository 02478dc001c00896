/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-security-test"

#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "server/ww-server.h"
#include "feed/ww-event-feed.h"
#include "client/ww-client.h"
#include "protocol/ww-frame.h"
#include "protocol/ww-handshake.h"
#include "../server/ww-server-test.h"

/*
 * Issue 8: wss://, the access token, the origin check, every abuse limit
 * (each shows its refusal in /metrics and a good client still served),
 * a hostile-client soak against the feed, and the shared compression of
 * a broadcast to 1,000 deflate clients.
 */

#define TOKEN "s3cr3t-T0ken-4f1c9a"

/* ---- helpers -------------------------------------------------------------- */

typedef struct {
  char *dir;
  char *cert;
  char *key;
} TlsFiles;

static void
tls_files_make (TlsFiles *t)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  t->dir = g_dir_make_tmp ("ww-sec-XXXXXX", &error);
  g_assert_no_error (error);
  t->cert = g_build_filename (t->dir, "cert.pem", NULL);
  t->key = g_build_filename (t->dir, "key.pem", NULL);
  {
    const char *argv[] = {
      "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
      "-nodes", "-days", "2", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout", t->key, "-out", t->cert, NULL
    };

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                 NULL, &err, &status, &error));
    g_assert_no_error (error);
    g_assert_cmpint (status, ==, 0);
  }
}

static void
tls_files_clear (TlsFiles *t)
{
  g_autofree char *other_c = g_build_filename (t->dir, "other-cert.pem", NULL);
  g_autofree char *other_k = g_build_filename (t->dir, "other-key.pem", NULL);

  g_unlink (t->cert);
  g_unlink (t->key);
  g_unlink (other_c);
  g_unlink (other_k);
  g_rmdir (t->dir);
  g_free (t->cert);
  g_free (t->key);
  g_free (t->dir);
}

/* wirewatch_refusals_total{reason="@reason"} from /metrics. */
static guint64
refusals (WwServer *server, const char *reason)
{
  g_autofree char *text = ww_server_render_metrics (server);
  g_autofree char *needle = g_strdup_printf ("wirewatch_refusals_total{reason=\"%s\"} ", reason);
  const char *p = strstr (text, needle);

  g_assert_nonnull (p);
  return g_ascii_strtoull (p + strlen (needle), NULL, 10);
}

static guint64
metric_line (WwServer *server, const char *prefix)
{
  g_autofree char *text = ww_server_render_metrics (server);
  const char *p = strstr (text, prefix);

  g_assert_nonnull (p);
  return g_ascii_strtoull (p + strlen (prefix), NULL, 10);
}

/* Writes @request on a new connection and reads the response head. */
static char *
raw_head (guint16 port, const char *request, int *fd_out)
{
  int fd = wwt_connect (port);
  GString *in = g_string_new (NULL);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (send (fd, request, strlen (request), MSG_NOSIGNAL), ==, (gssize) strlen (request));
  while (!g_str_has_suffix (in->str, "\r\n\r\n") && in->len < 65536)
    {
      char c;

      if (recv (fd, &c, 1, 0) != 1)
        break;
      g_string_append_c (in, c);
    }
  if (fd_out)
    *fd_out = fd;
  else
    close (fd);
  return g_string_free (in, FALSE);
}

static char *
upgrade_request (guint16 port, const char *path, const char *extra)
{
  g_autofree char *key = ww_handshake_client_key_new ();

  return g_strdup_printf ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\n%s\r\n",
                          path, port, key, extra ? extra : "");
}

static guint
upgrade_status (guint16 port, const char *path, const char *extra, char **head_out)
{
  g_autofree char *req = upgrade_request (port, path, extra);
  char *head = raw_head (port, req, NULL);
  guint status = wwt_response_status (head);

  if (head_out)
    *head_out = head;
  else
    g_free (head);
  return status;
}

/* A good raw client on /echo answers @text. */
static void
assert_echo (guint16 port)
{
  g_autoptr(WwtClient) c = wwt_client_new (port, "/echo");
  g_autoptr(GByteArray) m = NULL;

  g_assert_nonnull (c);
  g_assert_true (wwt_send (c, WW_OPCODE_TEXT, "still here", 10));
  m = wwt_recv_message (c, NULL);
  g_assert_nonnull (m);
  g_assert_cmpmem (m->data, m->len, "still here", 10);
}

static gboolean
wait_eof_fd (int fd, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;
  struct timeval tv = { 0, 100 * 1000 };

  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (g_get_monotonic_time () < end)
    {
      char buf[4096];
      gssize n = recv (fd, buf, sizeof buf, 0);

      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return TRUE;
    }
  return FALSE;
}

/* ---- TLS ------------------------------------------------------------------ */

static WwServer *
tls_server_new (TlsFiles *t, WwServerConfig *config)
{
  g_autoptr(WwServerConfig) owned = NULL;

  if (config == NULL)
    config = owned = ww_server_config_new ();
  g_free (config->tls_cert_file);
  g_free (config->tls_key_file);
  config->tls_cert_file = g_strdup (t->cert);
  config->tls_key_file = g_strdup (t->key);
  return wwt_server_new (config);
}

static void
test_tls_start_errors (void)
{
  TlsFiles t = { 0 };
  g_autofree char *oc = NULL;
  g_autofree char *ok = NULL;
  struct {
    const char *cert;
    const char *key;
    const char *words;
  } cases[4];

  tls_files_make (&t);
  oc = g_build_filename (t.dir, "other-cert.pem", NULL);
  ok = g_build_filename (t.dir, "other-key.pem", NULL);
  {
    const char *argv[] = {
      "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
      "-nodes", "-days", "2", "-subj", "/CN=other", "-keyout", ok, "-out", oc, NULL
    };
    int status = 0;

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL,
                                 G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                                 NULL, NULL, &status, NULL));
    g_assert_cmpint (status, ==, 0);
  }
  cases[0].cert = t.cert, cases[0].key = "/nonexistent/key.pem", cases[0].words = "Cannot load";
  cases[1].cert = t.cert, cases[1].key = ok, cases[1].words = "do not form a pair";
  cases[2].cert = t.cert, cases[2].key = NULL, cases[2].words = "both";
  cases[3].cert = t.key, cases[3].key = t.key, cases[3].words = "Cannot load";

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(WwServerConfig) c = ww_server_config_new ();
      g_autoptr(WwServer) server = NULL;
      g_autoptr(GError) error = NULL;

      c->port = 0;
      c->tls_cert_file = g_strdup (cases[i].cert);
      c->tls_key_file = g_strdup (cases[i].key);
      server = ww_server_new (c);
      g_assert_false (ww_server_start (server, &error));
      g_assert_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_TLS);
      g_test_message ("case %u: %s", i, error->message);
      g_assert_nonnull (strstr (error->message, cases[i].words));
    }
  tls_files_clear (&t);
}

typedef struct {
  GMainLoop            *loop;
  SoupWebsocketConnection *ws;
  char                 *text;
  GError               *error;
} SoupCtx;

static gboolean
accept_any (SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer data)
{
  GTlsCertificate *expected = data;

  return g_tls_certificate_is_same (cert, expected);
}

static void
soup_connected (GObject *source, GAsyncResult *res, gpointer data)
{
  SoupCtx *ctx = data;

  ctx->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), res, &ctx->error);
  g_main_loop_quit (ctx->loop);
}

static void
soup_message_cb (SoupWebsocketConnection *ws, int type, GBytes *message, gpointer data)
{
  SoupCtx *ctx = data;

  ctx->text = g_strndup (g_bytes_get_data (message, NULL), g_bytes_get_size (message));
  g_main_loop_quit (ctx->loop);
}

static gboolean
loop_timeout (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

/* A libsoup wss:// client with exactly our certificate accepted echoes
 * @size bytes (0: a short text). */
static void
soup_wss_echo_size (guint16 port, GTlsCertificate *cert, const char *extra_query, gsize size);

static void
soup_wss_echo (guint16 port, GTlsCertificate *cert, const char *extra_query)
{
  soup_wss_echo_size (port, cert, extra_query, 0);
}

static void
soup_wss_echo_size (guint16 port, GTlsCertificate *cert, const char *extra_query, gsize size)
{
  g_autofree char *big = size ? g_strnfill (size, 'w') : NULL;
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *url = g_strdup_printf ("wss://127.0.0.1:%u/echo%s", port, extra_query ? extra_query : "");
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  SoupCtx ctx = { 0 };
  guint timeout;

  ctx.loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any), cert);
  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        soup_connected, &ctx);
  timeout = g_timeout_add (5000, loop_timeout, ctx.loop);
  g_main_loop_run (ctx.loop);
  g_assert_no_error (ctx.error);
  g_assert_nonnull (ctx.ws);
  g_signal_connect (ctx.ws, "message", G_CALLBACK (soup_message_cb), &ctx);
  soup_websocket_connection_set_max_incoming_payload_size (ctx.ws, 0);
  soup_websocket_connection_send_text (ctx.ws, big ? big : "hello over tls");
  g_main_loop_run (ctx.loop);
  g_source_remove (timeout);
  g_assert_cmpstr (ctx.text, ==, big ? big : "hello over tls");
  soup_websocket_connection_close (ctx.ws, 1000, NULL);
  g_clear_object (&ctx.ws);
  g_free (ctx.text);
  g_main_loop_unref (ctx.loop);
}

static void
test_tls_libsoup (void)
{
  TlsFiles t = { 0 };
  g_autoptr(GTlsCertificate) cert = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *url = NULL;
  g_autofree char *hurl = NULL;
  WwServer *server;
  guint16 port;

  tls_files_make (&t);
  cert = g_tls_certificate_new_from_file (t.cert, &error);
  g_assert_no_error (error);
  server = tls_server_new (&t, NULL);
  port = ww_server_get_port (server);
  url = ww_server_dup_url (server, "/echo");
  g_assert_true (g_str_has_prefix (url, "wss://127.0.0.1:"));

  for (guint i = 0; i < 3; i++)
    soup_wss_echo (port, cert, NULL);
  /* Big enough for partial TLS writes and records GnuTLS holds back. */
  soup_wss_echo_size (port, cert, NULL, 4 * 1024 * 1024);
  soup_wss_echo_size (port, cert, NULL, 100000);

  hurl = g_strdup_printf ("https://127.0.0.1:%u/healthz", port);
  msg = soup_message_new ("GET", hurl);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any), cert);
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);

  wwt_server_free (server);
  tls_files_clear (&t);
}

static void
on_update (WwClient *client, guint64 seq, gpointer event, gint64 ts, gpointer data)
{
  guint *n = data;

  (*n)++;
}

static WwServer *
feed_server_new (WwServerConfig *config, guint interval_ms, char **state_dir)
{
  g_autoptr(WwFeedConfig) fc = ww_feed_config_new ();
  g_autoptr(WwEventFeed) feed = NULL;
  g_autoptr(GError) error = NULL;
  WwServer *server;

  config->own_thread = TRUE;
  config->port = 0;
  config->close_timeout_ms = 250;
  *state_dir = g_dir_make_tmp ("ww-sec-feed-XXXXXX", &error);
  g_assert_no_error (error);
  fc->min_interval_ms = interval_ms;
  fc->max_interval_ms = interval_ms;
  fc->persist = FALSE;
  fc->state_dir = g_strdup (*state_dir);
  fc->rate_limit = 0;
  server = ww_server_new (config);
  feed = ww_event_feed_new (fc);
  g_assert_true (ww_event_feed_attach (feed, server, &error));
  g_assert_no_error (error);
  g_assert_true (ww_server_start (server, &error));
  g_assert_no_error (error);
  return server;
}

static void
test_tls_wwclient (void)
{
  TlsFiles t = { 0 };
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(GTlsCertificate) cert = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(WwClient) client = ww_client_new ();
  g_autofree char *url = NULL;
  g_autofree char *state = NULL;
  WwServer *server;
  guint updates = 0;
  gint64 end;

  tls_files_make (&t);
  cert = g_tls_certificate_new_from_file (t.cert, &error);
  g_assert_no_error (error);
  c->tls_cert_file = g_strdup (t.cert);
  c->tls_key_file = g_strdup (t.key);
  server = feed_server_new (c, 50, &state);
  url = ww_server_dup_url (server, "/ws");
  g_assert_true (g_str_has_prefix (url, "wss://"));

  ww_client_set_accepted_certificate (client, cert);
  g_signal_connect (client, "update", G_CALLBACK (on_update), &updates);
  ww_client_connect (client, url);
  end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (updates < 5 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (2000), TRUE);
  g_assert_cmpint (ww_client_get_state (client), ==, WW_CLIENT_STATE_OPEN);
  g_assert_cmpuint (updates, >=, 5);
  ww_client_disconnect (client);
  for (guint i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE);

  ww_server_stop (server);
  g_object_unref (server);
  g_rmdir (state);
  tls_files_clear (&t);
}

static void
test_tls_hostile (void)
{
  TlsFiles t = { 0 };
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(GTlsCertificate) cert = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *head = NULL;
  WwServer *server;
  guint16 port;
  GRand *rand = g_rand_new_with_seed (8);
  int fd;
  guint64 tls0, slow0;

  tls_files_make (&t);
  cert = g_tls_certificate_new_from_file (t.cert, &error);
  g_assert_no_error (error);
  c->handshake_timeout_ms = 400;
  server = tls_server_new (&t, c);
  port = ww_server_get_port (server);
  tls0 = refusals (server, "tls");
  slow0 = refusals (server, "slow_header");

  /* Plain HTTP on the TLS port: a clear 400 in plain text, then EOF. */
  head = raw_head (port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &fd);
  g_assert_cmpuint (wwt_response_status (head), ==, 400);
  g_assert_true (wait_eof_fd (fd, 3000));
  close (fd);
  g_assert_cmpuint (refusals (server, "tls"), ==, tls0 + 1);

  /* A handshake record header followed by garbage: closed, no hang. */
  for (guint i = 0; i < 20; i++)
    {
      guint8 junk[600];

      for (guint k = 0; k < sizeof junk; k++)
        junk[k] = (guint8) g_rand_int_range (rand, 0, 256);
      junk[0] = 0x16;
      fd = wwt_connect (port);
      g_assert_cmpint (send (fd, junk, sizeof junk, MSG_NOSIGNAL), >, 0);
      g_assert_true (wait_eof_fd (fd, 3000));
      close (fd);
    }
  g_assert_cmpuint (refusals (server, "tls"), >=, tls0 + 2);

  /* A client stalling mid-handshake: the handshake timeout closes it. */
  {
    const guint8 partial[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03 };
    gint64 t0 = g_get_monotonic_time ();

    fd = wwt_connect (port);
    g_assert_cmpint (send (fd, partial, sizeof partial, MSG_NOSIGNAL), ==, sizeof partial);
    g_assert_true (wait_eof_fd (fd, 4000));
    g_assert_cmpint (g_get_monotonic_time () - t0, >=, 300 * 1000);
    close (fd);
    g_assert_cmpuint (refusals (server, "slow_header"), >=, slow0 + 1);
  }
  /* One address may hold only a few handshakes at a time. */
  {
    const guint8 hello_start[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
    int held[12];
    guint64 pa0 = refusals (server, "per_address");
    guint cut = 0;

    for (guint i = 0; i < G_N_ELEMENTS (held); i++)
      {
        held[i] = wwt_connect (port);
        g_assert_cmpint (send (held[i], hello_start, sizeof hello_start, MSG_NOSIGNAL), ==,
                         sizeof hello_start);
      }
    /* Well inside the 400 ms handshake timeout. */
    g_usleep (150 * 1000);
    for (guint i = 0; i < G_N_ELEMENTS (held); i++)
      {
        char b;
        gssize r = recv (held[i], &b, 1, MSG_DONTWAIT);

        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
          cut++;
        close (held[i]);
      }
    g_assert_cmpuint (cut, ==, G_N_ELEMENTS (held) - 8);
    g_assert_cmpuint (refusals (server, "per_address"), ==, pa0 + G_N_ELEMENTS (held) - 8);
  }
  /* A silent client, too. */
  fd = wwt_connect (port);
  g_assert_true (wait_eof_fd (fd, 4000));
  close (fd);

  /* And good clients are still served. */
  soup_wss_echo (port, cert, NULL);

  /* Stopping with a handshake in progress leaves no descriptor behind. */
  {
    const guint8 hello_start[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
    guint fds0;

    for (guint i = 0; i < 50; i++)
      g_main_context_iteration (NULL, FALSE);
    fds0 = wwt_count_fds ();
    fd = wwt_connect (port);
    g_assert_cmpint (send (fd, hello_start, sizeof hello_start, MSG_NOSIGNAL), ==, sizeof hello_start);
    g_usleep (100 * 1000);
    wwt_server_free (server);
    close (fd);
    g_assert_cmpuint (wwt_count_fds (), <=, fds0 - 1); /* the listener went too */
  }
  g_rand_free (rand);
  tls_files_clear (&t);
}

/* ---- token ---------------------------------------------------------------- */

static void token_routes_scenario (void);

static void
token_scenario (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autofree char *head = NULL;
  g_autofree char *r = NULL;
  WwServer *server;
  guint16 port;
  guint64 unauth0;

  c->token = g_strdup (TOKEN);
  server = wwt_server_new (c);
  port = ww_server_get_port (server);
  unauth0 = refusals (server, "unauthorized");

  g_assert_cmpuint (upgrade_status (port, "/echo", NULL, &head), ==, 401);
  g_assert_nonnull (strstr (head, "WWW-Authenticate: Bearer"));
  g_clear_pointer (&head, g_free);
  g_assert_cmpuint (upgrade_status (port, "/echo", "Authorization: Bearer wrong\r\n", NULL), ==, 401);
  g_assert_cmpuint (upgrade_status (port, "/echo?token=" TOKEN "x", NULL, NULL), ==, 401);
  g_assert_cmpuint (upgrade_status (port, "/echo?token=s3cr3t", NULL, NULL), ==, 401);
  g_assert_cmpuint (upgrade_status (port, "/echo", "Sec-WebSocket-Protocol: bearer.nope\r\n", NULL), ==, 401);
  g_assert_cmpuint (refusals (server, "unauthorized"), ==, unauth0 + 5);

  g_assert_cmpuint (upgrade_status (port, "/echo", "Authorization: Bearer " TOKEN "\r\n", NULL), ==, 101);
  g_assert_cmpuint (upgrade_status (port, "/echo?a=1&token=" TOKEN, NULL, NULL), ==, 101);
  g_assert_cmpuint (upgrade_status (port, "/echo", "Sec-WebSocket-Protocol: chat, bearer." TOKEN "\r\n", &head), ==, 101);
  /* The token subprotocol is never selected. */
  g_assert_null (strstr (head, "Sec-WebSocket-Protocol"));

  r = wwt_http (port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  g_assert_cmpuint (wwt_response_status (r), ==, 401);
  g_assert_nonnull (strstr (wwt_response_body (r), "\"unauthorized\""));
  g_clear_pointer (&r, g_free);
  r = wwt_http (port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\nConnection: close\r\n\r\n", NULL);
  g_assert_cmpuint (wwt_response_status (r), ==, 200);
  g_clear_pointer (&r, g_free);
  r = wwt_http (port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  g_assert_cmpuint (wwt_response_status (r), ==, 200);

  wwt_server_free (server);
}

static void
test_token (void)
{
  if (g_test_subprocess ())
    {
      token_scenario ();
      token_routes_scenario ();
      return;
    }
  /* With every debug message on, the token never reaches the log. */
  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv ("G_MESSAGES_DEBUG");
  g_test_trap_assert_passed ();
  /* GLib prints debug and info on stdout, the rest on stderr. */
  g_test_trap_assert_stdout ("*ww-server-DEBUG*401*");
  g_test_trap_assert_stdout_unmatched ("*" TOKEN "*");
  g_test_trap_assert_stderr_unmatched ("*" TOKEN "*");
}

static void
test_token_exposed (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();

  g_assert_false (ww_server_config_is_exposed (c));
  g_free (c->bind_address);
  c->bind_address = g_strdup ("0.0.0.0");
  g_assert_true (ww_server_config_is_exposed (c));
  c->token = g_strdup (TOKEN);
  g_assert_false (ww_server_config_is_exposed (c));
}

/* The feed's REST routes need the token; the page and /healthz do not. */
static void
token_routes_scenario (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autofree char *state = NULL;
  WwServer *server;
  guint16 port;
  struct {
    const char *request;
    guint       status;
  } cases[] = {
    { "GET /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 401 },
    { "GET /events?token=nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 401 },
    { "GET /events?token=" TOKEN " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200 },
    { "GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n"
      "Connection: close\r\n\r\n", 200 },
    { "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200 },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200 },
    { "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 401 },
  };

  c->token = g_strdup (TOKEN);
  server = feed_server_new (c, 1000, &state);
  port = ww_server_get_port (server);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *r = wwt_http (port, cases[i].request, NULL);

      g_test_message ("%s", cases[i].request);
      g_assert_cmpuint (wwt_response_status (r), ==, cases[i].status);
      if (cases[i].status == 401)
        g_assert_nonnull (strstr (r, "WWW-Authenticate: Bearer"));
    }
  g_assert_cmpuint (upgrade_status (port, "/ws", NULL, NULL), ==, 401);
  g_assert_cmpuint (upgrade_status (port, "/ws?token=" TOKEN, NULL, NULL), ==, 101);
  ww_server_stop (server);
  g_object_unref (server);
  g_rmdir (state);
}

static void
test_token_routes (void)
{
  token_routes_scenario ();
}

/* ---- origin --------------------------------------------------------------- */

static void
test_origin (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  WwServer *server = wwt_server_new (NULL);
  guint16 port = ww_server_get_port (server);
  g_autofree char *same = g_strdup_printf ("Origin: http://127.0.0.1:%u\r\n", port);
  g_autofree char *same_https = g_strdup_printf ("Origin: https://127.0.0.1:%u\r\n", port);
  g_autofree char *head = NULL;
  guint64 f0 = refusals (server, "forbidden_origin");

  g_assert_cmpuint (upgrade_status (port, "/echo", NULL, NULL), ==, 101);
  g_assert_cmpuint (upgrade_status (port, "/echo", same, NULL), ==, 101);
  g_assert_cmpuint (upgrade_status (port, "/echo", "Origin: http://evil.example\r\n", &head), ==, 403);
  g_assert_nonnull (strstr (head, "application/json"));
  g_assert_cmpuint (upgrade_status (port, "/echo", "Origin: null\r\n", NULL), ==, 403);
  g_assert_cmpuint (upgrade_status (port, "/echo", same_https, NULL), ==, 403);
  g_assert_cmpuint (upgrade_status (port, "/echo", "Origin: http://127.0.0.1:1\r\n", NULL), ==, 403);
  g_assert_cmpuint (refusals (server, "forbidden_origin"), ==, f0 + 4);
  wwt_server_free (server);

  c->allowed_origins = g_strsplit ("http://app.example null", " ", -1);
  server = wwt_server_new (c);
  port = ww_server_get_port (server);
  g_free (same);
  same = g_strdup_printf ("Origin: http://127.0.0.1:%u\r\n", port);
  g_assert_cmpuint (upgrade_status (port, "/echo", "Origin: http://app.example\r\n", NULL), ==, 101);
  g_assert_cmpuint (upgrade_status (port, "/echo", "Origin: null\r\n", NULL), ==, 101);
  g_assert_cmpuint (upgrade_status (port, "/echo", same, NULL), ==, 101);
  g_assert_cmpuint (upgrade_status (port, "/echo", "Origin: http://evil.example\r\n", NULL), ==, 403);
  wwt_server_free (server);
}

/* ---- abuse limits --------------------------------------------------------- */

static void
test_limit_per_address (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(WwtClient) a = NULL;
  g_autoptr(WwtClient) b = NULL;
  g_autoptr(GByteArray) m = NULL;
  WwServer *server;
  guint16 port;

  c->max_per_address = 2;
  server = wwt_server_new (c);
  port = ww_server_get_port (server);
  a = wwt_client_new (port, "/echo");
  b = wwt_client_new (port, "/echo");
  g_assert_cmpuint (upgrade_status (port, "/echo", NULL, NULL), ==, 503);
  g_assert_cmpuint (refusals (server, "per_address"), ==, 1);
  g_assert_true (wwt_send (a, WW_OPCODE_TEXT, "ok", 2));
  m = wwt_recv_message (a, NULL);
  g_assert_nonnull (m);
  wwt_server_free (server);
}

static void
test_limit_handshake_rate (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(WwtClient) good = NULL;
  g_autoptr(GByteArray) m = NULL;
  WwServer *server;
  guint16 port;
  guint refused = 0;

  c->handshakes_per_second_per_address = 3;
  server = wwt_server_new (c);
  port = ww_server_get_port (server);
  good = wwt_client_new (port, "/echo");
  for (guint i = 0; i < 20; i++)
    if (upgrade_status (port, "/echo", NULL, NULL) == 429)
      refused++;
  g_assert_cmpuint (refused, >=, 5);
  g_assert_cmpuint (refusals (server, "handshake_rate"), ==, refused);
  g_assert_true (wwt_send (good, WW_OPCODE_TEXT, "ok", 2));
  m = wwt_recv_message (good, NULL);
  g_assert_nonnull (m);
  wwt_server_free (server);
}

static void
test_limit_message_rate (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(WwtClient) bad = NULL;
  WwServer *server;
  guint16 port;

  c->rate_limit = 10;
  server = wwt_server_new (c);
  port = ww_server_get_port (server);
  bad = wwt_client_new (port, "/echo");
  for (guint i = 0; i < 100; i++)
    if (!wwt_send (bad, WW_OPCODE_TEXT, "spam", 4))
      break;
  g_assert_cmpint (wwt_recv_close (bad), ==, 1008);
  g_assert_cmpuint (refusals (server, "message_rate"), ==, 1);
  assert_echo (port);
  wwt_server_free (server);
}

static void
test_limit_slow_header (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  WwServer *server;
  guint16 port;
  int fd;
  gboolean closed = FALSE;
  const char *req = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n";

  c->handshake_timeout_ms = 300;
  server = wwt_server_new (c);
  port = ww_server_get_port (server);
  fd = wwt_connect (port);
  /* One byte every 50 ms: the head never completes in time. */
  for (guint i = 0; i < 60 && !closed; i++)
    {
      if (send (fd, req + (i % strlen (req)), 1, MSG_NOSIGNAL) != 1)
        closed = TRUE;
      else
        g_usleep (50 * 1000);
    }
  g_assert_true (closed || wait_eof_fd (fd, 2000));
  close (fd);
  g_assert_cmpuint (refusals (server, "slow_header"), ==, 1);
  assert_echo (port);
  wwt_server_free (server);
}

static void
test_limit_request_body (void)
{
  WwServer *server = wwt_server_new (NULL);
  guint16 port = ww_server_get_port (server);
  g_autofree char *head = NULL;
  int fd;

  /* The body never comes; the refusal does not wait for it. */
  head = raw_head (port, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", &fd);
  g_assert_cmpuint (wwt_response_status (head), ==, 413);
  g_assert_true (wait_eof_fd (fd, 3000));
  close (fd);
  g_clear_pointer (&head, g_free);
  head = raw_head (port, "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", NULL);
  /* The protocol layer already answers 501 to a transfer coding. */
  g_assert_cmpuint (wwt_response_status (head), ==, 501);
  g_assert_cmpuint (refusals (server, "request_body"), ==, 1);
  assert_echo (port);
  wwt_server_free (server);
}

static void
test_limit_idle (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(WwtClient) idle = NULL;
  WwServer *server;
  guint16 port;

  c->idle_timeout_ms = 300;
  c->heartbeat_ms = 0;
  server = wwt_server_new (c);
  port = ww_server_get_port (server);
  idle = wwt_client_new (port, "/echo");
  g_assert_cmpint (wwt_recv_close (idle), ==, 1001);
  g_assert_cmpuint (refusals (server, "idle"), ==, 1);
  assert_echo (port);
  wwt_server_free (server);
}

static void
test_limit_sizes (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(WwtClient) big = NULL;
  g_autofree char *req = NULL;
  g_autofree char *head = NULL;
  g_autofree char *filler = g_strnfill (3000, 'a');
  g_autofree guint8 *payload = g_malloc0 (5000);
  WwServer *server;
  guint16 port;

  c->max_header = 2048;
  c->max_echo_message = 4096;
  server = wwt_server_new (c);
  port = ww_server_get_port (server);

  req = g_strdup_printf ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: %s\r\n\r\n", filler);
  head = raw_head (port, req, NULL);
  g_assert_cmpuint (wwt_response_status (head), ==, 431);
  g_assert_cmpuint (refusals (server, "header_too_large"), ==, 1);

  big = wwt_client_new (port, "/echo");
  g_assert_true (wwt_send (big, WW_OPCODE_BINARY, payload, 5000));
  g_assert_cmpint (wwt_recv_close (big), ==, 1009);
  g_assert_cmpuint (refusals (server, "message_too_large"), ==, 1);
  assert_echo (port);
  wwt_server_free (server);
}

typedef struct {
  WwEndpoint *ep;
  gsize       size;
  guint       count;
} Blast;

static gboolean
blast_cb (gpointer data)
{
  Blast *b = data;
  g_autofree char *text = g_strnfill (b->size, 'x');

  for (guint i = 0; i < b->count; i++)
    ww_endpoint_broadcast_text (b->ep, text, b->size);
  return G_SOURCE_REMOVE;
}

static const WwEndpointVTable nothing_vtable = { NULL, NULL, NULL };

/* Clients that never read fill the queues: over max_total_queue_bytes the
 * biggest queues are dropped, and a reading client gets every message. */
static void
test_limit_total_queue (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(WwtClient) good = NULL;
  WwtClient *sinks[4];
  WwServer *server;
  Blast blast = { 0 };
  guint16 port;
  guint got = 0;

  c->own_thread = TRUE;
  c->port = 0;
  c->close_timeout_ms = 250;
  c->max_queue_bytes = 64 * 1024 * 1024;
  c->max_total_queue_bytes = 1024 * 1024;
  server = ww_server_new (c);
  blast.ep = ww_server_add_endpoint (server, "/blast", 1024 * 1024, &nothing_vtable, NULL, NULL);
  g_assert_true (ww_server_start (server, &error));
  port = ww_server_get_port (server);

  for (guint i = 0; i < G_N_ELEMENTS (sinks); i++)
    {
      int small = 4096;

      sinks[i] = wwt_client_new (port, "/blast");
      setsockopt (sinks[i]->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
  good = wwt_client_new (port, "/blast");
  while (ww_endpoint_get_n_peers (blast.ep) < 5)
    g_usleep (1000);

  blast.size = 16 * 1024;
  blast.count = 8;
  for (guint round = 0; round < 40; round++)
    {
      ww_server_invoke (server, blast_cb, &blast, NULL);
      for (guint k = 0; k < blast.count; k++)
        {
          g_autoptr(GByteArray) m = wwt_recv_message (good, NULL);

          g_assert_nonnull (m);
          g_assert_cmpuint (m->len, ==, blast.size);
          got++;
        }
    }
  g_assert_cmpuint (got, ==, 40 * 8);
  g_test_message ("total_queue refusals: %" G_GUINT64_FORMAT, refusals (server, "total_queue"));
  g_assert_cmpuint (refusals (server, "total_queue"), >=, G_N_ELEMENTS (sinks));
  /* The sinks were cut off. */
  for (guint i = 0; i < G_N_ELEMENTS (sinks); i++)
    wwt_client_free (sinks[i]);
  ww_server_stop (server);
  g_assert_finalize_object (server);
}

static void
test_limit_peer_queue (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(WwtClient) sink = NULL;
  g_autofree guint8 *payload = g_malloc0 (60000);
  WwServer *server;
  guint16 port;
  int small = 4096;

  c->max_queue_bytes = 256 * 1024;
  server = wwt_server_new (c);
  port = ww_server_get_port (server);
  sink = wwt_client_new (port, "/echo");
  setsockopt (sink->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  /* Echo requests whose answers are never read. */
  for (guint i = 0; i < 400; i++)
    if (!wwt_send (sink, WW_OPCODE_BINARY, payload, 60000) || refusals (server, "peer_queue") > 0)
      break;
  g_assert_cmpuint (refusals (server, "peer_queue"), ==, 1);
  assert_echo (port);
  wwt_server_free (server);
}

/* ---- deflate: one compression for a 1,000-peer broadcast ---------------- */

static void
test_deflate_shared_1000 (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) wwt_client_free);
  const char *ext[] = { "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover", NULL };
  WwServer *server;
  Blast blast = { 0 };
  guint16 port;
  guint n = 1000;
  guint64 shared0;

  c->own_thread = TRUE;
  c->port = 0;
  c->close_timeout_ms = 250;
  c->deflate = TRUE;
  server = ww_server_new (c);
  blast.ep = ww_server_add_endpoint (server, "/blast", 1024 * 1024, &nothing_vtable, NULL, NULL);
  g_assert_true (ww_server_start (server, &error));
  port = ww_server_get_port (server);
  for (guint i = 0; i < n; i++)
    {
      guint status = 0;
      WwtClient *cl = wwt_client_try_new (port, "/blast", ext, &status, NULL);

      g_assert_nonnull (cl);
      g_ptr_array_add (clients, cl);
    }
  while (ww_endpoint_get_n_peers (blast.ep) < n)
    g_usleep (1000);

  shared0 = metric_line (server, "wirewatch_deflate_compressions_total{kind=\"shared\"} ");
  blast.size = 4000;
  blast.count = 1;
  ww_server_invoke (server, blast_cb, &blast, NULL);

  for (guint i = 0; i < n; i++)
    {
      WwtClient *cl = clients->pdata[i];
      WwtEvent ev = { 0 };
      z_stream z = { 0 };
      g_autofree guint8 *out = g_malloc (blast.size + 16);
      GByteArray *in;

      g_assert_true (wwt_recv (cl, &ev));
      g_assert_cmpuint (ev.opcode, ==, WW_OPCODE_TEXT);
      g_assert_true (ev.compressed);
      in = g_byte_array_new ();
      g_byte_array_append (in, ev.data->data, ev.data->len);
      g_byte_array_append (in, (const guint8 *) "\x00\x00\xff\xff", 4);
      g_assert_cmpint (inflateInit2 (&z, -15), ==, Z_OK);
      z.next_in = in->data;
      z.avail_in = in->len;
      z.next_out = out;
      z.avail_out = (uInt) blast.size + 16;
      g_assert_cmpint (inflate (&z, Z_SYNC_FLUSH), >=, 0);
      g_assert_cmpuint (z.total_out, ==, blast.size);
      for (gsize k = 0; k < blast.size; k++)
        g_assert_cmpint (out[k], ==, 'x');
      inflateEnd (&z);
      g_byte_array_unref (in);
      wwt_event_clear (&ev);
    }
  g_assert_cmpuint (metric_line (server, "wirewatch_deflate_compressions_total{kind=\"shared\"} "),
                    ==, shared0 + 1);
  g_assert_cmpuint (metric_line (server, "wirewatch_deflate_compressions_total{kind=\"peer\"} "),
                    ==, 0);
  g_test_message ("shared compressor: %" G_GUINT64_FORMAT " bytes of zlib memory",
                  metric_line (server, "\nwirewatch_deflate_shared_memory_bytes "));
  g_ptr_array_set_size (clients, 0);
  ww_server_stop (server);
  g_assert_finalize_object (server);
}

/* ---- hostile clients against the feed ------------------------------------- */

typedef struct {
  guint64  last;
  guint    updates;
  guint    initials;
  guint    gaps;
} SeqWatch;

static void
soak_initial (WwClient *client, guint64 seq, gpointer events, gpointer data)
{
  SeqWatch *w = data;

  w->initials++;
  w->last = seq;
}

static void
soak_update (WwClient *client, guint64 seq, gpointer event, gint64 ts, gpointer data)
{
  SeqWatch *w = data;

  if (w->last && seq != w->last + 1)
    w->gaps++;
  w->last = seq;
  w->updates++;
}

typedef struct {
  guint16   port;
  gboolean  done;
  guint     malformed;
  guint     bad_frames;
  GPtrArray *held;   /* fds kept open: half-open and never-read clients */
} Hostile;

static gsize
rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *p;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  p = strstr (status, "VmRSS:");
  return p ? (gsize) g_ascii_strtoull (p + 6, NULL, 10) : 0;
}

static void
send_close (int fd, const void *data, gsize len)
{
  if (send (fd, data, len, MSG_NOSIGNAL) < 0)
    return;
  shutdown (fd, SHUT_WR);
  wait_eof_fd (fd, 2000);
  close (fd);
}

static gpointer
hostile_thread (gpointer data)
{
  Hostile *h = data;
  GRand *rand = g_rand_new_with_seed (20261123);
  static const char *heads[] = {
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    "POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "GET /ws HTTP/1.0\r\n\r\n",
    "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99\r\n\r\n",
    "GARBAGE\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n",
  };

  /* Malformed handshakes: known-bad heads, mutated heads, random bytes. */
  for (guint i = 0; i < 300; i++)
    {
      int fd = wwt_connect (h->port);
      const char *base = heads[i % G_N_ELEMENTS (heads)];
      g_autofree char *buf = g_strdup (base);
      gsize len = strlen (buf);

      if (fd < 0)
        continue;
      if (i % 3 == 1)
        for (guint k = 0; k < 3; k++)
          buf[g_rand_int_range (rand, 0, (gint32) len - 4)] = (char) g_rand_int_range (rand, 0, 256);
      if (i % 3 == 2)
        {
          guint8 junk[512];

          for (guint k = 0; k < sizeof junk; k++)
            junk[k] = (guint8) g_rand_int_range (rand, 0, 256);
          /* No head end in there: it would wait for the handshake timeout. */
          if (send (fd, junk, sizeof junk, MSG_NOSIGNAL) > 0)
            h->malformed++;
          close (fd);
          continue;
        }
      send_close (fd, buf, len);
      h->malformed++;
    }

  /* Bad frames after a good upgrade. */
  for (guint i = 0; i < 200; i++)
    {
      WwtClient *c = wwt_client_try_new (h->port, "/ws", NULL, NULL, NULL);
      guint8 frame[64];
      gsize n = 2 + (gsize) g_rand_int_range (rand, 0, 60);

      if (c == NULL)
        continue;
      for (gsize k = 0; k < n; k++)
        frame[k] = (guint8) g_rand_int_range (rand, 0, 256);
      switch (i % 5)
        {
        case 0: frame[0] = 0x83; break;              /* reserved opcode */
        case 1: frame[0] = 0x81; frame[1] &= 0x7f; break; /* unmasked */
        case 2: frame[0] = 0xf1; break;              /* RSV bits */
        case 3: frame[0] = 0x89; frame[1] = 0xfe; break; /* ping over 125 */
        default: break;                              /* anything */
        }
      if (wwt_send_bytes (c, frame, n))
        {
          shutdown (c->fd, SHUT_WR);
          wait_eof_fd (c->fd, 2000);
        }
      h->bad_frames++;
      wwt_client_free (c);
    }

  /* Half-open heads and clients that never read, held for a while. */
  for (guint i = 0; i < 40; i++)
    {
      int fd = wwt_connect (h->port);

      if (fd >= 0)
        {
          send (fd, "GET /ws HTTP/1.1\r\nHost:", 23, MSG_NOSIGNAL);
          g_ptr_array_add (h->held, GINT_TO_POINTER (fd));
        }
    }
  for (guint i = 0; i < 20; i++)
    {
      WwtClient *c = wwt_client_try_new (h->port, "/ws", NULL, NULL, NULL);
      int small = 2048;

      if (c == NULL)
        continue;
      setsockopt (c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
      g_ptr_array_add (h->held, GINT_TO_POINTER (dup (c->fd)));
      wwt_client_free (c);
    }
  g_usleep (500 * 1000);
  g_rand_free (rand);
  g_atomic_int_set (&h->done, TRUE);
  return NULL;
}

static gboolean
soak_settled (gpointer data)
{
  WwServer *server = data;
  WwServerCounters c;

  ww_server_get_counters (server, &c);
  if (g_test_verbose ())
    g_test_message ("active %" G_GUINT64_FORMAT " tcp %" G_GUINT64_FORMAT, c.connections_active,
                    metric_line (server, "\nwirewatch_tcp_connections_active "));
  return c.connections_active == 2 &&
         metric_line (server, "\nwirewatch_tcp_connections_active ") == 2;
}

static void
test_hostile_soak (void)
{
  g_autoptr(WwServerConfig) c = ww_server_config_new ();
  WwClient *good[2] = { NULL, NULL };
  g_autoptr(GPtrArray) infos = NULL;
  g_autofree char *state = NULL;
  g_autofree char *url = NULL;
  SeqWatch watch[2] = { { 0 } };
  Hostile h = { 0 };
  GThread *thread;
  WwServer *server;
  gsize rss0, rss1;
  gint64 end;
  guint updates_before;

  c->handshake_timeout_ms = 1000;
  c->max_queue_bytes = 256 * 1024;
  server = feed_server_new (c, 20, &state);
  h.port = ww_server_get_port (server);
  h.held = g_ptr_array_new ();
  url = ww_server_dup_url (server, "/ws");
  for (guint i = 0; i < 2; i++)
    {
      good[i] = ww_client_new ();
      g_signal_connect (good[i], "initial", G_CALLBACK (soak_initial), &watch[i]);
      g_signal_connect (good[i], "update", G_CALLBACK (soak_update), &watch[i]);
      ww_client_connect (good[i], url);
    }
  end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while ((watch[0].updates < 3 || watch[1].updates < 3) && g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  g_assert_cmpuint (watch[0].updates, >=, 3);
  malloc_trim (0);
  rss0 = rss_kib ();
  updates_before = watch[0].updates;

  thread = g_thread_new ("hostile", hostile_thread, &h);
  end = g_get_monotonic_time () + 50 * G_USEC_PER_SEC;
  while (!g_atomic_int_get (&h.done) && g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  g_assert_true (g_atomic_int_get (&h.done));
  g_thread_join (thread);
  g_test_message ("%u malformed handshakes, %u bad frames, %u held", h.malformed, h.bad_frames,
                  h.held->len);
  g_assert_cmpuint (h.malformed, >=, 250);
  g_assert_cmpuint (h.bad_frames, >=, 150);

  for (guint i = 0; i < h.held->len; i++)
    close (GPOINTER_TO_INT (h.held->pdata[i]));
  g_ptr_array_unref (h.held);

  /* Back to the two good clients, nothing queued, memory back. */
  end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!soak_settled (server) && g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  if (!soak_settled (server))
    {
      g_autofree char *m = ww_server_render_metrics (server);

      g_test_message ("%s", m);
    }
  g_assert_true (soak_settled (server));
  /* Still receiving. */
  {
    guint target = watch[0].updates + 5;

    end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    while (watch[0].updates < target && g_get_monotonic_time () < end)
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
  }
  infos = ww_server_dup_peer_infos (server);
  g_assert_cmpuint (infos->len, ==, 2);
  for (guint i = 0; i < infos->len; i++)
    g_assert_cmpuint (((WwPeerInfo *) infos->pdata[i])->queued_bytes, <, 4096);
  malloc_trim (0);
  rss1 = rss_kib ();
  g_test_message ("RSS %" G_GSIZE_FORMAT " KiB before, %" G_GSIZE_FORMAT " KiB after; updates %u/%u",
                  rss0, rss1, watch[0].updates, watch[1].updates);
  g_assert_cmpuint (rss1, <, rss0 + 64 * 1024);

  for (guint i = 0; i < 2; i++)
    {
      g_assert_cmpuint (watch[i].updates, >, updates_before);
      g_assert_cmpuint (watch[i].gaps, ==, 0);
      g_assert_cmpuint (watch[i].initials, ==, 1);
      ww_client_disconnect (good[i]);
    }
  for (guint i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE);
  for (guint i = 0; i < 2; i++)
    g_object_unref (good[i]);
  for (guint i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE);
  ww_server_stop (server);
  g_object_unref (server);
  g_rmdir (state);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  /* Hostile input produces warnings-free info/debug lines only. */

  g_test_add_func ("/security/tls/start-errors", test_tls_start_errors);
  g_test_add_func ("/security/tls/libsoup", test_tls_libsoup);
  g_test_add_func ("/security/tls/wwclient", test_tls_wwclient);
  g_test_add_func ("/security/tls/hostile", test_tls_hostile);
  g_test_add_func ("/security/token", test_token);
  g_test_add_func ("/security/token/exposed", test_token_exposed);
  g_test_add_func ("/security/token/routes", test_token_routes);
  g_test_add_func ("/security/origin", test_origin);
  g_test_add_func ("/security/limits/per-address", test_limit_per_address);
  g_test_add_func ("/security/limits/handshake-rate", test_limit_handshake_rate);
  g_test_add_func ("/security/limits/message-rate", test_limit_message_rate);
  g_test_add_func ("/security/limits/slow-header", test_limit_slow_header);
  g_test_add_func ("/security/limits/request-body", test_limit_request_body);
  g_test_add_func ("/security/limits/idle", test_limit_idle);
  g_test_add_func ("/security/limits/sizes", test_limit_sizes);
  g_test_add_func ("/security/limits/peer-queue", test_limit_peer_queue);
  g_test_add_func ("/security/limits/total-queue", test_limit_total_queue);
  g_test_add_func ("/security/deflate/shared-1000", test_deflate_shared_1000);
  g_test_add_func ("/security/hostile-soak", test_hostile_soak);
  return g_test_run ();
}
