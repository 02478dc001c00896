/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "ww-feed-state.h"

G_BEGIN_DECLS

/*
 * The feed's wire protocol (DESIGN.md "Wire protocol of the feed") as pure
 * functions: a client message in, the messages to send out.  No I/O, so
 * unit tests and the fuzz target call it directly.
 */

#define WW_FEED_MAX_CHAT     4096  /* bytes of UTF-8 */
#define WW_FEED_MAX_PING_ID  64    /* characters */
/* Our messages are flat; deeper nesting is refused before json-glib
 * recurses into it. */
#define WW_FEED_MAX_DEPTH    32

/*
 * ERROR codes sent to a client: bad_json, not_object, too_deep,
 * missing_type, unknown_type, missing_field, bad_field, too_long,
 * bad_utf8, binary_unsupported, rate_limited.
 */

typedef struct {
  GPtrArray *replies;    /* GBytes texts for the sender, in order */
  GBytes    *broadcast;  /* a CHAT for every feed client, or NULL */
  const char *error;     /* the ERROR code replied, or NULL (for counting) */
} WwFeedActions;

void     ww_feed_actions_init      (WwFeedActions *actions);
void     ww_feed_actions_clear     (WwFeedActions *actions);

/*
 * Handles one data message of the client @client_id, whose WELCOME carried
 * seq @live_from (RESUME replays only what it did not get live).
 */
void     ww_feed_protocol_handle   (WwFeedState   *state,
                                    const char    *client_id,
                                    guint64        live_from,
                                    guint8         opcode,
                                    const guint8  *data,
                                    gsize          len,
                                    gint64         now_ms,
                                    WwFeedActions *out);

GBytes  *ww_feed_message_error     (const char    *code,
                                    const char    *message);
GBytes  *ww_feed_message_welcome   (const char    *client_id,
                                    const char    *server_name,
                                    const char    *server_version,
                                    guint          heartbeat_ms,
                                    guint64        seq);
GBytes  *ww_feed_message_presence  (guint          clients);
GBytes  *ww_feed_message_chat      (const char    *from,
                                    const char    *text,
                                    gint64         ts_ms);

/*
 * Per-client message rate: a token bucket of @rate tokens a second
 * holding at most 2 × @rate.  The first message over the limit is
 * answered with ERROR rate_limited (and dropped); another one before the
 * bucket has refilled closes the connection (1008).  @rate 0 = off.
 */
typedef enum {
  WW_RATE_OK,
  WW_RATE_WARN,
  WW_RATE_CLOSE,
} WwRateVerdict;

typedef struct {
  guint    rate;
  double   tokens;
  gint64   last_us;
  gboolean warned;
} WwTokenBucket;

void           ww_token_bucket_init (WwTokenBucket *bucket,
                                     guint          rate,
                                     gint64         now_us);
WwRateVerdict  ww_token_bucket_take (WwTokenBucket *bucket,
                                     gint64         now_us);

G_END_DECLS
