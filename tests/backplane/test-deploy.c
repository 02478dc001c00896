/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test-deploy"

#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <glib/gstdio.h>
#include <libsoup/soup.h>

/*
 * data/deploy/nginx.conf, checked two ways: "nginx -t" on the file as
 * shipped (only the ports and the scratch paths are rewritten, so an
 * unprivileged test can run it), and a real nginx on loopback in front of
 * three upstream ports, through which a WebSocket client must reach an
 * echo endpoint and plain HTTP must still work.
 */

#define NGINX "/usr/sbin/nginx"

const char *__lsan_default_suppressions (void);
const char *__asan_default_options (void);

/* GLib has no frame pointers: without the slow unwinder a leak report
 * stops at g_malloc and no suppression can match. */
const char *
__asan_default_options (void)
{
  return "fast_unwind_on_malloc=0";
}

/* libsoup 3.2's SoupServer (the stand-in upstream, not our code) drops a
 * reference to each accepted socket that became a WebSocket. */
const char *
__lsan_default_suppressions (void)
{
  return "leak:g_socket_accept\n";
}

typedef struct {
  char         *tmpdir;
  char         *conf_path;
  int           listen_port;
  SoupServer   *upstream;
  GSubprocess  *nginx;
  GMainContext *context;
  char         *forwarded_for;   /* X-Forwarded-For seen upstream */
  guint         n_upgrades;
} Fixture;

static void
kill_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static int
free_port (void)
{
  g_autoptr(GSocket) sock = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (sock, addr, TRUE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (sock, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static char *
read_example (void)
{
  const char *root = g_getenv ("WW_SOURCE_ROOT");
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_assert_nonnull (root);
  path = g_build_filename (root, "data", "deploy", "nginx.conf", NULL);
  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static char *
replace_once (const char *text,
              const char *old,
              const char *new)
{
  const char *at = strstr (text, old);

  g_assert_nonnull (at);
  /* Exactly once: the test must know what it rewrites. */
  g_assert_null (strstr (at + strlen (old), old));
  return g_strdup_printf ("%.*s%s%s", (int) (at - text), text, new, at + strlen (old));
}

/* The shipped file with loopback ports and per-test scratch paths. */
static void
write_config (Fixture    *f,
              const int   upstream_ports[3])
{
  char *text = read_example ();
  g_autoptr(GError) error = NULL;
  g_autofree char *listen = g_strdup_printf ("listen 127.0.0.1:%d;", f->listen_port);
  g_autofree char *scratch = NULL;
  char *tmp;

  tmp = replace_once (text, "listen 8080;", listen);
  g_free (text);
  text = tmp;
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *old = g_strdup_printf ("server 127.0.0.1:%d ", 8081 + i);
      g_autofree char *new = g_strdup_printf ("server 127.0.0.1:%d ", upstream_ports[i]);

      tmp = replace_once (text, old, new);
      g_free (text);
      text = tmp;
    }
  /* The packaged nginx keeps its scratch files under /var/lib/nginx. */
  scratch = g_strdup_printf ("http {\n"
                             "    client_body_temp_path %1$s/body;\n"
                             "    proxy_temp_path %1$s/proxy;\n"
                             "    fastcgi_temp_path %1$s/fastcgi;\n"
                             "    uwsgi_temp_path %1$s/uwsgi;\n"
                             "    scgi_temp_path %1$s/scgi;\n"
                             "    access_log %1$s/access.log;\n",
                             f->tmpdir);
  tmp = replace_once (text, "http {\n", scratch);
  g_free (text);
  text = tmp;

  f->conf_path = g_build_filename (f->tmpdir, "nginx.conf", NULL);
  g_file_set_contents (f->conf_path, text, -1, &error);
  g_assert_no_error (error);
  g_free (text);
}

static char *
main_directives (Fixture *f)
{
  return g_strdup_printf ("pid %1$s/nginx.pid; error_log %1$s/error.log notice; "
                          "lock_file %1$s/nginx.lock;",
                          f->tmpdir);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->tmpdir = g_dir_make_tmp ("ww-deploy-XXXXXX", &error);
  g_assert_no_error (error);
  f->context = g_main_context_new ();
  g_main_context_push_thread_default (f->context);
  f->listen_port = free_port ();
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    {
      g_remove (path);
      return;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      remove_tree (child);
    }
  g_rmdir (path);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  if (f->nginx != NULL)
    {
      g_subprocess_send_signal (f->nginx, SIGTERM);
      g_subprocess_wait (f->nginx, NULL, NULL);
      g_clear_object (&f->nginx);
    }
  if (f->upstream != NULL)
    {
      soup_server_disconnect (f->upstream);
      g_clear_object (&f->upstream);
    }
  for (guint i = 0; i < 100 && g_main_context_iteration (f->context, FALSE); i++)
    ;
  g_main_context_pop_thread_default (f->context);
  g_main_context_unref (f->context);
  remove_tree (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->conf_path);
  g_free (f->forwarded_for);
}

static gboolean
wake_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static void
iterate (GMainContext *context)
{
  GSource *wake = g_timeout_source_new (10);

  g_source_set_callback (wake, wake_cb, NULL, NULL);
  g_source_attach (wake, context);
  g_main_context_iteration (context, TRUE);
  g_source_destroy (wake);
  g_source_unref (wake);
}

#define WAIT_UNTIL(ctx, cond, ms) G_STMT_START {                             \
    gint64 wait_end_ = g_get_monotonic_time () + (gint64) (ms) * 1000;       \
    guint wait_turns_ = 0;                                                   \
    while (!(cond))                                                          \
      {                                                                      \
        if (g_get_monotonic_time () > wait_end_ || ++wait_turns_ > 100000)   \
          g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond); \
        iterate (ctx);                                                       \
      }                                                                      \
  } G_STMT_END

/* ------------------------------------------------------------------ */

static void
test_directives (void)
{
  g_autofree char *text = read_example ();
  static const char *required[] = {
    "map $http_upgrade $connection_upgrade",
    "proxy_http_version 1.1;",
    "proxy_set_header Upgrade $http_upgrade;",
    "proxy_set_header Connection $connection_upgrade;",
    "upstream wirewatch",
    "proxy_pass http://wirewatch;",
  };
  static const char *timeouts[] = { "proxy_read_timeout ", "proxy_send_timeout " };

  for (guint i = 0; i < G_N_ELEMENTS (required); i++)
    g_assert_nonnull (strstr (text, required[i]));

  /* Above the 15 s heartbeat, or nginx drops idle but healthy sockets. */
  for (guint i = 0; i < G_N_ELEMENTS (timeouts); i++)
    {
      const char *at = strstr (text, timeouts[i]);
      char *end = NULL;
      guint64 value;

      g_assert_nonnull (at);
      value = g_ascii_strtoull (at + strlen (timeouts[i]), &end, 10);
      g_assert_true (end != NULL && (*end == 's' || *end == 'm'));
      if (*end == 'm')
        value *= 60;
      g_assert_cmpuint (value, >, 15);
    }
}

static void
test_syntax (Fixture       *f,
             gconstpointer  data)
{
  const int ports[3] = { free_port (), free_port (), free_port () };
  g_autofree char *globals = main_directives (f);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;
  const char *argv[] = { NGINX, "-t", "-q", "-p", f->tmpdir, "-c", NULL, "-g", globals, NULL };

  write_config (f, ports);
  argv[6] = f->conf_path;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, kill_with_parent, NULL,
                &out, &err, &status, &error);
  g_assert_no_error (error);
  g_test_message ("nginx -t: %s", err);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
  g_assert_null (strstr (err, "[emerg]"));
}

static void
upstream_http (SoupServer        *server,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           user_data)
{
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "ok", 2);
}

static void
on_upstream_message (SoupWebsocketConnection *ws,
                     SoupWebsocketDataType    type,
                     GBytes                  *message,
                     gpointer                 user_data)
{
  soup_websocket_connection_send_message (ws, type, message);
}

static void
upstream_ws (SoupServer              *server,
             SoupServerMessage       *msg,
             const char              *path,
             SoupWebsocketConnection *connection,
             gpointer                 user_data)
{
  Fixture *f = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  f->n_upgrades++;
  g_free (f->forwarded_for);
  f->forwarded_for = g_strdup (soup_message_headers_get_one (headers, "X-Forwarded-For"));
  /* The connection stays alive through this reference until it closes. */
  g_signal_connect_object (connection, "message", G_CALLBACK (on_upstream_message), NULL, 0);
  g_object_set_data_full (G_OBJECT (server), "ws", g_object_ref (connection), g_object_unref);
}

static gboolean
port_open (int port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;

  g_socket_client_set_timeout (client, 1);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", (guint16) port, NULL, NULL);
  return conn != NULL;
}

static void
ws_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  SoupWebsocketConnection **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  g_assert_no_error (error);
}

static void
ws_message (SoupWebsocketConnection *ws,
            SoupWebsocketDataType    type,
            GBytes                  *message,
            gpointer                 user_data)
{
  char **out = user_data;

  g_free (*out);
  *out = g_strndup (g_bytes_get_data (message, NULL), g_bytes_get_size (message));
}

static void
http_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  GBytes **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_assert_no_error (error);
}

static void
test_proxy (Fixture       *f,
            gconstpointer  data)
{
  int ports[3];
  g_autofree char *globals = main_directives (f);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(SoupMessage) get = NULL;
  g_autoptr(GBytes) body = NULL;
  SoupWebsocketConnection *ws = NULL;
  g_autofree char *echoed = NULL;
  g_autofree char *url = NULL;
  g_autofree char *daemon_off = g_strdup_printf ("daemon off; master_process off; %s", globals);

  /* One upstream server on three ports stands in for three instances;
   * port 0 so no other test can take them first. */
  f->upstream = soup_server_new ("server-header", "ww-test-upstream", NULL);
  soup_server_add_handler (f->upstream, NULL, upstream_http, f, NULL);
  soup_server_add_websocket_handler (f->upstream, "/echo", NULL, NULL, upstream_ws, f, NULL);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
      GSList *listeners;
      g_autoptr(GSocketAddress) bound = NULL;

      soup_server_listen (f->upstream, addr, 0, &error);
      g_assert_no_error (error);
      listeners = soup_server_get_listeners (f->upstream);
      bound = g_socket_get_local_address (g_slist_last (listeners)->data, &error);
      g_assert_no_error (error);
      ports[i] = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
      g_slist_free (listeners);
    }

  /* nginx's own port can only be picked and then bound: it counts as
   * started when it wrote its pid file (after binding); else retry. */
  for (guint attempt = 0; attempt < 5 && f->nginx == NULL; attempt++)
    {
      g_autofree char *pid_file = NULL;

      g_clear_pointer (&f->conf_path, g_free);
      if (attempt > 0)
        f->listen_port = free_port ();
      write_config (f, ports);
      pid_file = g_build_filename (f->tmpdir, "nginx.pid", NULL);
      g_remove (pid_file);

      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                            G_SUBPROCESS_FLAGS_STDERR_SILENCE);
      g_subprocess_launcher_set_child_setup (launcher, kill_with_parent, NULL, NULL);
      f->nginx = g_subprocess_launcher_spawn (launcher, &error, NGINX, "-p", f->tmpdir,
                                              "-c", f->conf_path, "-g", daemon_off, NULL);
      g_assert_no_error (error);
      g_clear_object (&launcher);

      /* At most 200 × 25 ms, less when it exits. */
      for (guint i = 0; i < 200 && !g_file_test (pid_file, G_FILE_TEST_EXISTS); i++)
        {
          const char *pid = g_subprocess_get_identifier (f->nginx);

          if (pid == NULL || kill ((pid_t) g_ascii_strtoll (pid, NULL, 10), 0) != 0)
            break;
          g_usleep (25 * 1000);
        }
      if (!g_file_test (pid_file, G_FILE_TEST_EXISTS))
        {
          g_subprocess_force_exit (f->nginx);
          g_subprocess_wait (f->nginx, NULL, NULL);
          g_clear_object (&f->nginx);
        }
    }
  g_assert_nonnull (f->nginx);
  g_assert_true (port_open (f->listen_port));

  session = soup_session_new ();

  /* Plain HTTP still goes through. */
  url = g_strdup_printf ("http://127.0.0.1:%d/healthz", f->listen_port);
  get = soup_message_new ("GET", url);
  soup_session_send_and_read_async (session, get, G_PRIORITY_DEFAULT, NULL, http_done, &body);
  WAIT_UNTIL (f->context, body != NULL, 10000);
  g_assert_cmpuint (soup_message_get_status (get), ==, 200);
  /* Through nginx, which replaces the upstream's Server header. */
  g_assert_nonnull (strstr (soup_message_headers_get_one (soup_message_get_response_headers (get),
                                                          "Server"), "nginx"));
  g_assert_cmpmem (g_bytes_get_data (body, NULL), g_bytes_get_size (body), "ok", 2);

  /* And the upgrade, both ways. */
  g_free (url);
  url = g_strdup_printf ("ws://127.0.0.1:%d/echo", f->listen_port);
  msg = soup_message_new ("GET", url);
  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        ws_connected, &ws);
  WAIT_UNTIL (f->context, ws != NULL, 10000);
  g_assert_cmpuint (f->n_upgrades, ==, 1);
  g_assert_cmpstr (f->forwarded_for, ==, "127.0.0.1");

  g_signal_connect (ws, "message", G_CALLBACK (ws_message), &echoed);
  soup_websocket_connection_send_text (ws, "{\"type\":\"PING\",\"id\":\"through-nginx\",\"ts\":1}");
  WAIT_UNTIL (f->context, echoed != NULL, 10000);
  g_assert_cmpstr (echoed, ==, "{\"type\":\"PING\",\"id\":\"through-nginx\",\"ts\":1}");

  soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  WAIT_UNTIL (f->context,
              soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_CLOSED, 10000);
  g_assert_cmpint (soup_websocket_connection_get_close_code (ws), ==, SOUP_WEBSOCKET_CLOSE_NORMAL);
  g_object_unref (ws);
  g_object_set_data (G_OBJECT (f->upstream), "ws", NULL);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/deploy/nginx/directives", test_directives);
  if (!g_file_test (NGINX, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("no " NGINX);
      return g_test_run ();
    }
  g_test_add ("/deploy/nginx/syntax", Fixture, NULL, fixture_setup, test_syntax, fixture_teardown);
  g_test_add ("/deploy/nginx/proxy", Fixture, NULL, fixture_setup, test_proxy, fixture_teardown);

  return g_test_run ();
}
