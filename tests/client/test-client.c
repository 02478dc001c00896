/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client-test"

#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "client/ww-client.h"
#include "ww-test-server.h"

#define WAIT_MS 10000

/* ------------------------------------------------------------------ */
/* What the client reported, in order */

typedef struct {
  gboolean initial;
  guint64  seq;
} Seen;

typedef struct {
  WwClient *client;
  GArray   *stream;       /* Seen */
  guint     n_initial;
  guint     n_updates;
  guint     n_rtt;
  guint     n_chat;
  guint     n_welcome;
  guint     n_frames_in;
  guint     n_frames_out;
  char     *last_chat;
} Recorder;

static void
rec_initial (WwClient *c, guint64 seq, JsonArray *events, Recorder *r)
{
  Seen s = { TRUE, seq };

  g_assert_cmpuint (json_array_get_length (events), ==, 5);
  g_array_append_val (r->stream, s);
  r->n_initial++;
}

static void
rec_update (WwClient *c, guint64 seq, JsonObject *event, gint64 ts, Recorder *r)
{
  Seen s = { FALSE, seq };

  g_assert_true (json_object_has_member (event, "id"));
  g_array_append_val (r->stream, s);
  r->n_updates++;
}

static void
rec_rtt (WwClient *c, gint64 rtt, Recorder *r)
{
  g_assert_cmpint (rtt, >=, 0);
  g_assert_cmpint (rtt, <, 10 * G_USEC_PER_SEC);
  r->n_rtt++;
}

static void
rec_chat (WwClient *c, const char *from, const char *text, gint64 ts, Recorder *r)
{
  r->n_chat++;
  g_free (r->last_chat);
  r->last_chat = g_strdup (text);
}

static void
rec_welcome (WwClient *c, JsonObject *msg, Recorder *r)
{
  r->n_welcome++;
}

static void
rec_frame (WwClient *c, gboolean outgoing, guint opcode, GBytes *payload, Recorder *r)
{
  if (outgoing)
    r->n_frames_out++;
  else
    r->n_frames_in++;
}

static Recorder *
recorder_new (WwClient *client)
{
  Recorder *r = g_new0 (Recorder, 1);

  r->client = client;
  r->stream = g_array_new (FALSE, FALSE, sizeof (Seen));
  g_signal_connect (client, "initial", G_CALLBACK (rec_initial), r);
  g_signal_connect (client, "update", G_CALLBACK (rec_update), r);
  g_signal_connect (client, "rtt", G_CALLBACK (rec_rtt), r);
  g_signal_connect (client, "chat", G_CALLBACK (rec_chat), r);
  g_signal_connect (client, "welcome", G_CALLBACK (rec_welcome), r);
  g_signal_connect (client, "frame", G_CALLBACK (rec_frame), r);
  return r;
}

static void
recorder_free (Recorder *r)
{
  g_signal_handlers_disconnect_by_data (r->client, r);
  g_array_unref (r->stream);
  g_free (r->last_chat);
  g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Recorder, recorder_free)

/* Every UPDATE follows the previous seq by one; an INITIAL may restart the count. */
static void
assert_no_gap_no_duplicate (Recorder *r)
{
  for (guint i = 1; i < r->stream->len; i++)
    {
      Seen *prev = &g_array_index (r->stream, Seen, i - 1);
      Seen *cur = &g_array_index (r->stream, Seen, i);

      if (cur->initial)
        continue;
      if (cur->seq != prev->seq + 1)
        g_error ("seq %" G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT " (entry %u)",
                 cur->seq, prev->seq, i);
    }
}

static gboolean
is_open (gpointer data)
{
  return ww_client_get_state (data) == WW_CLIENT_STATE_OPEN;
}

static gboolean
is_closed (gpointer data)
{
  return ww_client_get_state (data) == WW_CLIENT_STATE_CLOSED;
}

static gboolean
is_reconnecting (gpointer data)
{
  return ww_client_get_state (data) == WW_CLIENT_STATE_RECONNECTING;
}

typedef struct {
  guint *counter;
  guint  target;
} AtLeast;

static gboolean
at_least (gpointer data)
{
  AtLeast *a = data;

  return *a->counter >= a->target;
}

#define WAIT_COUNT(ptr, n) \
  G_STMT_START { AtLeast _a = { (ptr), (n) }; \
    g_assert_true (ww_test_wait (at_least, &_a, WAIT_MS)); } G_STMT_END

static void
disconnect_and_finalize (WwClient *client)
{
  ww_client_disconnect (client);
  ww_test_wait (is_closed, client, WAIT_MS);
  g_assert_finalize_object (client);
}

/* ------------------------------------------------------------------ */

static void
test_check_url (void)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (ww_client_check_url ("ws://127.0.0.1:8080/", NULL));
  g_assert_true (ww_client_check_url ("wss://example.org/ws?x=1", NULL));
  g_assert_false (ww_client_check_url ("http://example.org/", &error));
  g_assert_nonnull (strstr (error->message, "ws://"));
  g_clear_error (&error);
  g_assert_false (ww_client_check_url ("ws://", &error));
  g_clear_error (&error);
  g_assert_false (ww_client_check_url ("not a url", &error));
  g_clear_error (&error);
  g_assert_false (ww_client_check_url ("", &error));
  g_clear_error (&error);
  g_assert_false (ww_client_check_url (NULL, &error));
}

static void
test_bad_url_closes_with_error (void)
{
  WwClient *client = ww_client_new ();

  ww_client_connect (client, "ftp://127.0.0.1/");
  g_assert_cmpint (ww_client_get_state (client), ==, WW_CLIENT_STATE_CLOSED);
  g_assert_nonnull (strstr (ww_client_get_error_message (client), "ws://"));
  g_assert_finalize_object (client);
}

static void
test_echo_soup (void)
{
  g_autoptr(WwTestServer) server = ww_test_server_new (0, NULL);
  g_autofree char *url = NULL;
  WwClient *client = ww_client_new ();
  g_autoptr(Recorder) r = recorder_new (client);
  g_autoptr(GArray) recent = NULL;
  g_autoptr(WwHistogram) window = NULL;
  WwClientCounters c;

  ww_test_server_start (server, 0);
  url = ww_test_server_url (server, "/echo");
  ww_client_set_ping_interval (client, 0);
  ww_client_connect (client, url);
  g_assert_cmpint (ww_client_get_state (client), ==, WW_CLIENT_STATE_CONNECTING);
  g_assert_true (ww_test_wait (is_open, client, WAIT_MS));

  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *id = ww_client_send_ping (client);

      g_assert_nonnull (id);
    }
  WAIT_COUNT (&r->n_rtt, 10);
  g_assert_true (ww_client_send_chat (client, "hello echo"));
  g_assert_true (ww_client_send_chat (client, "…ünïcødé…"));
  WAIT_COUNT (&r->n_frames_in, 12);

  ww_client_get_counters (client, &c);
  g_assert_cmpuint (c.messages_out, ==, 12);
  g_assert_cmpuint (c.messages_in, ==, 12);
  g_assert_cmpuint (c.frames_out, ==, 12);
  g_assert_cmpuint (c.bytes_in, ==, c.bytes_out);
  g_assert_cmpuint (c.bytes_out, >, 12 * 10);
  g_assert_cmpuint (c.connect_attempts, ==, 1);
  g_assert_cmpuint (c.connects, ==, 1);
  g_assert_cmpuint (c.drops, ==, 0);
  g_assert_cmpuint (r->n_frames_out, ==, 12);

  /* Not our feed: no events, and the echoed CHAT is not a chat. */
  g_assert_false (ww_client_get_speaks_feed (client));
  g_assert_cmpuint (r->n_chat, ==, 0);
  g_assert_cmpuint (r->n_initial, ==, 0);
  g_assert_null (ww_client_dup_events (client));

  g_assert_cmpint (ww_client_get_last_rtt_us (client), >=, 0);
  g_assert_cmpuint (ww_histogram_count (ww_client_get_rtt_histogram (client)), ==, 10);
  g_assert_cmpuint (ww_histogram_percentile (ww_client_get_rtt_histogram (client), 0.99), >=,
                    ww_histogram_percentile (ww_client_get_rtt_histogram (client), 0.5));
  recent = ww_client_dup_recent_rtts (client, 4);
  g_assert_cmpuint (recent->len, ==, 4);
  window = ww_client_dup_rtt_window (client, 60);
  g_assert_cmpuint (ww_histogram_count (window), ==, 10);

  /* Too long for the protocol: refused locally. */
  {
    g_autofree char *big = g_strnfill (5000, 'x');

    g_assert_false (ww_client_send_chat (client, big));
  }

  ww_client_disconnect (client);
  g_assert_true (ww_test_wait (is_closed, client, WAIT_MS));
  g_assert_cmpuint (ww_client_get_close_code (client), ==, 1000);
  ww_client_get_counters (client, &c);
  g_assert_cmpuint (c.drops, ==, 0);
  g_assert_null (ww_client_send_ping (client));
  g_clear_pointer (&r, recorder_free);
  g_assert_finalize_object (client);
}

static void
test_feed_basic (void)
{
  g_autoptr(WwTestServer) server = ww_test_server_new (20, NULL);
  g_autofree char *url = NULL;
  WwClient *client = ww_client_new ();
  g_autoptr(Recorder) r = recorder_new (client);
  g_autoptr(JsonArray) events = NULL;
  g_autofree char *id = NULL;

  ww_test_server_start (server, 0);
  url = ww_test_server_url (server, "/ws");
  ww_client_set_token (client, "s3cret");
  ww_client_set_header (client, "X-Test", "yes");
  ww_client_set_ping_interval (client, 0);
  ww_client_connect (client, url);
  g_assert_true (ww_test_wait (is_open, client, WAIT_MS));
  WAIT_COUNT (&r->n_initial, 1);
  WAIT_COUNT (&r->n_updates, 5);

  g_assert_cmpstr (ww_test_server_get_last_auth (server), ==, "Bearer s3cret");
  g_assert_true (ww_client_get_speaks_feed (client));
  g_assert_cmpuint (r->n_welcome, ==, 1);
  events = ww_client_dup_events (client);
  g_assert_nonnull (events);
  g_assert_cmpuint (json_array_get_length (events), ==, 5);
  g_assert_cmpuint (ww_client_get_last_seq (client), >=, 5);

  id = ww_client_send_ping (client);
  g_assert_nonnull (id);
  WAIT_COUNT (&r->n_rtt, 1);

  g_assert_true (ww_client_send_chat (client, "hi all"));
  WAIT_COUNT (&r->n_chat, 1);
  g_assert_cmpstr (r->last_chat, ==, "hi all");

  assert_no_gap_no_duplicate (r);
  g_clear_pointer (&r, recorder_free);
  disconnect_and_finalize (client);
}

static void
test_feed_gap_and_duplicate (void)
{
  g_autoptr(WwTestServer) server = ww_test_server_new (0, NULL);
  g_autofree char *url = NULL;
  WwClient *client = ww_client_new ();
  g_autoptr(Recorder) r = recorder_new (client);
  WwClientCounters c;

  ww_test_server_start (server, 0);
  url = ww_test_server_url (server, "/ws");
  ww_client_set_ping_interval (client, 0);
  ww_client_connect (client, url);
  WAIT_COUNT (&r->n_initial, 1);

  ww_test_server_emit_update (server, 0);  /* 1 */
  ww_test_server_emit_update (server, 0);  /* 2 */
  ww_test_server_emit_update (server, 2);  /* 2 again: a duplicate */
  ww_test_server_record_update (server);   /* 3: lost on the way */
  ww_test_server_record_update (server);   /* 4: lost too … */
  ww_test_server_emit_update (server, 4);  /* … but arrives late: a gap */
  WAIT_COUNT (&r->n_updates, 4);

  ww_client_get_counters (client, &c);
  g_assert_cmpuint (ww_client_get_last_seq (client), ==, 4);
  g_assert_cmpuint (c.gaps_detected, ==, 1);
  g_assert_cmpuint (c.resumes_sent, ==, 1);
  g_assert_cmpint (ww_test_server_get_last_resume (server), ==, 2);
  /* The replay of 4 after the held 4 is dropped as well. */
  ww_test_server_emit_update (server, 0);  /* 5 */
  WAIT_COUNT (&r->n_updates, 5);
  ww_client_get_counters (client, &c);
  g_assert_cmpuint (c.duplicates_dropped, ==, 2);
  g_assert_cmpuint (r->n_updates, ==, 5);
  g_assert_cmpuint (c.gaps_skipped, ==, 0);
  assert_no_gap_no_duplicate (r);

  g_clear_pointer (&r, recorder_free);
  disconnect_and_finalize (client);
}

static void
test_feed_reconnect_resume (void)
{
  g_autoptr(WwTestServer) server = ww_test_server_new (20, NULL);
  g_autofree char *url = NULL;
  WwClient *client = ww_client_new ();
  g_autoptr(Recorder) r = recorder_new (client);
  g_autoptr(GArray) codes = NULL;
  WwClientCounters c;
  guint16 port;
  guint64 seq_at_drop;
  guint updates_before;

  port = ww_test_server_start (server, 0);
  url = ww_test_server_url (server, "/ws");
  ww_client_set_backoff (client, 100, 400, 10000);
  ww_client_set_ping_interval (client, 1);
  ww_client_connect (client, url);
  WAIT_COUNT (&r->n_initial, 1);
  WAIT_COUNT (&r->n_updates, 5);
  WAIT_COUNT (&r->n_rtt, 1);

  /* The server goes away (no close frame), keeps simulating, comes back. */
  ww_test_server_stop (server);
  g_assert_true (ww_test_wait (is_reconnecting, client, WAIT_MS));
  seq_at_drop = ww_client_get_last_seq (client);
  updates_before = r->n_updates;
  g_assert_cmpuint (ww_client_get_reconnect_in (client), >=, 1);
  ww_test_sleep (300);
  g_assert_cmpuint (ww_test_server_get_seq (server), >, seq_at_drop + 5);
  g_assert_cmpuint (ww_test_server_start (server, port), ==, port);

  /* Caught up past what happened while away, then more live ones. */
  {
    guint target = updates_before + (guint) (ww_test_server_get_seq (server) - seq_at_drop) + 5;

    WAIT_COUNT (&r->n_updates, target);
  }
  g_assert_true (is_open (client));

  ww_client_get_counters (client, &c);
  g_assert_cmpuint (c.connects, ==, 2);
  g_assert_cmpuint (c.drops, ==, 1);
  /* 300 ms down with a 100 ms base: a few tries, never a spin. */
  g_assert_cmpuint (c.connect_attempts, >=, 2);
  g_assert_cmpuint (c.connect_attempts, <=, 6);
  g_assert_cmpuint (c.resumes_sent, >=, 1);
  g_assert_cmpuint (ww_test_server_get_n_resumes (server), >=, 1);
  g_assert_cmpint (ww_test_server_get_last_resume (server), ==, (gint64) seq_at_drop);
  /* The replay filled the gap: the snapshot sent on connect was not needed. */
  g_assert_cmpuint (r->n_initial, ==, 1);
  assert_no_gap_no_duplicate (r);

  codes = ww_client_dup_drop_codes (client);
  g_assert_cmpuint (codes->len, ==, 1);
  g_assert_cmpuint (g_array_index (codes, WwClientCloseCount, 0).code, ==, 1006);
  g_assert_cmpuint (g_array_index (codes, WwClientCloseCount, 0).count, ==, 1);

  g_clear_pointer (&r, recorder_free);
  disconnect_and_finalize (client);
}

static void
test_refused_backs_off (void)
{
  g_autoptr(GSocket) sock = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  WwClient *client = ww_client_new ();
  WwClientCounters c;

  /* A port nobody listens on: bound, never listened. */
  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (sock, addr, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (sock, &error);
  url = g_strdup_printf ("ws://127.0.0.1:%u/ws",
                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));

  ww_client_set_backoff (client, 50, 200, 10000);
  ww_client_connect (client, url);
  g_assert_true (ww_test_wait (is_reconnecting, client, WAIT_MS));
  g_assert_nonnull (ww_client_get_error_message (client));
  ww_test_sleep (700);
  ww_client_get_counters (client, &c);
  /* 50 + 100 + 200 + 200 … ms: about 5 tries in 700 ms, not hundreds. */
  g_assert_cmpuint (c.connect_attempts, >=, 3);
  g_assert_cmpuint (c.connect_attempts, <=, 8);
  g_assert_cmpuint (c.connects, ==, 0);
  disconnect_and_finalize (client);
}

static void
test_not_websocket_fails_hard (void)
{
  g_autoptr(WwTestServer) server = ww_test_server_new (0, NULL);
  g_autofree char *url = NULL;
  WwClient *client = ww_client_new ();
  WwClientCounters c;

  ww_test_server_start (server, 0);
  url = ww_test_server_url (server, "/nothing-here");
  ww_client_set_backoff (client, 50, 200, 10000);
  ww_client_connect (client, url);
  g_assert_true (ww_test_wait (is_closed, client, WAIT_MS));
  g_assert_nonnull (strstr (ww_client_get_error_message (client), "404"));
  ww_client_get_counters (client, &c);
  g_assert_cmpuint (c.connect_attempts, ==, 1);
  g_assert_finalize_object (client);
}

/* ------------------------------------------------------------------ */
/* wss:// with a self-signed certificate */

static char *
make_cert (const char *dir, const char *name)
{
  g_autofree char *key = g_strdup_printf ("%s/%s-key.pem", dir, name);
  g_autofree char *cert = g_strdup_printf ("%s/%s-cert.pem", dir, name);
  const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                         "-keyout", key, "-out", cert, NULL };
  g_autoptr(GError) error = NULL;
  int status = -1;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return g_steal_pointer (&cert);
}

static void
remove_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (dir);
}

static void
test_tls_self_signed (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ww-client-tls-XXXXXX", NULL);
  g_autofree char *cert_file = make_cert (dir, "a");
  g_autofree char *other_file = make_cert (dir, "b");
  g_autofree char *key_file = g_strdup_printf ("%s/a-key.pem", dir);
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsCertificate) server_cert = g_tls_certificate_new_from_files (cert_file, key_file, &error);
  g_autoptr(GTlsCertificate) other = NULL;
  g_autoptr(GTlsCertificate) from_file = NULL;
  g_autoptr(GTlsCertificate) rejected = NULL;
  g_autoptr(WwTestServer) server = NULL;
  g_autofree char *url = NULL;
  GTlsCertificateFlags flags = 0;
  WwClient *client;

  g_assert_no_error (error);
  server = ww_test_server_new (0, server_cert);
  ww_test_server_start (server, 0);
  url = ww_test_server_url (server, "/echo");
  g_assert_true (g_str_has_prefix (url, "wss://"));

  /* Refused by default, with a clear error and the certificate to show. */
  client = ww_client_new ();
  ww_client_connect (client, url);
  g_assert_true (ww_test_wait (is_closed, client, WAIT_MS));
  g_assert_nonnull (strstr (ww_client_get_error_message (client), "not trusted"));
  rejected = ww_client_dup_rejected_certificate (client, &flags);
  g_assert_nonnull (rejected);
  g_assert_true (flags & G_TLS_CERTIFICATE_UNKNOWN_CA);

  /* A different certificate accepted does not open the door. */
  other = g_tls_certificate_new_from_file (other_file, &error);
  g_assert_no_error (error);
  ww_client_set_accepted_certificate (client, other);
  ww_client_connect (client, url);
  g_assert_true (ww_test_wait (is_closed, client, WAIT_MS));
  g_assert_nonnull (strstr (ww_client_get_error_message (client), "not trusted"));

  /* The explicit decision for this very certificate does. */
  ww_client_set_accepted_certificate (client, rejected);
  ww_client_connect (client, url);
  g_assert_true (ww_test_wait (is_open, client, WAIT_MS));
  disconnect_and_finalize (client);

  /* Same, with the certificate read from a file (--accept-certificate). */
  client = ww_client_new ();
  from_file = g_tls_certificate_new_from_file (cert_file, &error);
  g_assert_no_error (error);
  ww_client_set_accepted_certificate (client, from_file);
  ww_client_connect (client, url);
  g_assert_true (ww_test_wait (is_open, client, WAIT_MS));
  g_assert_true (ww_client_send_chat (client, "over tls"));
  disconnect_and_finalize (client);

  remove_dir (dir);
}

/* ------------------------------------------------------------------ */
/* Python websockets echo server (another implementation) */

typedef struct {
  GPid pid;
  int  out_fd;
} PyServer;

static void
py_server_stop (PyServer *py)
{
  if (py->pid > 0)
    {
      int status;

      kill (py->pid, SIGTERM);
      for (guint i = 0; i < 100 && waitpid (py->pid, &status, WNOHANG) == 0; i++)
        g_usleep (20000);
      if (waitpid (py->pid, &status, WNOHANG) == 0)
        {
          kill (py->pid, SIGKILL);
          waitpid (py->pid, &status, 0);
        }
      g_spawn_close_pid (py->pid);
      py->pid = 0;
    }
  if (py->out_fd >= 0)
    close (py->out_fd);
  py->out_fd = -1;
}

static PyServer *current_py;

static void
on_abort_signal (int sig)
{
  /* A failed assertion aborts: do not leave the server behind. */
  if (current_py && current_py->pid > 0)
    kill (current_py->pid, SIGKILL);
  signal (sig, SIG_DFL);
  raise (sig);
}

static guint16
py_server_read_port (PyServer *py)
{
  char buf[32] = { 0 };
  gsize have = 0;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (have < sizeof buf - 1 && g_get_monotonic_time () < deadline)
    {
      GPollFD pfd = { py->out_fd, G_IO_IN, 0 };
      gssize n;

      if (g_poll (&pfd, 1, 200) <= 0)
        continue;
      n = read (py->out_fd, buf + have, 1);
      if (n <= 0)
        break;
      if (buf[have] == '\n')
        break;
      have += (gsize) n;
    }
  buf[have] = '\0';
  return (guint16) g_ascii_strtoull (buf, NULL, 10);
}

static void
test_echo_python (void)
{
  const char *src = g_getenv ("WW_SOURCE_ROOT");
  g_autofree char *script = NULL;
  g_autofree char *url = NULL;
  g_autoptr(GError) error = NULL;
  PyServer py = { 0, -1 };
  WwClient *client;
  Recorder *r;
  WwClientCounters c;
  guint16 port;

  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("no /usr/bin/python3");
      return;
    }
  script = g_build_filename (src ? src : ".", "tests", "client", "echo-server.py", NULL);
  {
    const char *argv[] = { "/usr/bin/python3", script, "--port", "0", NULL };

    g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                              &py.pid, NULL, &py.out_fd, NULL, &error);
  }
  g_assert_no_error (error);
  current_py = &py;
  signal (SIGABRT, on_abort_signal);

  port = py_server_read_port (&py);
  if (port == 0)
    {
      py_server_stop (&py);
      g_test_skip ("the python websockets echo server did not start (module missing?)");
      return;
    }

  url = g_strdup_printf ("ws://127.0.0.1:%u/", port);
  client = ww_client_new ();
  r = recorder_new (client);
  ww_client_set_ping_interval (client, 0);
  ww_client_connect (client, url);
  g_assert_true (ww_test_wait (is_open, client, WAIT_MS));
  /* Python websockets accepts permessage-deflate by default: the client's
   * offer is negotiated against another implementation. */
  g_assert_true (ww_client_get_deflate_active (client));
  g_assert_nonnull (strstr (ww_client_get_extensions (client), "permessage-deflate"));
  for (guint i = 0; i < 5; i++)
    g_free (ww_client_send_ping (client));
  WAIT_COUNT (&r->n_rtt, 5);
  g_assert_true (ww_client_send_chat (client, "to python"));
  WAIT_COUNT (&r->n_frames_in, 6);
  /* Two messages long enough to be compressed, the second referring back
   * to the first (context takeover): Python inflates them, echoes them
   * compressed, and as many bytes come back as went out. */
  {
    g_autoptr(GString) big = g_string_new (NULL);

    for (guint i = 0; i < 80; i++)
      g_string_append_printf (big, "line %u to python, compressed. ", i);
    g_assert_true (ww_client_send_chat (client, big->str));
    g_assert_true (ww_client_send_chat (client, big->str));
  }
  WAIT_COUNT (&r->n_frames_in, 8);

  ww_client_get_counters (client, &c);
  g_assert_cmpuint (c.messages_in, ==, 8);
  g_assert_cmpuint (c.messages_out, ==, 8);
  g_assert_cmpuint (c.bytes_in, ==, c.bytes_out);
  g_assert_false (ww_client_get_speaks_feed (client));
  g_assert_cmpuint (ww_histogram_count (ww_client_get_rtt_histogram (client)), ==, 5);

  recorder_free (r);
  disconnect_and_finalize (client);
  py_server_stop (&py);
  signal (SIGABRT, SIG_DFL);
  current_py = NULL;
}

/* ------------------------------------------------------------------ */
/* permessage-deflate from a hand-made server (tests/client/deflate-server.py) */

static char *
py_server_read_line (PyServer *py)
{
  GString *line = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  while (line->len < 4096 && g_get_monotonic_time () < deadline)
    {
      GPollFD pfd = { py->out_fd, G_IO_IN, 0 };
      char ch;

      /* The client runs on this thread's context: keep it going meanwhile. */
      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (g_poll (&pfd, 1, 20) <= 0)
        continue;
      if (read (py->out_fd, &ch, 1) != 1 || ch == '\n')
        break;
      g_string_append_c (line, ch);
    }
  return g_string_free (line, FALSE);
}

static gboolean
py_deflate_server_start (PyServer    *py,
                         const char  *mode,
                         const char  *size,
                         char       **url)
{
  const char *src = g_getenv ("WW_SOURCE_ROOT");
  g_autofree char *script = g_build_filename (src ? src : ".", "tests", "client",
                                              "deflate-server.py", NULL);
  const char *argv[] = { "/usr/bin/python3", script, mode, size, NULL };
  g_autoptr(GError) error = NULL;
  guint16 port;

  if (!g_file_test (argv[0], G_FILE_TEST_IS_EXECUTABLE))
    return FALSE;
  g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                            &py->pid, NULL, &py->out_fd, NULL, &error);
  g_assert_no_error (error);
  current_py = py;
  signal (SIGABRT, on_abort_signal);
  port = py_server_read_port (py);
  g_assert_cmpuint (port, >, 0);
  *url = g_strdup_printf ("ws://127.0.0.1:%u/", port);
  return TRUE;
}

typedef struct {
  GPtrArray *texts;   /* char *, text messages in */
  GPtrArray *binary;  /* GBytes *, binary messages in */
} Inbox;

static void
inbox_frame (WwClient *c, gboolean outgoing, guint opcode, GBytes *payload, Inbox *in)
{
  if (outgoing)
    return;
  if (opcode == 1)
    g_ptr_array_add (in->texts, g_strndup (g_bytes_get_data (payload, NULL),
                                           g_bytes_get_size (payload)));
  else if (opcode == 2)
    g_ptr_array_add (in->binary, g_bytes_ref (payload));
}

/* A compressed message over three frames, then one that refers back to it. */
static void
test_deflate_fragments (void)
{
  g_autofree char *url = NULL;
  g_autofree char *offer = NULL;
  g_autofree char *close_line = NULL;
  g_autoptr(GString) want_text = g_string_new (NULL);
  g_autoptr(GByteArray) want_bin = g_byte_array_new ();
  PyServer py = { 0, -1 };
  Inbox in = { g_ptr_array_new_with_free_func (g_free),
               g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref) };
  WwClient *client;

  if (!py_deflate_server_start (&py, "fragments", NULL, &url))
    {
      g_test_skip ("no /usr/bin/python3");
      return;
    }
  for (guint i = 0; i < 400; i++)
    g_string_append (want_text, "fragmented and compressed ");
  for (guint k = 0; k < 64; k++)
    for (guint i = 0; i < 256; i++)
      {
        guint8 b = (guint8) i;

        g_byte_array_append (want_bin, &b, 1);
      }
  g_byte_array_append (want_bin, (const guint8 *) want_text->str, 1000);

  client = ww_client_new ();
  ww_client_set_ping_interval (client, 0);
  g_signal_connect (client, "frame", G_CALLBACK (inbox_frame), &in);
  ww_client_connect (client, url);
  offer = py_server_read_line (&py);
  g_assert_cmpstr (offer, ==, "offer permessage-deflate; client_max_window_bits");
  g_assert_true (ww_test_wait (is_open, client, WAIT_MS));
  g_assert_true (ww_client_get_deflate_active (client));
  {
    AtLeast a = { &in.binary->len, 1 };

    g_assert_true (ww_test_wait (at_least, &a, WAIT_MS));
  }
  g_assert_cmpuint (in.texts->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (in.texts, 0), ==, want_text->str);
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (in.binary, 0), NULL),
                   g_bytes_get_size (g_ptr_array_index (in.binary, 0)),
                   want_bin->data, want_bin->len);

  ww_client_disconnect (client);
  close_line = py_server_read_line (&py);
  g_assert_cmpstr (close_line, ==, "close 1000");
  ww_test_wait (is_closed, client, WAIT_MS);
  g_signal_handlers_disconnect_by_data (client, &in);
  g_assert_finalize_object (client);
  py_server_stop (&py);
  signal (SIGABRT, SIG_DFL);
  current_py = NULL;
  g_ptr_array_unref (in.texts);
  g_ptr_array_unref (in.binary);
}

/* With deflate off nothing is offered (libsoup 3.2's session offers no
 * extension without the extension manager). */
static void
test_deflate_off (void)
{
  g_autofree char *url = NULL;
  g_autofree char *offer = NULL;
  g_autofree char *close_line = NULL;
  PyServer py = { 0, -1 };
  WwClient *client;

  if (!py_deflate_server_start (&py, "fragments", NULL, &url))
    {
      g_test_skip ("no /usr/bin/python3");
      return;
    }
  client = ww_client_new ();
  ww_client_set_deflate (client, FALSE);
  ww_client_set_ping_interval (client, 0);
  ww_client_set_backoff (client, 60000, 60000, 60000);
  ww_client_connect (client, url);
  offer = py_server_read_line (&py);
  g_assert_cmpstr (offer, ==, "offer ");
  /* The server answers with the extension anyway: an answer to an offer
   * never made fails the handshake (RFC 6455 §4.1), so the connection
   * never opens and no compressed frame is read. */
  close_line = py_server_read_line (&py);
  g_assert_cmpstr (close_line, ==, "eof");
  g_assert_true (ww_test_wait (is_reconnecting, client, WAIT_MS));
  g_assert_false (ww_client_get_deflate_active (client));
  g_assert_nonnull (ww_client_get_error_message (client));
  g_test_message ("error: %s", ww_client_get_error_message (client));
  {
    WwClientCounters c;

    ww_client_get_counters (client, &c);
    g_assert_cmpuint (c.connects, ==, 0);
  }

  disconnect_and_finalize (client);
  py_server_stop (&py);
  signal (SIGABRT, SIG_DFL);
  current_py = NULL;
}

static gsize
self_hwm_kib (void)
{
  g_autofree char *text = NULL;
  const char *p;

  g_assert_true (g_file_get_contents ("/proc/self/status", &text, NULL, NULL));
  p = strstr (text, "VmHWM:");
  g_assert_nonnull (p);
  return g_ascii_strtoull (p + 6, NULL, 10);
}

/*
 * 1 GiB of zeros in a 1 MiB frame: the client stops inflating at its
 * 16 MiB message limit, closes 1009 and says why; its peak memory stays
 * far below the bomb (libsoup 3.2's own extension would inflate it all).
 */
static void
test_deflate_bomb (void)
{
  g_autofree char *url = NULL;
  g_autofree char *offer = NULL;
  g_autofree char *close_line = NULL;
  PyServer py = { 0, -1 };
  WwClient *client;
  gsize hwm_before = self_hwm_kib ();

  if (!py_deflate_server_start (&py, "bomb", "1073741824", &url))
    {
      g_test_skip ("no /usr/bin/python3");
      return;
    }
  client = ww_client_new ();
  ww_client_set_ping_interval (client, 0);
  ww_client_set_backoff (client, 60000, 60000, 60000);
  ww_client_connect (client, url);
  offer = py_server_read_line (&py);
  g_assert_nonnull (strstr (offer, "permessage-deflate"));
  close_line = py_server_read_line (&py);
  g_assert_cmpstr (close_line, ==, "close 1009");
  g_assert_true (ww_test_wait (is_reconnecting, client, WAIT_MS));
  g_assert_nonnull (strstr (ww_client_get_error_message (client), "exceeds"));
  g_test_message ("peak RSS %zu KiB before, %zu KiB after", hwm_before, self_hwm_kib ());
  g_assert_cmpuint (self_hwm_kib (), <, hwm_before + 96 * 1024);

  disconnect_and_finalize (client);
  py_server_stop (&py);
  signal (SIGABRT, SIG_DFL);
  current_py = NULL;
}

/* ------------------------------------------------------------------ */
/* A peer that completes the handshake and then goes silent (a dead
 * connection without FIN): only pings can notice it. */

typedef struct {
  GSocketConnection *conn;
  GString           *head;
  char               buf[1024];
  char              *response;
} SilentPeer;

static void
silent_peer_free (SilentPeer *p)
{
  g_clear_object (&p->conn);
  g_string_free (p->head, TRUE);
  g_free (p->response);
  g_free (p);
}

static void
on_silent_read (GObject *source, GAsyncResult *res, gpointer data)
{
  SilentPeer *p = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, NULL);
  const char *key;

  if (n <= 0)
    return;
  g_string_append_len (p->head, p->buf, n);
  if (strstr (p->head->str, "\r\n\r\n") == NULL)
    {
      g_input_stream_read_async (G_INPUT_STREAM (source), p->buf, sizeof p->buf, G_PRIORITY_DEFAULT,
                                 NULL, on_silent_read, p);
      return;
    }
  key = strstr (p->head->str, "Sec-WebSocket-Key: ");
  g_assert_nonnull (key);
  key += strlen ("Sec-WebSocket-Key: ");
  {
    g_autofree char *k = g_strndup (key, strcspn (key, "\r"));
    g_autofree char *cat = g_strconcat (k, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", NULL);
    g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA1);
    guint8 digest[20];
    gsize len = sizeof digest;
    g_autofree char *accept = NULL;

    g_checksum_update (sum, (const guchar *) cat, -1);
    g_checksum_get_digest (sum, digest, &len);
    accept = g_base64_encode (digest, len);
    p->response = g_strdup_printf ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
  }
  /* Then silence: nothing read, nothing answered, the socket kept open. */
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (p->conn)), p->response,
                             strlen (p->response), NULL, NULL, NULL);
}

static gboolean
on_silent_incoming (GSocketService *service, GSocketConnection *conn, GObject *src, gpointer data)
{
  GPtrArray *peers = data;
  SilentPeer *p = g_new0 (SilentPeer, 1);

  p->conn = g_object_ref (conn);
  p->head = g_string_new (NULL);
  g_ptr_array_add (peers, p);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (conn)), p->buf, sizeof p->buf,
                             G_PRIORITY_DEFAULT, NULL, on_silent_read, p);
  return TRUE;
}

static void
test_keepalive_dead_peer (void)
{
  g_autoptr(GSocketService) service = g_socket_service_new ();
  g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func ((GDestroyNotify) silent_peer_free);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) codes = NULL;
  g_autofree char *url = NULL;
  WwClient *client = ww_client_new ();
  WwClientCounters c;
  gint64 start;

  g_socket_listener_add_address (G_SOCKET_LISTENER (service), addr, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error);
  g_assert_no_error (error);
  g_signal_connect (service, "incoming", G_CALLBACK (on_silent_incoming), peers);
  g_socket_service_start (service);
  url = g_strdup_printf ("ws://127.0.0.1:%u/",
                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));

  ww_client_set_ping_interval (client, 0);
  ww_client_set_keepalive_interval (client, 1);
  ww_client_set_backoff (client, 5000, 5000, 10000);
  ww_client_connect (client, url);
  g_assert_true (ww_test_wait (is_open, client, WAIT_MS));
  start = g_get_monotonic_time ();
  g_assert_true (ww_test_wait (is_reconnecting, client, WAIT_MS));
  /* Two keepalive intervals and a second of grace, checked once a second. */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 2 * G_USEC_PER_SEC);

  ww_client_get_counters (client, &c);
  g_assert_cmpuint (c.drops, ==, 1);
  codes = ww_client_dup_drop_codes (client);
  g_assert_cmpuint (codes->len, ==, 1);
  g_assert_cmpuint (g_array_index (codes, WwClientCloseCount, 0).code, ==, 1006);
  g_assert_nonnull (strstr (ww_client_get_error_message (client), "no answer"));

  disconnect_and_finalize (client);
  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/client/url/check", test_check_url);
  g_test_add_func ("/client/url/bad-closes", test_bad_url_closes_with_error);
  g_test_add_func ("/client/echo/soup", test_echo_soup);
  g_test_add_func ("/client/echo/python", test_echo_python);
  g_test_add_func ("/client/deflate/fragments-and-context", test_deflate_fragments);
  g_test_add_func ("/client/deflate/zip-bomb", test_deflate_bomb);
  g_test_add_func ("/client/deflate/off", test_deflate_off);
  g_test_add_func ("/client/feed/basic", test_feed_basic);
  g_test_add_func ("/client/feed/gap-and-duplicate", test_feed_gap_and_duplicate);
  g_test_add_func ("/client/feed/reconnect-resume", test_feed_reconnect_resume);
  g_test_add_func ("/client/connect/refused-backs-off", test_refused_backs_off);
  g_test_add_func ("/client/connect/not-websocket", test_not_websocket_fails_hard);
  g_test_add_func ("/client/tls/self-signed", test_tls_self_signed);
  g_test_add_func ("/client/keepalive/dead-peer", test_keepalive_dead_peer);
  return g_test_run ();
}
