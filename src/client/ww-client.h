/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "../stats/ww-histogram.h"

G_BEGIN_DECLS

typedef enum {
  WW_CLIENT_STATE_IDLE,
  WW_CLIENT_STATE_CONNECTING,
  WW_CLIENT_STATE_OPEN,
  WW_CLIENT_STATE_RECONNECTING, /* see the reconnect-in property */
  WW_CLIENT_STATE_CLOSED,       /* see close-code and close-reason */
} WwClientState;

GType ww_client_state_get_type (void);
#define WW_TYPE_CLIENT_STATE (ww_client_state_get_type ())

typedef struct {
  guint64 frames_in;
  guint64 frames_out;
  guint64 bytes_in;
  guint64 bytes_out;
  guint64 messages_in;
  guint64 messages_out;
  guint64 connect_attempts;
  guint64 connects;
  guint64 drops;
  /* Added by the client engineer (additive): */
  guint64 pongs_in;            /* protocol-level pongs (answers to keepalive pings) */
  guint64 duplicates_dropped;  /* UPDATEs with seq <= last seen */
  guint64 gaps_detected;       /* UPDATE seq != last + 1 */
  guint64 gaps_skipped;        /* gaps RESUME could not fill (given up after a timeout) */
  guint64 resumes_sent;
} WwClientCounters;

/* How often the connection dropped with one close code (1006 = no close frame). */
typedef struct {
  guint16 code;
  guint64 count;
} WwClientCloseCount;

#define WW_TYPE_CLIENT (ww_client_get_type ())
G_DECLARE_FINAL_TYPE (WwClient, ww_client, WW, CLIENT, GObject)

/*
 * Properties: "url", "state" (WwClientState), "reconnect-in" (seconds
 * until the next try), "close-code", "close-reason", "last-rtt-us",
 * "last-seq", "speaks-feed" (the server sent WELCOME), "token",
 * "protocol", "error-message" (the last failure, in words).
 *
 * Signals (all on the thread-default context of the creator):
 *   welcome  (JsonObject *msg)
 *   initial  (guint64 seq, JsonArray *events)
 *   update   (guint64 seq, JsonObject *event, gint64 ts)
 *   chat     (const char *from, const char *text, gint64 ts)
 *   presence (guint clients)
 *   server-error (const char *code, const char *message)
 *   frame    (gboolean outgoing, guint opcode, GBytes *payload)
 *   rtt      (gint64 rtt_us)
 *
 * Notes (client engineer): libsoup delivers messages, not frames, so
 * "frame" and the frame counters count one frame per data message, plus
 * the pongs and close frames libsoup shows; byte counters are payload
 * bytes.  RTT is PING→PONG on a feed server, PING→echo on an echo server;
 * libsoup 3.2 cannot time its own protocol pings, so those only count
 * (pongs_in) and keep the liveness check fed.
 */
WwClient      *ww_client_new              (void);
void           ww_client_connect          (WwClient   *self,
                                           const char *url);
void           ww_client_disconnect       (WwClient   *self);
WwClientState  ww_client_get_state        (WwClient   *self);
const char    *ww_client_get_url          (WwClient   *self);
guint          ww_client_get_reconnect_in (WwClient   *self);
gint64         ww_client_get_last_rtt_us  (WwClient   *self);
guint64        ww_client_get_last_seq     (WwClient   *self);
void           ww_client_set_token        (WwClient   *self,
                                           const char *token);
/* Accept exactly this certificate for wss:// (self-signed development servers). */
void           ww_client_set_accepted_certificate (WwClient        *self,
                                           GTlsCertificate *certificate);
/* Sends a feed PING; returns its id (NULL when not open). */
char          *ww_client_send_ping        (WwClient   *self);
gboolean       ww_client_send_chat        (WwClient   *self,
                                           const char *text);
void           ww_client_set_ping_interval (WwClient  *self,
                                           guint       seconds);
void           ww_client_get_counters     (WwClient          *self,
                                           WwClientCounters  *out);
/* p50/p95/p99 over the whole connection; ring of recent samples below. */
WwHistogram   *ww_client_get_rtt_histogram (WwClient  *self);
/* Recent RTT samples in µs, oldest first; at most @max. */
GArray        *ww_client_dup_recent_rtts  (WwClient   *self,
                                           guint       max);

/* Additions by the client engineer (all additive). */

/* Whether @url is a ws:// or wss:// URL with a host; a clear error if not. */
gboolean       ww_client_check_url        (const char *url,
                                           GError    **error);
/* Requested subprotocol (Sec-WebSocket-Protocol), or NULL for none. */
void           ww_client_set_protocol     (WwClient   *self,
                                           const char *protocol);
/* Extra request header for the handshake; a NULL @value removes it. */
void           ww_client_set_header       (WwClient   *self,
                                           const char *name,
                                           const char *value);
/*
 * Reconnect schedule: first retry after @base_ms (3000), doubling with
 * jitter up to @max_ms (30000); a connection open @stable_ms (10000)
 * resets it.  The environment variables WW_CLIENT_BACKOFF_BASE_MS,
 * WW_CLIENT_BACKOFF_MAX_MS and WW_CLIENT_STABLE_MS set the defaults
 * (for tests).
 */
void           ww_client_set_backoff      (WwClient   *self,
                                           guint       base_ms,
                                           guint       max_ms,
                                           guint       stable_ms);
/* Protocol-level ping frames every @seconds (0 = off; default 15). */
void           ww_client_set_keepalive_interval (WwClient *self,
                                           guint       seconds);
/*
 * The peer certificate of the last wss:// handshake that failed
 * verification (and why, in @errors), so the UI can ask the user and
 * pass it to ww_client_set_accepted_certificate(); NULL if none.
 */
GTlsCertificate *ww_client_dup_rejected_certificate (WwClient             *self,
                                           GTlsCertificateFlags *errors);
gboolean       ww_client_get_speaks_feed  (WwClient   *self);
guint          ww_client_get_close_code   (WwClient   *self);
const char    *ww_client_get_close_reason (WwClient   *self);
const char    *ww_client_get_error_message (WwClient  *self);
/* The five events as last seen (INITIAL + UPDATEs), a deep copy; NULL before INITIAL. */
JsonArray     *ww_client_dup_events       (WwClient   *self);
/* RTTs of the last @seconds only (the sliding window); free with ww_histogram_free(). */
WwHistogram   *ww_client_dup_rtt_window   (WwClient   *self,
                                           guint       seconds);
/* Array of WwClientCloseCount, one per close code seen on a drop. */
GArray        *ww_client_dup_drop_codes   (WwClient   *self);

/*
 * permessage-deflate (RFC 7692): offered by default (property "deflate";
 * WW_CLIENT_DEFLATE=0 in the environment turns the default off), applies
 * from the next attempt.  "deflate-active" tells whether the open
 * connection negotiated it; the raw response header is kept too.  The
 * codec is the protocol layer's (ww-client-deflate.h), not libsoup 3.2's,
 * whose inflate has no bound: a message inflating past 16 MiB closes 1009.
 */
void           ww_client_set_deflate      (WwClient   *self,
                                           gboolean    deflate);
gboolean       ww_client_get_deflate      (WwClient   *self);
gboolean       ww_client_get_deflate_active (WwClient *self);
const char    *ww_client_get_extensions   (WwClient   *self);

G_END_DECLS
