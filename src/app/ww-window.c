/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <glib/gi18n.h>

#include "ww-chart.h"
#include "ww-window-private.h"

struct _WwWindow
{
  AdwApplicationWindow  parent_instance;

  /* Template children */
  AdwToastOverlay      *toast_overlay;
  GtkStack             *address_stack;
  GtkSpinButton        *port_spin;
  GtkEntry             *url_entry;
  GtkButton            *run_button;
  AdwButtonContent     *run_content;
  AdwViewStack         *view_stack;
  GtkLabel             *status_dot;
  GtkLabel             *status_label;
  WwChart              *latency_strip;
  GtkLabel             *strip_label;
  GtkRevealer          *warning_revealer;
  GtkLabel             *warning_label;
  GtkLabel             *events_summary;
  GtkListView          *recent_view;
  WwEventCard          *cards[WW_WINDOW_N_EVENTS];
  WwClientsPage        *clients_page;
  WwTrafficPage        *traffic_page;
  WwLogPage            *log_page;

  /* State */
  GSettings            *settings;
  WwServerConfig       *base_config;
  gboolean              port_given;
  WwFeedConfig         *feed_config;
  WwMode                mode;
  gboolean              running;
  WwServer             *server;
  WwEventFeed          *feed;
  WwBackplane          *backplane;  /* NULL unless redis-url is set */
  char                 *redis_url;  /* --redis: wins over the setting */
  WwClient             *client;
  GtkStringList        *recent;
  char                 *status_text;
  char                 *error_text;
  char                 *port_note;
  guint16               requested_port;
  guint                 tick_id;
  guint                 update_interval_ms;
  guint                 rtt_series;

  /* Cost of the refresh on the main thread (G_MESSAGES_DEBUG=ww-app). */
  gint64                refresh_window_start;
  gint64                refresh_total_us;
  gint64                refresh_max_us;
  guint                 refresh_count;
  gint64                last_clients_update;
  guint64               last_connections_total;
  guint64               last_connections_active;
  gboolean              snapshot_in_flight;
  guint                 n_stopping;
  gboolean              start_pending;
  gboolean              disposed;
  gint64                clients_update_us;
  guint                 clients_update_count;

  /* The frame meter (WW_FPS_LOG=1, or =stress to redraw every frame). */
  gboolean              fps_stress;
  guint                 fps_tick_id;
  gint64                fps_window_start;
  gint64                fps_frame_start;
  gint64                fps_last_paint;
  gint64                fps_longest_frame;
  gint64                fps_longest_gap;
  gboolean              fps_painted;
  guint                 fps_frames;
};

G_DEFINE_FINAL_TYPE (WwWindow, ww_window, ADW_TYPE_APPLICATION_WINDOW)

/* Recent updates listed under the cards. */
#define N_RECENT 12
/* Seconds of round trips behind the percentile lines. */
#define RTT_WINDOW_S 30
/* The built-in client PINGs this often, so the graphs are never empty. */
#define PING_INTERVAL_S 1

static void ww_window_update_status (WwWindow *self);
static void restart_tick (WwWindow *self);

/* ---- settings helpers (settings may be NULL: schema not installed) ---- */

static int
settings_int (WwWindow   *self,
              const char *key,
              int         fallback)
{
  return self->settings ? g_settings_get_int (self->settings, key) : fallback;
}

static char *
settings_string (WwWindow   *self,
                 const char *key)
{
  return self->settings ? g_settings_get_string (self->settings, key) : g_strdup ("");
}

/*
 * The command line wins; a field it left at the built-in default comes
 * from the preferences.
 */
static WwServerConfig *
effective_config (WwWindow *self)
{
  WwServerConfig *config = ww_server_config_copy (self->base_config);
  g_autoptr(WwServerConfig) defaults = ww_server_config_new ();
  g_autofree char *bind = settings_string (self, "bind-address");
  g_autofree char *cert = settings_string (self, "tls-certificate");
  g_autofree char *key = settings_string (self, "tls-key");
  g_autofree char *token = settings_string (self, "token");
  int max_connections = settings_int (self, "max-connections", 0);
  int rate_limit = settings_int (self, "rate-limit", 0);

  if (self->settings == NULL)
    return config;

  if (g_strcmp0 (config->bind_address, defaults->bind_address) == 0 && *bind)
    {
      g_free (config->bind_address);
      config->bind_address = g_strdup (bind);
    }
  if (config->heartbeat_ms == defaults->heartbeat_ms)
    config->heartbeat_ms = (guint) settings_int (self, "heartbeat-interval", 15) * 1000;
  if (config->max_connections == defaults->max_connections && max_connections > 0)
    config->max_connections = (guint) max_connections;
  if (config->rate_limit == defaults->rate_limit && rate_limit > 0)
    config->rate_limit = (guint) rate_limit;
  if (config->tls_cert_file == NULL && *cert && *key)
    {
      config->tls_cert_file = g_strdup (cert);
      g_free (config->tls_key_file);
      config->tls_key_file = g_strdup (key);
    }
  if (config->token == NULL && *token)
    config->token = g_strdup (token);
  if (config->allowed_origins == NULL || config->allowed_origins[0] == NULL)
    {
      g_auto(GStrv) origins = g_settings_get_strv (self->settings, "allowed-origins");

      if (origins[0] != NULL)
        {
          g_strfreev (config->allowed_origins);
          config->allowed_origins = g_steal_pointer (&origins);
        }
    }
  if (!config->deflate)
    config->deflate = g_settings_get_boolean (self->settings, "deflate");
  return config;
}

static void
set_string (char       **slot,
            const char  *value)
{
  char *copy = g_strdup (value);

  g_free (*slot);
  *slot = copy;
}

static void
toast (WwWindow   *self,
       const char *text)
{
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (text));
}

/* ---- events page ---- */

static WwEventCard *
card_for_id (WwWindow   *self,
             const char *id)
{
  /* An event without an id is malformed: show nothing rather than guess. */
  if (id == NULL || *id == '\0')
    return NULL;
  for (guint i = 0; i < WW_WINDOW_N_EVENTS; i++)
    if (g_strcmp0 (ww_event_card_get_event_id (self->cards[i]), id) == 0)
      return self->cards[i];
  for (guint i = 0; i < WW_WINDOW_N_EVENTS; i++)
    if (!ww_event_card_has_event (self->cards[i]))
      return self->cards[i];
  return NULL;
}

static const char *
event_id (JsonObject *event)
{
  JsonNode *node = json_object_get_member (event, "id");

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static void
clear_events (WwWindow *self)
{
  for (guint i = 0; i < WW_WINDOW_N_EVENTS; i++)
    ww_event_card_clear (self->cards[i]);
  gtk_string_list_splice (self->recent, 0,
                          g_list_model_get_n_items (G_LIST_MODEL (self->recent)), NULL);
  gtk_label_set_text (self->events_summary, "");
}

static void
on_client_initial (WwWindow  *self,
                   guint64    seq,
                   JsonArray *events,
                   WwClient  *client)
{
  guint n = json_array_get_length (events);

  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (events, i);
      WwEventCard *card;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      card = card_for_id (self, event_id (json_node_get_object (node)));
      if (card != NULL)
        ww_event_card_set_event (card, json_node_get_object (node), seq, FALSE);
    }
}

static void
on_client_update (WwWindow   *self,
                  guint64     seq,
                  JsonObject *event,
                  gint64      ts,
                  WwClient   *client)
{
  WwEventCard *card = card_for_id (self, event_id (event));
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *time = g_date_time_format (now, "%H:%M:%S");
  g_autofree char *line = NULL;
  JsonNode *name = json_object_get_member (event, "name");

  if (card == NULL)
    return;
  ww_event_card_set_event (card, event, seq, TRUE);

  /* Translators: a line of the recent-updates list: time, event id, score, name, seq */
  line = g_strdup_printf (_("%s   %s   %s   %s   seq %llu"), time,
                          ww_event_card_get_event_id (card),
                          ww_event_card_get_score_text (card),
                          name && JSON_NODE_HOLDS_VALUE (name) &&
                          json_node_get_value_type (name) == G_TYPE_STRING
                            ? json_node_get_string (name) : "",
                          (unsigned long long) seq);
  {
    const char *lines[] = { line, NULL };

    gtk_string_list_splice (self->recent, 0, 0, lines);
  }
  if (g_list_model_get_n_items (G_LIST_MODEL (self->recent)) > N_RECENT)
    gtk_string_list_remove (self->recent, N_RECENT);
}

/* ---- client ---- */

static void
on_client_frame (WwWindow *self,
                 gboolean  outgoing,
                 guint     opcode,
                 GBytes   *payload,
                 WwClient *client)
{
  ww_log_page_append (self->log_page,
                      ww_log_entry_new_frame (g_get_real_time (), outgoing, opcode, payload));
}

static void
on_client_rtt (WwWindow *self,
               gint64    rtt_us,
               WwClient *client)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *text = NULL;

  ww_chart_push (self->latency_strip, self->rtt_series, now, rtt_us / 1000.0);
  ww_traffic_page_add_rtt (self->traffic_page, now, rtt_us);
  text = g_strdup_printf (_("RTT %.2f ms"), rtt_us / 1000.0);
  gtk_label_set_text (self->strip_label, text);
  ww_window_update_status (self);
}

static void
on_client_state (WwWindow   *self,
                 GParamSpec *pspec,
                 WwClient   *client)
{
  ww_window_update_status (self);
}

static void
log_note (WwWindow   *self,
          const char *text)
{
  ww_log_page_append (self->log_page, ww_log_entry_new_note (g_get_real_time (), text));
}

/* ---- server ---- */

gboolean
ww_window_should_warn_exposed (const char *bind_address,
                               const char *token)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();

  /* The server's own rule, so the strip and its log warning agree. */
  g_free (config->bind_address);
  config->bind_address = g_strdup (bind_address);
  g_free (config->token);
  config->token = g_strdup (token);
  return ww_server_config_is_exposed (config);
}

/*
 * Persistent while the server mode is set up to be reachable from other
 * computers without a token: the running server's settings, or the ones
 * the next Start would use.
 */
static void
update_warning (WwWindow *self)
{
  g_autoptr(WwServerConfig) planned = NULL;
  const WwServerConfig *config = NULL;
  gboolean exposed = FALSE;

  if (self->mode == WW_MODE_SERVER)
    {
      if (self->server != NULL)
        config = ww_server_get_config (self->server);
      else
        config = planned = effective_config (self);
      exposed = ww_window_should_warn_exposed (config->bind_address, config->token);
    }

  if (exposed)
    {
      g_autofree char *text = NULL;

      if (self->server != NULL)
        text = g_strdup_printf (_("Listening on %s without an access token: anyone who can reach "
                                  "this computer can connect. Set a token in Preferences, or bind "
                                  "to 127.0.0.1."),
                                config->bind_address);
      else
        text = g_strdup_printf (_("The server will listen on %s without an access token: anyone "
                                  "who can reach this computer will be able to connect. Set a "
                                  "token in Preferences, or bind to 127.0.0.1."),
                                config->bind_address);
      gtk_label_set_text (self->warning_label, text);
    }
  gtk_revealer_set_reveal_child (self->warning_revealer, exposed);
}

static char *
server_page_url (WwWindow *self)
{
  g_autofree char *ws = NULL;

  if (self->server == NULL || !ww_server_is_running (self->server))
    return NULL;
  ws = ww_server_dup_url (self->server, "/");
  if (g_str_has_prefix (ws, "wss://"))
    return g_strconcat ("https://", ws + 6, NULL);
  if (g_str_has_prefix (ws, "ws://"))
    return g_strconcat ("http://", ws + 5, NULL);
  return g_steal_pointer (&ws);
}

static void
set_action_enabled (WwWindow   *self,
                    const char *name,
                    gboolean    enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);

  if (action != NULL)
    g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

static void
update_actions (WwWindow *self)
{
  gboolean serving = self->mode == WW_MODE_SERVER && self->server != NULL;
  gboolean open = ww_client_get_state (self->client) == WW_CLIENT_STATE_OPEN;

  set_action_enabled (self, "open-browser", serving);
  set_action_enabled (self, "copy-url", serving);
  set_action_enabled (self, "ping", open);
}

/* Servers being stopped on worker threads, across all windows. */
static guint n_stopping_servers;

/* What a stop hands to its worker thread. */
typedef struct {
  WwServer    *server;
  WwEventFeed *feed;
  WwBackplane *backplane;  /* NULL without Redis */
  GMutex       lock;
  GCond        cond;
  gboolean     quiet;      /* the I/O context ran quiet_feed_cb */
} StopData;

static void
stop_data_free (gpointer data)
{
  StopData *stop = data;

  g_clear_object (&stop->server);
  g_clear_object (&stop->feed);
  g_clear_object (&stop->backplane);
  g_mutex_clear (&stop->lock);
  g_cond_clear (&stop->cond);
  g_free (stop);
}

/*
 * On the server's I/O context, before the server stops: the backplane
 * gives up its lease and presence first (its "connected" going off would
 * otherwise turn the simulator back on), then the simulator pauses, so
 * no UPDATE is saved after the close frames that no client could get.
 */
static gboolean
quiet_feed_cb (gpointer data)
{
  StopData *stop = data;

#ifdef WW_HAVE_FEED_BACKPLANE
  if (stop->backplane != NULL)
    ww_backplane_stop (stop->backplane);
#endif
  if (stop->feed != NULL)
    ww_event_feed_set_simulating (stop->feed, FALSE);
  g_mutex_lock (&stop->lock);
  stop->quiet = TRUE;
  g_cond_signal (&stop->cond);
  g_mutex_unlock (&stop->lock);
  return G_SOURCE_REMOVE;
}

static void
stop_server_thread (GTask        *task,
                    gpointer      source,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  StopData *stop = task_data;

  if (ww_server_is_running (stop->server))
    {
      gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;

      ww_server_invoke (stop->server, quiet_feed_cb, stop, NULL);
      g_mutex_lock (&stop->lock);
      while (!stop->quiet)
        if (!g_cond_wait_until (&stop->cond, &stop->lock, deadline))
          break;
      g_mutex_unlock (&stop->lock);
      if (!stop->quiet)
        g_warning ("The server's I/O context did not pause the feed within 2 s");
    }
  else
    quiet_feed_cb (stop);
  ww_server_stop (stop->server);
  g_task_return_boolean (task, TRUE);
}

static void
on_server_stopped (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  WwWindow *self = WW_WINDOW (source);

  g_task_propagate_boolean (G_TASK (result), NULL);
  n_stopping_servers--;
  self->n_stopping--;
  if (self->disposed)
    return;

  log_note (self, _("Server stopped"));
  if (self->start_pending && self->n_stopping == 0)
    {
      self->start_pending = FALSE;
      ww_window_start (self);
    }
  else
    ww_window_update_status (self);
}

/*
 * ww_server_stop() sends 1001 to every peer, then waits (up to the close
 * timeout) for their close frames and joins the I/O thread.  Our own
 * client's close handshake runs on this main loop, so waiting here would
 * always cost the full timeout and freeze the window meanwhile: the wait
 * happens on a worker thread instead, and a Start that comes in the
 * meantime runs once the port is free again.
 */
static void
stop_server (WwWindow *self)
{
  g_autoptr(GTask) task = NULL;
  StopData *stop;

  ww_client_disconnect (self->client);
  ww_clients_page_set_server (self->clients_page, NULL);
  if (self->server == NULL)
    {
      g_clear_object (&self->feed);
      g_clear_object (&self->backplane);
      return;
    }

  stop = g_new0 (StopData, 1);
  g_mutex_init (&stop->lock);
  g_cond_init (&stop->cond);
  stop->server = g_steal_pointer (&self->server);
  stop->feed = g_steal_pointer (&self->feed);
  stop->backplane = g_steal_pointer (&self->backplane);
  task = g_task_new (self, NULL, on_server_stopped, NULL);
  g_task_set_source_tag (task, stop_server);
  g_task_set_task_data (task, stop, stop_data_free);
  n_stopping_servers++;
  self->n_stopping++;
  g_task_run_in_thread (task, stop_server_thread);
}

/* For the application's shutdown: let every stop in flight finish (bounded). */
void
ww_window_wait_for_stopped_servers (void)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (n_stopping_servers > 0 && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
}

static gboolean
start_server (WwWindow *self)
{
  g_autoptr(WwServerConfig) config = effective_config (self);
  g_autoptr(GError) error = NULL;
  g_autoptr(WwServer) server = NULL;
  g_autoptr(WwEventFeed) feed = NULL;
  g_autoptr(WwBackplane) backplane = NULL;
  g_autofree char *url = NULL;
  g_autofree char *note = NULL;
  guint16 port;

  config->own_thread = TRUE;
  /* What the port box says now: the user may have changed it and pressed Start. */
  gtk_spin_button_update (self->port_spin);
  self->requested_port = (guint16) gtk_spin_button_get_value_as_int (self->port_spin);
  config->port = self->requested_port;
  config->port_attempts = (self->port_given || config->port == 0) ? 1 : 10;

  {
    g_autofree char *redis_url = self->redis_url ? g_strdup (self->redis_url)
                                                 : settings_string (self, "redis-url");

    g_strstrip (redis_url);
    if (*redis_url)
      {
#ifdef WW_HAVE_FEED_BACKPLANE
        backplane = ww_backplane_new (redis_url, &error);
        if (backplane == NULL)
          {
            g_autofree char *message =
              self->redis_url
              ? g_strdup_printf (_("The Redis address “%s” is not usable: %s"),
                                 redis_url, error->message)
              : g_strdup_printf (_("The Redis address “%s” in Preferences is not usable: %s"),
                                 redis_url, error->message);

            set_string (&self->error_text, message);
            log_note (self, message);
            return FALSE;
          }
#else
        log_note (self, _("This build has no Redis backplane; the Redis address is ignored"));
#endif
      }
  }

  server = ww_server_new (config);
  feed = ww_event_feed_new (self->feed_config);
#ifdef WW_HAVE_FEED_BACKPLANE
  if (backplane != NULL)
    ww_event_feed_set_backplane (feed, backplane);
#endif
  if (!ww_event_feed_attach (feed, server, &error) || !ww_server_start (server, &error))
    {
      g_autofree char *message = NULL;

      if (g_error_matches (error, WW_SERVER_ERROR, WW_SERVER_ERROR_ADDRESS_IN_USE))
        {
          if (config->port_attempts > 1)
            message = g_strdup_printf (_("Ports %u to %u are all in use by other programs. "
                                         "Choose another port and press Start."),
                                       config->port,
                                       MIN (65535u, config->port + config->port_attempts - 1));
          else
            message = g_strdup_printf (_("Port %u is already in use by another program. "
                                         "Choose another port and press Start."), config->port);
        }
      else if (g_error_matches (error, WW_SERVER_ERROR, WW_SERVER_ERROR_BAD_ADDRESS))
        message = g_strdup_printf (_("Cannot listen on “%s”: %s"),
                                   config->bind_address ? config->bind_address : "",
                                   error->message);
      else
        message = g_strdup_printf (_("The server could not start: %s"), error->message);
      set_string (&self->error_text, message);
      log_note (self, message);
      return FALSE;
    }

  port = ww_server_get_port (server);
  if (config->port != 0 && port != config->port)
    {
      note = g_strdup_printf (_("port %u was taken"), config->port);
      {
        g_autofree char *message = g_strdup_printf (_("Port %u was taken, so the server listens "
                                                      "on port %u"), config->port, port);
        toast (self, message);
      }
    }
  set_string (&self->port_note, note);
  gtk_spin_button_set_value (self->port_spin, port);

  self->server = g_steal_pointer (&server);
  self->feed = g_steal_pointer (&feed);
  self->backplane = g_steal_pointer (&backplane);
  ww_clients_page_set_server (self->clients_page, self->server);

  url = ww_server_dup_url (self->server, "/ws");
  {
    g_autofree char *message = g_strdup_printf (_("Server listening; the window follows it at %s"),
                                                url);
    log_note (self, message);
  }
  /* The window's client is a client like any other: it shows the token,
   * and trusts exactly the certificate its own server presents (which is
   * typically self-signed). */
  ww_client_set_token (self->client, config->token);
  ww_client_connect (self->client, url);
  /* After connect: the client ties the certificate to the URL it has now. */
  if (config->tls_cert_file != NULL)
    {
      g_autoptr(GTlsCertificate) certificate =
        g_tls_certificate_new_from_file (config->tls_cert_file, NULL);

      ww_client_set_accepted_certificate (self->client, certificate);
    }
  else
    ww_client_set_accepted_certificate (self->client, NULL);
  return TRUE;
}

static gboolean
start_client (WwWindow *self)
{
  const char *url = gtk_editable_get_text (GTK_EDITABLE (self->url_entry));
  g_autoptr(GError) error = NULL;

  if (!ww_client_check_url (url, &error))
    {
      g_autofree char *message = g_strdup_printf (_("“%s” is not a WebSocket address: %s"),
                                                  url, error->message);

      set_string (&self->error_text, message);
      return FALSE;
    }
  if (self->settings)
    g_settings_set_string (self->settings, "client-url", url);
  /* Another server: our own server's token and certificate do not apply. */
  ww_client_set_token (self->client, NULL);
  ww_client_set_accepted_certificate (self->client, NULL);
  ww_client_connect (self->client, url);
  return TRUE;
}

void
ww_window_stop (WwWindow *self)
{
  g_return_if_fail (WW_IS_WINDOW (self));

  self->start_pending = FALSE;
  if (self->mode == WW_MODE_SERVER)
    stop_server (self);
  else
    ww_client_disconnect (self->client);
  self->running = FALSE;
  set_string (&self->port_note, NULL);
  clear_events (self);
  update_warning (self);
  update_actions (self);
  ww_window_update_status (self);
}

void
ww_window_start (WwWindow *self)
{
  g_return_if_fail (WW_IS_WINDOW (self));

  if (self->running)
    ww_window_stop (self);

  set_string (&self->error_text, NULL);
  self->last_clients_update = 0;
  ww_traffic_page_reset (self->traffic_page);
  ww_chart_clear (self->latency_strip);
  gtk_label_set_text (self->strip_label, "");
  clear_events (self);

  if (self->mode == WW_MODE_SERVER && self->n_stopping > 0)
    {
      /* The previous server still holds the port: start once it is gone. */
      self->start_pending = TRUE;
      self->running = FALSE;
    }
  else if (self->mode == WW_MODE_SERVER)
    self->running = start_server (self);
  else
    self->running = start_client (self);

  ww_traffic_page_set_server_mode (self->traffic_page, self->mode == WW_MODE_SERVER);
  ww_clients_page_set_server_mode (self->clients_page, self->mode == WW_MODE_SERVER);
  update_warning (self);
  update_actions (self);
  ww_window_refresh (self);
}

/* ---- status line ---- */

static const char *
state_dot_class (WwWindow *self)
{
  WwClientState state = ww_client_get_state (self->client);

  if (self->error_text != NULL)
    return "failed";
  if (self->start_pending)
    return "waiting";
  if (!self->running)
    return "stopped";
  if (state == WW_CLIENT_STATE_OPEN)
    return "running";
  if (state == WW_CLIENT_STATE_CLOSED && self->mode == WW_MODE_CLIENT)
    return "failed";
  return "waiting";
}

static char *
describe_client (WwWindow *self)
{
  WwClientState state = ww_client_get_state (self->client);
  const char *url = ww_client_get_url (self->client);
  const char *reason = ww_client_get_close_reason (self->client);
  const char *error = ww_client_get_error_message (self->client);

  switch (state)
    {
    case WW_CLIENT_STATE_CONNECTING:
      return g_strdup_printf (_("Connecting to %s…"), url ? url : "");
    case WW_CLIENT_STATE_OPEN:
      return g_strdup_printf (_("Connected to %s"), url ? url : "");
    case WW_CLIENT_STATE_RECONNECTING:
      {
        guint seconds = ww_client_get_reconnect_in (self->client);

        if (error && *error)
          return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                               "%s — reconnecting in %u second",
                                               "%s — reconnecting in %u seconds", seconds),
                                  error, seconds);
        return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                             "Connection lost — reconnecting in %u second",
                                             "Connection lost — reconnecting in %u seconds",
                                             seconds), seconds);
      }
    case WW_CLIENT_STATE_CLOSED:
      if (error && *error)
        return g_strdup_printf (_("Closed: %s"), error);
      return g_strdup_printf (_("Closed by the server (%u %s)"),
                              ww_client_get_close_code (self->client), reason ? reason : "");
    case WW_CLIENT_STATE_IDLE:
    default:
      return g_strdup (_("Not connected"));
    }
}

/* The Redis link in words; the getters are atomic reads. */
static char *
describe_backplane (WwBackplane *backplane)
{
  WwBackplaneCounters counters;
  guint total;

  ww_backplane_get_counters (backplane, &counters);
  if (!ww_backplane_is_connected (backplane))
    {
      if (counters.connects == 0 && counters.errors == 0)
        return g_strdup (_("Redis: connecting…"));
      return g_strdup (_("Redis unreachable — serving local clients, retrying"));
    }
  total = ww_backplane_get_total_clients (backplane);
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                       "Redis: connected · %s · %u client on all instances",
                                       "Redis: connected · %s · %u clients on all instances",
                                       total),
                          ww_backplane_is_leader (backplane) ? _("leader") : _("follower"),
                          total);
}

static void
ww_window_update_status (WwWindow *self)
{
  GString *text = g_string_new (NULL);
  gint64 rtt = ww_client_get_last_rtt_us (self->client);
  double rate = ww_traffic_page_get_message_rate (self->traffic_page);
  const char *dot_classes[] = { "running", "waiting", "failed", "stopped" };
  const char *dot = state_dot_class (self);
  g_autofree char *client_text = NULL;

  if (self->error_text != NULL)
    {
      g_string_append (text, self->error_text);
    }
  else if (self->start_pending)
    {
      g_string_append (text, _("Waiting for the previous server to stop…"));
    }
  else if (!self->running)
    {
      if (self->mode == WW_MODE_SERVER)
        g_string_append (text, _("Stopped — press Start to serve"));
      else
        g_string_append (text, _("Stopped — press Start to connect"));
    }
  else if (self->mode == WW_MODE_SERVER && self->server != NULL)
    {
      const WwServerConfig *config = ww_server_get_config (self->server);
      WwServerCounters counters;
      const char *bind = config->bind_address ? config->bind_address : "127.0.0.1";
      gboolean v6 = strchr (bind, ':') != NULL;

      ww_server_get_counters (self->server, &counters);
      g_string_append_printf (text, v6 ? _("Listening on [%s]:%u") : _("Listening on %s:%u"),
                              bind, ww_server_get_port (self->server));
      if (self->port_note)
        g_string_append_printf (text, " (%s)", self->port_note);
      if (config->tls_cert_file != NULL)
        g_string_append_printf (text, " · %s", _("TLS (wss://)"));
      g_string_append (text, " · ");
      g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE, "%u client", "%u clients",
                                                 (gulong) counters.connections_active),
                              (guint) counters.connections_active);
      g_string_append (text, " · ");
      g_string_append_printf (text, _("%.0f msg/s"), rate);
      if (self->backplane != NULL)
        {
          g_autofree char *redis = describe_backplane (self->backplane);

          g_string_append_printf (text, " · %s", redis);
        }
      if (ww_client_get_state (self->client) != WW_CLIENT_STATE_OPEN)
        {
          client_text = describe_client (self);
          g_string_append_printf (text, " · %s", client_text);
        }
      else if (rtt >= 0)
        {
          g_string_append (text, " · ");
          g_string_append_printf (text, _("RTT %.2f ms"), rtt / 1000.0);
        }
    }
  else
    {
      client_text = describe_client (self);
      g_string_append (text, client_text);
      if (ww_client_get_state (self->client) == WW_CLIENT_STATE_OPEN)
        {
          if (rtt >= 0)
            {
              g_string_append (text, " · ");
              g_string_append_printf (text, _("RTT %.2f ms"), rtt / 1000.0);
            }
          g_string_append (text, " · ");
          g_string_append_printf (text, _("%.0f msg/s"), rate);
        }
    }

  if (g_strcmp0 (self->status_text, text->str) != 0)
    {
      g_free (self->status_text);
      self->status_text = g_string_free (text, FALSE);
      gtk_label_set_text (self->status_label, self->status_text);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), self->status_text);
    }
  else
    g_string_free (text, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (dot_classes); i++)
    if (!g_str_equal (dot_classes[i], dot))
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_dot), dot_classes[i]);
  gtk_widget_add_css_class (GTK_WIDGET (self->status_dot), dot);
  if (self->error_text != NULL)
    gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "status-error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "status-error");

  {
    g_autofree char *traffic_state = describe_client (self);

    ww_traffic_page_set_client_state (self->traffic_page, traffic_state);
  }

  /* The run button says what it will do. */
  adw_button_content_set_label (self->run_content, self->running ? _("Stop") : _("Start"));
  adw_button_content_set_icon_name (self->run_content,
                                    self->running ? "media-playback-stop-symbolic"
                                                  : "media-playback-start-symbolic");
  if (self->running)
    gtk_widget_remove_css_class (GTK_WIDGET (self->run_button), "suggested-action");
  else
    gtk_widget_add_css_class (GTK_WIDGET (self->run_button), "suggested-action");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->run_button),
                               self->running ? _("Stop (Ctrl+R)") : _("Start (Ctrl+R)"));
  update_actions (self);
}

/* ---- the refresh timer ---- */

/*
 * Copying 10,000 peer records takes tens of milliseconds, so it happens
 * on a worker thread (ww_server_dup_peer_infos() is thread-safe); only
 * the in-place model update runs here.
 */
static void
dup_peer_infos_thread (GTask        *task,
                       gpointer      source,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  g_task_return_pointer (task, ww_server_dup_peer_infos (task_data),
                         (GDestroyNotify) g_ptr_array_unref);
}

static void
on_clients_snapshot (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  WwWindow *self = WW_WINDOW (source);
  WwServer *server = g_task_get_task_data (G_TASK (result));
  g_autoptr(GPtrArray) infos = g_task_propagate_pointer (G_TASK (result), NULL);
  g_autoptr(GPtrArray) joined = NULL;
  g_autoptr(GPtrArray) left = NULL;
  gint64 start = g_get_monotonic_time ();

  self->snapshot_in_flight = FALSE;
  /* The server was stopped or replaced meanwhile: the snapshot is stale. */
  if (infos == NULL || server != self->server || self->server == NULL)
    return;

  joined = g_ptr_array_new_with_free_func (g_free);
  left = g_ptr_array_new_with_free_func (g_free);
  ww_clients_page_update (self->clients_page, infos, g_get_real_time (), joined, left);
  for (guint i = 0; i < joined->len; i++)
    log_note (self, g_ptr_array_index (joined, i));
  for (guint i = 0; i < left->len; i++)
    log_note (self, g_ptr_array_index (left, i));
  self->clients_update_us += g_get_monotonic_time () - start;
  self->clients_update_count++;
}

static void
start_clients_snapshot (WwWindow *self)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, on_clients_snapshot, NULL);

  self->snapshot_in_flight = TRUE;
  g_task_set_source_tag (task, start_clients_snapshot);
  g_task_set_task_data (task, g_object_ref (self->server), g_object_unref);
  g_task_run_in_thread (task, dup_peer_infos_thread);
}

/*
 * The peer snapshot is the expensive part with thousands of clients.
 * While the Clients page shows: every refresh, or once a second past
 * 2,000 rows.  Otherwise only when someone came or went (the counters
 * say so), for the log's notes, at most every 2 s.
 */
static gboolean
clients_snapshot_due (WwWindow               *self,
                      const WwServerCounters *counters,
                      gint64                  now)
{
  gint64 since = now - self->last_clients_update;

  if (self->last_clients_update == 0)
    return TRUE;
  if (gtk_widget_get_mapped (GTK_WIDGET (self->clients_page)))
    return g_list_model_get_n_items (ww_clients_page_get_model (self->clients_page)) <= 2000 ||
           since >= G_USEC_PER_SEC;
  if (counters->connections_total == self->last_connections_total &&
      counters->connections_active == self->last_connections_active)
    return FALSE;
  return since >= 2 * G_USEC_PER_SEC;
}

void
ww_window_refresh (WwWindow *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 real_now = g_get_real_time ();
  WwClientCounters client_counters;
  g_autoptr(GArray) drop_codes = NULL;
  g_autoptr(WwHistogram) rtt_window = NULL;
  g_autoptr(WwHistogram) server_latency = NULL;
  WwServerCounters server_counters;
  gboolean serving = self->mode == WW_MODE_SERVER && self->server != NULL;

  g_return_if_fail (WW_IS_WINDOW (self));

  for (guint i = 0; i < WW_WINDOW_N_EVENTS; i++)
    ww_event_card_refresh_age (self->cards[i], real_now / 1000);

  ww_client_get_counters (self->client, &client_counters);
  drop_codes = ww_client_dup_drop_codes (self->client);
  rtt_window = ww_client_dup_rtt_window (self->client, RTT_WINDOW_S);

  if (serving)
    {
      ww_server_get_counters (self->server, &server_counters);
      server_latency = ww_server_dup_latency (self->server);
    }

  if (serving && !self->snapshot_in_flight && clients_snapshot_due (self, &server_counters, now))
    {
      self->last_clients_update = now;
      self->last_connections_total = server_counters.connections_total;
      self->last_connections_active = server_counters.connections_active;
      start_clients_snapshot (self);
    }

  ww_traffic_page_update (self->traffic_page, serving ? &server_counters : NULL, server_latency,
                          &client_counters, drop_codes, rtt_window, now);

  if (ww_client_get_state (self->client) == WW_CLIENT_STATE_OPEN &&
      !ww_client_get_speaks_feed (self->client) &&
      !ww_event_card_has_event (self->cards[0]))
    {
      /* An echo server or anything else: say why the cards stay empty. */
      gtk_label_set_text (self->events_summary,
                          _("This server does not send the Wirewatch feed; "
                            "its messages are on the Log page"));
    }
  else if (ww_event_card_has_event (self->cards[0]))
    {
      g_autofree char *summary = NULL;
      guint64 seq = ww_client_get_last_seq (self->client);

      if (serving)
        summary = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                "Feed sequence %llu · served to %u client",
                                                "Feed sequence %llu · served to %u clients",
                                                (gulong) server_counters.connections_active),
                                   (unsigned long long) seq,
                                   (guint) server_counters.connections_active);
      else
        summary = g_strdup_printf (_("Sequence %llu · from %s"), (unsigned long long) seq,
                                   ww_client_get_url (self->client));
      gtk_label_set_text (self->events_summary, summary);
    }

  ww_window_update_status (self);
}

static gboolean
tick (gpointer data)
{
  WwWindow *self = data;
  gint64 start = g_get_monotonic_time ();
  gint64 spent;

  ww_window_refresh (self);

  /* What one refresh costs the main thread: the frame budget at 60 Hz
   * is 16.7 ms, so this says whether the snapshots leave room to draw. */
  spent = g_get_monotonic_time () - start;
  self->refresh_total_us += spent;
  self->refresh_max_us = MAX (self->refresh_max_us, spent);
  self->refresh_count++;
  if (self->refresh_window_start == 0)
    self->refresh_window_start = start;
  else if (start - self->refresh_window_start >= 5 * G_USEC_PER_SEC)
    {
      g_debug ("refresh: %u in 5 s, mean %.2f ms, max %.2f ms; %u client rows, "
               "%u model updates at %.2f ms each",
               self->refresh_count, self->refresh_total_us / 1000.0 / self->refresh_count,
               self->refresh_max_us / 1000.0,
               g_list_model_get_n_items (ww_clients_page_get_model (self->clients_page)),
               self->clients_update_count,
               self->clients_update_count
                 ? self->clients_update_us / 1000.0 / self->clients_update_count : 0.0);
      self->clients_update_us = 0;
      self->clients_update_count = 0;
      self->refresh_window_start = start;
      self->refresh_total_us = 0;
      self->refresh_max_us = 0;
      self->refresh_count = 0;
    }
  return G_SOURCE_CONTINUE;
}

static void
restart_tick (WwWindow *self)
{
  g_clear_handle_id (&self->tick_id, g_source_remove);
  self->update_interval_ms = (guint) CLAMP (settings_int (self, "update-interval", 250), 100, 5000);
  self->tick_id = g_timeout_add (self->update_interval_ms, tick, self);
}

/* ---- actions ---- */

void
ww_window_ping (WwWindow *self)
{
  g_autofree char *id = NULL;

  g_return_if_fail (WW_IS_WINDOW (self));

  id = ww_client_send_ping (self->client);
  if (id == NULL)
    toast (self, _("Not connected: nothing to ping"));
}

static void
ping_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       widget)
{
  ww_window_ping (WW_WINDOW (widget));
}

static void
toggle_running_activated (GSimpleAction *action,
                          GVariant      *parameter,
                          gpointer       widget)
{
  WwWindow *self = WW_WINDOW (widget);

  if (self->running)
    ww_window_stop (self);
  else
    ww_window_start (self);
}

static void
page_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       widget)
{
  ww_window_set_page (WW_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

static void
focus_address_activated (GSimpleAction *action,
                         GVariant      *parameter,
                         gpointer       widget)
{
  WwWindow *self = WW_WINDOW (widget);
  GtkWidget *target = self->mode == WW_MODE_SERVER ? GTK_WIDGET (self->port_spin)
                                                   : GTK_WIDGET (self->url_entry);

  gtk_widget_grab_focus (target);
  gtk_editable_select_region (GTK_EDITABLE (target), 0, -1);
}

/* Ctrl+F from any page: the Log page's filter. */
static void
find_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       widget)
{
  WwWindow *self = WW_WINDOW (widget);

  ww_window_set_page (self, "log");
  gtk_widget_activate_action (GTK_WIDGET (self->log_page), "log.find", NULL);
}

static void
open_browser_activated (GSimpleAction *action,
                        GVariant      *parameter,
                        gpointer       widget)
{
  WwWindow *self = WW_WINDOW (widget);
  g_autofree char *url = server_page_url (self);

  if (url != NULL)
    gtk_show_uri (GTK_WINDOW (self), url, GDK_CURRENT_TIME);
}

static void
copy_url_activated (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       widget)
{
  WwWindow *self = WW_WINDOW (widget);
  g_autofree char *url = server_page_url (self);
  g_autofree char *message = NULL;

  if (url == NULL)
    return;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (widget), url);
  message = g_strdup_printf (_("Copied %s"), url);
  toast (self, message);
}

static void
mode_change_state (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       widget)
{
  const char *mode = g_variant_get_string (parameter, NULL);

  ww_window_set_mode (WW_WINDOW (widget), g_str_equal (mode, "client") ? WW_MODE_CLIENT
                                                                       : WW_MODE_SERVER);
}

/* GtkSpinButton has no "activate" before GTK 4.14: its GtkText delegate does. */
static void
on_port_activate (WwWindow *self,
                  GtkText  *text)
{
  GtkSpinButton *spin = self->port_spin;

  gtk_spin_button_update (spin);
  ww_window_set_port (self, (guint16) gtk_spin_button_get_value_as_int (spin));
  ww_window_start (self);
}

static void
on_url_activate (WwWindow *self,
                 GtkEntry *entry)
{
  ww_window_start (self);
}

/* ---- public/private API ---- */

WwMode
ww_window_get_mode (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), WW_MODE_SERVER);
  return self->mode;
}

static void
sync_mode_widgets (WwWindow *self)
{
  const char *name = self->mode == WW_MODE_SERVER ? "server" : "client";
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), "mode");

  gtk_stack_set_visible_child_name (self->address_stack, name);
  /* The two toggle buttons follow the stateful action. */
  g_simple_action_set_state (G_SIMPLE_ACTION (action), g_variant_new_string (name));
}

void
ww_window_set_mode (WwWindow *self,
                    WwMode    mode)
{
  g_return_if_fail (WW_IS_WINDOW (self));

  if (self->mode == mode && self->running)
    return;

  ww_window_stop (self);
  if (self->mode == WW_MODE_SERVER)
    ww_clients_page_set_server (self->clients_page, NULL);
  self->mode = mode;
  if (self->settings)
    g_settings_set_enum (self->settings, "mode", mode);
  sync_mode_widgets (self);
  ww_window_start (self);
}

gboolean
ww_window_get_running (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), FALSE);
  return self->running;
}

void
ww_window_set_port (WwWindow *self,
                    guint16   port)
{
  g_return_if_fail (WW_IS_WINDOW (self));

  self->requested_port = port;
  gtk_spin_button_set_value (self->port_spin, port);
  if (self->settings && !self->port_given)
    g_settings_set_int (self->settings, "port", port);
}

void
ww_window_set_client_url (WwWindow   *self,
                          const char *url)
{
  g_return_if_fail (WW_IS_WINDOW (self));

  gtk_editable_set_text (GTK_EDITABLE (self->url_entry), url ? url : "");
}

const char *
ww_window_get_status_text (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return self->status_text;
}

const char *
ww_window_get_error_text (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return self->error_text;
}

gboolean
ww_window_get_warning_visible (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), FALSE);
  return gtk_revealer_get_reveal_child (self->warning_revealer);
}

WwServer *
ww_window_get_server (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return self->server;
}

WwEventFeed *
ww_window_get_feed (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return self->feed;
}

WwBackplane *
ww_window_get_backplane (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return self->backplane;
}

WwClient *
ww_window_get_client (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return self->client;
}

WwEventCard *
ww_window_get_event_card (WwWindow *self,
                          guint     index)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  g_return_val_if_fail (index < WW_WINDOW_N_EVENTS, NULL);
  return self->cards[index];
}

WwClientsPage *
ww_window_get_clients_page (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return self->clients_page;
}

WwTrafficPage *
ww_window_get_traffic_page (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return self->traffic_page;
}

WwLogPage *
ww_window_get_log_page (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return self->log_page;
}

void
ww_window_set_page (WwWindow   *self,
                    const char *name)
{
  g_return_if_fail (WW_IS_WINDOW (self));

  if (adw_view_stack_get_child_by_name (self->view_stack, name) != NULL)
    adw_view_stack_set_visible_child_name (self->view_stack, name);
}

const char *
ww_window_get_page (WwWindow *self)
{
  g_return_val_if_fail (WW_IS_WINDOW (self), NULL);
  return adw_view_stack_get_visible_child_name (self->view_stack);
}

/* ---- GObject ---- */

static gboolean
ww_window_close_request (GtkWindow *window)
{
  WwWindow *self = WW_WINDOW (window);

  if (self->settings != NULL)
    {
      int width, height;

      gtk_window_get_default_size (window, &width, &height);
      g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
      if (!gtk_window_is_maximized (window) && width > 0 && height > 0)
        {
          g_settings_set_int (self->settings, "window-width", width);
          g_settings_set_int (self->settings, "window-height", height);
        }
    }

  return GTK_WINDOW_CLASS (ww_window_parent_class)->close_request (window);
}

static void
ww_window_dispose (GObject *object)
{
  WwWindow *self = WW_WINDOW (object);

  self->disposed = TRUE;
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->client != NULL)
    g_signal_handlers_disconnect_by_data (self->client, self);
  /* On a worker thread like any stop; the task keeps this object (not
   * its widgets) alive until the server is gone. */
  if (self->server != NULL || self->feed != NULL)
    stop_server (self);
  else if (self->client != NULL)
    ww_client_disconnect (self->client);
  g_clear_object (&self->client);

  gtk_widget_dispose_template (GTK_WIDGET (self), WW_TYPE_WINDOW);
  g_clear_object (&self->recent);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (ww_window_parent_class)->dispose (object);
}

static void
ww_window_finalize (GObject *object)
{
  WwWindow *self = WW_WINDOW (object);

  g_clear_pointer (&self->base_config, ww_server_config_free);
  g_clear_pointer (&self->feed_config, ww_feed_config_free);
  g_free (self->status_text);
  g_free (self->error_text);
  g_free (self->port_note);
  g_free (self->redis_url);

  G_OBJECT_CLASS (ww_window_parent_class)->finalize (object);
}

#define BIND_CARD(i) \
  gtk_widget_class_bind_template_child_full (widget_class, "card" #i, FALSE, \
                                             G_STRUCT_OFFSET (WwWindow, cards) + \
                                             (i) * sizeof (gpointer))

static void
ww_window_class_init (WwWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = ww_window_dispose;
  object_class->finalize = ww_window_finalize;
  window_class->close_request = ww_window_close_request;

  g_type_ensure (WW_TYPE_CHART);
  g_type_ensure (WW_TYPE_EVENT_CARD);
  g_type_ensure (WW_TYPE_CLIENTS_PAGE);
  g_type_ensure (WW_TYPE_TRAFFIC_PAGE);
  g_type_ensure (WW_TYPE_LOG_PAGE);

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PREFIX "/ui/ww-window.ui");
  gtk_widget_class_bind_template_child (widget_class, WwWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, address_stack);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, port_spin);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, url_entry);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, run_button);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, run_content);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, status_dot);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, status_label);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, latency_strip);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, strip_label);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, warning_revealer);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, warning_label);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, events_summary);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, recent_view);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, clients_page);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, traffic_page);
  gtk_widget_class_bind_template_child (widget_class, WwWindow, log_page);
  BIND_CARD (0);
  BIND_CARD (1);
  BIND_CARD (2);
  BIND_CARD (3);
  BIND_CARD (4);
  gtk_widget_class_bind_template_callback (widget_class, on_url_activate);

}

static void
on_update_interval_changed (WwWindow *self)
{
  restart_tick (self);
}

/* ---- frame meter (issue 9) ---- */

/*
 * WW_FPS_LOG=1 logs, once a second, how many frames the window painted,
 * the longest frame (from the frame clock's before-paint to after-paint:
 * update, layout and paint on the main thread) and the longest gap
 * between two painted frames.  The window normally paints only when
 * something changed; WW_FPS_LOG=stress also redraws the visible page on
 * every frame, which shows how many frames per second it can make.
 */
static void
fps_before_paint (WwWindow      *self,
                  GdkFrameClock *clock)
{
  self->fps_frame_start = g_get_monotonic_time ();
  self->fps_painted = FALSE;
}

static void
fps_paint (WwWindow      *self,
           GdkFrameClock *clock)
{
  self->fps_painted = TRUE;
}

static void
fps_after_paint (WwWindow      *self,
                 GdkFrameClock *clock)
{
  gint64 now = g_get_monotonic_time ();

  if (self->fps_window_start == 0)
    self->fps_window_start = now;
  if (self->fps_painted && self->fps_frame_start != 0)
    {
      self->fps_frames++;
      self->fps_longest_frame = MAX (self->fps_longest_frame, now - self->fps_frame_start);
      if (self->fps_last_paint != 0)
        self->fps_longest_gap = MAX (self->fps_longest_gap, now - self->fps_last_paint);
      self->fps_last_paint = now;
    }
  if (now - self->fps_window_start >= G_USEC_PER_SEC)
    {
      double seconds = (now - self->fps_window_start) / (double) G_USEC_PER_SEC;
      const char *page = adw_view_stack_get_visible_child_name (self->view_stack);

      g_message ("FPS page=%s frames=%u fps=%.1f longest-frame-ms=%.1f longest-gap-ms=%.1f%s",
                 page ? page : "?", self->fps_frames, self->fps_frames / seconds,
                 self->fps_longest_frame / 1000.0, self->fps_longest_gap / 1000.0,
                 self->fps_stress ? " mode=stress" : "");
      self->fps_window_start = now;
      self->fps_frames = 0;
      self->fps_longest_frame = 0;
      self->fps_longest_gap = 0;
    }
}

static gboolean
fps_stress_tick (GtkWidget     *widget,
                 GdkFrameClock *clock,
                 gpointer       user_data)
{
  WwWindow *self = WW_WINDOW (widget);
  GtkWidget *page = adw_view_stack_get_visible_child (self->view_stack);

  gtk_widget_queue_draw (page ? page : widget);
  return G_SOURCE_CONTINUE;
}

static void
fps_on_realize (WwWindow *self)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (self));

  if (clock == NULL)
    return;
  g_signal_connect_object (clock, "before-paint", G_CALLBACK (fps_before_paint), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (clock, "paint", G_CALLBACK (fps_paint), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (clock, "after-paint", G_CALLBACK (fps_after_paint), self,
                           G_CONNECT_SWAPPED);
  if (self->fps_stress && self->fps_tick_id == 0)
    self->fps_tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (self), fps_stress_tick,
                                                      NULL, NULL);
}

static void
fps_meter_init (WwWindow *self)
{
  const char *mode = g_getenv ("WW_FPS_LOG");

  if (mode == NULL || *mode == '\0' || g_str_equal (mode, "0"))
    return;
  self->fps_stress = g_str_equal (mode, "stress");
  g_signal_connect (self, "realize", G_CALLBACK (fps_on_realize), NULL);
}

static void
ww_window_init (WwWindow *self)
{
  const GActionEntry entries[] = {
    { "ping", ping_activated },
    { "toggle-running", toggle_running_activated },
    { "page", page_activated, "s" },
    { "focus-address", focus_address_activated },
    { "find", find_activated },
    { "open-browser", open_browser_activated },
    { "copy-url", copy_url_activated },
    { "mode", NULL, "s", "'server'", mode_change_state },
  };

  gtk_widget_init_template (GTK_WIDGET (self));

  g_action_map_add_action_entries (G_ACTION_MAP (self), entries, G_N_ELEMENTS (entries), self);
  g_signal_connect_object (gtk_editable_get_delegate (GTK_EDITABLE (self->port_spin)), "activate",
                           G_CALLBACK (on_port_activate), self, G_CONNECT_SWAPPED);

  self->recent = gtk_string_list_new (NULL);
  gtk_list_view_set_model (self->recent_view,
                           GTK_SELECTION_MODEL (gtk_no_selection_new (
                             g_object_ref (G_LIST_MODEL (self->recent)))));

  self->rtt_series = ww_chart_add_series (self->latency_strip, _("RTT"), "#3584e4",
                                          WW_CHART_LINE);

  self->client = ww_client_new ();
  ww_client_set_ping_interval (self->client, PING_INTERVAL_S);
  /* libsoup 3.2.3 emits "pong" with a GByteArray where it declares a
   * GBytes, which WwClient's pong handler reads as GBytes (a huge bogus
   * size, then an abort) the first time a keepalive pong arrives, 15 s
   * in.  The window PINGs at the feed level every second anyway, which
   * keeps the RTT and the connection's liveness in view, so protocol
   * keepalive stays off here. */
  ww_client_set_keepalive_interval (self->client, 0);
  ww_client_set_header (self->client, "User-Agent",
                        PACKAGE_NAME "/" PACKAGE_VERSION " (built-in client)");
  g_signal_connect_object (self->client, "initial", G_CALLBACK (on_client_initial), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client, "update", G_CALLBACK (on_client_update), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client, "frame", G_CALLBACK (on_client_frame), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client, "rtt", G_CALLBACK (on_client_rtt), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client, "notify::state", G_CALLBACK (on_client_state), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client, "notify::reconnect-in", G_CALLBACK (on_client_state),
                           self, G_CONNECT_SWAPPED);
  fps_meter_init (self);
}

static void
ww_window_setup (WwWindow             *self,
                 const WwServerConfig *config,
                 gboolean              port_given,
                 const WwFeedConfig   *feed_config,
                 GSettings            *settings,
                 WwMode                mode)
{
  g_autofree char *url = NULL;

  self->settings = settings ? g_object_ref (settings) : NULL;
  self->base_config = config ? ww_server_config_copy (config) : ww_server_config_new ();
  self->port_given = port_given;
  self->feed_config = feed_config ? ww_feed_config_copy (feed_config) : ww_feed_config_new ();
  /* The command line wins; a rate limit it left at the default comes from
   * the preferences. */
  if (settings != NULL && g_settings_get_int (settings, "rate-limit") > 0)
    {
      g_autoptr(WwFeedConfig) defaults = ww_feed_config_new ();

      if (feed_config == NULL || feed_config->rate_limit == defaults->rate_limit)
        self->feed_config->rate_limit = (guint) g_settings_get_int (settings, "rate-limit");
    }

  self->requested_port = port_given || settings == NULL
                         ? self->base_config->port
                         : (guint16) g_settings_get_int (settings, "port");
  gtk_spin_button_set_value (self->port_spin, self->requested_port);

  url = settings_string (self, "client-url");
  gtk_editable_set_text (GTK_EDITABLE (self->url_entry), url);

  if (settings != NULL)
    {
      gtk_window_set_default_size (GTK_WINDOW (self), g_settings_get_int (settings, "window-width"),
                                   g_settings_get_int (settings, "window-height"));
      if (g_settings_get_boolean (settings, "window-maximized"))
        gtk_window_maximize (GTK_WINDOW (self));
      g_signal_connect_object (settings, "changed::bind-address",
                               G_CALLBACK (update_warning), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (settings, "changed::token",
                               G_CALLBACK (update_warning), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (settings, "changed::update-interval",
                               G_CALLBACK (on_update_interval_changed), self, G_CONNECT_SWAPPED);
    }

  self->mode = mode;
  sync_mode_widgets (self);
  restart_tick (self);
  ww_window_start (self);
}

WwWindow *
ww_window_new_full (GtkApplication       *app,
                    const WwServerConfig *config,
                    gboolean              port_given,
                    const WwFeedConfig   *feed_config,
                    GSettings            *settings)
{
  WwWindow *self = g_object_new (WW_TYPE_WINDOW, "application", app, NULL);

  ww_window_setup (self, config, port_given, feed_config, settings, WW_MODE_SERVER);
  return self;
}

WwWindow *
ww_window_new (WwApplication *application)
{
  WwWindow *self;
  GSettings *settings;
  WwMode mode = WW_MODE_SERVER;

  g_return_val_if_fail (WW_IS_APPLICATION (application), NULL);

  self = g_object_new (WW_TYPE_WINDOW, "application", application, NULL);
  settings = ww_application_get_settings (application);
  /* An explicit --port means "serve there"; otherwise the last mode returns. */
  if (settings != NULL && !ww_application_get_port_given (application))
    mode = g_settings_get_enum (settings, "mode") == WW_MODE_CLIENT ? WW_MODE_CLIENT
                                                                    : WW_MODE_SERVER;
  self->redis_url = g_strdup (ww_application_get_redis_url (application));
  ww_window_setup (self, ww_application_get_config (application),
                   ww_application_get_port_given (application),
                   ww_application_get_feed_config (application), settings, mode);
  return self;
}
