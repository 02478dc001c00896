/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "backplane/ww-backplane.h"
#include "feed/ww-event-feed.h"

G_BEGIN_DECLS

/*
 * A prototype of ww_event_feed_set_backplane(), built only on the feed's
 * public hooks (apply_update, broadcast_chat, set_simulating), so the
 * scale-out design can be tested end to end before the feed grows the
 * real thing.  What the real one must do differently is said in
 * ww-feed-bridge.c.
 */
typedef struct _WwFeedBridge WwFeedBridge;

WwFeedBridge *ww_feed_bridge_new  (WwEventFeed  *feed,
                                   WwBackplane  *backplane,
                                   guint64       seed,
                                   guint         min_interval_ms,
                                   guint         max_interval_ms,
                                   GMainContext *context);
void          ww_feed_bridge_free (WwFeedBridge *bridge);

G_END_DECLS
