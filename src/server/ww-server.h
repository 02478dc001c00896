/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "ww-server-config.h"
#include "ww-peer.h"
#include "ww-http-exchange.h"
#include "../stats/ww-histogram.h"

G_BEGIN_DECLS

#define WW_TYPE_SERVER (ww_server_get_type ())
G_DECLARE_FINAL_TYPE (WwServer, ww_server, WW, SERVER, GObject)

#define WW_SERVER_ERROR (ww_server_error_quark ())
typedef enum {
  WW_SERVER_ERROR_ADDRESS_IN_USE,
  WW_SERVER_ERROR_BAD_ADDRESS,
  WW_SERVER_ERROR_TLS,
  WW_SERVER_ERROR_ALREADY_RUNNING,
  WW_SERVER_ERROR_FAILED,
} WwServerError;
GQuark ww_server_error_quark (void);

/*
 * Endpoint callbacks run on the server's I/O context (see
 * ww_server_get_context()), never concurrently with each other.
 */
typedef struct {
  void (*opened)  (WwPeer *peer, gpointer user_data);
  void (*message) (WwPeer *peer, guint8 opcode, const guint8 *data, gsize len,
                   gpointer user_data);
  void (*closed)  (WwPeer *peer, guint16 code, gpointer user_data);
} WwEndpointVTable;

typedef struct _WwEndpoint WwEndpoint;

/* Runs on the I/O context; must answer the exchange before returning. */
typedef void (*WwHttpHandler) (WwHttpExchange *exchange, gpointer user_data);

typedef struct {
  guint64 connections_active;
  guint64 connections_total;
  guint64 messages_in;
  guint64 messages_out;
  guint64 bytes_in;
  guint64 bytes_out;
  guint64 http_requests;
  guint64 handshake_failures;
  guint64 heartbeat_timeouts;
  guint64 backpressure_closes;
  guint64 rate_limit_closes;
} WwServerCounters;

WwServer     *ww_server_new               (const WwServerConfig *config);
const WwServerConfig *ww_server_get_config (WwServer *self);
/* Only while stopped. */
void          ww_server_set_config        (WwServer             *self,
                                           const WwServerConfig *config);

/*
 * Binds synchronously (so "address in use" is reported here), then serves
 * on a thread of its own when config->own_thread, otherwise on the
 * thread-default main context of the caller.
 */
gboolean      ww_server_start             (WwServer   *self,
                                           GError    **error);
/* Sends 1001 to every peer, waits briefly for their close, drops the rest. */
void          ww_server_stop              (WwServer   *self);
gboolean      ww_server_is_running        (WwServer   *self);
guint16       ww_server_get_port          (WwServer   *self);
/* "ws://127.0.0.1:8080/" or wss://…, for "Copy URL" and the client view. */
char         *ww_server_dup_url           (WwServer   *self,
                                           const char *path);
GMainContext *ww_server_get_context       (WwServer   *self);
/* Runs @func once on the I/O context; safe from any thread. */
void          ww_server_invoke            (WwServer      *self,
                                           GSourceFunc    func,
                                           gpointer       data,
                                           GDestroyNotify destroy);

/* Registration; before start or on the I/O context. */
WwEndpoint   *ww_server_add_endpoint      (WwServer               *self,
                                           const char             *path,
                                           gsize                   max_message,
                                           const WwEndpointVTable *vtable,
                                           gpointer                user_data,
                                           GDestroyNotify          destroy);
/* @prefix: match @path and everything below it ("/events" and "/events/x"). */
void          ww_server_add_route         (WwServer      *self,
                                           const char    *path,
                                           gboolean       prefix,
                                           WwHttpHandler  handler,
                                           gpointer       user_data,
                                           GDestroyNotify destroy);
/*
 * Serves files of a GResource directory under @path ("/" → index.html),
 * with Content-Type, ETag, Cache-Control and @csp as the
 * Content-Security-Policy (NULL for none).
 */
void          ww_server_add_resource_route (WwServer  *self,
                                           const char *path,
                                           const char *resource_dir,
                                           const char *csp);

/* Encodes once; the same buffer is queued on every open peer. I/O context. */
void          ww_endpoint_broadcast       (WwEndpoint *endpoint,
                                           GBytes     *frame);
void          ww_endpoint_broadcast_text  (WwEndpoint *endpoint,
                                           const char *text,
                                           gsize       len);
guint         ww_endpoint_get_n_peers     (WwEndpoint *endpoint);
WwServer     *ww_endpoint_get_server      (WwEndpoint *endpoint);

/* Thread-safe reads for the GUI and /metrics. */
void          ww_server_get_counters      (WwServer         *self,
                                           WwServerCounters *out);
WwHistogram  *ww_server_dup_latency       (WwServer   *self);
/* Array of WwPeerInfo (element free func set). Thread-safe. */
GPtrArray    *ww_server_dup_peer_infos    (WwServer   *self);
/* Thread-safe. */
void          ww_server_kick              (WwServer   *self,
                                           guint64     peer_id,
                                           guint16     code,
                                           const char *reason);
char         *ww_server_render_metrics    (WwServer   *self);

G_END_DECLS
