/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "wirewatch"

#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <glib/gi18n.h>
#include <glib-unix.h>

#include "server/ww-server.h"
#ifdef WW_HAVE_FEED
# include "feed/ww-event-feed.h"
#endif
#ifdef WW_HAVE_FEED_BACKPLANE
# include "backplane/ww-backplane.h"
#endif
#ifdef WW_HAVE_CLIENT
# include "client/ww-client-cli.h"
#endif
#ifdef WW_HAVE_APP
# include "app/ww-application.h"
#endif

/* main.c only parses the command line and picks GUI, headless server or
 * headless client (DESIGN.md "Layers"). */

typedef struct {
  gboolean headless;
  gboolean version;
  int      port;
  char    *bind;
  char    *tls_cert;
  char    *tls_key;
  char    *token;
  char   **allow_origins;
  gboolean deflate;
  char    *redis;
  gint64   seed;
  gboolean has_seed;
  char    *update_interval;
  char    *state_dir;
  gboolean no_persist;
  int      rate_limit;
  int      max_connections;
  int      max_per_address;
  int      heartbeat;
  char    *connect_url;
  int      ping_interval;
  gboolean json;
  char    *accept_certificate;
  /* Limits; -1 = the server's default. */
  gint64   max_header;
  gint64   max_message;
  gint64   max_feed_message;
  gint64   max_queue;
  gint64   max_total_queue;
  gint64   handshake_timeout_ms;
  gint64   idle_timeout_ms;
  gint64   handshake_rate;
} WwOptions;

static void
ww_options_clear (WwOptions *o)
{
  g_clear_pointer (&o->bind, g_free);
  g_clear_pointer (&o->tls_cert, g_free);
  g_clear_pointer (&o->tls_key, g_free);
  g_clear_pointer (&o->token, g_free);
  g_clear_pointer (&o->allow_origins, g_strfreev);
  g_clear_pointer (&o->redis, g_free);
  g_clear_pointer (&o->update_interval, g_free);
  g_clear_pointer (&o->state_dir, g_free);
  g_clear_pointer (&o->connect_url, g_free);
  g_clear_pointer (&o->accept_certificate, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WwOptions, ww_options_clear)

/* g_set_str() is GLib 2.76; we target 2.74. */
static void
replace_str (char **slot, const char *value)
{
  char *copy = g_strdup (value);

  g_free (*slot);
  *slot = copy;
}

static gboolean
parse_seed (const char *name, const char *value, gpointer data, GError **error)
{
  WwOptions *o = data;
  guint64 seed;

  if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64, &seed, error))
    return FALSE;
  o->seed = (gint64) seed;
  o->has_seed = TRUE;
  return TRUE;
}

/* BYTES with an optional binary suffix: 65536, 64K, 16M, 1G. */
static gboolean
parse_size (const char *name, const char *value, gint64 *out, GError **error)
{
  char *end = NULL;
  guint64 n, scale = 1;

  errno = 0;
  n = g_ascii_strtoull (value, &end, 10);
  if (end != value && errno == 0)
    {
      switch (g_ascii_toupper (*end))
        {
        case 'K': scale = 1024; end++; break;
        case 'M': scale = 1024 * 1024; end++; break;
        case 'G': scale = 1024 * 1024 * 1024; end++; break;
        default: break;
        }
      /* Under 1 KiB no handshake or feed message fits; over 4 GiB is a typo. */
      if (*end == '\0' && n <= (G_GUINT64_CONSTANT (4) << 30) / scale &&
          n * scale >= 1024)
        {
          *out = (gint64) (n * scale);
          return TRUE;
        }
    }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               _("%s wants a size from 1K to 4G, such as 65536, 64K or 16M, not “%s”"),
               name, value);
  return FALSE;
}

/* Seconds, fractions allowed, from 0 (where @zero_ok) to a day. */
static gboolean
parse_seconds (const char *name, const char *value, gboolean zero_ok, gint64 *out_ms,
               GError **error)
{
  char *end = NULL;
  double s = g_ascii_strtod (value, &end);

  if (end != value && *end == '\0' && s <= 86400 && (s > 0 || (zero_ok && s == 0)))
    {
      *out_ms = MAX ((gint64) (s * 1000.0 + 0.5), s > 0 ? 1 : 0);
      return TRUE;
    }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               zero_ok ? _("%s wants seconds from 0 (off) to 86400, not “%s”")
                       : _("%s wants seconds above 0 and up to 86400, not “%s”"),
               name, value);
  return FALSE;
}

static gboolean
parse_limit (const char *name, const char *value, gpointer data, GError **error)
{
  WwOptions *o = data;

  if (g_str_equal (name, "--max-header"))
    return parse_size (name, value, &o->max_header, error);
  if (g_str_equal (name, "--max-message"))
    return parse_size (name, value, &o->max_message, error);
  if (g_str_equal (name, "--max-feed-message"))
    return parse_size (name, value, &o->max_feed_message, error);
  if (g_str_equal (name, "--max-queue"))
    return parse_size (name, value, &o->max_queue, error);
  if (g_str_equal (name, "--max-total-queue"))
    return parse_size (name, value, &o->max_total_queue, error);
  if (g_str_equal (name, "--handshake-timeout"))
    return parse_seconds (name, value, FALSE, &o->handshake_timeout_ms, error);
  if (g_str_equal (name, "--idle-timeout"))
    return parse_seconds (name, value, TRUE, &o->idle_timeout_ms, error);
  if (g_str_equal (name, "--handshake-rate"))
    {
      guint64 n;

      if (!g_ascii_string_to_unsigned (value, 10, 0, 1000000, &n, NULL))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("%s wants a number from 0 (off) to 1000000, not “%s”"), name, value);
          return FALSE;
        }
      o->handshake_rate = (gint64) n;
      return TRUE;
    }
  g_return_val_if_reached (FALSE);
}

/* "MIN-MAX" in seconds, fractions allowed ("0.05-0.2"). */
static gboolean
parse_interval (const char *text, guint *min_ms, guint *max_ms, GError **error)
{
  g_auto(GStrv) parts = g_strsplit (text, "-", 2);
  char *end = NULL;
  double lo, hi;

  if (g_strv_length (parts) != 2)
    goto bad;
  lo = g_ascii_strtod (parts[0], &end);
  if (end == parts[0] || *end != '\0')
    goto bad;
  hi = g_ascii_strtod (parts[1], &end);
  if (end == parts[1] || *end != '\0')
    goto bad;
  if (lo <= 0 || hi < lo || hi > 86400)
    goto bad;
  *min_ms = (guint) (lo * 1000.0 + 0.5);
  *max_ms = (guint) (hi * 1000.0 + 0.5);
  if (*min_ms == 0)
    *min_ms = 1;
  return TRUE;

bad:
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               _("--update-interval wants MIN-MAX in seconds, such as 2-7, not “%s”"), text);
  return FALSE;
}

static GLogWriterOutput
headless_log_writer (GLogLevelFlags   level,
                     const GLogField *fields,
                     gsize            n_fields,
                     gpointer         user_data)
{
  const char *domain = "wirewatch";
  const char *message = "";
  const char *word;
  g_autoptr(GDateTime) now = NULL;
  g_autofree char *stamp = NULL;

  if (level & G_LOG_LEVEL_DEBUG && !g_log_writer_default_would_drop (level, NULL))
    ; /* G_MESSAGES_DEBUG asked for it */
  else if (level & G_LOG_LEVEL_DEBUG)
    return G_LOG_WRITER_HANDLED;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "GLIB_DOMAIN") && fields[i].value)
        domain = fields[i].value;
      else if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].value)
        message = fields[i].value;
    }

  switch (level & G_LOG_LEVEL_MASK)
    {
    case G_LOG_LEVEL_ERROR:    word = "error"; break;
    case G_LOG_LEVEL_CRITICAL: word = "critical"; break;
    case G_LOG_LEVEL_WARNING:  word = "warning"; break;
    case G_LOG_LEVEL_MESSAGE:  word = "message"; break;
    case G_LOG_LEVEL_INFO:     word = "info"; break;
    default:                   word = "debug"; break;
    }

  now = g_date_time_new_now_utc ();
  stamp = g_date_time_format (now, "%FT%T.%fZ");
  fprintf (stderr, "%s %s %s: %s\n", stamp, word, domain, message);
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

static WwServerConfig *
server_config_from_options (const WwOptions *o)
{
  WwServerConfig *config = ww_server_config_new ();

  if (o->port >= 0)
    config->port = (guint16) o->port;
  if (o->bind)
    replace_str (&config->bind_address, o->bind);
  if (o->tls_cert)
    replace_str (&config->tls_cert_file, o->tls_cert);
  if (o->tls_key)
    replace_str (&config->tls_key_file, o->tls_key);
  if (o->token)
    replace_str (&config->token, o->token);
  if (o->allow_origins)
    {
      g_strfreev (config->allowed_origins);
      config->allowed_origins = g_strdupv (o->allow_origins);
    }
  config->deflate = o->deflate;
  /* --rate-limit belongs to the feed, which warns once before it closes
   * with 1008; the server's own limiter would close first and silently. */
  if (o->max_connections >= 0)
    config->max_connections = (guint) o->max_connections;
  if (o->max_per_address >= 0)
    config->max_per_address = (guint) o->max_per_address;
  if (o->heartbeat >= 0)
    config->heartbeat_ms = (guint) o->heartbeat * 1000;
  if (o->max_header >= 0)
    config->max_header = (gsize) o->max_header;
  if (o->max_message >= 0)
    config->max_echo_message = (gsize) o->max_message;
  if (o->max_feed_message >= 0)
    config->max_feed_message = (gsize) o->max_feed_message;
  if (o->max_queue >= 0)
    config->max_queue_bytes = (gsize) o->max_queue;
  if (o->max_total_queue >= 0)
    config->max_total_queue_bytes = (gsize) o->max_total_queue;
  if (o->handshake_timeout_ms >= 0)
    config->handshake_timeout_ms = (guint) o->handshake_timeout_ms;
  if (o->idle_timeout_ms >= 0)
    config->idle_timeout_ms = (guint) o->idle_timeout_ms;
  if (o->handshake_rate >= 0)
    config->handshakes_per_second_per_address = (guint) o->handshake_rate;
  return config;
}

#ifdef WW_HAVE_FEED
/* The feed's half of the command line, shared by the window and --headless. */
static WwFeedConfig *
feed_config_from_options (const WwOptions  *o,
                          GError          **error)
{
  g_autoptr(WwFeedConfig) feed_config = ww_feed_config_new ();

  if (o->has_seed)
    {
      feed_config->has_seed = TRUE;
      feed_config->seed = (guint64) o->seed;
    }
  if (o->update_interval &&
      !parse_interval (o->update_interval, &feed_config->min_interval_ms,
                       &feed_config->max_interval_ms, error))
    return NULL;
  if (o->state_dir)
    replace_str (&feed_config->state_dir, o->state_dir);
  feed_config->persist = !o->no_persist;
  if (o->rate_limit >= 0)
    feed_config->rate_limit = (guint) o->rate_limit;
  return g_steal_pointer (&feed_config);
}
#endif

typedef struct {
  GMainLoop *loop;
  WwServer  *server;
} Headless;

static gboolean
on_quit_signal (gpointer data)
{
  Headless *h = data;

  g_info ("Shutting down");
  g_main_loop_quit (h->loop);
  return G_SOURCE_CONTINUE;
}

static int
run_headless_server (const WwOptions *o)
{
  g_autoptr(WwServerConfig) config = server_config_from_options (o);
  g_autoptr(WwServer) server = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
#ifdef WW_HAVE_FEED
  g_autoptr(WwFeedConfig) feed_config = NULL;
  g_autoptr(WwEventFeed) feed = NULL;
#endif
#ifdef WW_HAVE_FEED_BACKPLANE
  g_autoptr(WwBackplane) backplane = NULL;
#endif
  Headless h = { 0 };
  guint sigint, sigterm;

  g_log_set_writer_func (headless_log_writer, NULL, NULL);

  server = ww_server_new (config);

#ifdef WW_HAVE_FEED
  feed_config = feed_config_from_options (o, &error);
  if (feed_config == NULL)
    {
      g_printerr ("wirewatch: %s\n", error->message);
      return 2;
    }

  feed = ww_event_feed_new (feed_config);
# ifdef WW_HAVE_FEED_BACKPLANE
  if (o->redis)
    {
      backplane = ww_backplane_new (o->redis, &error);
      if (backplane == NULL)
        {
          g_printerr ("wirewatch: %s\n", error->message);
          return 2;
        }
      ww_event_feed_set_backplane (feed, backplane);
    }
# else
  if (o->redis)
    {
      g_printerr ("wirewatch: %s\n", _("this build has no Redis backplane; --redis is not available"));
      return 2;
    }
# endif
  if (!ww_event_feed_attach (feed, server, &error))
    {
      g_printerr ("wirewatch: %s\n", error->message);
      return 1;
    }
#endif

  if (!ww_server_start (server, &error))
    {
      g_printerr ("wirewatch: %s\n", error->message);
      return 1;
    }

  url = ww_server_dup_url (server, "/");
  g_info ("Listening on %s", url);
  if (config->token == NULL && config->bind_address &&
      !g_str_has_prefix (config->bind_address, "127.") &&
      g_strcmp0 (config->bind_address, "::1") != 0 &&
      g_strcmp0 (config->bind_address, "localhost") != 0)
    g_warning ("Serving on %s without an access token: anyone who can reach this "
               "machine can connect (set --token)", config->bind_address);

  loop = g_main_loop_new (NULL, FALSE);
  h.loop = loop;
  h.server = server;
  sigint = g_unix_signal_add (SIGINT, on_quit_signal, &h);
  sigterm = g_unix_signal_add (SIGTERM, on_quit_signal, &h);

  g_main_loop_run (loop);

  g_source_remove (sigint);
  g_source_remove (sigterm);
#ifdef WW_HAVE_FEED_BACKPLANE
  /* On the I/O context (this thread) and before the server: gives up the
   * lease and the presence entry, so another instance leads at once. */
  if (backplane != NULL)
    ww_backplane_stop (backplane);
#endif
#ifdef WW_HAVE_FEED
  /* No UPDATE after the close frames: it could reach no client, yet it
   * would be saved, and a client's RESUME could never get it back. */
  ww_event_feed_set_simulating (feed, FALSE);
#endif
  ww_server_stop (server);
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  g_auto(WwOptions) o = { .port = -1, .rate_limit = -1, .max_connections = -1,
                          .max_per_address = -1, .heartbeat = -1, .ping_interval = -1,
                          .max_header = -1, .max_message = -1, .max_feed_message = -1,
                          .max_queue = -1, .max_total_queue = -1, .handshake_timeout_ms = -1,
                          .idle_timeout_ms = -1, .handshake_rate = -1 };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GOptionGroup) group = NULL;
  g_autoptr(GError) error = NULL;
  const GOptionEntry entries[] = {
    { "headless", 0, 0, G_OPTION_ARG_NONE, &o.headless, N_("Run the server without a window"), NULL },
    { "port", 'p', 0, G_OPTION_ARG_INT, &o.port, N_("Port to listen on (default 8080; 0 picks a free one)"), N_("PORT") },
    { "bind", 'b', 0, G_OPTION_ARG_STRING, &o.bind, N_("Address to listen on (default 127.0.0.1)"), N_("ADDRESS") },
    { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &o.tls_cert, N_("PEM certificate: serve wss:// and https://"), N_("FILE") },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &o.tls_key, N_("PEM private key for --tls-cert"), N_("FILE") },
    { "token", 0, 0, G_OPTION_ARG_STRING, &o.token, N_("Access token required from clients"), N_("TOKEN") },
    { "allow-origin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.allow_origins, N_("Browser origin allowed to connect (repeatable)"), N_("ORIGIN") },
    { "deflate", 0, 0, G_OPTION_ARG_NONE, &o.deflate, N_("Offer permessage-deflate compression"), NULL },
    { "redis", 0, 0, G_OPTION_ARG_STRING, &o.redis, N_("Share state with other instances through Redis"), N_("redis://HOST:PORT") },
    { "seed", 0, 0, G_OPTION_ARG_CALLBACK, parse_seed, N_("Seed of the event simulator (deterministic runs)"), N_("N") },
    { "update-interval", 0, 0, G_OPTION_ARG_STRING, &o.update_interval, N_("Seconds between changes of one event (default 2-7)"), N_("MIN-MAX") },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.state_dir, N_("Where the event state is saved"), N_("DIR") },
    { "no-persist", 0, 0, G_OPTION_ARG_NONE, &o.no_persist, N_("Do not save or load the event state"), NULL },
    { "rate-limit", 0, 0, G_OPTION_ARG_INT, &o.rate_limit, N_("Messages per second per client (0 = off)"), N_("N") },
    { "max-connections", 0, 0, G_OPTION_ARG_INT, &o.max_connections, N_("Most connections at once"), N_("N") },
    { "max-per-address", 0, 0, G_OPTION_ARG_INT, &o.max_per_address, N_("Most connections from one address"), N_("N") },
    { "heartbeat", 0, 0, G_OPTION_ARG_INT, &o.heartbeat, N_("Seconds between server pings (0 = off)"), N_("S") },
    { "max-header", 0, 0, G_OPTION_ARG_CALLBACK, parse_limit, N_("Largest HTTP request head (default 16K; larger → 431)"), N_("BYTES") },
    { "max-message", 0, 0, G_OPTION_ARG_CALLBACK, parse_limit, N_("Largest message on /echo (default 16M; larger → 1009)"), N_("BYTES") },
    { "max-feed-message", 0, 0, G_OPTION_ARG_CALLBACK, parse_limit, N_("Largest message on the feed (default 64K; larger → 1009)"), N_("BYTES") },
    { "max-queue", 0, 0, G_OPTION_ARG_CALLBACK, parse_limit, N_("Most bytes queued for one slow client (default 4M; more → 1008)"), N_("BYTES") },
    { "max-total-queue", 0, 0, G_OPTION_ARG_CALLBACK, parse_limit, N_("Most bytes queued for all clients together (default 1G)"), N_("BYTES") },
    { "handshake-timeout", 0, 0, G_OPTION_ARG_CALLBACK, parse_limit, N_("Seconds a client has to send its request (default 10)"), N_("S") },
    { "idle-timeout", 0, 0, G_OPTION_ARG_CALLBACK, parse_limit, N_("Close a connection silent for this long (default 0 = off)"), N_("S") },
    { "handshake-rate", 0, 0, G_OPTION_ARG_CALLBACK, parse_limit, N_("Most handshakes per second from one address (default 0 = off)"), N_("N") },
    { "connect", 'c', 0, G_OPTION_ARG_STRING, &o.connect_url, N_("Run as a client of a WebSocket server, without a window"), N_("URL") },
    { "ping-interval", 0, 0, G_OPTION_ARG_INT, &o.ping_interval, N_("With --connect: seconds between PINGs"), N_("S") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o.json, N_("With --connect: print JSON lines"), NULL },
    { "accept-certificate", 0, 0, G_OPTION_ARG_FILENAME, &o.accept_certificate, N_("With --connect: trust this PEM certificate"), N_("FILE") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &o.version, N_("Print the version and exit"), NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("Watch a WebSocket server live, serve one, or connect to one."));
  group = g_option_group_new ("wirewatch", "", "", &o, NULL);
  g_option_group_add_entries (group, entries);
  g_option_group_set_translation_domain (group, GETTEXT_PACKAGE);
  g_option_context_set_main_group (context, g_steal_pointer (&group));
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("wirewatch: %s\n", error->message);
      return 2;
    }

  if (o.version)
    {
      g_print ("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
      return 0;
    }
  if (o.port > 65535)
    {
      g_printerr ("wirewatch: %s\n", _("--port must be between 0 and 65535"));
      return 2;
    }

  if (o.connect_url)
    {
#ifdef WW_HAVE_CLIENT
      return ww_client_cli_run (o.connect_url, o.ping_interval, o.json,
                                o.accept_certificate, o.token);
#else
      g_printerr ("wirewatch: %s\n", _("this build has no client"));
      return 2;
#endif
    }

  if (o.headless)
    return run_headless_server (&o);

#ifdef WW_HAVE_APP
  {
    g_autoptr(WwServerConfig) config = server_config_from_options (&o);
    g_autoptr(WwFeedConfig) feed_config = feed_config_from_options (&o, &error);
    g_autoptr(WwApplication) app = NULL;
    char *app_argv[] = { argv[0], NULL };

    if (feed_config == NULL)
      {
        g_printerr ("wirewatch: %s\n", error->message);
        return 2;
      }
# ifndef WW_HAVE_FEED_BACKPLANE
    if (o.redis)
      {
        g_printerr ("wirewatch: %s\n", _("this build has no Redis backplane; --redis is not available"));
        return 2;
      }
# endif
    app = ww_application_new (config, o.port >= 0);
    ww_application_set_feed_config (app, feed_config);
    ww_application_set_redis_url (app, o.redis);
    return g_application_run (G_APPLICATION (app), 1, app_argv);
  }
#else
  return run_headless_server (&o);
#endif
}
