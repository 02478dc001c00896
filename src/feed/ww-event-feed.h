/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "../server/ww-server.h"
#include "../backplane/ww-backplane.h"
#include "ww-event.h"

G_BEGIN_DECLS

typedef struct {
  gboolean  has_seed;
  guint64   seed;
  guint     min_interval_ms;  /* 2000 */
  guint     max_interval_ms;  /* 7000 */
  guint     history;          /* 1024 UPDATEs kept for RESUME */
  char     *state_dir;        /* NULL = the user state directory */
  gboolean  persist;          /* FALSE = --no-persist */
  guint     rate_limit;       /* messages/s per client (burst 2×); 20; 0 = off */
} WwFeedConfig;

WwFeedConfig *ww_feed_config_new  (void);
WwFeedConfig *ww_feed_config_copy (const WwFeedConfig *config);
void          ww_feed_config_free (WwFeedConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwFeedConfig, ww_feed_config_free)

#define WW_TYPE_EVENT_FEED (ww_event_feed_get_type ())
G_DECLARE_FINAL_TYPE (WwEventFeed, ww_event_feed, WW, EVENT_FEED, GObject)

WwEventFeed *ww_event_feed_new    (const WwFeedConfig *config);
/*
 * Registers "/" and "/ws" (WebSocket), "/events" (REST) and the browser
 * page on @server, loads the saved state, and runs the simulator on the
 * server's I/O context.  Call before ww_server_start().  The server's
 * registrations hold references to the feed: it lives (and keeps
 * simulating) as long as the server does, and saves its state one last
 * time when the server lets go of it.  Client ids are "c<peer id>-<tag>",
 * the tag random per feed, so they stay unique across server restarts.
 */
gboolean     ww_event_feed_attach (WwEventFeed *self,
                                   WwServer    *server,
                                   GError     **error);
/* Current feed-wide sequence number; thread-safe. */
guint64      ww_event_feed_get_seq (WwEventFeed *self);

/* Feed clients connected now (both endpoints); thread-safe. */
guint        ww_event_feed_get_n_clients     (WwEventFeed *self);
/* The five events as the JSON array INITIAL carries; thread-safe. */
char        *ww_event_feed_dup_events_json   (WwEventFeed *self);

/*
 * Hooks for an external source of truth (the Redis backplane, issue 11).
 * All three run on the server's I/O context.
 *
 * ww_event_feed_apply_update(): makes @event (its id picks the slot) the
 * current state with feed seq @seq (above the current one), keeps it for
 * RESUME, saves it and broadcasts the UPDATE (an INITIAL when @seq skips
 * seqs, which no client could ever get).  The simulator goes through
 * the same function.  Returns FALSE if @seq is stale or the id unknown.
 */
gboolean     ww_event_feed_apply_update      (WwEventFeed   *self,
                                              const WwEvent *event,
                                              guint64        seq,
                                              gint64         ts_ms);
/* Sends a CHAT message text (already encoded) to every feed client. */
void         ww_event_feed_broadcast_chat    (WwEventFeed   *self,
                                              GBytes        *chat);
/* Runs or pauses the local simulator (another instance may lead). */
void         ww_event_feed_set_simulating    (WwEventFeed   *self,
                                              gboolean       simulating);
/* Parses an UPDATE message (as an outlet published it) and applies it. */
gboolean     ww_event_feed_apply_update_json (WwEventFeed   *self,
                                              const char    *update_json,
                                              gssize         len);

/*
 * Diverts the feed's own output — the simulator's changes and the
 * clients' CHATs — to an outlet such as the backplane (I/O context).  A
 * callback returns TRUE when it took the message, which is then expected
 * back through ww_event_feed_apply_update_json() or
 * ww_event_feed_broadcast_chat() (on every instance, this one included);
 * FALSE delivers it locally as without an outlet (Redis away).  The next
 * simulated seq follows the highest one handed out, so nothing is reused
 * while a message is on its way.
 */
typedef struct {
  gboolean (*update) (WwEventFeed *feed,
                      guint64      seq,
                      const char  *event_json,
                      const char  *update_json,
                      gpointer     user_data);
  gboolean (*chat)   (WwEventFeed *feed,
                      const char  *chat_json,
                      gpointer     user_data);
} WwFeedOutlet;

void         ww_event_feed_set_outlet        (WwEventFeed        *self,
                                              const WwFeedOutlet *outlet,
                                              gpointer            user_data,
                                              GDestroyNotify      destroy);

/*
 * Joins this instance to others through @backplane (NULL to leave; call
 * before ww_event_feed_attach() or on the I/O context).  The feed starts
 * it on the server's I/O context once the server runs; stop it with
 * ww_backplane_stop() on that context before ww_server_stop() (it gives
 * the lease up).  With own_thread the feed starts it again after the next
 * ww_server_start(); on the caller's context, start it again yourself.
 *
 * While connected, the leader's simulator publishes its UPDATEs through
 * Redis and every instance, the leader included, applies them when they
 * come back, so all clients everywhere see one seq order; CHATs go the
 * same way; PRESENCE counts the clients of all instances.  The shared
 * state is adopted when it is ahead of ours.  Without Redis (or while it
 * is lost) the instance simulates and serves on its own, and rejoins
 * without reusing a seq.  "/healthz" answers "degraded" while Redis is
 * lost and "/metrics" carries the backplane's lines.
 */
void         ww_event_feed_set_backplane     (WwEventFeed        *self,
                                              WwBackplane        *backplane);
WwBackplane *ww_event_feed_get_backplane     (WwEventFeed        *self);

G_END_DECLS
