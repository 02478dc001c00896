/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Every limit of the server; DESIGN.md "Limits" gives the defaults. */
typedef struct {
  char     *bind_address;         /* "127.0.0.1"; "::1", "0.0.0.0", "::" */
  guint16   port;                 /* 0 = ephemeral */
  guint     port_attempts;        /* >1: try the next ports when taken */
  gboolean  own_thread;           /* GUI: serve on a thread of its own */
  gsize     max_header;           /* 16 KiB → 431 */
  guint     handshake_timeout_ms; /* 10 s */
  guint     heartbeat_ms;         /* 15 s; 0 = off */
  guint     idle_timeout_ms;      /* 0 = off */
  guint     close_timeout_ms;     /* wait for the peer's close frame */
  guint     max_connections;      /* total; → 503 */
  guint     max_per_address;      /* → 503 */
  guint     handshakes_per_second_per_address; /* 0 = off */
  guint     rate_limit;           /* messages/s per peer; 0 = off */
  gsize     max_frame;            /* 0 = same as the endpoint's max message */
  gsize     max_echo_message;     /* 16 MiB */
  gsize     max_feed_message;     /* 64 KiB */
  gsize     max_queue_bytes;      /* per peer → 1008 */
  gsize     max_total_queue_bytes;/* all peers */
  /* PEM pair for wss:// and https:// on the same port; both or neither.
   * ww_server_start() fails with WW_SERVER_ERROR_TLS for a missing,
   * unreadable or mismatched pair.  A plain-HTTP client gets a 400. */
  char     *tls_cert_file;
  char     *tls_key_file;
  /* Required (compared in constant time) on every WebSocket upgrade, on
   * /metrics and on the feed's REST routes, but not on /healthz or the
   * page's assets.  Accepted as "Authorization: Bearer <t>", as ?token=<t>
   * (browsers), or as a "bearer.<t>" entry of Sec-WebSocket-Protocol
   * (never selected; browsers should use ?token=).  401 + WWW-Authenticate
   * otherwise.  Never logged; stripped from the query peers report. */
  char     *token;
  /* WebSocket upgrades with an Origin header must come from the page's own
   * origin (Origin host:port = Host, https for wss://, http for ws://) or
   * from this list ("*" = any; "null" only when listed); 403 otherwise.
   * No Origin (non-browser clients) passes.  REST routes do not check
   * Origin: they carry no cookies, and the token guards them. */
  char    **allowed_origins;
  gboolean  deflate;
  char     *server_name;          /* "Wirewatch/0.1.0" */
} WwServerConfig;

WwServerConfig *ww_server_config_new  (void);
WwServerConfig *ww_server_config_copy (const WwServerConfig *config);
void            ww_server_config_free (WwServerConfig       *config);
/* A non-loopback bind address without a token. */
gboolean        ww_server_config_is_exposed (const WwServerConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwServerConfig, ww_server_config_free)

G_END_DECLS
