/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-bench"

#include "config.h"

/*
 * Smoke test of the benchmark tools: wwload runs every workload with tiny
 * settings against the lean peer and, when the build has one, against
 * Wirewatch.  It asserts only that each run completes, moves data and sees
 * no protocol error — never a timing.  With --deflate against
 * `wirewatch --deflate` it also checks that permessage-deflate was
 * negotiated on every connection and compressed messages went both ways.
 *
 * usage: test-bench-smoke [GTest options] WWLOAD LEAN [WIREWATCH]
 */

#include <signal.h>
#include <sys/prctl.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

static const char *wwload_path;
static const char *lean_path;
static const char *wirewatch_path;

typedef enum {
  EXPECT_NONE,            /* no deflate offered */
  EXPECT_DEFLATE,         /* offered and negotiated on every connection */
  EXPECT_DECLINED,        /* offered, declined by the server */
} DeflateExpect;

typedef struct {
  const char *server;     /* "lean", "wirewatch" or "wirewatch+deflate" */
  const char *workload;
  const char *const *extra;
  const char *metric;     /* must be > 0 */
  DeflateExpect deflate;
} Case;

typedef struct {
  GSubprocess *proc;
  guint16      port;
  gboolean     exited;
} Server;

static void
die_with_parent (gpointer data)
{
  /* A failed assertion aborts the test: take the server down with it. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static guint16
free_port (void)
{
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                          G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (sock);
  g_socket_bind (sock, addr, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (sock, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static gboolean
port_open (guint16 port)
{
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                          G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, port);

  g_assert_nonnull (sock);
  /* Loopback: refused or accepted at once, no proxy, no timeout needed. */
  return g_socket_connect (sock, addr, NULL, NULL);
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  Server *srv = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  srv->exited = TRUE;
}

static void
server_start (Server *srv, const char *name)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GError) error = NULL;
  g_autofree char *port = NULL;

  srv->port = free_port ();
  port = g_strdup_printf ("%u", srv->port);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");
  if (g_str_equal (name, "lean"))
    srv->proc = g_subprocess_launcher_spawn (launcher, &error, lean_path, port, NULL);
  else
    srv->proc = g_subprocess_launcher_spawn (launcher, &error, wirewatch_path,
                                             "--headless", "--port", port, "--no-persist",
                                             "--rate-limit", "0", "--max-connections", "100000",
                                             "--max-per-address", "100000", "--heartbeat", "0",
                                             g_str_equal (name, "wirewatch+deflate") ?
                                               "--deflate" : NULL,
                                             NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (srv->proc, NULL, on_exited, srv);

  /* Bounded in count and time: 200 tries, a few seconds at most. */
  for (guint i = 0; i < 200; i++)
    {
      if (port_open (srv->port))
        return;
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_assert_false (srv->exited);
      g_usleep (25 * 1000);
    }
  g_error ("%s did not listen on port %u", name, srv->port);
}

static void
server_stop (Server *srv)
{
  gint64 deadline;

  if (srv->proc == NULL)
    return;
  if (!srv->exited)
    g_subprocess_send_signal (srv->proc, SIGTERM);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (!srv->exited && g_get_monotonic_time () < deadline)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (10 * 1000);
    }
  if (!srv->exited)
    {
      g_subprocess_force_exit (srv->proc);
      while (!srv->exited)
        g_main_context_iteration (NULL, TRUE);
    }
  g_clear_object (&srv->proc);
}

static void
test_workload (gconstpointer data)
{
  const Case *tc = data;
  Server srv = { 0 };
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocess) load = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *line = NULL;
  JsonObject *result, *errors;
  JsonNode *root;
  double metric;

  server_start (&srv, tc->server);

  g_ptr_array_add (argv, g_strdup (wwload_path));
  g_ptr_array_add (argv, g_strdup ("--workload"));
  g_ptr_array_add (argv, g_strdup (tc->workload));
  g_ptr_array_add (argv, g_strdup_printf ("--port=%u", srv.port));
  g_ptr_array_add (argv, g_strdup_printf ("--pid=%s", g_subprocess_get_identifier (srv.proc)));
  g_ptr_array_add (argv, g_strdup_printf ("--label=%s", tc->server));
  /* Tiny and bounded: wwload stops by itself after setup + 0.1 + 0.3 s. */
  g_ptr_array_add (argv, g_strdup ("--duration=0.3"));
  g_ptr_array_add (argv, g_strdup ("--warmup=0.1"));
  g_ptr_array_add (argv, g_strdup ("--setup-timeout=15"));
  for (guint i = 0; tc->extra[i]; i++)
    g_ptr_array_add (argv, g_strdup (tc->extra[i]));
  g_ptr_array_add (argv, NULL);

  load = g_subprocess_newv ((const char * const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (load, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  server_stop (&srv);

  g_test_message ("wwload: %s", out);
  if (err && *err)
    g_test_message ("wwload stderr: %s", err);
  g_assert_true (g_subprocess_get_if_exited (load));
  g_assert_cmpint (g_subprocess_get_exit_status (load), ==, 0);

  line = g_strndup (out, strcspn (out, "\n"));
  json_parser_load_from_data (parser, line, -1, &error);
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_nonnull (root);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  result = json_node_get_object (root);

  g_assert_true (json_object_get_boolean_member (result, "ok"));
  g_assert_cmpstr (json_object_get_string_member (result, "workload"), ==, tc->workload);
  g_assert_true (json_object_has_member (result, tc->metric));
  metric = json_object_get_double_member (result, tc->metric);
  g_assert_cmpfloat (metric, >, 0);
  g_assert_true (json_object_has_member (result, "errors"));
  errors = json_object_get_object_member (result, "errors");
  g_assert_nonnull (errors);
  g_assert_cmpint (json_object_get_int_member (errors, "protocol"), ==, 0);

  if (tc->deflate != EXPECT_NONE)
    {
      JsonObject *z, *wire;

      g_assert_true (json_object_has_member (result, "deflate"));
      z = json_object_get_object_member (result, "deflate");
      g_assert_nonnull (z);
      g_assert_true (json_object_get_boolean_member (z, "offered"));
      wire = json_object_get_object_member (result, "wire");
      g_assert_nonnull (wire);
      if (tc->deflate == EXPECT_DEFLATE)
        {
          g_assert_true (json_object_get_boolean_member (z, "all"));
          g_assert_cmpint (json_object_get_int_member (z, "negotiated"), ==,
                           json_object_get_int_member (result, "open"));
          /* Feed-like payloads of 64 bytes and more are compressed both
           * ways, and come out smaller on the wire than in the message. */
          g_assert_cmpint (json_object_get_int_member (z, "compressed_in"), >, 0);
          g_assert_cmpint (json_object_get_int_member (z, "compressed_out"), >, 0);
          g_assert_cmpfloat (json_object_get_double_member (wire, "in_bytes_per_msg"), <,
                             json_object_get_double_member (wire, "in_payload_per_msg"));
          /* One compressed frame per broadcast, shared by all 20 feed
           * clients: wwload's cache sees the same bytes again. */
          if (g_str_equal (tc->workload, "fanout"))
            g_assert_cmpint (json_object_get_int_member (z, "inflate_hits"), >, 0);
        }
      else
        {
          /* A server without the extension: plain frames, no error. */
          g_assert_false (json_object_get_boolean_member (z, "all"));
          g_assert_cmpint (json_object_get_int_member (z, "negotiated"), ==, 0);
          g_assert_cmpint (json_object_get_int_member (z, "compressed_in"), ==, 0);
          g_assert_cmpint (json_object_get_int_member (z, "compressed_out"), ==, 0);
        }
    }
}

static const char *const echo_args[] = { "--connections=4", "--inflight=4", NULL };
static const char *const fanout_args[] = { "--connections=20", NULL };
static const char *const rate_args[] = { "--connections=20", "--rate=200", NULL };
static const char *const connect_args[] = { "--concurrency=4", "--idle=20", NULL };
static const char *const idle_args[] = { "--connections=50", NULL };
static const char *const z_echo_args[] = { "--connections=4", "--inflight=4", "--size=1024",
                                           "--payload=feed", "--deflate", NULL };
static const char *const z_fanout_args[] = { "--connections=20", "--payload=feed", "--deflate",
                                             "--inflate-cache", NULL };
static const char *const z_idle_args[] = { "--connections=50", "--size=1024", "--payload=feed",
                                           "--exchange", "--deflate", NULL };

static void
add_deflate_cases (const char *server, DeflateExpect expect)
{
  const Case cases[] = {
    { server, "echo", z_echo_args, "msgs_per_s", expect },
    { server, "fanout", z_fanout_args, "deliveries_per_s", expect },
    { server, "idle", z_idle_args, expect == EXPECT_DEFLATE ? "exchanged" : "open", expect },
  };
  const char *names[] = { "deflate-echo", "deflate-fanout", "deflate-idle" };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/bench/%s/%s", server, names[i]);

      g_test_add_data_func_full (path, g_memdup2 (&cases[i], sizeof cases[i]),
                                 test_workload, g_free);
    }
}

static void
add_cases (const char *server)
{
  const Case cases[] = {
    { server, "echo", echo_args, "msgs_per_s", EXPECT_NONE },
    { server, "fanout", fanout_args, "deliveries_per_s", EXPECT_NONE },
    { server, "fanout", rate_args, "deliveries", EXPECT_NONE },
    { server, "connect", connect_args, "handshakes_per_s", EXPECT_NONE },
    { server, "idle", idle_args, "open", EXPECT_NONE },
  };
  const char *names[] = { "echo", "fanout", "fanout-rate", "connect", "idle" };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/bench/%s/%s", server, names[i]);

      g_test_add_data_func_full (path, g_memdup2 (&cases[i], sizeof cases[i]),
                                 test_workload, g_free);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (argc < 3)
    {
      g_printerr ("usage: %s [GTest options] WWLOAD LEAN [WIREWATCH]\n", argv[0]);
      return 2;
    }
  wwload_path = argv[1];
  lean_path = argv[2];
  wirewatch_path = argc > 3 ? argv[3] : NULL;

  add_cases ("lean");
  add_deflate_cases ("lean", EXPECT_DECLINED);
  if (wirewatch_path)
    {
      add_cases ("wirewatch");
      add_deflate_cases ("wirewatch+deflate", EXPECT_DEFLATE);
      add_deflate_cases ("wirewatch", EXPECT_DECLINED);
    }

  return g_test_run ();
}
