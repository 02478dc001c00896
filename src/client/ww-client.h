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
} WwClientCounters;

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

G_END_DECLS
