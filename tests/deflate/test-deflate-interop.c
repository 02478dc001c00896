/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-deflate-test"

#include "config.h"

#include <string.h>

#include "feed/ww-event-feed.h"
#include "server/ww-server.h"

/*
 * permessage-deflate against other implementations: an in-process WwServer
 * + WwEventFeed with deflate on, and Debian's Python `websockets`, Node `ws`
 * and a raw zip-bomb client as child processes.  Each child is stopped by
 * its PID when it outlives its deadline; the main context serves the
 * children meanwhile.
 */

#define CHILD_TIMEOUT_S 150

typedef struct {
  WwServer    *server;
  WwEventFeed *feed;
  guint16      port;
  char        *base;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  g_autoptr(WwFeedConfig) feed_config = ww_feed_config_new ();
  g_autoptr(GError) error = NULL;

  g_free (config->bind_address);
  config->bind_address = g_strdup ("127.0.0.1");
  config->port = 0;
  config->deflate = data == NULL ? TRUE : GPOINTER_TO_INT (data) == 1;
  feed_config->has_seed = TRUE;
  feed_config->seed = 3;
  feed_config->min_interval_ms = 5;
  feed_config->max_interval_ms = 20;
  feed_config->persist = FALSE;

  f->server = ww_server_new (config);
  f->feed = ww_event_feed_new (feed_config);
  g_assert_true (ww_event_feed_attach (f->feed, f->server, &error));
  g_assert_no_error (error);
  g_assert_true (ww_server_start (f->server, &error));
  g_assert_no_error (error);
  f->port = ww_server_get_port (f->server);
  f->base = g_strdup_printf ("ws://127.0.0.1:%u", f->port);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  ww_server_stop (f->server);
  g_clear_object (&f->feed);
  g_clear_object (&f->server);
  g_free (f->base);
}

typedef struct {
  gboolean done;
  char    *out;
  GError  *error;
} Run;

static void
on_communicated (GObject *source, GAsyncResult *result, gpointer data)
{
  Run *run = data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &run->out, NULL,
                                        &run->error);
  run->done = TRUE;
}

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs @argv while the server keeps serving; returns its stdout and exit status. */
static char *
run_child (const char * const *argv, int *status)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  Run run = { FALSE, NULL, NULL };
  gboolean expired = FALSE;
  guint id;

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, on_communicated, &run);
  id = g_timeout_add_seconds (CHILD_TIMEOUT_S, on_deadline, &expired);
  while (!run.done && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!run.done)
    {
      /* Stop this child by its PID, then let communicate finish. */
      g_subprocess_force_exit (proc);
      while (!run.done)
        g_main_context_iteration (NULL, TRUE);
    }
  else
    g_source_remove (id);

  if (!expired)
    {
      while (!g_subprocess_get_if_exited (proc) && !g_subprocess_get_if_signaled (proc))
        g_subprocess_wait (proc, NULL, NULL);
    }
  g_assert_no_error (run.error);
  g_test_message ("%s said:\n%s", argv[1], run.out ? run.out : "");
  g_assert_false (expired);
  *status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
  return run.out;
}

static const char *
script (const char *name)
{
  static char path[4096];

  g_snprintf (path, sizeof path, "%s/%s", DEFLATE_SRCDIR, name);
  return path;
}

static void
test_python (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "/usr/bin/python3", script ("py-client.py"), f->base, NULL };
  g_autofree char *out = NULL;
  int status;

  if (!g_file_test (argv[0], G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("no /usr/bin/python3");
      return;
    }
  out = run_child (argv, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "echo ok"));
  g_assert_nonnull (strstr (out, "feed ok"));
  g_assert_nonnull (strstr (out, "PASS"));
}

static void
test_node (Fixture *f, gconstpointer data)
{
  const char *argv[] = { NODE_EXE, script ("node-client.mjs"), f->base, NULL };
  g_autofree char *out = NULL;
  int status;

  out = run_child (argv, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "no-context-takeover: feed ok"));
  g_assert_nonnull (strstr (out, "server-window-9: echo ok"));
  g_assert_nonnull (strstr (out, "PASS"));
}

/* Without --deflate the offer is declined and the clients still work. */
static void
test_node_server_off (Fixture *f, gconstpointer data)
{
  const char *argv[] = { NODE_EXE, script ("node-client.mjs"), f->base, "--expect-off", NULL };
  g_autofree char *out = NULL;
  int status;

  out = run_child (argv, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "default: feed ok"));
  g_assert_nonnull (strstr (out, "PASS"));
}

static gsize
status_kib (const char *field)
{
  g_autofree char *text = NULL;
  const char *p;

  g_assert_true (g_file_get_contents ("/proc/self/status", &text, NULL, NULL));
  p = strstr (text, field);
  g_assert_nonnull (p);
  return g_ascii_strtoull (p + strlen (field) + 1, NULL, 10);
}

/*
 * A compressed message that inflates far beyond the endpoint's limit is
 * refused with 1009 while inflating (bounded inflate), so the server's
 * memory never follows the bomb: /echo (16 MiB limit) gets 256 MiB of
 * zeros in about 256 KiB, the feed (64 KiB limit) 32 MiB of spaces in
 * about 32 KiB.  The bound on the peak RSS is far below either bomb.
 */
static void
test_bomb (Fixture *f, gconstpointer data)
{
  g_autofree char *port = g_strdup_printf ("%u", f->port);
  const char *echo_argv[] = { "/usr/bin/python3", script ("bomb.py"), "127.0.0.1", port,
                              "/echo", "268435456", "binary", NULL };
  const char *feed_argv[] = { "/usr/bin/python3", script ("bomb.py"), "127.0.0.1", port,
                              "/ws", "33554432", "text", NULL };
  gsize hwm_before = status_kib ("VmHWM:");
  gsize hwm_after;
  int status;

  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *out = run_child (i == 0 ? echo_argv : feed_argv, &status);

      g_assert_cmpint (status, ==, 0);
      g_assert_nonnull (strstr (out, "close 1009"));
    }
  hwm_after = status_kib ("VmHWM:");
  g_test_message ("peak RSS %zu KiB before the bombs, %zu KiB after", hwm_before, hwm_after);
  g_assert_cmpuint (hwm_after, <, hwm_before + 96 * 1024);

  /* The server still serves after both. */
  {
    const char *argv[] = { NODE_EXE, script ("node-client.mjs"), f->base, "--quick", NULL };
    g_autofree char *out = run_child (argv, &status);

    g_assert_cmpint (status, ==, 0);
    g_assert_nonnull (strstr (out, "PASS"));
  }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  /* The bomb first, so the peak RSS it measures is not the 1 MiB echoes'. */
  g_test_add ("/deflate/interop/zip-bomb", Fixture, GINT_TO_POINTER (1),
              fixture_set_up, test_bomb, fixture_tear_down);
  g_test_add ("/deflate/interop/python-websockets", Fixture, GINT_TO_POINTER (1),
              fixture_set_up, test_python, fixture_tear_down);
  g_test_add ("/deflate/interop/node-ws", Fixture, GINT_TO_POINTER (1),
              fixture_set_up, test_node, fixture_tear_down);
  g_test_add ("/deflate/interop/node-ws-server-off", Fixture, GINT_TO_POINTER (2),
              fixture_set_up, test_node_server_off, fixture_tear_down);
  return g_test_run ();
}
