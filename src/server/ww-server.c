/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server"

#include "config.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "ww-server-private.h"

struct _WwServer {
  GObject         parent_instance;

  WwServerConfig *config;
  WwCounters      counters;
  WwHistogram    *latency;
  guint64         next_peer_id;

  GHashTable     *endpoints;     /* path → WwEndpoint */
  WwEndpoint     *echo;
  GHashTable     *routes;        /* exact path → Route */
  GPtrArray      *prefix_routes; /* Route, longest prefix first */

  GMutex          lock;          /* start/stop against the getters */
  gboolean        running;
  gboolean        stopping;
  guint16         port;
  GMainContext   *context;
  GThread        *thread;
  WwIo           *io;
  GTlsCertificate *tls_cert;     /* while running with TLS */
};

G_DEFINE_FINAL_TYPE (WwServer, ww_server, G_TYPE_OBJECT)
G_DEFINE_QUARK (ww-server-error-quark, ww_server_error)

typedef struct {
  char           *path;
  gboolean        prefix;
  WwHttpHandler   handler;
  gpointer        user_data;
  GDestroyNotify  destroy;
} Route;

static void resource_handler (WwHttpExchange *exchange, gpointer user_data);

const char * const ww_hs_fail_names[WW_HS_FAIL_N] = {
  "bad_request", "header_too_large", "not_found", "method_not_allowed",
  "version", "forbidden_origin", "unauthorized", "too_many_connections", "timeout",
  "handshake_rate", "tls",
};

const char * const ww_refusal_names[WW_REFUSE_N] = {
  "per_address", "max_connections", "handshake_rate", "message_rate", "slow_header",
  "request_body", "idle", "header_too_large", "message_too_large", "peer_queue",
  "total_queue", "unauthorized", "forbidden_origin", "tls",
};

/*
 * Both sides go through HMAC-SHA256 under a per-process random key, and
 * the digests are compared with a loop that does not stop early: neither
 * the token's length nor its first differing byte shows in the timing.
 */
static gboolean
token_equal (const char *given, gsize given_len, const char *token)
{
  static guint8 key[32];
  static gsize key_init = 0;
  GHmac *h;
  guint8 a[32], b[32];
  gsize alen = sizeof a, blen = sizeof b;
  guint8 diff = 0;

  if (g_once_init_enter (&key_init))
    {
      for (guint i = 0; i < sizeof key; i += 4)
        {
          guint32 r = g_random_int ();

          memcpy (key + i, &r, 4);
        }
      g_once_init_leave (&key_init, 1);
    }
  h = g_hmac_new (G_CHECKSUM_SHA256, key, sizeof key);
  g_hmac_update (h, (const guchar *) given, (gssize) given_len);
  g_hmac_get_digest (h, a, &alen);
  g_hmac_unref (h);
  h = g_hmac_new (G_CHECKSUM_SHA256, key, sizeof key);
  g_hmac_update (h, (const guchar *) token, (gssize) strlen (token));
  g_hmac_get_digest (h, b, &blen);
  g_hmac_unref (h);
  for (guint i = 0; i < sizeof a; i++)
    diff |= a[i] ^ b[i];
  return diff == 0;
}

gboolean
ww_server_check_token (const WwServerConfig *c, const WwHttpRequest *req)
{
  const char *auth, *protocols;
  gboolean ok = FALSE;

  if (c->token == NULL || c->token[0] == '\0')
    return TRUE;
  {
    g_autofree char *param = ww_http_request_dup_query_param (req, "token");

    if (param && token_equal (param, strlen (param), c->token))
      ok = TRUE;
    if (param)
      memset (param, 0, strlen (param));
  }
  auth = ww_http_request_get_header (req, "Authorization");
  if (!ok && auth && g_ascii_strncasecmp (auth, "Bearer ", 7) == 0)
    {
      const char *t = auth + 7;

      while (*t == ' ')
        t++;
      ok = token_equal (t, strlen (t), c->token);
    }
  /* Non-browser clients may offer "bearer.<token>" as a subprotocol; it is
   * never selected (the server has no subprotocols). */
  protocols = ww_http_request_get_header (req, "Sec-WebSocket-Protocol");
  if (!ok && protocols)
    {
      const char *p = protocols;

      while (*p && !ok)
        {
          const char *end = strchr (p, ',');
          gsize n = end ? (gsize) (end - p) : strlen (p);
          const char *s = p;
          gsize sn = n;

          while (sn > 0 && (*s == ' ' || *s == '\t'))
            s++, sn--;
          while (sn > 0 && (s[sn - 1] == ' ' || s[sn - 1] == '\t'))
            sn--;
          if (sn > 7 && g_ascii_strncasecmp (s, "bearer.", 7) == 0)
            ok = token_equal (s + 7, sn - 7, c->token);
          p += n;
          if (*p == ',')
            p++;
        }
    }
  return ok;
}

static void
route_free (Route *route)
{
  if (route->destroy)
    route->destroy (route->user_data);
  g_free (route->path);
  g_free (route);
}

static void
endpoint_free (WwEndpoint *ep)
{
  if (ep->destroy)
    ep->destroy (ep->user_data);
  g_ptr_array_unref (ep->peers);
  g_free (ep->path);
  g_free (ep);
}

/* ---- built-in endpoints and routes -------------------------------------- */

static void
echo_message (WwPeer *peer, guint8 opcode, const guint8 *data, gsize len, gpointer user_data)
{
  ww_peer_send_message (peer, opcode, data, len);
}

static const WwEndpointVTable echo_vtable = { NULL, echo_message, NULL };

static void
healthz_handler (WwHttpExchange *exchange, gpointer user_data)
{
  static const char ok[] = "ok\n";
  g_autoptr(GBytes) body = g_bytes_new_static (ok, sizeof ok - 1);
  const char *headers[] = { "Cache-Control: no-store", NULL };

  ww_http_exchange_respond (exchange, 200, "text/plain; charset=utf-8", body, headers);
}

static void
metrics_handler (WwHttpExchange *exchange, gpointer user_data)
{
  WwServer *self = user_data;
  char *text = ww_server_render_metrics (self);
  g_autoptr(GBytes) body = g_bytes_new_take (text, strlen (text));
  const char *headers[] = { "Cache-Control: no-store", NULL };

  ww_http_exchange_respond (exchange, 200, "text/plain; version=0.0.4; charset=utf-8",
                            body, headers);
}

/* ---- GObject ------------------------------------------------------------ */

static void
ww_server_finalize (GObject *object)
{
  WwServer *self = WW_SERVER (object);

  ww_server_stop (self);
  g_clear_pointer (&self->endpoints, g_hash_table_unref);
  g_clear_pointer (&self->routes, g_hash_table_unref);
  g_clear_pointer (&self->prefix_routes, g_ptr_array_unref);
  g_clear_pointer (&self->config, ww_server_config_free);
  g_clear_pointer (&self->latency, ww_histogram_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_object (&self->tls_cert);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (ww_server_parent_class)->finalize (object);
}

static void
ww_server_class_init (WwServerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ww_server_finalize;
}

static void
ww_server_init (WwServer *self)
{
  g_mutex_init (&self->lock);
  self->latency = ww_histogram_new ();
  self->endpoints = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) endpoint_free);
  self->routes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) route_free);
  self->prefix_routes = g_ptr_array_new_with_free_func ((GDestroyNotify) route_free);
}

/**
 * ww_server_new:
 * @config: (nullable): limits and address; copied.  NULL for the defaults.
 *
 * A stopped server that owns `/echo`, `/healthz` and `/metrics`.
 */
WwServer *
ww_server_new (const WwServerConfig *config)
{
  WwServer *self = g_object_new (WW_TYPE_SERVER, NULL);

  self->config = config ? ww_server_config_copy (config) : ww_server_config_new ();
  self->echo = ww_server_add_endpoint (self, "/echo", self->config->max_echo_message,
                                       &echo_vtable, NULL, NULL);
  ww_server_add_route (self, "/healthz", FALSE, healthz_handler, NULL, NULL);
  ww_server_add_route (self, "/metrics", FALSE, metrics_handler, self, NULL);
  return self;
}

const WwServerConfig *
ww_server_get_config (WwServer *self)
{
  g_return_val_if_fail (WW_IS_SERVER (self), NULL);
  return self->config;
}

void
ww_server_set_config (WwServer *self, const WwServerConfig *config)
{
  g_return_if_fail (WW_IS_SERVER (self));
  g_return_if_fail (config != NULL);
  g_return_if_fail (!self->running);

  if (config == self->config)
    return;
  /* Switching threading modes needs the other kind of context. */
  if (self->context && !config->own_thread != !self->config->own_thread)
    g_clear_pointer (&self->context, g_main_context_unref);
  ww_server_config_free (self->config);
  self->config = ww_server_config_copy (config);
  self->echo->max_message = self->config->max_echo_message;
}

/* ---- private API for the I/O layer -------------------------------------- */

WwCounters *
ww_server_get_counters_priv (WwServer *self)
{
  return &self->counters;
}

WwHistogram *
ww_server_get_latency_priv (WwServer *self)
{
  return self->latency;
}

guint64
ww_server_next_peer_id (WwServer *self)
{
  return __atomic_add_fetch (&self->next_peer_id, 1, __ATOMIC_RELAXED);
}

WwEndpoint *
ww_server_lookup_endpoint (WwServer *self, const char *path)
{
  return g_hash_table_lookup (self->endpoints, path);
}

static Route *
find_route (WwServer *self, const char *path)
{
  Route *route = g_hash_table_lookup (self->routes, path);

  if (route)
    return route;
  for (guint i = 0; i < self->prefix_routes->len; i++)
    {
      Route *r = self->prefix_routes->pdata[i];
      gsize n = strlen (r->path);

      /* "/events" matches "/events" and "/events/x", not "/eventsx";
       * "/" matches everything. */
      if (strncmp (path, r->path, n) == 0 &&
          (path[n] == '\0' || path[n] == '/' || (n > 0 && r->path[n - 1] == '/')))
        return r;
    }
  return NULL;
}

void
ww_server_handle_http (WwServer *self, WwHttpExchange *exchange)
{
  const char *method = ww_http_request_get_method (exchange->request);
  Route *route = find_route (self, exchange->path);

  if (route == NULL)
    {
      if (g_hash_table_contains (self->endpoints, exchange->path))
        {
          const char *upgrade[] = { "Upgrade: websocket", "Sec-WebSocket-Version: 13", NULL };

          ww_http_exchange_respond_error_full (exchange, 426, "upgrade_required",
                                               "This path speaks WebSocket only", upgrade);
          return;
        }
      ww_http_exchange_respond_error (exchange, 404, "not_found", "No such resource");
      return;
    }
  /* The page and /healthz stay open (the page passes ?token= on); the
   * feed's REST routes, /metrics and every other route need the token. */
  if (!g_str_equal (route->path, "/healthz") && route->handler != resource_handler &&
      !ww_server_check_token (self->config, exchange->request))
    {
      const char *www[] = { "WWW-Authenticate: Bearer realm=\"wirewatch\"", NULL };
      WwCounters *c = &self->counters;

      WW_COUNT (c, refusals[WW_REFUSE_UNAUTHORIZED], 1);
      ww_http_exchange_respond_error_full (exchange, 401, "unauthorized",
                                           "A valid access token is required", www);
      return;
    }
  if (!g_str_equal (method, "GET") && !g_str_equal (method, "HEAD"))
    {
      const char *allow[] = { "Allow: GET, HEAD", NULL };

      ww_http_exchange_respond_error_full (exchange, 405, "method_not_allowed",
                                           "Only GET and HEAD are allowed here", allow);
      return;
    }
  route->handler (exchange, route->user_data);
}

/* ---- start and stop ------------------------------------------------------- */

static gpointer
io_thread_main (gpointer data)
{
  WwServer *self = data;
  WwIo *io = self->io;

  g_main_context_push_thread_default (self->context);
  while (!ww_io_is_finished (io))
    g_main_context_iteration (self->context, TRUE);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

static GSocket *
listen_on (GInetAddress *address, guint16 port, GError **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) sa = NULL;

  socket = g_socket_new (g_inet_address_get_family (address), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;
  /* The default backlog of 10 turns a burst of connects into SYN
   * retransmits of 1–3 s each (ENVIRONMENT.md). */
  g_socket_set_listen_backlog (socket, 4096);
  sa = g_inet_socket_address_new (address, port);
  if (!g_socket_bind (socket, sa, TRUE, error))
    return NULL;
  if (!g_socket_listen (socket, error))
    return NULL;
  return g_steal_pointer (&socket);
}

/*
 * Loads the PEM pair for wss://.  GIO reports a missing or unreadable file
 * and a broken PEM; GnuTLS is asked as well because it also notices a key
 * that does not belong to the certificate.
 */
static GTlsCertificate *
load_tls_pair (const char *cert_file, const char *key_file, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  GTlsCertificate *cert;
  gnutls_certificate_credentials_t cred = NULL;
  int rc;

  if (cert_file == NULL || cert_file[0] == '\0' || key_file == NULL || key_file[0] == '\0')
    {
      g_set_error_literal (error, WW_SERVER_ERROR, WW_SERVER_ERROR_TLS,
                           "TLS needs both a certificate and a private key "
                           "(--tls-cert and --tls-key)");
      return NULL;
    }
  cert = g_tls_certificate_new_from_files (cert_file, key_file, &local_error);
  if (cert == NULL)
    {
      g_set_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_TLS,
                   "Cannot load the TLS certificate “%s” and key “%s”: %s",
                   cert_file, key_file, local_error->message);
      return NULL;
    }
  if (gnutls_certificate_allocate_credentials (&cred) != GNUTLS_E_SUCCESS)
    {
      g_object_unref (cert);
      g_set_error_literal (error, WW_SERVER_ERROR, WW_SERVER_ERROR_TLS,
                           "Cannot set up TLS credentials");
      return NULL;
    }
  rc = gnutls_certificate_set_x509_key_file (cred, cert_file, key_file, GNUTLS_X509_FMT_PEM);
  gnutls_certificate_free_credentials (cred);
  if (rc < 0)
    {
      g_object_unref (cert);
      g_set_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_TLS,
                   "The TLS certificate “%s” and key “%s” do not form a pair: %s",
                   cert_file, key_file, gnutls_strerror (rc));
      return NULL;
    }
  return cert;
}

GTlsCertificate *
ww_server_get_tls_certificate_priv (WwServer *self)
{
  return self->tls_cert;
}

/**
 * ww_server_start:
 *
 * Binds synchronously, so "address in use" is reported here; with
 * port_attempts > 1 the next ports are tried in turn.
 */
gboolean
ww_server_start (WwServer *self, GError **error)
{
  const WwServerConfig *c;
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GPtrArray) listeners = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *bind;
  guint attempts;
  guint16 port = 0;

  g_return_val_if_fail (WW_IS_SERVER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  c = self->config;
  if (self->running)
    {
      g_set_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_ALREADY_RUNNING,
                   "The server is already running on port %u", self->port);
      return FALSE;
    }
  g_clear_object (&self->tls_cert);
  if ((c->tls_cert_file && c->tls_cert_file[0]) || (c->tls_key_file && c->tls_key_file[0]))
    {
      self->tls_cert = load_tls_pair (c->tls_cert_file, c->tls_key_file, error);
      if (self->tls_cert == NULL)
        return FALSE;
    }

  bind = c->bind_address && c->bind_address[0] ? c->bind_address : "127.0.0.1";
  if (g_str_equal (bind, "localhost"))
    bind = "127.0.0.1";
  address = g_inet_address_new_from_string (bind);
  if (address == NULL)
    {
      g_set_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_BAD_ADDRESS,
                   "“%s” is not an IPv4 or IPv6 address", bind);
      return FALSE;
    }

  listeners = g_ptr_array_new_with_free_func (g_object_unref);
  attempts = c->port == 0 ? 1 : MAX (c->port_attempts, 1);
  for (guint i = 0; i < attempts; i++)
    {
      GSocket *socket;
      guint want = (guint) c->port + i;

      if (want > 65535)
        break;
      g_clear_error (&local_error);
      socket = listen_on (address, (guint16) want, &local_error);
      if (socket)
        {
          g_autoptr(GSocketAddress) local = g_socket_get_local_address (socket, NULL);

          port = local ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) : want;
          g_ptr_array_add (listeners, socket);
          if (i > 0)
            g_info ("Port %u was taken, using %u", c->port, port);
          break;
        }
      if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        break;
    }
  if (listeners->len == 0)
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE) && attempts > 1)
        g_set_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_ADDRESS_IN_USE,
                     "Ports %u to %u on %s are in use", c->port, c->port + attempts - 1, bind);
      else if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        g_set_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_ADDRESS_IN_USE,
                     "Port %u on %s is in use", c->port, bind);
      else
        g_set_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_FAILED,
                     "Cannot listen on %s port %u: %s", bind, c->port,
                     local_error ? local_error->message : "no port left to try");
      return FALSE;
    }

  self->echo->max_message = c->max_echo_message;
  /* Kept across restarts: the feed attached its timers to it already. */
  ww_server_get_context (self);

  g_mutex_lock (&self->lock);
  self->port = port;
  self->io = ww_io_new (self, self->context, listeners);
  self->running = TRUE;
  if (c->own_thread)
    self->thread = g_thread_new ("ww-server-io", io_thread_main, self);
  g_mutex_unlock (&self->lock);

  g_info ("Server started on %s port %u (%s)", bind, port,
          c->own_thread ? "own thread" : "caller's main context");
  return TRUE;
}

static gboolean
begin_shutdown_cb (gpointer data)
{
  ww_io_begin_shutdown (data);
  return G_SOURCE_REMOVE;
}

/**
 * ww_server_stop:
 *
 * Sends 1001 to every peer, waits up to close_timeout_ms for their close
 * frames, drops the rest and, with own_thread, joins the I/O thread.
 */
void
ww_server_stop (WwServer *self)
{
  WwIo *io;
  GThread *thread;

  g_return_if_fail (WW_IS_SERVER (self));

  g_mutex_lock (&self->lock);
  io = self->io;
  thread = self->thread;
  if (io == NULL || self->stopping)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  if (thread == g_thread_self ())
    {
      g_mutex_unlock (&self->lock);
      g_critical ("ww_server_stop() called on the server's own I/O thread");
      return;
    }
  self->stopping = TRUE;
  g_mutex_unlock (&self->lock);

  if (thread)
    {
      g_main_context_invoke (self->context, begin_shutdown_cb, io);
      g_thread_join (thread);
    }
  else if (g_main_context_acquire (self->context))
    {
      ww_io_begin_shutdown (io);
      while (!ww_io_is_finished (io))
        g_main_context_iteration (self->context, TRUE);
      g_main_context_release (self->context);
    }
  else
    {
      g_critical ("ww_server_stop() must be called on the thread that runs its context");
      g_mutex_lock (&self->lock);
      self->stopping = FALSE;
      g_mutex_unlock (&self->lock);
      return;
    }

  g_mutex_lock (&self->lock);
  self->io = NULL;
  self->thread = NULL;
  self->running = FALSE;
  self->stopping = FALSE;
  g_mutex_unlock (&self->lock);
  ww_io_free (io);
  g_info ("Server on port %u stopped", self->port);
}

gboolean
ww_server_is_running (WwServer *self)
{
  g_return_val_if_fail (WW_IS_SERVER (self), FALSE);
  return self->running;
}

guint16
ww_server_get_port (WwServer *self)
{
  g_return_val_if_fail (WW_IS_SERVER (self), 0);
  return self->port ? self->port : self->config->port;
}

char *
ww_server_dup_url (WwServer *self, const char *path)
{
  const char *bind;
  const char *scheme;
  g_autofree char *host = NULL;

  g_return_val_if_fail (WW_IS_SERVER (self), NULL);

  bind = self->config->bind_address ? self->config->bind_address : "127.0.0.1";
  scheme = self->config->tls_cert_file && self->config->tls_cert_file[0] ? "wss" : "ws";
  /* A wildcard address is not something to connect to: use loopback. */
  if (g_str_equal (bind, "0.0.0.0") || bind[0] == '\0')
    host = g_strdup ("127.0.0.1");
  else if (g_str_equal (bind, "::"))
    host = g_strdup ("[::1]");
  else if (strchr (bind, ':'))
    host = g_strdup_printf ("[%s]", bind);
  else
    host = g_strdup (bind);
  if (path == NULL)
    path = "/";
  return g_strdup_printf ("%s://%s:%u%s%s", scheme, host, ww_server_get_port (self),
                          path[0] == '/' ? "" : "/", path);
}

GMainContext *
ww_server_get_context (WwServer *self)
{
  g_return_val_if_fail (WW_IS_SERVER (self), NULL);
  if (self->context == NULL)
    self->context = self->config->own_thread ? g_main_context_new ()
                                             : g_main_context_ref_thread_default ();
  return self->context;
}

void
ww_server_invoke (WwServer *self, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
  g_return_if_fail (WW_IS_SERVER (self));
  g_return_if_fail (func != NULL);
  g_main_context_invoke_full (ww_server_get_context (self), G_PRIORITY_DEFAULT,
                              func, data, destroy);
}

/* ---- registration ---------------------------------------------------------- */

WwEndpoint *
ww_server_add_endpoint (WwServer               *self,
                        const char             *path,
                        gsize                   max_message,
                        const WwEndpointVTable *vtable,
                        gpointer                user_data,
                        GDestroyNotify          destroy)
{
  WwEndpoint *ep;

  g_return_val_if_fail (WW_IS_SERVER (self), NULL);
  g_return_val_if_fail (path != NULL && path[0] == '/', NULL);
  g_return_val_if_fail (vtable != NULL, NULL);

  ep = g_new0 (WwEndpoint, 1);
  ep->server = self;
  ep->path = g_strdup (path);
  ep->max_message = max_message ? max_message : self->config->max_feed_message;
  ep->vtable = *vtable;
  ep->user_data = user_data;
  ep->destroy = destroy;
  ep->peers = g_ptr_array_new ();
  if (g_hash_table_contains (self->endpoints, path))
    g_warning ("WebSocket endpoint %s registered twice; the last one wins", path);
  g_hash_table_replace (self->endpoints, ep->path, ep);
  return ep;
}

static int
prefix_cmp (gconstpointer a, gconstpointer b)
{
  const Route *ra = *(const Route **) a;
  const Route *rb = *(const Route **) b;

  return (int) strlen (rb->path) - (int) strlen (ra->path);
}

void
ww_server_add_route (WwServer      *self,
                     const char    *path,
                     gboolean       prefix,
                     WwHttpHandler  handler,
                     gpointer       user_data,
                     GDestroyNotify destroy)
{
  Route *route;

  g_return_if_fail (WW_IS_SERVER (self));
  g_return_if_fail (path != NULL && path[0] == '/');
  g_return_if_fail (handler != NULL);

  route = g_new0 (Route, 1);
  route->path = g_strdup (path);
  route->prefix = prefix;
  route->handler = handler;
  route->user_data = user_data;
  route->destroy = destroy;
  if (prefix)
    {
      g_ptr_array_add (self->prefix_routes, route);
      g_ptr_array_sort (self->prefix_routes, prefix_cmp);
    }
  else
    g_hash_table_replace (self->routes, route->path, route);
}

/* ---- static files from a GResource ------------------------------------------ */

typedef struct {
  char       *prefix;
  char       *resource_dir;
  char       *csp;
  GMutex      lock;
  GHashTable *etags; /* resource path → etag */
} ResourceRoute;

static void
resource_route_free (ResourceRoute *rr)
{
  g_free (rr->prefix);
  g_free (rr->resource_dir);
  g_free (rr->csp);
  g_mutex_clear (&rr->lock);
  g_hash_table_unref (rr->etags);
  g_free (rr);
}

static const char *
content_type_for (const char *name)
{
  static const struct { const char *ext, *type; } types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".css",  "text/css; charset=utf-8" },
    { ".js",   "text/javascript; charset=utf-8" },
    { ".mjs",  "text/javascript; charset=utf-8" },
    { ".json", "application/json" },
    { ".webmanifest", "application/manifest+json" },
    { ".svg",  "image/svg+xml" },
    { ".png",  "image/png" },
    { ".ico",  "image/vnd.microsoft.icon" },
    { ".woff2", "font/woff2" },
    { ".txt",  "text/plain; charset=utf-8" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    if (g_str_has_suffix (name, types[i].ext))
      return types[i].type;
  return "application/octet-stream";
}

static void
resource_handler (WwHttpExchange *exchange, gpointer user_data)
{
  ResourceRoute *rr = user_data;
  const char *path = ww_http_exchange_get_path (exchange);
  const char *rest = path + strlen (rr->prefix);
  const char *inm;
  g_autofree char *rpath = NULL;
  g_autofree char *etag_header = NULL;
  g_autofree char *csp_header = NULL;
  g_autoptr(GBytes) body = NULL;
  const char *headers[4] = { NULL };
  const char *etag;
  guint h = 0;

  while (*rest == '/')
    rest++;
  /* No way out of the directory: resources have no "..", but say 404
   * rather than look. */
  if (strstr (rest, "..") || strchr (rest, '\\'))
    {
      ww_http_exchange_respond_error (exchange, 404, "not_found", "No such file");
      return;
    }
  if (*rest == '\0' || g_str_has_suffix (rest, "/"))
    rpath = g_strconcat (rr->resource_dir, "/", rest, "index.html", NULL);
  else
    rpath = g_strconcat (rr->resource_dir, "/", rest, NULL);

  body = g_resources_lookup_data (rpath, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (body == NULL)
    {
      ww_http_exchange_respond_error (exchange, 404, "not_found", "No such file");
      return;
    }

  g_mutex_lock (&rr->lock);
  etag = g_hash_table_lookup (rr->etags, rpath);
  if (etag == NULL)
    {
      g_autofree char *sum = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, body);

      etag = g_strdup_printf ("\"%.20s\"", sum);
      g_hash_table_insert (rr->etags, g_strdup (rpath), (char *) etag);
    }
  etag_header = g_strdup_printf ("ETag: %s", etag);
  g_mutex_unlock (&rr->lock);

  /* The files change with the binary: revalidate every time (cheap, the
   * ETag answers 304) rather than serve a stale page after an upgrade. */
  headers[h++] = "Cache-Control: no-cache";
  headers[h++] = etag_header;
  if (rr->csp && g_str_has_suffix (rpath, ".html"))
    {
      csp_header = g_strdup_printf ("Content-Security-Policy: %s", rr->csp);
      headers[h++] = csp_header;
    }

  inm = ww_http_request_get_header (ww_http_exchange_get_request (exchange), "If-None-Match");
  if (inm && (strstr (inm, etag + 1) != NULL || g_str_equal (inm, "*")))
    {
      ww_http_exchange_respond (exchange, 304, NULL, NULL, headers);
      return;
    }
  ww_http_exchange_respond (exchange, 200, content_type_for (rpath), body, headers);
}

void
ww_server_add_resource_route (WwServer   *self,
                              const char *path,
                              const char *resource_dir,
                              const char *csp)
{
  ResourceRoute *rr;
  gsize n;

  g_return_if_fail (WW_IS_SERVER (self));
  g_return_if_fail (path != NULL && path[0] == '/');
  g_return_if_fail (resource_dir != NULL);

  rr = g_new0 (ResourceRoute, 1);
  rr->prefix = g_strdup (path);
  n = strlen (rr->prefix);
  if (n > 1 && rr->prefix[n - 1] == '/')
    rr->prefix[n - 1] = '\0';
  if (g_str_equal (rr->prefix, "/"))
    rr->prefix[0] = '\0';
  rr->resource_dir = g_strdup (resource_dir);
  n = strlen (rr->resource_dir);
  while (n > 1 && rr->resource_dir[n - 1] == '/')
    rr->resource_dir[--n] = '\0';
  rr->csp = g_strdup (csp);
  g_mutex_init (&rr->lock);
  rr->etags = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  ww_server_add_route (self, path, TRUE, resource_handler, rr,
                       (GDestroyNotify) resource_route_free);
}

/* ---- thread-safe reads ------------------------------------------------------ */

void
ww_server_get_counters (WwServer *self, WwServerCounters *out)
{
  WwCounters *c;

  g_return_if_fail (WW_IS_SERVER (self));
  g_return_if_fail (out != NULL);

  c = &self->counters;
  out->connections_active = WW_READ (c, connections_active);
  out->connections_total = WW_READ (c, connections_total);
  out->messages_in = WW_READ (c, messages_in);
  out->messages_out = WW_READ (c, messages_out);
  out->bytes_in = WW_READ (c, bytes_in);
  out->bytes_out = WW_READ (c, bytes_out);
  out->http_requests = WW_READ (c, http_requests);
  out->handshake_failures = WW_READ (c, handshake_failures);
  out->heartbeat_timeouts = WW_READ (c, heartbeat_timeouts);
  out->backpressure_closes = WW_READ (c, backpressure_closes);
  out->rate_limit_closes = WW_READ (c, rate_limit_closes);
}

WwHistogram *
ww_server_dup_latency (WwServer *self)
{
  g_return_val_if_fail (WW_IS_SERVER (self), NULL);
  return ww_histogram_copy (self->latency);
}

typedef struct {
  WwServer  *server;
  GMutex     lock;
  GCond      cond;
  gboolean   done;
  GPtrArray *infos;
  guint64    peer_id;
  guint16    code;
  char      *reason;
} SyncCall;

static gboolean
dup_infos_cb (gpointer data)
{
  SyncCall *call = data;

  if (call->server->io)
    call->infos = ww_io_dup_peer_infos (call->server->io);
  g_mutex_lock (&call->lock);
  call->done = TRUE;
  g_cond_signal (&call->cond);
  g_mutex_unlock (&call->lock);
  return G_SOURCE_REMOVE;
}

/**
 * ww_server_dup_peer_infos:
 *
 * A copy of every connected peer's record, taken on the I/O context in one
 * pass (a few milliseconds for 10,000 peers); the caller blocks meanwhile.
 */
GPtrArray *
ww_server_dup_peer_infos (WwServer *self)
{
  SyncCall call = { 0 };

  g_return_val_if_fail (WW_IS_SERVER (self), NULL);

  g_mutex_lock (&self->lock);
  if (self->io == NULL || self->stopping)
    {
      g_mutex_unlock (&self->lock);
      return g_ptr_array_new_with_free_func ((GDestroyNotify) ww_peer_info_free);
    }
  if (self->thread == NULL || g_thread_self () == self->thread)
    {
      /* Headless: the I/O context is ours. */
      GPtrArray *infos = ww_io_dup_peer_infos (self->io);

      g_mutex_unlock (&self->lock);
      return infos;
    }
  call.server = self;
  g_mutex_init (&call.lock);
  g_cond_init (&call.cond);
  g_main_context_invoke (self->context, dup_infos_cb, &call);
  g_mutex_lock (&call.lock);
  while (!call.done)
    g_cond_wait (&call.cond, &call.lock);
  g_mutex_unlock (&call.lock);
  g_mutex_unlock (&self->lock);
  g_mutex_clear (&call.lock);
  g_cond_clear (&call.cond);
  return call.infos ? call.infos
                    : g_ptr_array_new_with_free_func ((GDestroyNotify) ww_peer_info_free);
}

static gboolean
kick_cb (gpointer data)
{
  SyncCall *call = data;

  if (call->server->io)
    ww_io_kick (call->server->io, call->peer_id, call->code, call->reason);
  return G_SOURCE_REMOVE;
}

static void
kick_free (gpointer data)
{
  SyncCall *call = data;

  g_object_unref (call->server);
  g_free (call->reason);
  g_free (call);
}

void
ww_server_kick (WwServer *self, guint64 peer_id, guint16 code, const char *reason)
{
  SyncCall *call;

  g_return_if_fail (WW_IS_SERVER (self));

  if (!self->running)
    return;
  call = g_new0 (SyncCall, 1);
  call->server = g_object_ref (self);
  call->peer_id = peer_id;
  call->code = code;
  call->reason = g_strdup (reason);
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, kick_cb, call, kick_free);
}

/* ---- /metrics ------------------------------------------------------------------- */

static void
add_process_metrics (GString *s)
{
  g_autofree char *stat = NULL;
  g_autofree char *statm = NULL;
  g_autofree char *pstat = NULL;
  long ticks = sysconf (_SC_CLK_TCK);
  long page = sysconf (_SC_PAGESIZE);
  guint n_fds = 0;
  DIR *dir;

  if (g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL))
    {
      /* Fields after the parenthesised command name, which may hold spaces. */
      const char *p = strrchr (stat, ')');
      g_auto(GStrv) f = p ? g_strsplit (p + 2, " ", 0) : NULL;

      /* f[0] is field 3 (state): utime is field 14, stime 15, starttime 22. */
      if (f && g_strv_length (f) > 19 && ticks > 0)
        {
          double cpu = (g_ascii_strtod (f[11], NULL) + g_ascii_strtod (f[12], NULL)) / ticks;
          double start = g_ascii_strtod (f[19], NULL) / ticks;
          double btime = 0;

          if (g_file_get_contents ("/proc/stat", &pstat, NULL, NULL))
            {
              const char *b = strstr (pstat, "\nbtime ");

              if (b)
                btime = g_ascii_strtod (b + 7, NULL);
            }
          g_string_append (s, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                              "# TYPE process_cpu_seconds_total counter\n");
          g_string_append_printf (s, "process_cpu_seconds_total %.2f\n", cpu);
          g_string_append (s, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                              "# TYPE process_start_time_seconds gauge\n");
          g_string_append_printf (s, "process_start_time_seconds %.2f\n", btime + start);
        }
    }
  if (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL))
    {
      g_auto(GStrv) f = g_strsplit (statm, " ", 0);

      if (g_strv_length (f) > 1)
        {
          g_string_append (s, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                              "# TYPE process_resident_memory_bytes gauge\n");
          g_string_append_printf (s, "process_resident_memory_bytes %" G_GUINT64_FORMAT "\n",
                                  g_ascii_strtoull (f[1], NULL, 10) * (guint64) page);
          g_string_append (s, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                              "# TYPE process_virtual_memory_bytes gauge\n");
          g_string_append_printf (s, "process_virtual_memory_bytes %" G_GUINT64_FORMAT "\n",
                                  g_ascii_strtoull (f[0], NULL, 10) * (guint64) page);
        }
    }
  dir = opendir ("/proc/self/fd");
  if (dir)
    {
      struct dirent *e;

      while ((e = readdir (dir)))
        if (e->d_name[0] != '.')
          n_fds++;
      closedir (dir);
      g_string_append (s, "# HELP process_open_fds Number of open file descriptors.\n"
                          "# TYPE process_open_fds gauge\n");
      /* Minus the one opendir() itself holds. */
      g_string_append_printf (s, "process_open_fds %u\n", n_fds > 0 ? n_fds - 1 : 0);
    }
}

static void
metric (GString *s, const char *name, const char *type, const char *help, guint64 value)
{
  g_string_append_printf (s, "# HELP %s %s\n# TYPE %s %s\n%s %" G_GUINT64_FORMAT "\n",
                          name, help, name, type, name, value);
}

/**
 * ww_server_render_metrics:
 *
 * The Prometheus text exposition (format 0.0.4); thread-safe.
 */
char *
ww_server_render_metrics (WwServer *self)
{
  static const guint64 bounds[] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000, 2500000, 5000000, 10000000,
  };
  guint64 cumulative[G_N_ELEMENTS (bounds)];
  WwCounters *c;
  GString *s;

  g_return_val_if_fail (WW_IS_SERVER (self), NULL);

  c = &self->counters;
  s = g_string_sized_new (4096);
  metric (s, "wirewatch_connections_active", "gauge",
          "Open WebSocket connections.", WW_READ (c, connections_active));
  metric (s, "wirewatch_connections_total", "counter",
          "WebSocket connections accepted since start.", WW_READ (c, connections_total));
  metric (s, "wirewatch_tcp_connections_active", "gauge",
          "Open TCP connections (HTTP and WebSocket).", WW_READ (c, tcp_active));
  metric (s, "wirewatch_tcp_connections_total", "counter",
          "TCP connections accepted since start.", WW_READ (c, tcp_total));
  metric (s, "wirewatch_http_requests_total", "counter",
          "HTTP requests received, upgrades included.", WW_READ (c, http_requests));
  metric (s, "wirewatch_messages_received_total", "counter",
          "WebSocket data messages received.", WW_READ (c, messages_in));
  metric (s, "wirewatch_messages_sent_total", "counter",
          "WebSocket data messages sent (a broadcast counts once per peer).",
          WW_READ (c, messages_out));
  metric (s, "wirewatch_received_bytes_total", "counter",
          "Bytes read from sockets.", WW_READ (c, bytes_in));
  metric (s, "wirewatch_sent_bytes_total", "counter",
          "Bytes written to sockets.", WW_READ (c, bytes_out));
  metric (s, "wirewatch_heartbeat_timeouts_total", "counter",
          "Peers dropped after two unanswered pings.", WW_READ (c, heartbeat_timeouts));
  metric (s, "wirewatch_backpressure_closes_total", "counter",
          "Peers closed because their send queue was full.", WW_READ (c, backpressure_closes));
  metric (s, "wirewatch_rate_limit_closes_total", "counter",
          "Peers closed for sending too fast.", WW_READ (c, rate_limit_closes));
  metric (s, "wirewatch_protocol_errors_total", "counter",
          "Connections failed for a protocol error.", WW_READ (c, protocol_errors));
  metric (s, "wirewatch_dropped_connections_total", "counter",
          "WebSocket connections lost without a close handshake.", WW_READ (c, drops));

  g_string_append (s, "# HELP wirewatch_handshake_failures_total Rejected upgrades and requests, by reason.\n"
                      "# TYPE wirewatch_handshake_failures_total counter\n");
  for (guint i = 0; i < WW_HS_FAIL_N; i++)
    g_string_append_printf (s, "wirewatch_handshake_failures_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            ww_hs_fail_names[i], WW_READ (c, hs_fail[i]));

  g_string_append (s, "# HELP wirewatch_refusals_total Connections, requests and messages "
                      "refused by an abuse limit, by reason.\n"
                      "# TYPE wirewatch_refusals_total counter\n");
  for (guint i = 0; i < WW_REFUSE_N; i++)
    g_string_append_printf (s, "wirewatch_refusals_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            ww_refusal_names[i], WW_READ (c, refusals[i]));
  g_string_append (s, "# HELP wirewatch_deflate_compressions_total Messages compressed, by "
                      "kind: once for a whole broadcast (shared) or for one peer.\n"
                      "# TYPE wirewatch_deflate_compressions_total counter\n");
  g_string_append_printf (s, "wirewatch_deflate_compressions_total{kind=\"shared\"} %"
                          G_GUINT64_FORMAT "\n", WW_READ (c, compressions_shared));
  g_string_append_printf (s, "wirewatch_deflate_compressions_total{kind=\"peer\"} %"
                          G_GUINT64_FORMAT "\n", WW_READ (c, compressions_peer));

  {
    gsize zmem = 0;

    /* self->io is freed only after it left self->io under the lock. */
    g_mutex_lock (&self->lock);
    if (self->io)
      zmem = ww_io_get_deflate_shared_memory (self->io);
    g_mutex_unlock (&self->lock);
    metric (s, "wirewatch_deflate_shared_memory_bytes", "gauge",
            "zlib memory of the shared broadcast compressor.", zmem);
  }

  g_string_append (s, "# HELP wirewatch_close_codes_sent_total Close frames sent, by code.\n"
                      "# TYPE wirewatch_close_codes_sent_total counter\n");
  for (guint i = 0; i < WW_CLOSE_SLOTS; i++)
    if (WW_READ (c, close_sent[i]) || i == 0 || i == 1)
      {
        g_autofree char *code = i < WW_CLOSE_SLOTS - 1 ? g_strdup_printf ("%u", 1000 + i)
                                                       : g_strdup ("other");

        g_string_append_printf (s, "wirewatch_close_codes_sent_total{code=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                code, WW_READ (c, close_sent[i]));
      }
  g_string_append (s, "# HELP wirewatch_close_codes_received_total Close frames received, by code.\n"
                      "# TYPE wirewatch_close_codes_received_total counter\n");
  for (guint i = 0; i < WW_CLOSE_SLOTS; i++)
    if (WW_READ (c, close_received[i]) || i == 0 || i == 1)
      {
        g_autofree char *code = i < WW_CLOSE_SLOTS - 1 ? g_strdup_printf ("%u", 1000 + i)
                                                       : g_strdup ("other");

        g_string_append_printf (s, "wirewatch_close_codes_received_total{code=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                code, WW_READ (c, close_received[i]));
      }

  ww_histogram_cumulative (self->latency, bounds, cumulative, G_N_ELEMENTS (bounds));
  g_string_append (s, "# HELP wirewatch_ping_rtt_seconds Round trip of server pings (ping to pong).\n"
                      "# TYPE wirewatch_ping_rtt_seconds histogram\n");
  for (guint i = 0; i < G_N_ELEMENTS (bounds); i++)
    {
      char le[G_ASCII_DTOSTR_BUF_SIZE];

      g_ascii_formatd (le, sizeof le, "%g", bounds[i] / 1e6);
      g_string_append_printf (s, "wirewatch_ping_rtt_seconds_bucket{le=\"%s\"} %" G_GUINT64_FORMAT "\n",
                              le, cumulative[i]);
    }
  {
    guint64 count = ww_histogram_count (self->latency);
    char sum[G_ASCII_DTOSTR_BUF_SIZE];

    /* +Inf must equal _count; read it once for both. */
    g_string_append_printf (s, "wirewatch_ping_rtt_seconds_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n",
                            MAX (count, cumulative[G_N_ELEMENTS (bounds) - 1]));
    g_ascii_formatd (sum, sizeof sum, "%.6f", ww_histogram_sum (self->latency) / 1e6);
    g_string_append_printf (s, "wirewatch_ping_rtt_seconds_sum %s\n", sum);
    g_string_append_printf (s, "wirewatch_ping_rtt_seconds_count %" G_GUINT64_FORMAT "\n",
                            MAX (count, cumulative[G_N_ELEMENTS (bounds) - 1]));
  }

  add_process_metrics (s);
  return g_string_free (s, FALSE);
}
