/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <sys/uio.h>

#include "ww-server.h"
#include "protocol/ww-frame.h"
#include "protocol/ww-http.h"
#include "protocol/ww-message-parser.h"
#include "protocol/ww-deflate.h"

G_BEGIN_DECLS

typedef struct _WwIo       WwIo;
typedef struct _WwOutQueue WwOutQueue;
typedef struct _WwPeerInfoPriv WwPeerExtra;

/*
 * The seam for TLS (issue 8): a connection reads and writes through these
 * when set; NULL means the plain-fd fast path (recv/sendmsg on peer->fd).
 */
typedef struct {
  gssize (*read)   (WwPeer *peer, void *buf, gsize len);
  gssize (*writev) (WwPeer *peer, const struct iovec *iov, int n_iov);
  void   (*free)   (WwPeer *peer);
} WwTransport;

typedef enum {
  WW_PEER_HTTP,       /* reading request heads; upgrade or answer them */
  WW_PEER_OPEN,       /* WebSocket open */
  WW_PEER_CLOSE_SENT, /* we sent a close; waiting for the peer's */
  WW_PEER_LINGER,     /* flush, shut down writing, discard input until EOF */
  WW_PEER_DEAD,       /* fd closed; freed once the dispatch is over */
} WwPeerState;

enum {
  WW_PEER_F_DIRTY       = 1 << 0, /* on io->dirty: has output to flush */
  WW_PEER_F_POLLOUT     = 1 << 1, /* registered for EPOLLOUT */
  WW_PEER_F_SHUT_WR     = 1 << 2, /* shutdown (SHUT_WR) done */
  WW_PEER_F_OPENED      = 1 << 3, /* the endpoint's opened() ran */
  WW_PEER_F_SERVED      = 1 << 4, /* answered at least one request */
  WW_PEER_F_TIMER       = 1 << 5, /* linked in the timer wheel */
  WW_PEER_F_BOUNDARY    = 1 << 6, /* the last read ended between frames */
};

/*
 * Kept small on purpose (DESIGN: ≤ 400 bytes per idle connection): the
 * parser, the send queue and the descriptive strings are allocated only
 * when needed, and the first two are trimmed again when the peer idles.
 */
struct _WwPeer {
  int                fd;
  guint8             state;
  guint8             flags;
  guint8             missed_pongs;
  guint8             pad_;
  guint32            conn_index;   /* in io->conns */
  guint32            ep_index;     /* in endpoint->peers while OPEN */
  guint32            deadline;     /* ms on io's clock, when F_TIMER */
  guint32            last_in;      /* ms of the last frame received */
  WwPeer            *t_prev;
  WwPeer            *t_next;
  WwPeer            *dirty_next;
  WwIo              *io;
  WwEndpoint        *endpoint;
  WwMessageParser   *parser;
  WwOutQueue        *out;
  WwPeerExtra       *extra;
  GByteArray        *head;         /* HTTP: a request head split across reads */
  const WwTransport *transport;
};

struct _WwPeerInfoPriv {
  guint64        id;
  gint64         connected_at;
  guint64        frames_in;
  guint64        frames_out;
  guint64        messages_in;
  guint64        messages_out;
  guint64        bytes_in;
  guint64        bytes_out;
  gint64         last_rtt_us;
  WwDeflate     *deflate;          /* permessage-deflate, when negotiated */
  gpointer       data;
  GDestroyNotify data_destroy;
  double         tokens;           /* rate limit bucket */
  guint32        tokens_at;        /* ms */
  guint16        close_code;       /* what closed() reports */
  guint32        stalled_at;       /* ms when writes started to block; 0 = flowing */
  char          *address;
  char          *origin;
  char          *user_agent;
  char          *path;
  char          *query;
  /* the strings above live in this same allocation */
  char           strings[];
};

struct _WwEndpoint {
  WwServer         *server;
  char             *path;
  gsize             max_message;
  WwEndpointVTable  vtable;
  gpointer          user_data;
  GDestroyNotify    destroy;
  GPtrArray        *peers;        /* open peers; I/O context only */
};

/* Reasons a handshake (or HTTP request on a WebSocket path) failed. */
typedef enum {
  WW_HS_FAIL_BAD_REQUEST,
  WW_HS_FAIL_HEADER_TOO_LARGE,
  WW_HS_FAIL_NOT_FOUND,
  WW_HS_FAIL_METHOD,
  WW_HS_FAIL_VERSION,
  WW_HS_FAIL_FORBIDDEN,
  WW_HS_FAIL_UNAUTHORIZED,
  WW_HS_FAIL_TOO_MANY,
  WW_HS_FAIL_TIMEOUT,
  WW_HS_FAIL_RATE,
  WW_HS_FAIL_TLS,
  WW_HS_FAIL_N
} WwHsFail;

extern const char * const ww_hs_fail_names[WW_HS_FAIL_N];

/* Abuse limits: every refusal is counted by reason in /metrics
 * (wirewatch_refusals_total{reason=…}). */
typedef enum {
  WW_REFUSE_PER_ADDRESS,
  WW_REFUSE_MAX_CONNECTIONS,
  WW_REFUSE_HANDSHAKE_RATE,
  WW_REFUSE_MESSAGE_RATE,
  WW_REFUSE_SLOW_HEADER,
  WW_REFUSE_REQUEST_BODY,
  WW_REFUSE_IDLE,
  WW_REFUSE_HEADER_TOO_LARGE,
  WW_REFUSE_MESSAGE_TOO_LARGE,
  WW_REFUSE_PEER_QUEUE,
  WW_REFUSE_TOTAL_QUEUE,
  WW_REFUSE_UNAUTHORIZED,
  WW_REFUSE_FORBIDDEN_ORIGIN,
  WW_REFUSE_TLS,
  WW_REFUSE_N
} WwRefusal;

extern const char * const ww_refusal_names[WW_REFUSE_N];

/* Token check (constant time) for upgrades and the protected routes:
 * Authorization: Bearer, ?token= or a "bearer.<token>" subprotocol. */
gboolean       ww_server_check_token       (const WwServerConfig *config,
                                            const WwHttpRequest  *req);

/* 1000..1015 get a slot each; the last slot counts every other code. */
#define WW_CLOSE_SLOTS 17

/*
 * Counters have one writer (the I/O thread) and any number of readers, so
 * a relaxed load + store suffices: no locked instruction on the hot path.
 */
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
  guint64 tcp_active;
  guint64 tcp_total;
  guint64 handshakes;
  guint64 protocol_errors;
  guint64 drops;
  guint64 hs_fail[WW_HS_FAIL_N];
  guint64 close_sent[WW_CLOSE_SLOTS];
  guint64 close_received[WW_CLOSE_SLOTS];
  guint64 refusals[WW_REFUSE_N];
  guint64 compressions_shared;   /* broadcast frames compressed once for many */
  guint64 compressions_peer;     /* messages compressed for one peer */
} WwCounters;

#define WW_COUNT(c, field, n) \
  __atomic_store_n (&(c)->field, __atomic_load_n (&(c)->field, __ATOMIC_RELAXED) + (n), \
                    __ATOMIC_RELAXED)
#define WW_COUNT_SUB(c, field, n) \
  __atomic_store_n (&(c)->field, __atomic_load_n (&(c)->field, __ATOMIC_RELAXED) - (n), \
                    __ATOMIC_RELAXED)
#define WW_READ(c, field) __atomic_load_n (&(c)->field, __ATOMIC_RELAXED)

static inline guint
ww_close_slot (guint code)
{
  return code >= 1000 && code < 1000 + WW_CLOSE_SLOTS - 1 ? code - 1000 : WW_CLOSE_SLOTS - 1;
}

/* ww-server.c, for the I/O layer */
WwCounters    *ww_server_get_counters_priv (WwServer *self);
WwHistogram   *ww_server_get_latency_priv  (WwServer *self);
guint64        ww_server_next_peer_id      (WwServer *self);
/* The loaded pair while running with TLS, else NULL. */
GTlsCertificate *ww_server_get_tls_certificate_priv (WwServer *self);
WwEndpoint    *ww_server_lookup_endpoint   (WwServer *self,
                                            const char *path);
/* Answers one request that is not an upgrade; the exchange is complete. */
void           ww_server_handle_http       (WwServer       *self,
                                            WwHttpExchange *exchange);

/* ww-io.c */
WwIo          *ww_io_new                   (WwServer     *server,
                                            GMainContext *context,
                                            GPtrArray    *listeners);
/* Starts the close of every peer; returns at once. */
void           ww_io_begin_shutdown        (WwIo         *io);
gboolean       ww_io_is_finished           (WwIo         *io);
void           ww_io_free                  (WwIo         *io);
GPtrArray     *ww_io_dup_peer_infos        (WwIo         *io);
void           ww_io_kick                  (WwIo         *io,
                                            guint64       peer_id,
                                            guint16       code,
                                            const char   *reason);
guint          ww_io_get_n_connections     (WwIo         *io);
/* zlib memory of the shared broadcast compressor (a gauge; any thread). */
gsize          ww_io_get_deflate_shared_memory (WwIo     *io);
char          *ww_io_peer_dup_address      (WwPeer       *peer);
/* Same opcode out as in: what /echo needs. */
void           ww_peer_send_message        (WwPeer       *peer,
                                            guint8        opcode,
                                            const guint8 *data,
                                            gsize         len);

/* The exchange lives on the stack of the request handler. */
struct _WwHttpExchange {
  WwServer            *server;
  WwPeer              *peer;
  const WwHttpRequest *request;
  const char          *path;
  char                *address;
  gboolean             head_only;
  gboolean             keep_alive;
  gboolean             responded;
  guint                status;
};

void           ww_http_exchange_send       (WwHttpExchange *exchange,
                                            GBytes         *response);
void           ww_http_exchange_respond_error_full (WwHttpExchange     *exchange,
                                            guint               status,
                                            const char         *code,
                                            const char         *message,
                                            const char * const *extra_headers);

G_END_DECLS
