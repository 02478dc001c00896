/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * WwBackplane links several Wirewatch instances through one Redis server
 * (DESIGN.md "Scale-out").  It knows nothing of the feed: it moves opaque
 * JSON strings, elects one leader with a lease, keeps a shared sequence
 * number and event hash, and sums the instances' client counts.
 *
 * Threading: every call except the getters, ww_backplane_set_local_clients()
 * and ww_backplane_set_local_seq() must be made on the thread that runs the
 * GMainContext given to ww_backplane_start(); all signals and notifications
 * are emitted there.  The getters are atomic reads and may be called from
 * any thread (the GUI reads them for its snapshots).
 *
 * Redis layout, for a namespace NS (default "wirewatch"):
 *   NS:feed             pub/sub channel; every message is
 *                       "<kind> <seq> <instance-id> <json>", kind U or C
 *   NS:events           hash, event id -> event JSON (last published)
 *   NS:seq              the last published UPDATE seq
 *   NS:leader           the lease: leader's instance id, with PX expiry
 *   NS:presence         hash, instance id -> local client count
 *   NS:presence:<id>    liveness key of one instance, with PX expiry
 */

#define WW_BACKPLANE_ERROR (ww_backplane_error_quark ())
GQuark ww_backplane_error_quark (void);

typedef enum {
  WW_BACKPLANE_ERROR_INVALID_URL,
  WW_BACKPLANE_ERROR_NOT_CONNECTED,
  WW_BACKPLANE_ERROR_REDIS,
} WwBackplaneError;

typedef enum {
  WW_BACKPLANE_UPDATE = 1,  /* signal detail "update" */
  WW_BACKPLANE_CHAT   = 2,  /* signal detail "chat" */
} WwBackplaneKind;

/* A snapshot of the shared state, read atomically from Redis. */
typedef struct {
  guint64    seq;     /* last published seq (0 = none yet) */
  GPtrArray *events;  /* char * event JSON strings, ordered by event id */
} WwBackplaneState;

GType             ww_backplane_state_get_type (void);
#define WW_TYPE_BACKPLANE_STATE (ww_backplane_state_get_type ())
WwBackplaneState *ww_backplane_state_copy     (const WwBackplaneState *state);
void              ww_backplane_state_free     (WwBackplaneState       *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwBackplaneState, ww_backplane_state_free)

/* For /metrics; every field only grows. */
typedef struct {
  guint64 published;    /* UPDATE and CHAT messages Redis accepted from us */
  guint64 received;     /* messages delivered through "message" */
  guint64 connects;     /* times the link came up (first time included) */
  guint64 reconnects;   /* times it came back after a loss */
  guint64 disconnects;  /* losses of the link */
  guint64 errors;       /* failed connects, error replies, rejected
                         * publishes, malformed channel messages */
  guint64 elections;    /* times this instance won the lease */
} WwBackplaneCounters;

#define WW_TYPE_BACKPLANE (ww_backplane_get_type ())
G_DECLARE_FINAL_TYPE (WwBackplane, ww_backplane, WW, BACKPLANE, GObject)

/*
 * Properties (read-only unless noted):
 *   "url"             the URL given to ww_backplane_new()
 *   "id"              this instance's random id (16 hex digits)
 *   "namespace"       key and channel prefix (read-write before start);
 *                     "wirewatch", or "wirewatch.N" for database N, since
 *                     channels are shared by all databases
 *   "lease-ms"        leader lease, default 3000 (read-write before start)
 *   "connected"       both Redis links are up and subscribed
 *   "degraded"        started but not connected: the instance is on its own
 *   "leader"          this instance holds the lease
 *   "total-clients"   sum of the live instances' local counts (own count
 *                     only while degraded)
 *   "shared-seq"      highest seq seen in Redis or on the channel
 *
 * Signals:
 *   message (WwBackplaneKind kind, guint64 seq, const char *json)
 *     Detailed ("update" or "chat").  Every message published on the
 *     channel, by any instance INCLUDING this one, in the one order Redis
 *     gives; @seq is 0 for CHAT.  @json is the string the publisher gave.
 *   state-loaded (WwBackplaneState *state)
 *     The shared state, read each time the link comes up (after the
 *     channel is subscribed, so nothing published later is missed) and
 *     each time this instance wins the lease (read in the same atomic step
 *     as the lease, so a new leader continues from the stored seq).
 */

/* Parses "redis://[[user]:password@]host[:port][/db]"; no I/O yet. */
WwBackplane *ww_backplane_new          (const char   *url,
                                        GError      **error);
void         ww_backplane_set_namespace (WwBackplane *self,
                                        const char   *ns);
const char  *ww_backplane_get_namespace (WwBackplane *self);
void         ww_backplane_set_lease_ms  (WwBackplane *self,
                                        guint         lease_ms);
guint        ww_backplane_get_lease_ms  (WwBackplane *self);
/* How often presence is written and summed (default 1000 ms); an
 * instance that stops writing drops out after three intervals. */
void         ww_backplane_set_presence_interval_ms (WwBackplane *self,
                                                    guint        interval_ms);
const char  *ww_backplane_get_url       (WwBackplane *self);
const char  *ww_backplane_get_id        (WwBackplane *self);

/* Connects (and keeps reconnecting, 250 ms doubling to 5 s) on @context
 * (NULL = the thread-default context). */
void         ww_backplane_start         (WwBackplane  *self,
                                         GMainContext *context);
/* Releases the lease and the presence entry if it can do so without
 * waiting, then drops both links.  Safe to call twice. */
void         ww_backplane_stop          (WwBackplane  *self);

/* Appends the Prometheus text lines (wirewatch_backplane_*) for the
 * server's /metrics; thread-safe. */
void         ww_backplane_append_metrics   (WwBackplane *self,
                                            GString     *out);
gboolean     ww_backplane_is_connected     (WwBackplane *self);
gboolean     ww_backplane_is_leader        (WwBackplane *self);
guint64      ww_backplane_get_shared_seq   (WwBackplane *self);
guint        ww_backplane_get_total_clients (WwBackplane *self);
void         ww_backplane_get_counters     (WwBackplane         *self,
                                            WwBackplaneCounters *out);

/*
 * Leader only: atomically (one Lua script) checks that this instance
 * still holds the lease and that @seq is above the stored seq, stores
 * @event_json in NS:events under its "id" member, stores @seq and
 * PUBLISHes @update_json.  The update comes back through "message" on
 * every instance, this one included, so the feed should apply it there
 * and not before.  Use MAX (own seq, shared-seq) + 1 for @seq.  Returns
 * FALSE (nothing sent) when not connected, not leader, @seq is not above
 * shared-seq, or @event_json has no string "id"; a rejection by Redis
 * later (a seq it already stores, a lease that is no longer ours) is
 * counted in errors, raises shared-seq to the stored value or turns
 * "leader" off.
 */
gboolean     ww_backplane_publish_update (WwBackplane *self,
                                          guint64      seq,
                                          const char  *event_json,
                                          const char  *update_json);
/* Any instance; FALSE when not connected (deliver locally instead). */
gboolean     ww_backplane_publish_chat   (WwBackplane *self,
                                          const char  *chat_json);

/* This instance's own client count; thread-safe.  Written to Redis at
 * once on the context's thread, otherwise at the next presence tick. */
void         ww_backplane_set_local_clients (WwBackplane *self,
                                             guint        n_clients);
/* The feed's own seq (thread-safe).  When the link comes (back) up the
 * stored seq is raised to at least this, so seq never goes backwards for
 * clients of an instance that ran on its own while Redis was away. */
void         ww_backplane_set_local_seq     (WwBackplane *self,
                                             guint64      seq);

void              ww_backplane_load_state_async  (WwBackplane         *self,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
WwBackplaneState *ww_backplane_load_state_finish (WwBackplane         *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

G_END_DECLS
