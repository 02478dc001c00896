/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-screenshot"

#include "config.h"

#include <locale.h>
#include <adwaita.h>
#include <glib/gi18n.h>
#include <libsoup/soup.h>

#include "app/ww-preferences.h"
#include "app/ww-window-private.h"

/*
 * Renders each page of a live window into OUTDIR/{events,clients,
 * traffic,log}.png for data/screenshots (run by screenshots.sh under
 * Xvfb).  A handful of WebSocket clients with real-looking user agents
 * connect first, so the Clients and Traffic pages show something.
 */

static const char *agents[] = {
  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
  "websocat/1.13",
  "Python/3.11 websockets/10.4",
  "node-ws/8.17",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
  "wscat/6.0",
};

typedef struct {
  GtkApplication *app;
  WwWindow       *window;
  char           *outdir;
  GPtrArray      *sessions;
  GPtrArray      *conns;
  guint           step;
  int             status;
  GtkWidget      *prefs;
  GSettings      *settings;
} Shots;

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  Shots *shots = data;
  SoupWebsocketConnection *conn;

  conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, NULL);
  if (conn != NULL)
    g_ptr_array_add (shots->conns, conn);
}

static gboolean
send_pings (gpointer data)
{
  Shots *shots = data;
  static guint n;

  for (guint i = 0; i < shots->conns->len; i++)
    {
      SoupWebsocketConnection *conn = g_ptr_array_index (shots->conns, i);
      g_autofree char *text = NULL;

      if (soup_websocket_connection_get_state (conn) != SOUP_WEBSOCKET_STATE_OPEN)
        continue;
      /* Different clients at different paces. */
      if ((n + i) % (i + 1) != 0)
        continue;
      text = g_strdup_printf ("{\"type\":\"PING\",\"id\":\"shot-%u-%u\",\"ts\":%"
                              G_GINT64_FORMAT "}", i, n, g_get_real_time () / 1000);
      soup_websocket_connection_send_text (conn, text);
    }
  n++;
  return G_SOURCE_CONTINUE;
}

static void
connect_clients (Shots *shots)
{
  WwServer *server = ww_window_get_server (shots->window);
  g_autofree char *url = NULL;

  if (server == NULL)
    return;
  url = ww_server_dup_url (server, "/ws");
  for (guint i = 0; i < G_N_ELEMENTS (agents); i++)
    {
      SoupSession *session = soup_session_new_with_options ("user-agent", agents[i], NULL);
      g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);

      g_ptr_array_add (shots->sessions, session);
      soup_session_websocket_connect_async (session, msg,
                                            i < 2 || i == 5 ? "http://127.0.0.1:8080" : NULL,
                                            NULL, G_PRIORITY_DEFAULT, NULL, on_connected, shots);
    }
  g_timeout_add (100, send_pings, shots);
}

static gboolean
save_widget (Shots      *shots,
             GtkWidget  *widget,
             const char *name)
{
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  g_autoptr(GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *path = g_strdup_printf ("%s/%s.png", shots->outdir, name);
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (widget));

  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  node = gtk_snapshot_to_node (snapshot);
  if (node == NULL || renderer == NULL)
    {
      g_printerr ("%s: nothing to render (node %p, renderer %p)\n", name, (void *) node,
                  (void *) renderer);
      return FALSE;
    }
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_printerr ("%s: could not write %s\n", name, path);
      return FALSE;
    }
  g_print ("%s (%d×%d)\n", path, width, height);
  return TRUE;
}

static const char *pages[] = { "events", "clients", "traffic", "log" };

/* The inspector with a message open looks like what it is for. */
static void
select_last_update (Shots *shots)
{
  WwLogPage *log = ww_window_get_log_page (shots->window);
  GListModel *model = ww_log_page_get_filtered_model (log);

  ww_log_page_flush (log);
  for (guint i = g_list_model_get_n_items (model); i > 0; i--)
    {
      g_autoptr(WwLogEntry) entry = g_list_model_get_item (model, i - 1);

      if (g_str_equal (ww_log_entry_get_message_type (entry), "UPDATE"))
        {
          ww_log_page_select (log, i - 1);
          return;
        }
    }
}

/* With WW_SCREENSHOT_EXTRA set: the preferences and a narrow window too,
 * for checking by eye (not part of data/screenshots). */
static gboolean
extra_step (Shots *shots,
            guint  step)
{
  switch (step)
    {
    case 0:
      shots->settings = g_settings_new (APPLICATION_ID);
      shots->prefs = GTK_WIDGET (ww_preferences_new (shots->settings));
      gtk_window_set_transient_for (GTK_WINDOW (shots->prefs), GTK_WINDOW (shots->window));
      gtk_window_present (GTK_WINDOW (shots->prefs));
      return TRUE;
    case 1:
      save_widget (shots, shots->prefs, "preferences");
      return TRUE;
    case 2:
      gtk_window_destroy (GTK_WINDOW (shots->prefs));
      ww_window_set_page (shots->window, "events");
      gtk_window_set_default_size (GTK_WINDOW (shots->window), 400, 760);
      return TRUE;
    case 3:
      save_widget (shots, GTK_WIDGET (shots->window), "narrow");
      return TRUE;
    case 4:
      gtk_window_set_default_size (GTK_WINDOW (shots->window), 1280, 800);
      ww_window_set_client_url (shots->window, "ws://127.0.0.1:1/ws");
      ww_window_set_mode (shots->window, WW_MODE_CLIENT);
      ww_window_set_page (shots->window, "clients");
      return TRUE;
    case 5:
      save_widget (shots, GTK_WIDGET (shots->window), "client-mode");
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
next_step (gpointer data)
{
  Shots *shots = data;
  guint page = shots->step / 2;

  if (page >= G_N_ELEMENTS (pages))
    {
      if (g_getenv ("WW_SCREENSHOT_EXTRA") != NULL &&
          extra_step (shots, shots->step - 2 * G_N_ELEMENTS (pages)))
        {
          shots->step++;
          return G_SOURCE_CONTINUE;
        }
      gtk_window_destroy (GTK_WINDOW (shots->window));
      g_clear_object (&shots->settings);
      g_application_quit (G_APPLICATION (shots->app));
      return G_SOURCE_REMOVE;
    }
  if (shots->step % 2 == 0)
    {
      ww_window_set_page (shots->window, pages[page]);
      if (g_str_equal (pages[page], "log"))
        select_last_update (shots);
    }
  else if (!save_widget (shots, GTK_WIDGET (shots->window), pages[page]))
    shots->status = 1;
  shots->step++;
  return G_SOURCE_CONTINUE;
}

static gboolean
start_shots (gpointer data)
{
  g_timeout_add (700, next_step, data);
  return G_SOURCE_REMOVE;
}

static void
on_activate (GtkApplication *app,
             Shots          *shots)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  g_autoptr(WwFeedConfig) feed = ww_feed_config_new ();

  config->port = 8080;
  feed->has_seed = TRUE;
  feed->seed = 7;
  feed->min_interval_ms = 1500;
  feed->max_interval_ms = 5000;
  feed->persist = FALSE;

  if (g_getenv ("WW_SCREENSHOT_DARK") != NULL)
    adw_style_manager_set_color_scheme (adw_style_manager_get_default (),
                                        ADW_COLOR_SCHEME_FORCE_DARK);
  shots->window = ww_window_new_full (app, config, FALSE, feed, NULL);
  gtk_window_set_default_size (GTK_WINDOW (shots->window), 1280, 800);
  gtk_window_present (GTK_WINDOW (shots->window));
  connect_clients (shots);
  /* Let the graphs and the log fill for a while first. */
  g_timeout_add_seconds (14, start_shots, shots);
}

int
main (int   argc,
      char *argv[])
{
  Shots shots = { 0 };
  g_autoptr(AdwApplication) app = NULL;

  if (argc != 2)
    {
      g_printerr ("usage: %s OUTDIR\n", argv[0]);
      return 2;
    }
  shots.outdir = argv[1];
  /* For checking a translation by eye: WW_LOCALEDIR=DIR LANGUAGE=de. */
  if (g_getenv ("WW_LOCALEDIR") != NULL)
    {
      setlocale (LC_ALL, "");
      bindtextdomain (GETTEXT_PACKAGE, g_getenv ("WW_LOCALEDIR"));
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      textdomain (GETTEXT_PACKAGE);
    }
  shots.sessions = g_ptr_array_new_with_free_func (g_object_unref);
  shots.conns = g_ptr_array_new_with_free_func (g_object_unref);

  app = adw_application_new ("io.github.wirewatch.Wirewatch.Screenshots",
                             G_APPLICATION_NON_UNIQUE);
  g_application_set_resource_base_path (G_APPLICATION (app), RESOURCE_PREFIX);
  shots.app = GTK_APPLICATION (app);
  g_signal_connect (app, "activate", G_CALLBACK (on_activate), &shots);
  g_application_run (G_APPLICATION (app), 1, argv);

  g_ptr_array_unref (shots.conns);
  g_ptr_array_unref (shots.sessions);
  return shots.status;
}
