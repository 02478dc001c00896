/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client-test"

#include "config.h"

#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "ww-test-server.h"

#define WAIT_MS 10000

/* `wirewatch --connect` (or its stand-in, see meson.build), run as a child. */

typedef struct {
  GSubprocess      *proc;
  GDataInputStream *out;
  GPtrArray        *lines;
  char             *err;
  gboolean          eof;
  gboolean          exited;
} Child;

static GPid current_pid;

static void
on_abort_signal (int sig)
{
  /* A failed assertion aborts: stop the child by its PID first. */
  if (current_pid > 0)
    kill (current_pid, SIGKILL);
  signal (sig, SIG_DFL);
  raise (sig);
}

static void read_line (Child *c);

static void
on_line (GObject *source, GAsyncResult *res, gpointer data)
{
  Child *c = data;
  g_autoptr(GError) error = NULL;
  char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), res, NULL,
                                                          &error);

  if (line == NULL)
    {
      c->eof = TRUE;
      return;
    }
  g_test_message ("child: %s", line);
  g_ptr_array_add (c->lines, line);
  read_line (c);
}

static void
read_line (Child *c)
{
  g_data_input_stream_read_line_async (c->out, G_PRIORITY_DEFAULT, NULL, on_line, c);
}

static void
on_exited (GObject *source, GAsyncResult *res, gpointer data)
{
  Child *c = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
  c->exited = TRUE;
}

static Child *
child_start (const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  Child *c = g_new0 (Child, 1);

  g_ptr_array_add (argv, (char *) WW_CONNECT_EXE);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  c->proc = g_subprocess_newv ((const char * const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                               G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  current_pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (c->proc), NULL, 10);
  signal (SIGABRT, on_abort_signal);
  c->lines = g_ptr_array_new_with_free_func (g_free);
  c->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (c->proc));
  read_line (c);
  g_subprocess_wait_async (c->proc, NULL, on_exited, c);
  return c;
}

static gboolean
child_exited (gpointer data)
{
  Child *c = data;

  return c->exited && c->eof;
}

/* Stops the child (SIGTERM, then SIGKILL) and returns its exit status. */
static int
child_finish (Child *c, gboolean terminate)
{
  GInputStream *err_pipe = g_subprocess_get_stderr_pipe (c->proc);
  g_autoptr(GBytes) err = NULL;
  int status = -1;

  if (terminate && !c->exited)
    g_subprocess_send_signal (c->proc, SIGTERM);
  if (!ww_test_wait (child_exited, c, WAIT_MS))
    {
      g_subprocess_force_exit (c->proc);
      ww_test_wait (child_exited, c, WAIT_MS);
    }
  g_assert_true (c->exited);
  if (g_subprocess_get_if_exited (c->proc))
    status = g_subprocess_get_exit_status (c->proc);
  err = g_input_stream_read_bytes (err_pipe, 65536, NULL, NULL);
  c->err = err ? g_strndup (g_bytes_get_data (err, NULL), g_bytes_get_size (err)) : g_strdup ("");
  current_pid = 0;
  signal (SIGABRT, SIG_DFL);
  return status;
}

static void
child_free (Child *c)
{
  g_clear_object (&c->out);
  g_clear_object (&c->proc);
  g_ptr_array_unref (c->lines);
  g_free (c->err);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Child, child_free)

static guint
count_prefix (Child *c, const char *prefix)
{
  guint n = 0;

  for (guint i = 0; i < c->lines->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (c->lines, i), prefix))
      n++;
  return n;
}

static guint
count_substring (Child *c, const char *needle)
{
  guint n = 0;

  for (guint i = 0; i < c->lines->len; i++)
    if (strstr (g_ptr_array_index (c->lines, i), needle) != NULL)
      n++;
  return n;
}

typedef struct {
  Child      *child;
  const char *prefix;
  guint       n;
} PrefixWait;

static gboolean
has_prefix_lines (gpointer data)
{
  PrefixWait *w = data;

  return count_prefix (w->child, w->prefix) >= w->n;
}

#define WAIT_LINES(c, p, count) \
  G_STMT_START { PrefixWait _w = { (c), (p), (count) }; \
    if (!ww_test_wait (has_prefix_lines, &_w, WAIT_MS)) \
      g_error ("no %u lines starting with “%s”", (count), (p)); } G_STMT_END

static void
test_cli_json (void)
{
  g_autoptr(WwTestServer) server = ww_test_server_new (20, NULL);
  g_autofree char *url = NULL;
  g_autoptr(Child) c = NULL;
  GOutputStream *in;
  guint updates_at_eof;
  guint64 prev_seq = 0;

  ww_test_server_start (server, 0);
  url = ww_test_server_url (server, "/ws");
  {
    const char *args[] = { "--connect", url, "--json", "--ping-interval", "1", NULL };

    c = child_start (args);
  }
  WAIT_LINES (c, "{\"kind\":\"initial\"", 1);
  WAIT_LINES (c, "{\"kind\":\"update\"", 3);
  WAIT_LINES (c, "{\"kind\":\"rtt\"", 1);

  /* A typed line is a CHAT; the server relays it back. */
  in = g_subprocess_get_stdin_pipe (c->proc);
  g_assert_true (g_output_stream_write_all (in, "hello from stdin\n", 17, NULL, NULL, NULL));
  WAIT_LINES (c, "{\"kind\":\"chat\"", 1);
  g_assert_cmpuint (ww_test_server_get_n_chats (server), ==, 1);

  /* EOF on stdin does not quit. */
  g_output_stream_close (in, NULL, NULL);
  updates_at_eof = count_prefix (c, "{\"kind\":\"update\"");
  WAIT_LINES (c, "{\"kind\":\"update\"", updates_at_eof + 3);
  g_assert_false (c->exited);

  g_assert_cmpint (child_finish (c, TRUE), ==, 0);

  for (guint i = 0; i < c->lines->len; i++)
    {
      const char *line = g_ptr_array_index (c->lines, i);
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      JsonObject *obj;
      const char *kind;

      json_parser_load_from_data (parser, line, -1, &error);
      g_assert_no_error (error);
      g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
      obj = json_node_get_object (json_parser_get_root (parser));
      kind = json_object_get_string_member (obj, "kind");
      g_assert_nonnull (kind);
      if (g_str_equal (kind, "initial"))
        {
          g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj, "events")), ==, 5);
          prev_seq = (guint64) json_object_get_int_member (obj, "seq");
        }
      else if (g_str_equal (kind, "update"))
        {
          guint64 seq = (guint64) json_object_get_int_member (obj, "seq");

          g_assert_cmpuint (seq, ==, prev_seq + 1);
          prev_seq = seq;
          g_assert_true (json_object_has_member (json_object_get_object_member (obj, "event"), "id"));
        }
      else if (g_str_equal (kind, "state") &&
               g_str_equal (json_object_get_string_member (obj, "state"), "open"))
        {
          /* SoupServer (the test server) accepts the offer by default. */
          g_assert_true (json_object_get_boolean_member (obj, "deflate"));
          g_assert_true (g_str_has_prefix (json_object_get_string_member (obj, "extensions"),
                                           "permessage-deflate"));
        }
      else if (g_str_equal (kind, "chat"))
        g_assert_cmpstr (json_object_get_string_member (obj, "text"), ==, "hello from stdin");
      else if (g_str_equal (kind, "rtt"))
        g_assert_cmpint (json_object_get_int_member (obj, "rttUs"), >=, 0);
    }
  g_assert_cmpuint (count_prefix (c, "{\"kind\":\"state\",\"state\":\"open\""), ==, 1);
}

static void
test_cli_text (void)
{
  g_autoptr(WwTestServer) server = ww_test_server_new (20, NULL);
  g_autofree char *url = NULL;
  g_autoptr(Child) c = NULL;

  ww_test_server_start (server, 0);
  url = ww_test_server_url (server, "/ws");
  {
    const char *args[] = { "--connect", url, "--token", "tok", NULL };

    /* The environment turns the default offer off: not negotiated. */
    g_setenv ("WW_CLIENT_DEFLATE", "0", TRUE);
    c = child_start (args);
    g_unsetenv ("WW_CLIENT_DEFLATE");
  }
  WAIT_LINES (c, "state open", 1);
  g_assert_cmpuint (count_substring (c, "(permessage-deflate off)"), ==, 1);
  WAIT_LINES (c, "initial seq ", 1);
  WAIT_LINES (c, "  EVENT#0", 5);
  WAIT_LINES (c, "update seq ", 3);
  WAIT_LINES (c, "rtt ", 1); /* the first PING goes out on open */
  g_assert_cmpstr (ww_test_server_get_last_auth (server), ==, "Bearer tok");
  g_assert_cmpint (child_finish (c, TRUE), ==, 0);
}

static void
test_cli_bad_url (void)
{
  const char *bad[] = { "http://127.0.0.1/", "ws://", "nonsense" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      const char *args[] = { "--connect", bad[i], NULL };
      g_autoptr(Child) c = child_start (args);

      g_assert_cmpint (child_finish (c, FALSE), ==, 2);
      g_assert_nonnull (strstr (c->err, "wirewatch: "));
    }
}

static void
test_cli_tls (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ww-cli-tls-XXXXXX", NULL);
  g_autofree char *key = g_build_filename (dir, "k.pem", NULL);
  g_autofree char *cert = g_build_filename (dir, "c.pem", NULL);
  const char *gen[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsCertificate) tls = NULL;
  g_autoptr(WwTestServer) server = NULL;
  g_autofree char *url = NULL;
  int status = -1;

  g_spawn_sync (NULL, (char **) gen, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, &error);
  g_assert_no_error (error);
  tls = g_tls_certificate_new_from_files (cert, key, &error);
  g_assert_no_error (error);
  server = ww_test_server_new (20, tls);
  ww_test_server_start (server, 0);
  url = ww_test_server_url (server, "/ws");

  {
    const char *args[] = { "--connect", url, NULL };
    g_autoptr(Child) c = child_start (args);

    /* Refused: no retrying can fix it, so exit 1 with the reason. */
    g_assert_cmpint (child_finish (c, FALSE), ==, 1);
    g_assert_nonnull (strstr (c->err, "not trusted"));
  }
  {
    const char *args[] = { "--connect", url, "--accept-certificate", cert, NULL };
    g_autoptr(Child) c = child_start (args);

    WAIT_LINES (c, "state open", 1);
    WAIT_LINES (c, "update seq ", 2);
    g_assert_cmpint (child_finish (c, TRUE), ==, 0);
  }
  {
    const char *args[] = { "--connect", url, "--accept-certificate", "/nonexistent.pem", NULL };
    g_autoptr(Child) c = child_start (args);

    g_assert_cmpint (child_finish (c, FALSE), ==, 2);
  }

  g_unlink (key);
  g_unlink (cert);
  g_rmdir (dir);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/client/cli/json", test_cli_json);
  g_test_add_func ("/client/cli/text", test_cli_text);
  g_test_add_func ("/client/cli/bad-url", test_cli_bad_url);
  g_test_add_func ("/client/cli/tls", test_cli_tls);
  return g_test_run ();
}
