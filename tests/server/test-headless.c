/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server-test"

#include "config.h"

#include <glib/gstdio.h>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <gio/gio.h>

#include "ww-server-test.h"
#include "protocol/ww-frame.h"

/*
 * The built `wirewatch --headless --port 0`: the real port comes from the
 * "Listening on" log line; /healthz and /echo answer; SIGTERM closes the
 * connected client with 1001 and the process exits 0.  The child is
 * killed by its PID if anything goes wrong.
 */

typedef struct {
  GSubprocess      *proc;
  GDataInputStream *err;
  GString          *log;
  char             *line;
  gboolean          line_done;
  gboolean          exited;
  gboolean          terminated;  /* SIGTERM sent: a second one would kill it */
} Child;

static void
line_read (GObject *source, GAsyncResult *result, gpointer data)
{
  Child *child = data;

  child->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                           result, NULL, NULL);
  child->line_done = TRUE;
}

static void
proc_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  ((Child *) data)->exited = TRUE;
}

/* Next stderr line, or NULL at EOF or after @timeout_ms. */
static char *
next_line (Child *child, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  g_autoptr(GCancellable) cancel = g_cancellable_new ();

  child->line_done = FALSE;
  child->line = NULL;
  g_data_input_stream_read_line_async (child->err, G_PRIORITY_DEFAULT, cancel, line_read, child);
  while (!child->line_done && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE), g_usleep (1000);
  if (!child->line_done)
    {
      g_cancellable_cancel (cancel);
      while (!child->line_done)
        g_main_context_iteration (NULL, TRUE);
    }
  if (child->line)
    g_string_append_printf (child->log, "%s\n", child->line);
  return g_steal_pointer (&child->line);
}

/* Starts `wirewatch --headless --port 0 ARGS…` and returns its port from
 * the "Listening on" line; fails the test (killing the child) otherwise. */
static guint16
child_start (Child *child, const char * const *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  guint16 port = 0;

  g_ptr_array_add (argv, (char *) WW_WIREWATCH_EXE);
  g_ptr_array_add (argv, (char *) "--headless");
  g_ptr_array_add (argv, (char *) "--port");
  g_ptr_array_add (argv, (char *) "0");
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  child->log = g_string_new (NULL);
  child->proc = g_subprocess_newv ((const char * const *) argv->pdata,
                                   G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                   G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
  g_assert_no_error (error);
  child->err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (child->proc));
  g_subprocess_wait_async (child->proc, NULL, proc_exited, child);

  for (guint i = 0; i < 50 && port == 0; i++)
    {
      g_autofree char *line = next_line (child, 5000);
      const char *at;

      if (line == NULL)
        break;
      at = strstr (line, "Listening on ws://127.0.0.1:");
      if (at)
        port = (guint16) g_ascii_strtoull (at + strlen ("Listening on ws://127.0.0.1:"), NULL, 10);
    }
  if (port == 0)
    {
      g_subprocess_force_exit (child->proc);
      g_error ("no “Listening on” line; log:\n%s", child->log->str);
    }
  return port;
}

/* SIGTERM (once), then a bounded wait for the exit (killed by its PID after 10 s). */
static void
child_stop (Child *child)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  if (!child->terminated)
    g_subprocess_send_signal (child->proc, SIGTERM);
  child->terminated = TRUE;
  while (!child->exited && g_get_monotonic_time () < end)
    {
      g_autofree char *line = next_line (child, 200);

      if (line == NULL)
        g_main_context_iteration (NULL, FALSE);
    }
  if (!child->exited)
    {
      g_subprocess_force_exit (child->proc);
      while (!child->exited)
        g_main_context_iteration (NULL, TRUE);
      g_error ("wirewatch did not exit after SIGTERM; log:\n%s", child->log->str);
    }
  g_test_message ("log:\n%s", child->log->str);
}

static void
child_clear (Child *child)
{
  g_clear_object (&child->err);
  g_clear_object (&child->proc);
  if (child->log)
    g_string_free (g_steal_pointer (&child->log), TRUE);
}

static void
test_headless (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *state_dir = g_dir_make_tmp ("ww-headless-XXXXXX", &error);
  const char *args[] = { "--state-dir", NULL, "--heartbeat", "30", NULL };
  Child child = { 0 };
  guint16 port;

  g_assert_no_error (error);
  args[1] = state_dir;
  port = child_start (&child, args);

  {
    g_autofree char *health = wwt_http (port, "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                              "Connection: close\r\n\r\n", NULL);
    g_autoptr(WwtClient) c = wwt_client_new (port, "/echo");
    g_autoptr(GByteArray) m = NULL;

    g_assert_cmpuint (wwt_response_status (health), ==, 200);
    g_assert_cmpstr (wwt_response_body (health), ==, "ok\n");
    g_assert_true (wwt_send (c, WW_OPCODE_TEXT, "headless", 8));
    m = wwt_recv_message (c, NULL);
    g_assert_nonnull (m);
    g_assert_cmpmem (m->data, m->len, "headless", 8);

    g_subprocess_send_signal (child.proc, SIGTERM);
    child.terminated = TRUE;
    g_assert_cmpint (wwt_recv_close (c), ==, WW_CLOSE_GOING_AWAY);
  }

  child_stop (&child);
  g_assert_true (g_subprocess_get_if_exited (child.proc));
  g_assert_cmpint (g_subprocess_get_exit_status (child.proc), ==, 0);
  g_assert_null (strstr (child.log->str, "critical"));
  g_assert_null (strstr (child.log->str, "warning"));
  child_clear (&child);
  {
    g_autoptr(GFile) dir = g_file_new_for_path (state_dir);
    g_autoptr(GFileEnumerator) e = g_file_enumerate_children (dir, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                                               G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
                                                               NULL, NULL);
    GFileInfo *info;

    while (e && (info = g_file_enumerator_next_file (e, NULL, NULL)))
      {
        g_autoptr(GFile) f = g_file_get_child (dir, g_file_info_get_name (info));

        g_file_delete (f, NULL, NULL);
        g_object_unref (info);
      }
    g_file_delete (dir, NULL, NULL);
  }
}

static char *
head_of_size (gsize size)
{
  GString *req = g_string_new ("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");

  g_string_append (req, "X-Pad: ");
  while (req->len + 4 < size)
    g_string_append_c (req, 'a');
  g_string_append (req, "\r\n\r\n");
  return g_string_free (req, FALSE);
}

/*
 * The limit flags reach the server: each one is set far below its default
 * and the matching refusal is seen (431, 1009, an idle close, a dropped
 * silent handshake), while traffic just under the limit still works.
 */
static void
test_headless_limits (void)
{
  const char *args[] = {
    "--no-persist", "--heartbeat", "0", "--max-header", "2K", "--max-message", "4K",
    "--max-feed-message", "1K", "--idle-timeout", "0.6", "--handshake-timeout", "0.4", NULL
  };
  Child child = { 0 };
  guint16 port = child_start (&child, args);
  g_autofree char *small = head_of_size (1900);
  g_autofree char *big = head_of_size (2200);
  g_autofree char *small_reply = wwt_http (port, small, NULL);
  g_autofree char *big_reply = wwt_http (port, big, NULL);
  g_autofree guint8 *payload = g_malloc0 (4097);

  g_assert_cmpuint (wwt_response_status (small_reply), ==, 200);
  g_assert_cmpuint (wwt_response_status (big_reply), ==, 431);

  {
    g_autoptr(WwtClient) c = wwt_client_new (port, "/echo");
    g_autoptr(GByteArray) m = NULL;

    g_assert_true (wwt_send (c, WW_OPCODE_BINARY, payload, 4096));
    m = wwt_recv_message (c, NULL);
    g_assert_nonnull (m);
    g_assert_cmpuint (m->len, ==, 4096);
    g_assert_true (wwt_send (c, WW_OPCODE_BINARY, payload, 4097));
    g_assert_cmpint (wwt_recv_close (c), ==, WW_CLOSE_MESSAGE_TOO_BIG);
  }
  {
    g_autoptr(WwtClient) c = wwt_client_new (port, "/ws");
    g_autofree char *chat = g_strdup_printf ("{\"type\":\"CHAT\",\"text\":\"%01100d\"}", 0);

    g_assert_true (wwt_send (c, WW_OPCODE_TEXT, chat, strlen (chat)));
    g_assert_cmpint (wwt_recv_close (c), ==, WW_CLOSE_MESSAGE_TOO_BIG);
  }
  {
    /* Silent after the upgrade: closed by --idle-timeout, well before the
     * heartbeat (off) or any default would. */
    g_autoptr(WwtClient) c = wwt_client_new (port, "/echo");
    gint64 start = g_get_monotonic_time ();

    g_assert_cmpint (wwt_recv_close (c), ==, WW_CLOSE_GOING_AWAY);
    g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  }
  {
    /* Connected but never a byte of request: dropped by --handshake-timeout. */
    g_autoptr(WwtClient) c = g_new0 (WwtClient, 1);

    c->fd = wwt_connect (port);
    g_assert_cmpint (c->fd, >=, 0);
    g_assert_true (wwt_wait_eof (c, 5000));
  }

  child_stop (&child);
  g_assert_cmpint (g_subprocess_get_exit_status (child.proc), ==, 0);
  child_clear (&child);
}

/* Bad limit values: a message naming the flag, exit status 2, no server. */
static void
test_headless_limit_errors (void)
{
  const char *bad[][3] = {
    { "--max-header", "12", "--max-header" },
    { "--max-message", "5X", "--max-message" },
    { "--max-queue", "5G", "--max-queue" },
    { "--idle-timeout", "-1", "--idle-timeout" },
    { "--handshake-timeout", "0", "--handshake-timeout" },
    { "--handshake-rate", "many", "--handshake-rate" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      const char *argv[] = { WW_WIREWATCH_EXE, "--headless", "--port", "0", "--no-persist",
                             bad[i][0], bad[i][1], NULL };
      g_autoptr(GError) error = NULL;
      g_autofree char *err = NULL;
      int status = 0;

      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                                   NULL, NULL, NULL, &err, &status, &error));
      g_assert_no_error (error);
      g_test_message ("%s %s: %s", bad[i][0], bad[i][1], err);
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 2);
      g_assert_nonnull (strstr (err, bad[i][2]));
    }
}

/* A bad TLS pair: the binary says why on stderr and exits non-zero at once. */
static void
test_headless_tls_errors (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ww-headless-tls-XXXXXX", &error);
  g_autofree char *c1 = g_build_filename (dir, "c1.pem", NULL);
  g_autofree char *k1 = g_build_filename (dir, "k1.pem", NULL);
  g_autofree char *c2 = g_build_filename (dir, "c2.pem", NULL);
  g_autofree char *k2 = g_build_filename (dir, "k2.pem", NULL);
  const char *pairs[][3] = {
    { c1, k2, "do not form a pair" },
    { c1, "/nonexistent/key.pem", "Cannot load" },
  };

  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    {
      const char *argv[] = {
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
        "-keyout", i == 0 ? k1 : k2, "-out", i == 0 ? c1 : c2, NULL
      };
      int status = -1;

      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL,
                                   G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                                   NULL, NULL, &status, &error));
      g_assert_no_error (error);
      g_assert_cmpint (status, ==, 0);
    }
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      const char *argv[] = {
        WW_WIREWATCH_EXE, "--headless", "--port", "0", "--no-persist",
        "--tls-cert", pairs[i][0], "--tls-key", pairs[i][1], NULL
      };
      g_autofree char *err = NULL;
      int status = 0;

      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                                   NULL, NULL, NULL, &err, &status, &error));
      g_assert_no_error (error);
      g_test_message ("stderr: %s", err);
      g_assert_false (g_spawn_check_wait_status (status, NULL));
      g_assert_nonnull (strstr (err, pairs[i][2]));
    }
  g_unlink (c1);
  g_unlink (k1);
  g_unlink (c2);
  g_unlink (k2);
  g_rmdir (dir);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/headless/start-healthz-sigterm", test_headless);
  g_test_add_func ("/headless/tls-errors", test_headless_tls_errors);
  g_test_add_func ("/headless/limits", test_headless_limits);
  g_test_add_func ("/headless/limit-errors", test_headless_limit_errors);
  return g_test_run ();
}
