/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server-test"

#include "config.h"

#include <gio/gio.h>

#include "ww-server-test.h"

/*
 * Peers no one here wrote, against the in-process server's /echo: Python's
 * websockets (Debian's /usr/bin/python3) and Node's ws.  Each client runs
 * as a child process given the port; it is killed by its PID if it does
 * not finish in time.
 */

typedef struct {
  gboolean done;
} Wait;

static void
wait_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  ((Wait *) data)->done = TRUE;
}

static void
run_client (const char * const *argv, guint timeout_ms)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  Wait wait = { 0 };

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_NONE, &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (proc, NULL, wait_done, &wait);
  while (!wait.done && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE), g_usleep (2000);
  if (!wait.done)
    {
      g_subprocess_force_exit (proc);
      while (!wait.done)
        g_main_context_iteration (NULL, TRUE);
      g_error ("%s did not finish within %u ms", argv[1], timeout_ms);
    }
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
}

static WwServer *
new_server (gboolean deflate)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();

  config->deflate = deflate;
  return wwt_server_new (config);
}

static void
test_python (gconstpointer data)
{
  gboolean deflate = GPOINTER_TO_INT (data);
  WwServer *server;
  g_autofree char *script = NULL;
  g_autofree char *port = NULL;

  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("/usr/bin/python3 is not installed");
      return;
    }
  server = new_server (deflate);
  script = g_build_filename (WW_TEST_SRCDIR, "interop-python.py", NULL);
  port = g_strdup_printf ("%u", ww_server_get_port (server));
  run_client ((const char * const[]) { "/usr/bin/python3", script, port,
                                       deflate ? "deflate" : "plain", NULL }, 60000);
  wwt_server_free (server);
}

static void
test_node (gconstpointer data)
{
  gboolean deflate = GPOINTER_TO_INT (data);
  WwServer *server;
  g_autofree char *script = NULL;
  g_autofree char *port = NULL;
  g_autofree char *ws_dir = g_build_filename (WW_TEST_SRCDIR, "..", "node_modules", "ws", NULL);
  g_autofree char *node = g_find_program_in_path ("node");

  if (!g_file_test (ws_dir, G_FILE_TEST_IS_DIR) || node == NULL)
    {
      g_test_skip ("Node's ws is not installed: run `cd tests && npm install --no-audit --no-fund`");
      return;
    }
  server = new_server (deflate);
  script = g_build_filename (WW_TEST_SRCDIR, "interop-node.js", NULL);
  port = g_strdup_printf ("%u", ww_server_get_port (server));
  run_client ((const char * const[]) { node, script, port, deflate ? "deflate" : "plain", NULL },
              60000);
  wwt_server_free (server);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/interop/python-websockets", GINT_TO_POINTER (FALSE), test_python);
  g_test_add_data_func ("/interop/python-websockets-deflate", GINT_TO_POINTER (TRUE), test_python);
  g_test_add_data_func ("/interop/node-ws", GINT_TO_POINTER (FALSE), test_node);
  g_test_add_data_func ("/interop/node-ws-deflate", GINT_TO_POINTER (TRUE), test_node);
  return g_test_run ();
}
