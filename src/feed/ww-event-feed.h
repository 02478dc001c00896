/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "../server/ww-server.h"

G_BEGIN_DECLS

typedef struct {
  gboolean  has_seed;
  guint64   seed;
  guint     min_interval_ms;  /* 2000 */
  guint     max_interval_ms;  /* 7000 */
  guint     history;          /* 1024 UPDATEs kept for RESUME */
  char     *state_dir;        /* NULL = the user state directory */
  gboolean  persist;          /* FALSE = --no-persist */
  guint     rate_limit;       /* messages/s per client; 0 = off */
} WwFeedConfig;

WwFeedConfig *ww_feed_config_new  (void);
void          ww_feed_config_free (WwFeedConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwFeedConfig, ww_feed_config_free)

#define WW_TYPE_EVENT_FEED (ww_event_feed_get_type ())
G_DECLARE_FINAL_TYPE (WwEventFeed, ww_event_feed, WW, EVENT_FEED, GObject)

WwEventFeed *ww_event_feed_new    (const WwFeedConfig *config);
/*
 * Registers "/" and "/ws" (WebSocket), "/events" (REST) and the browser
 * page on @server, loads the saved state, and runs the simulator on the
 * server's I/O context.  Call before ww_server_start().
 */
gboolean     ww_event_feed_attach (WwEventFeed *self,
                                   WwServer    *server,
                                   GError     **error);
/* Current feed-wide sequence number; thread-safe. */
guint64      ww_event_feed_get_seq (WwEventFeed *self);

G_END_DECLS
