/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed"

#include "config.h"

#include <string.h>

#include "protocol/ww-frame.h"
#include "ww-event-feed.h"
#include "ww-feed-protocol.h"
#include "ww-feed-state.h"
#include "ww-feed-store.h"

/*
 * The glue between the pure feed (model, simulator, protocol) and the
 * server: endpoint callbacks, REST routes, and three timers on the
 * server's I/O context (simulator, PRESENCE coalescing, save coalescing).
 * Everything but the atomic getters runs on that context.
 */

#define PRESENCE_PERIOD_US   (250 * 1000)   /* ≤ 4 PRESENCE a second */
#define SAVE_PERIOD_US       (1000 * 1000)  /* ≤ 1 save a second */
#define MAX_CHANGES_PER_TICK 64
#define DEFAULT_MAX_MESSAGE  (64 * 1024)
#define DEFAULT_RATE_LIMIT   20

#define SIM_SOURCE_NAME      "[wirewatch] feed simulator"
#define PRESENCE_SOURCE_NAME "[wirewatch] feed presence"
#define SAVE_SOURCE_NAME     "[wirewatch] feed save"
#define BP_START_SOURCE_NAME "[wirewatch] feed backplane start"
#define BP_START_POLL_US     (50 * 1000)    /* waiting for the server to run */

static const char web_csp[] =
  "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
  "style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'";

WwFeedConfig *
ww_feed_config_new (void)
{
  WwFeedConfig *config = g_new0 (WwFeedConfig, 1);

  config->min_interval_ms = 2000;
  config->max_interval_ms = 7000;
  config->history = 1024;
  config->persist = TRUE;
  config->rate_limit = DEFAULT_RATE_LIMIT;
  return config;
}

void
ww_feed_config_free (WwFeedConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->state_dir);
  g_free (config);
}

WwFeedConfig *
ww_feed_config_copy (const WwFeedConfig *config)
{
  WwFeedConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_memdup2 (config, sizeof *config);

  copy->state_dir = g_strdup (config->state_dir);
  return copy;
}

typedef struct _SaveShared SaveShared;

typedef struct {
  char          *client_id;
  guint64        live_from;  /* seq of its WELCOME: later UPDATEs came live */
  WwTokenBucket  bucket;
} FeedPeer;

static void
feed_peer_free (gpointer data)
{
  FeedPeer *fp = data;

  g_free (fp->client_id);
  g_free (fp);
}

struct _WwEventFeed {
  GObject        parent_instance;

  WwFeedConfig  *config;
  WwFeedState   *state;
  WwFeedSim     *sim;

  /* Set by attach; the server owns the endpoints and outlives them. */
  WwServer      *server;
  WwEndpoint    *endpoints[2];
  guint          n_registrations;
  GMainContext  *context;
  gsize          max_message;
  guint          heartbeat_ms;

  GSource       *sim_source;
  GSource       *presence_source;
  GSource       *save_source;
  GSource       *context_check;   /* on the attaching thread's context */
  GMainContext  *context_seen;    /* only read there; never dereferenced */
  gint64         sim_origin_us;   /* monotonic time of virtual 0 */
  gboolean       simulating;

  guint          n_clients;
  guint          presence_sent;   /* G_MAXUINT: never sent */
  gboolean       presence_newcomer;
  gint64         presence_sent_us;

  char          *state_dir;       /* NULL: not persisting */
  gboolean       dirty;
  gint64         saved_us;
  guint64        save_gen;
  SaveShared    *save_shared;

  /* Where our own UPDATEs and CHATs go first (the backplane). */
  WwFeedOutlet   outlet;
  gboolean       has_outlet;
  gpointer       outlet_data;
  GDestroyNotify outlet_destroy;
  guint64        outlet_seq;      /* highest seq handed to the outlet */
  WwEvent       *outlet_events[WW_FEED_N_EVENTS]; /* handed out, not back yet */

  /* The Redis backplane (issue 11); see ww_event_feed_set_backplane(). */
  WwBackplane   *backplane;
  GSource       *bp_start_source;
  GMainContext  *bp_context;      /* where it was started; NULL: not yet */
  guint64        bp_stopped_on;   /* thread_serial() of the run that saw
                                   * it stopped (0: not stopped by its owner) */
  gboolean       bp_routes;       /* /healthz and /metrics are ours */
  gboolean       bp_alone;        /* changed on our own since we last
                                   * led or followed */
  guint64        bp_republish_seq; /* last seq of a republish on its way */

  /* Peer ids restart with each server; this keeps client ids unique
   * across restarts (a browser remembers its own ids to spot its CHATs). */
  char           instance_tag[5];

  /* Read from any thread. */
  guint64        seq_atomic;
  guint          n_clients_atomic;
  GMutex         snapshot_lock;
  char          *snapshot;        /* the events array, under the lock */
};

G_DEFINE_FINAL_TYPE (WwEventFeed, ww_event_feed, G_TYPE_OBJECT)

/* ------------------------------------------------------------------ */
/* Sources that fire at a monotonic ready time, set again as needed. */

static gboolean
ready_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  g_source_set_ready_time (source, -1);
  return callback ? callback (user_data) : G_SOURCE_REMOVE;
}

static GSourceFuncs ready_source_funcs = {
  NULL, NULL, ready_source_dispatch, NULL, NULL, NULL,
};

static GSource *
ready_source_new (WwEventFeed  *self,
                  const char   *name,
                  GSourceFunc   func,
                  gint64        ready_time)
{
  GSource *source = g_source_new (&ready_source_funcs, sizeof (GSource));

  g_source_set_name (source, name);
  g_source_set_callback (source, func, self, NULL);
  g_source_set_ready_time (source, ready_time);
  g_source_attach (source, self->context);
  return source;
}

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* ------------------------------------------------------------------ */

static void
publish_snapshot (WwEventFeed *self)
{
  char *events = ww_feed_state_dup_events_json (self->state);

  g_mutex_lock (&self->snapshot_lock);
  g_free (self->snapshot);
  self->snapshot = events;
  g_mutex_unlock (&self->snapshot_lock);
  __atomic_store_n (&self->seq_atomic, ww_feed_state_get_seq (self->state), __ATOMIC_RELEASE);
  /* So the stored seq never goes below what our clients saw. */
  if (self->backplane != NULL)
    ww_backplane_set_local_seq (self->backplane, ww_feed_state_get_seq (self->state));
}

static void
broadcast (WwEventFeed *self,
           GBytes      *message)
{
  gsize len;
  const char *data = g_bytes_get_data (message, &len);

  /* Encoded once per endpoint; in practice one of them has the peers. */
  for (guint i = 0; i < G_N_ELEMENTS (self->endpoints); i++)
    if (self->endpoints[i] != NULL && ww_endpoint_get_n_peers (self->endpoints[i]) > 0)
      ww_endpoint_broadcast_text (self->endpoints[i], data, len);
}

static void
send_bytes (WwPeer *peer,
            GBytes *message)
{
  gsize len;
  const char *data = g_bytes_get_data (message, &len);

  ww_peer_send_text (peer, data, len);
}

/*
 * Saving: the state is serialised on the I/O context and written on a
 * worker thread, so an fsync never stalls the sockets.  Every save has a
 * generation; a write older than the last one written is skipped, so a
 * slow worker cannot put an older state back over the final save made at
 * shutdown.
 */
struct _SaveShared {
  GMutex   lock;
  guint64  written_gen;
  gboolean failing;
};

static void
save_shared_clear (gpointer data)
{
  SaveShared *shared = data;

  g_mutex_clear (&shared->lock);
}

static SaveShared *
save_shared_new (void)
{
  SaveShared *shared = g_atomic_rc_box_new0 (SaveShared);

  g_mutex_init (&shared->lock);
  return shared;
}

static void
save_shared_unref (SaveShared *shared)
{
  g_atomic_rc_box_release_full (shared, save_shared_clear);
}

typedef struct {
  SaveShared *shared;
  char       *dir;
  char       *text;
  guint64     gen;
} SaveJob;

static void
save_job_free (gpointer data)
{
  SaveJob *job = data;

  save_shared_unref (job->shared);
  g_free (job->dir);
  g_free (job->text);
  g_free (job);
}

static void
save_job_write (SaveJob *job)
{
  SaveShared *shared = job->shared;
  g_autoptr(GError) error = NULL;

  g_mutex_lock (&shared->lock);
  if (job->gen > shared->written_gen)
    {
      shared->written_gen = job->gen;
      if (!ww_feed_store_save (job->dir, job->text, &error))
        {
          /* A full disk or a read-only directory: the state stays in
           * memory; say so once, and try again on the next change. */
          if (!shared->failing)
            g_message ("Could not save the event state: %s", error->message);
          shared->failing = TRUE;
        }
      else
        {
          if (shared->failing)
            g_message ("Saving the event state works again");
          shared->failing = FALSE;
        }
    }
  g_mutex_unlock (&shared->lock);
}

static void
save_job_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  save_job_write (task_data);
  g_task_return_boolean (task, TRUE);
}

static void
do_save (WwEventFeed *self,
         gboolean     wait)
{
  SaveJob *job;

  if (self->state_dir == NULL || !self->dirty)
    return;
  job = g_new0 (SaveJob, 1);
  job->shared = g_atomic_rc_box_acquire (self->save_shared);
  job->dir = g_strdup (self->state_dir);
  job->text = ww_feed_state_serialize (self->state, g_get_real_time () / 1000);
  job->gen = ++self->save_gen;
  self->dirty = FALSE;
  self->saved_us = g_get_monotonic_time ();

  if (wait)
    {
      save_job_write (job);
      save_job_free (job);
    }
  else
    {
      g_autoptr(GTask) task = g_task_new (NULL, NULL, NULL, NULL);

      g_task_set_source_tag (task, do_save);
      g_task_set_task_data (task, job, save_job_free);
      g_task_run_in_thread (task, save_job_thread);
    }
}

static gboolean on_io_context (WwEventFeed *self);

static gboolean
on_save_due (gpointer data)
{
  if (on_io_context (data))
    do_save (data, FALSE);
  return G_SOURCE_CONTINUE;
}

static void
schedule_save (WwEventFeed *self)
{
  if (self->state_dir == NULL)
    return;
  self->dirty = TRUE;
  if (self->save_source != NULL && g_source_get_ready_time (self->save_source) == -1)
    g_source_set_ready_time (self->save_source,
                             MAX (g_get_monotonic_time (), self->saved_us + SAVE_PERIOD_US));
}

gboolean
ww_event_feed_apply_update (WwEventFeed   *self,
                            const WwEvent *event,
                            guint64        seq,
                            gint64         ts_ms)
{
  g_autoptr(GBytes) update = NULL;
  g_autoptr(GError) error = NULL;
  gboolean jump;

  g_return_val_if_fail (WW_IS_EVENT_FEED (self), FALSE);
  g_return_val_if_fail (event != NULL, FALSE);

  jump = seq != ww_feed_state_get_seq (self->state) + 1;
  update = ww_feed_state_apply_update (self->state, event, seq, ts_ms, &error);
  if (update == NULL)
    {
      g_debug ("UPDATE not applied: %s", error->message);
      return FALSE;
    }
  publish_snapshot (self);
  if (jump)
    {
      /* Seqs were skipped (another instance used them, or they were lost
       * on the way): our clients could never get them, not even by
       * RESUME, so they get the whole state at the new seq instead. */
      g_autoptr(GBytes) initial = ww_feed_state_get_initial (self->state);

      broadcast (self, initial);
    }
  else
    broadcast (self, update);
  schedule_save (self);
  return TRUE;
}

void
ww_event_feed_broadcast_chat (WwEventFeed *self,
                              GBytes      *chat)
{
  g_return_if_fail (WW_IS_EVENT_FEED (self));
  g_return_if_fail (chat != NULL);

  broadcast (self, chat);
}

gboolean
ww_event_feed_apply_update_json (WwEventFeed *self,
                                 const char  *update_json,
                                 gssize       len)
{
  g_autoptr(WwEvent) event = NULL;
  g_autoptr(GError) error = NULL;
  guint64 seq;
  gint64 ts;

  g_return_val_if_fail (WW_IS_EVENT_FEED (self), FALSE);
  g_return_val_if_fail (update_json != NULL, FALSE);

  if (!ww_feed_parse_update (update_json, len, &event, &seq, &ts, &error))
    {
      g_debug ("Ignoring an UPDATE: %s", error->message);
      return FALSE;
    }
  return ww_event_feed_apply_update (self, event, seq, ts);
}

void
ww_event_feed_set_outlet (WwEventFeed        *self,
                          const WwFeedOutlet *outlet,
                          gpointer            user_data,
                          GDestroyNotify      destroy)
{
  g_return_if_fail (WW_IS_EVENT_FEED (self));

  if (self->outlet_destroy != NULL)
    self->outlet_destroy (self->outlet_data);
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    g_clear_pointer (&self->outlet_events[i], ww_event_free);
  self->has_outlet = outlet != NULL;
  if (outlet != NULL)
    self->outlet = *outlet;
  self->outlet_data = user_data;
  self->outlet_destroy = outlet != NULL ? destroy : NULL;
}

/* A change of our own: through the outlet if there is one and it takes
 * it, otherwise applied and sent here. */
/* The newest state of an event, counting changes still with the outlet,
 * so two quick changes of one event build on each other. */
static const WwEvent *
current_event (WwEventFeed *self,
               guint        index)
{
  const WwEvent *applied = ww_feed_state_get_event (self->state, index);
  WwEvent *pending;

  /* Redis went past the last seq we handed it (it refused one of ours
   * when another instance had raised the stored seq): what is still "on
   * its way" will never come back. */
  if (self->backplane != NULL && self->outlet_seq != 0 &&
      ww_backplane_get_shared_seq (self->backplane) > self->outlet_seq)
    {
      for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
        g_clear_pointer (&self->outlet_events[i], ww_event_free);
      self->outlet_seq = 0;
    }
  pending = self->outlet_events[index];

  if (pending != NULL && pending->version > applied->version)
    return pending;
  g_clear_pointer (&self->outlet_events[index], ww_event_free);
  return applied;
}

static void
publish_update (WwEventFeed   *self,
                guint          index,
                const WwEvent *changed,
                gint64         ts_ms)
{
  guint64 seq = MAX (ww_feed_state_get_seq (self->state), self->outlet_seq) + 1;

  if (self->backplane != NULL && ww_backplane_is_connected (self->backplane))
    {
      g_autoptr(GBytes) update = NULL;
      g_autofree char *event_json = NULL;
      g_autofree char *update_json = NULL;

      /* Only the leader simulates while connected, and applies its own
       * change when Redis hands it back, in the one order every instance
       * sees.  A follower (a lease just lost) or a refused publish drops
       * the change: the state comes from Redis. */
      if (!ww_backplane_is_leader (self->backplane))
        return;
      seq = MAX (seq, ww_backplane_get_shared_seq (self->backplane) + 1);
      update = ww_feed_message_update (changed, seq, ts_ms);
      event_json = ww_event_to_json (changed);
      update_json = g_strndup (g_bytes_get_data (update, NULL), g_bytes_get_size (update));
      if (ww_backplane_publish_update (self->backplane, seq, event_json, update_json))
        {
          self->outlet_seq = seq;
          g_clear_pointer (&self->outlet_events[index], ww_event_free);
          self->outlet_events[index] = ww_event_copy (changed);
        }
      return;
    }

  if (self->backplane != NULL)
    self->bp_alone = TRUE;
  if (self->has_outlet && self->outlet.update != NULL)
    {
      g_autoptr(GBytes) update = ww_feed_message_update (changed, seq, ts_ms);
      g_autofree char *event_json = ww_event_to_json (changed);
      g_autofree char *update_json = g_strndup (g_bytes_get_data (update, NULL),
                                                g_bytes_get_size (update));

      if (self->outlet.update (self, seq, event_json, update_json, self->outlet_data))
        {
          self->outlet_seq = seq;
          g_clear_pointer (&self->outlet_events[index], ww_event_free);
          self->outlet_events[index] = ww_event_copy (changed);
          return;
        }
    }
  ww_event_feed_apply_update (self, changed, seq, ts_ms);
}

static void
publish_chat (WwEventFeed *self,
              GBytes      *chat)
{
  if (self->backplane != NULL)
    {
      g_autofree char *chat_json = g_strndup (g_bytes_get_data (chat, NULL),
                                              g_bytes_get_size (chat));

      /* Delivered here too when it comes back from Redis. */
      if (ww_backplane_publish_chat (self->backplane, chat_json))
        return;
    }
  if (self->has_outlet && self->outlet.chat != NULL)
    {
      g_autofree char *chat_json = g_strndup (g_bytes_get_data (chat, NULL),
                                              g_bytes_get_size (chat));

      if (self->outlet.chat (self, chat_json, self->outlet_data))
        return;
    }
  broadcast (self, chat);
}

/* ------------------------------------------------------------------ */
/* Simulator */

static gint64
sim_now_ms (WwEventFeed *self)
{
  return (g_get_monotonic_time () - self->sim_origin_us) / 1000;
}

static void
sim_reschedule (WwEventFeed *self)
{
  gint64 due;

  if (self->sim_source == NULL)
    return;
  if (!self->simulating)
    {
      g_source_set_ready_time (self->sim_source, -1);
      return;
    }
  due = ww_feed_sim_peek (self->sim, NULL);
  g_source_set_ready_time (self->sim_source, self->sim_origin_us + due * 1000);
}

static gboolean
on_sim_due (gpointer data)
{
  WwEventFeed *self = data;
  gint64 now, lag;

  if (!on_io_context (self))
    return G_SOURCE_CONTINUE;

  /* Fired late (a busy loop, a stopped server, a suspend): move the whole
   * schedule by the delay rather than replaying the missed changes in a
   * burst.  The order of changes stays what the seed says, and no event
   * ever changes sooner than min_interval_ms after its previous change. */
  now = sim_now_ms (self);
  lag = now - ww_feed_sim_peek (self->sim, NULL);
  if (lag > 0)
    ww_feed_sim_shift (self->sim, lag);

  for (guint n = 0; n < MAX_CHANGES_PER_TICK && ww_feed_sim_peek (self->sim, NULL) <= now; n++)
    {
      g_autoptr(WwEvent) changed = NULL;
      gboolean home;
      guint index = ww_feed_sim_next (self->sim, &home, NULL);
      gint64 real_ms = g_get_real_time () / 1000;

      changed = ww_feed_score_change (current_event (self, index), home, real_ms);
      publish_update (self, index, changed, real_ms);
    }

  sim_reschedule (self);
  return G_SOURCE_CONTINUE;
}

void
ww_event_feed_set_simulating (WwEventFeed *self,
                              gboolean     simulating)
{
  g_return_if_fail (WW_IS_EVENT_FEED (self));

  simulating = !!simulating;
  if (self->simulating == simulating)
    return;
  self->simulating = simulating;
  if (simulating && self->sim != NULL)
    {
      /* Resume where the virtual clock stands, without a burst. */
      gint64 lag = sim_now_ms (self) - ww_feed_sim_peek (self->sim, NULL);

      if (lag > 0)
        ww_feed_sim_shift (self->sim, lag);
    }
  sim_reschedule (self);
}

/* ------------------------------------------------------------------ */
/* PRESENCE */

/* The clients of every instance while the backplane is connected (never
 * fewer than our own: the sum in Redis lags a join by a presence tick). */
static guint
presence_count (WwEventFeed *self)
{
  if (self->backplane != NULL && ww_backplane_is_connected (self->backplane))
    return MAX (self->n_clients, ww_backplane_get_total_clients (self->backplane));
  return self->n_clients;
}

static gboolean
on_presence_due (gpointer data)
{
  WwEventFeed *self = data;
  g_autoptr(GBytes) message = NULL;
  guint count;

  if (!on_io_context (self))
    return G_SOURCE_CONTINUE;
  count = presence_count (self);
  /* Only changes are sent, but a newcomer always learns the count (a
   * join and a leave in the same period leave it unchanged). */
  if (count == self->presence_sent && !self->presence_newcomer)
    return G_SOURCE_CONTINUE;
  self->presence_newcomer = FALSE;
  message = ww_feed_message_presence (count);
  self->presence_sent = count;
  self->presence_sent_us = g_get_monotonic_time ();
  broadcast (self, message);
  return G_SOURCE_CONTINUE;
}

static void
presence_changed (WwEventFeed *self)
{
  __atomic_store_n (&self->n_clients_atomic, self->n_clients, __ATOMIC_RELEASE);
  if (self->backplane != NULL)
    ww_backplane_set_local_clients (self->backplane, self->n_clients);
  if (self->presence_source != NULL && g_source_get_ready_time (self->presence_source) == -1)
    g_source_set_ready_time (self->presence_source,
                             MAX (g_get_monotonic_time (),
                                  self->presence_sent_us + PRESENCE_PERIOD_US));
}

/* ------------------------------------------------------------------ */
/* The I/O context.  ww_server_start() may replace the context that
 * ww_server_get_context() returned at attach time (with own_thread, a
 * fresh one per start), so the timers move to wherever the endpoint and
 * route callbacks are seen to run; a timer left behind on the old
 * context does nothing. */

static gboolean
on_io_context (WwEventFeed *self)
{
  GSource *current = g_main_current_source ();

  return self->server != NULL && current != NULL &&
         g_source_get_context (current) == ww_server_get_context (self->server);
}

static void
move_source (WwEventFeed  *self,
             GSource     **source,
             const char   *name,
             GSourceFunc   func)
{
  gint64 ready_time;

  if (*source == NULL)
    return;
  ready_time = g_source_get_ready_time (*source);
  clear_source (source);
  *source = ready_source_new (self, name, func, ready_time);
}

static void follow_io_context (WwEventFeed *self);
static gboolean on_bp_start_due (gpointer data);
static void bp_follow_context (WwEventFeed *self);

static gboolean
follow_io_context_cb (gpointer data)
{
  follow_io_context (data);
  return G_SOURCE_REMOVE;
}

/* With own_thread, nothing tells us when a start made a new context, and
 * the simulator must run even before any client comes: look once a
 * second, from the thread that attached us, and hop over when needed. */
static gboolean
on_context_check (gpointer data)
{
  WwEventFeed *self = data;
  GMainContext *context;

  if (self->server == NULL || !ww_server_is_running (self->server))
    return G_SOURCE_CONTINUE;
  context = ww_server_get_context (self->server);
  if (context != self->context_seen)
    {
      self->context_seen = context;
      ww_server_invoke (self->server, follow_io_context_cb, g_object_ref (self), g_object_unref);
    }
  return G_SOURCE_CONTINUE;
}

static void
follow_io_context (WwEventFeed *self)
{
  GMainContext *context;

  if (self->server == NULL)
    return;
  context = ww_server_get_context (self->server);
  if (context == self->context)
    return;
  g_clear_pointer (&self->context, g_main_context_unref);
  self->context = g_main_context_ref (context);
  move_source (self, &self->sim_source, SIM_SOURCE_NAME, on_sim_due);
  move_source (self, &self->presence_source, PRESENCE_SOURCE_NAME, on_presence_due);
  move_source (self, &self->save_source, SAVE_SOURCE_NAME, on_save_due);
  move_source (self, &self->bp_start_source, BP_START_SOURCE_NAME, on_bp_start_due);
  bp_follow_context (self);

  /* A timer that fired on the old context did nothing: arm them again. */
  sim_reschedule (self);
  if (presence_count (self) != self->presence_sent || self->presence_newcomer)
    presence_changed (self);
  if (self->dirty)
    schedule_save (self);
}

/* ------------------------------------------------------------------ */
/* WebSocket endpoint */

static void
on_peer_opened (WwPeer   *peer,
                gpointer  user_data)
{
  WwEventFeed *self = user_data;
  FeedPeer *fp = g_new0 (FeedPeer, 1);
  g_autoptr(GBytes) welcome = NULL;
  g_autoptr(GBytes) initial = NULL;

  follow_io_context (self);
  fp->client_id = g_strdup_printf ("c%" G_GUINT64_FORMAT "-%s", ww_peer_get_id (peer),
                                   self->instance_tag);
  fp->live_from = ww_feed_state_get_seq (self->state);
  ww_token_bucket_init (&fp->bucket, self->config->rate_limit, g_get_monotonic_time ());
  ww_peer_set_data (peer, fp, feed_peer_free);

  welcome = ww_feed_message_welcome (fp->client_id, PACKAGE_NAME, PACKAGE_VERSION,
                                     self->heartbeat_ms, fp->live_from);
  initial = ww_feed_state_get_initial (self->state);
  send_bytes (peer, welcome);
  send_bytes (peer, initial);

  self->n_clients++;
  self->presence_newcomer = TRUE;
  presence_changed (self);
}

static void
on_peer_message (WwPeer       *peer,
                 guint8        opcode,
                 const guint8 *data,
                 gsize         len,
                 gpointer      user_data)
{
  WwEventFeed *self = user_data;
  FeedPeer *fp = ww_peer_get_data (peer);
  WwFeedActions actions;

  if (fp == NULL)
    return;

  switch (ww_token_bucket_take (&fp->bucket, g_get_monotonic_time ()))
    {
    case WW_RATE_OK:
      break;
    case WW_RATE_WARN:
      {
        g_autoptr(GBytes) warning =
          ww_feed_message_error ("rate_limited", "too many messages; slow down or be disconnected");

        send_bytes (peer, warning);
        return;
      }
    case WW_RATE_CLOSE:
    default:
      ww_peer_close (peer, WW_CLOSE_POLICY_VIOLATION, "message rate limit exceeded");
      return;
    }

  ww_feed_actions_init (&actions);
  ww_feed_protocol_handle (self->state, fp->client_id, fp->live_from, opcode, data, len,
                           g_get_real_time () / 1000, &actions);
  for (guint i = 0; i < actions.replies->len; i++)
    send_bytes (peer, actions.replies->pdata[i]);
  if (actions.broadcast != NULL)
    publish_chat (self, actions.broadcast);
  ww_feed_actions_clear (&actions);
}

static void
on_peer_closed (WwPeer   *peer,
                guint16   code,
                gpointer  user_data)
{
  WwEventFeed *self = user_data;

  if (ww_peer_get_data (peer) == NULL)
    return;
  g_assert (self->n_clients > 0);
  self->n_clients--;
  presence_changed (self);
}

static const WwEndpointVTable feed_vtable = {
  on_peer_opened,
  on_peer_message,
  on_peer_closed,
};

/* ------------------------------------------------------------------ */
/* REST */

static void
respond_json_bytes (WwHttpExchange *exchange,
                    guint           status,
                    GBytes         *body,
                    const char     *allow)
{
  const char *headers[3] = { "Cache-Control: no-store", NULL, NULL };

  headers[1] = allow;
  ww_http_exchange_respond (exchange, status, "application/json", body, headers);
}

static void
on_events_request (WwHttpExchange *exchange,
                   gpointer        user_data)
{
  WwEventFeed *self = user_data;
  const WwHttpRequest *request = ww_http_exchange_get_request (exchange);
  const char *method = ww_http_request_get_method (request);
  const char *path = ww_http_exchange_get_path (exchange);
  const char *id;
  int index;

  follow_io_context (self);
  if (g_strcmp0 (method, "GET") != 0 && g_strcmp0 (method, "HEAD") != 0)
    {
      static const char text[] =
        "{\"error\":\"method_not_allowed\",\"message\":\"only GET and HEAD\",\"status\":405}";
      g_autoptr(GBytes) body = g_bytes_new_static (text, sizeof text - 1);

      respond_json_bytes (exchange, 405, body, "Allow: GET, HEAD");
      return;
    }

  if (path == NULL || !g_str_has_prefix (path, "/events"))
    {
      ww_http_exchange_respond_error (exchange, 404, "not_found", "no such resource");
      return;
    }
  id = path + strlen ("/events");
  if (*id == '\0' || g_str_equal (id, "/"))
    {
      char *events = ww_feed_state_dup_events_json (self->state);
      g_autoptr(GBytes) body = g_bytes_new_take (events, strlen (events));

      respond_json_bytes (exchange, 200, body, NULL);
      return;
    }
  if (*id != '/')
    {
      ww_http_exchange_respond_error (exchange, 404, "not_found", "no such resource");
      return;
    }
  id++;
  index = ww_feed_state_find (self->state, id);
  if (index < 0)
    {
      ww_http_exchange_respond_error (exchange, 404, "not_found", "no event with that id");
      return;
    }

  {
    char *event = ww_event_to_json (ww_feed_state_get_event (self->state, (guint) index));
    g_autoptr(GBytes) body = g_bytes_new_take (event, strlen (event));

    respond_json_bytes (exchange, 200, body, NULL);
  }
}

/* ------------------------------------------------------------------ */
/* The Redis backplane (issue 11)
 *
 * Every handler runs on the I/O context: the backplane is started there
 * and emits there.  Connected, only the leader simulates; its changes go
 * to Redis (publish_update()) and come back through "message::update" on
 * every instance, where ww_event_feed_apply_update() drops any seq that
 * is not above ours (the de-duplication after a rejoin).  Not connected,
 * the feed simulates and serves on its own; the seq it reaches is handed
 * to the backplane (publish_snapshot()), which raises the stored seq to
 * it on the way back, so no seq is reused. */

static void
bp_forget_in_flight (WwEventFeed *self)
{
  /* What was handed to Redis may never come back (link lost, lease lost):
   * build on the applied state from now on. */
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    g_clear_pointer (&self->outlet_events[i], ww_event_free);
  self->outlet_seq = 0;
  self->bp_republish_seq = 0;
}

/* A leader that changed events on its own (Redis away) hands all five
 * to the others, so the instances agree at once rather than one event at
 * a time as each next changes. */
static void
bp_maybe_republish (WwEventFeed *self)
{
  gint64 now_ms = g_get_real_time () / 1000;

  if (!self->bp_alone || self->bp_republish_seq != 0 || self->server == NULL ||
      !ww_backplane_is_connected (self->backplane) || !ww_backplane_is_leader (self->backplane))
    return;
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    {
      g_autoptr(WwEvent) copy = ww_event_copy (current_event (self, i));

      copy->version++;
      copy->updated_at = now_ms;
      publish_update (self, i, copy, now_ms);
    }
  /* Done when the last one comes back (on_bp_update); tried again if
   * Redis refuses it (on_bp_notify_shared_seq). */
  self->bp_republish_seq = self->outlet_seq;
}

static void bp_arm_start (WwEventFeed *self);
static guint64 thread_serial (void);

static void
bp_role_changed (WwEventFeed *self)
{
  gboolean connected = ww_backplane_is_connected (self->backplane);
  gboolean leader = connected && ww_backplane_is_leader (self->backplane);
  gboolean degraded = FALSE;

  g_object_get (self->backplane, "degraded", &degraded, NULL);
  if (!connected && !degraded && self->bp_context != NULL)
    {
      /* Stopped by its owner: start it again when the server runs again. */
      g_clear_pointer (&self->bp_context, g_main_context_unref);
      self->bp_stopped_on = thread_serial ();
      bp_arm_start (self);
    }

  bp_forget_in_flight (self);
  if (self->server != NULL)
    ww_event_feed_set_simulating (self, !connected || leader);
  bp_maybe_republish (self);
  presence_changed (self);
}

static void
on_bp_notify_role (WwBackplane *backplane,
                   GParamSpec  *pspec,
                   WwEventFeed *self)
{
  bp_role_changed (self);
}

/* Redis went past the last seq we handed it: it refused ours (another
 * instance had raised the stored seq), and those will never come back. */
static void
on_bp_notify_shared_seq (WwBackplane *backplane,
                         GParamSpec  *pspec,
                         WwEventFeed *self)
{
  if (self->outlet_seq == 0 || ww_backplane_get_shared_seq (backplane) <= self->outlet_seq)
    return;
  bp_forget_in_flight (self);
  bp_maybe_republish (self);
}

static void
on_bp_notify_total (WwBackplane *backplane,
                    GParamSpec  *pspec,
                    WwEventFeed *self)
{
  presence_changed (self);
}

static void
on_bp_update (WwBackplane *backplane,
              guint        kind,
              guint64      seq,
              const char  *json,
              WwEventFeed *self)
{
  if (json == NULL || !ww_event_feed_apply_update_json (self, json, -1))
    g_debug ("UPDATE %" G_GUINT64_FORMAT " from Redis not applied (stale or invalid)", seq);
  else if (self->bp_republish_seq != 0 && seq >= self->bp_republish_seq)
    {
      self->bp_alone = FALSE;
      self->bp_republish_seq = 0;
    }
}

static void
on_bp_chat (WwBackplane *backplane,
            guint        kind,
            guint64      seq,
            const char  *json,
            WwEventFeed *self)
{
  g_autoptr(GBytes) chat = NULL;

  if (json == NULL)
    return;
  chat = g_bytes_new (json, strlen (json));
  broadcast (self, chat);
}

static void
on_bp_state_loaded (WwBackplane      *backplane,
                    WwBackplaneState *state,
                    WwEventFeed      *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) initial = NULL;
  guint64 seq = ww_feed_state_get_seq (self->state);

  if (state == NULL)
    return;
  /* Behind or level: ours is as new (Redis is raised to our seq) — unless
   * we ran on our own and follow now: then the stored events win, under
   * our seq (it never goes back). */
  if (state->seq <= seq &&
      !(self->bp_alone && state->events->len > 0 && !ww_backplane_is_leader (backplane)))
    return;
  if (!ww_feed_state_adopt (self->state, MAX (state->seq, seq), state->events, &error))
    {
      g_message ("Not adopting the shared state in Redis: %s", error->message);
      return;
    }
  g_info ("Adopted the shared state at seq %" G_GUINT64_FORMAT,
          ww_feed_state_get_seq (self->state));
  if (!ww_backplane_is_leader (backplane))
    self->bp_alone = FALSE;
  bp_forget_in_flight (self);
  publish_snapshot (self);
  schedule_save (self);
  /* The clients' state jumped: a fresh INITIAL replaces it. */
  initial = ww_feed_state_get_initial (self->state);
  broadcast (self, initial);
}

static void
bp_start_here (WwEventFeed *self)
{
  g_clear_pointer (&self->bp_context, g_main_context_unref);
  self->bp_context = g_main_context_ref (self->context);
  ww_backplane_start (self->backplane, self->context);
}

/* A number per thread, never reused (a GThread's address may be). */
static guint64
thread_serial (void)
{
  static guint64 last;
  static __thread guint64 serial;

  if (serial == 0)
    serial = __atomic_add_fetch (&last, 1, __ATOMIC_RELAXED);
  return serial;
}

/* The owner stops the backplane on the I/O context before it stops the
 * server; it is started again once the server runs again, which with
 * own_thread is on a new I/O thread (still running on the thread that
 * saw the stop means the server is only stopping). */
static gboolean
on_bp_start_due (gpointer data)
{
  WwEventFeed *self = data;

  if (!on_io_context (self) || self->backplane == NULL || self->bp_context != NULL)
    return G_SOURCE_CONTINUE;
  if (!ww_server_is_running (self->server) ||
      (self->bp_stopped_on != 0 && self->bp_stopped_on == thread_serial ()))
    {
      g_source_set_ready_time (self->bp_start_source, g_get_monotonic_time () + BP_START_POLL_US);
      return G_SOURCE_CONTINUE;
    }
  self->bp_stopped_on = 0;
  bp_start_here (self);
  return G_SOURCE_CONTINUE;
}

static void
bp_arm_start (WwEventFeed *self)
{
  if (self->backplane == NULL || self->server == NULL || self->bp_context != NULL)
    return;
  if (self->bp_start_source == NULL)
    self->bp_start_source = ready_source_new (self, BP_START_SOURCE_NAME, on_bp_start_due, 0);
  else
    g_source_set_ready_time (self->bp_start_source, 0);
}

/* After a restart on a new I/O context (own_thread): the old one is run
 * by nobody now, so the links on it are dropped and made again here. */
static void
bp_follow_context (WwEventFeed *self)
{
  if (self->backplane == NULL || self->bp_context == NULL || self->bp_context == self->context)
    return;
  ww_backplane_stop (self->backplane);
  g_clear_pointer (&self->bp_context, g_main_context_unref);
  bp_arm_start (self);
}

static void
respond_text (WwHttpExchange *exchange,
              const char     *content_type,
              char           *text)
{
  g_autoptr(GBytes) body = g_bytes_new_take (text, strlen (text));
  const char *headers[] = { "Cache-Control: no-store", NULL };

  ww_http_exchange_respond (exchange, 200, content_type, body, headers);
}

/* Replaces the server's own /healthz while a backplane is set: still 200
 * (the instance serves its clients), but it says when Redis is lost. */
static void
on_healthz_request (WwHttpExchange *exchange,
                    gpointer        user_data)
{
  WwEventFeed *self = user_data;
  gboolean degraded = FALSE;

  if (self->backplane != NULL)
    g_object_get (self->backplane, "degraded", &degraded, NULL);
  respond_text (exchange, "text/plain; charset=utf-8",
                g_strdup (degraded ? "degraded: Redis is unreachable; serving this instance's "
                                     "clients on their own\n"
                                   : "ok\n"));
}

/* The server's /metrics with the backplane's lines after it. */
static void
on_metrics_request (WwHttpExchange *exchange,
                    gpointer        user_data)
{
  WwEventFeed *self = user_data;
  g_autofree char *server_text = NULL;
  GString *out;

  if (self->server == NULL)
    {
      ww_http_exchange_respond_error (exchange, 503, "unavailable", "the server is going away");
      return;
    }
  server_text = ww_server_render_metrics (self->server);
  out = g_string_new (server_text);
  if (self->backplane != NULL)
    ww_backplane_append_metrics (self->backplane, out);
  respond_text (exchange, "text/plain; version=0.0.4; charset=utf-8", g_string_free (out, FALSE));
}

static void on_registration_dropped (gpointer data);

static void
bp_register_routes (WwEventFeed *self)
{
  if (self->backplane == NULL || self->server == NULL || self->bp_routes)
    return;
  /* An exact route registered later replaces the server's own. */
  ww_server_add_route (self->server, "/healthz", FALSE, on_healthz_request,
                       g_object_ref (self), on_registration_dropped);
  ww_server_add_route (self->server, "/metrics", FALSE, on_metrics_request,
                       g_object_ref (self), on_registration_dropped);
  self->n_registrations += 2;
  self->bp_routes = TRUE;
}

void
ww_event_feed_set_backplane (WwEventFeed *self,
                             WwBackplane *backplane)
{
  g_return_if_fail (WW_IS_EVENT_FEED (self));
  g_return_if_fail (backplane == NULL || WW_IS_BACKPLANE (backplane));

  if (self->backplane == backplane)
    return;
  if (self->backplane != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->backplane, self);
      g_clear_object (&self->backplane);
    }
  g_clear_pointer (&self->bp_context, g_main_context_unref);
  bp_forget_in_flight (self);

  if (backplane == NULL)
    {
      if (self->server != NULL)
        ww_event_feed_set_simulating (self, TRUE);
      return;
    }

  self->backplane = g_object_ref (backplane);
  g_signal_connect_object (backplane, "message::update", G_CALLBACK (on_bp_update), self, 0);
  g_signal_connect_object (backplane, "message::chat", G_CALLBACK (on_bp_chat), self, 0);
  g_signal_connect_object (backplane, "state-loaded", G_CALLBACK (on_bp_state_loaded), self, 0);
  g_signal_connect_object (backplane, "notify::connected", G_CALLBACK (on_bp_notify_role),
                           self, 0);
  g_signal_connect_object (backplane, "notify::leader", G_CALLBACK (on_bp_notify_role), self, 0);
  g_signal_connect_object (backplane, "notify::degraded", G_CALLBACK (on_bp_notify_role),
                           self, 0);
  g_signal_connect_object (backplane, "notify::total-clients", G_CALLBACK (on_bp_notify_total),
                           self, 0);
  g_signal_connect_object (backplane, "notify::shared-seq", G_CALLBACK (on_bp_notify_shared_seq),
                           self, 0);
  ww_backplane_set_local_seq (backplane, ww_feed_state_get_seq (self->state));
  ww_backplane_set_local_clients (backplane, self->n_clients);
  if (self->server != NULL)
    ww_event_feed_set_simulating (self, !ww_backplane_is_connected (backplane) ||
                                        ww_backplane_is_leader (backplane));
  bp_register_routes (self);
  bp_arm_start (self);
}

WwBackplane *
ww_event_feed_get_backplane (WwEventFeed *self)
{
  g_return_val_if_fail (WW_IS_EVENT_FEED (self), NULL);
  return self->backplane;
}

/* ------------------------------------------------------------------ */

static void
detach (WwEventFeed *self)
{
  clear_source (&self->context_check);
  clear_source (&self->sim_source);
  clear_source (&self->presence_source);
  clear_source (&self->bp_start_source);
  if (self->save_source != NULL)
    {
      do_save (self, TRUE);
      clear_source (&self->save_source);
    }
  for (guint i = 0; i < G_N_ELEMENTS (self->endpoints); i++)
    self->endpoints[i] = NULL;
  self->server = NULL;
}

/* The server drops its registrations (and our references) when it is
 * finalized; stop touching its endpoints from then on. */
static void
on_registration_dropped (gpointer data)
{
  WwEventFeed *self = data;

  g_assert (self->n_registrations > 0);
  self->n_registrations--;
  detach (self);
  g_object_unref (self);
}

static void
load_state (WwEventFeed *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *moved = NULL;

  g_clear_pointer (&self->state_dir, g_free);
  if (!self->config->persist)
    return;
  self->state_dir = self->config->state_dir ? g_strdup (self->config->state_dir)
                                            : ww_feed_store_default_dir ();

  switch (ww_feed_store_load (self->state_dir, self->state, &moved, &error))
    {
    case WW_FEED_LOAD_OK:
      g_info ("Continuing the events from %s at seq %" G_GUINT64_FORMAT,
              self->state_dir, ww_feed_state_get_seq (self->state));
      break;
    case WW_FEED_LOAD_MISSING:
      break;
    case WW_FEED_LOAD_CORRUPT:
      /* Reported, set aside for a human to look at, never fatal. */
      g_message ("%s; set aside as %s, starting afresh", error->message, moved);
      break;
    case WW_FEED_LOAD_FAILED:
    default:
      g_message ("Could not read the event state: %s; starting afresh", error->message);
      break;
    }
}

gboolean
ww_event_feed_attach (WwEventFeed  *self,
                      WwServer     *server,
                      GError      **error)
{
  const WwServerConfig *config;
  GMainContext *context;

  g_return_val_if_fail (WW_IS_EVENT_FEED (self), FALSE);
  g_return_val_if_fail (WW_IS_SERVER (server), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->server != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                           "the feed is attached to a server already");
      return FALSE;
    }

  config = ww_server_get_config (server);
  self->max_message = config && config->max_feed_message ? config->max_feed_message
                                                         : DEFAULT_MAX_MESSAGE;
  self->heartbeat_ms = config ? config->heartbeat_ms : 0;

  context = ww_server_get_context (server);
  g_clear_pointer (&self->context, g_main_context_unref);
  self->context = context ? g_main_context_ref (context) : g_main_context_ref_thread_default ();

  load_state (self);
  publish_snapshot (self);

  self->server = server;
  self->endpoints[0] = ww_server_add_endpoint (server, "/", self->max_message, &feed_vtable,
                                               g_object_ref (self), on_registration_dropped);
  self->endpoints[1] = ww_server_add_endpoint (server, "/ws", self->max_message, &feed_vtable,
                                               g_object_ref (self), on_registration_dropped);
  self->n_registrations += 2;
  ww_server_add_route (server, "/events", TRUE, on_events_request,
                       g_object_ref (self), on_registration_dropped);
  self->n_registrations++;
  ww_server_add_resource_route (server, "/", RESOURCE_PREFIX "/web/", web_csp);

  g_clear_pointer (&self->sim, ww_feed_sim_free);
  self->sim = ww_feed_sim_new (self->config->has_seed, self->config->seed,
                               self->config->min_interval_ms, self->config->max_interval_ms);
  self->sim_origin_us = g_get_monotonic_time ();
  self->sim_source = ready_source_new (self, SIM_SOURCE_NAME, on_sim_due, -1);
  self->presence_source = ready_source_new (self, PRESENCE_SOURCE_NAME, on_presence_due, -1);
  if (self->state_dir != NULL)
    self->save_source = ready_source_new (self, SAVE_SOURCE_NAME, on_save_due, -1);
  self->simulating = TRUE;
  sim_reschedule (self);

  if (config != NULL && config->own_thread)
    {
      g_autoptr(GMainContext) here = g_main_context_ref_thread_default ();

      self->context_seen = self->context;
      self->context_check = g_timeout_source_new_seconds (1);
      g_source_set_name (self->context_check, "[wirewatch] feed context check");
      g_source_set_callback (self->context_check, on_context_check, self, NULL);
      g_source_attach (self->context_check, here);
    }

  bp_register_routes (self);
  bp_arm_start (self);
  return TRUE;
}

guint64
ww_event_feed_get_seq (WwEventFeed *self)
{
  g_return_val_if_fail (WW_IS_EVENT_FEED (self), 0);
  return __atomic_load_n (&self->seq_atomic, __ATOMIC_ACQUIRE);
}

guint
ww_event_feed_get_n_clients (WwEventFeed *self)
{
  g_return_val_if_fail (WW_IS_EVENT_FEED (self), 0);
  return __atomic_load_n (&self->n_clients_atomic, __ATOMIC_ACQUIRE);
}

char *
ww_event_feed_dup_events_json (WwEventFeed *self)
{
  char *copy;

  g_return_val_if_fail (WW_IS_EVENT_FEED (self), NULL);

  g_mutex_lock (&self->snapshot_lock);
  copy = g_strdup (self->snapshot);
  g_mutex_unlock (&self->snapshot_lock);
  return copy;
}

WwEventFeed *
ww_event_feed_new (const WwFeedConfig *config)
{
  WwEventFeed *self = g_object_new (WW_TYPE_EVENT_FEED, NULL);

  if (config != NULL)
    {
      ww_feed_config_free (self->config);
      self->config = ww_feed_config_copy (config);
    }
  g_clear_pointer (&self->state, ww_feed_state_free);
  self->state = ww_feed_state_new (self->config->history);
  publish_snapshot (self);
  return self;
}

static void
ww_event_feed_dispose (GObject *object)
{
  WwEventFeed *self = WW_EVENT_FEED (object);

  detach (self);
  ww_event_feed_set_backplane (self, NULL);
  ww_event_feed_set_outlet (self, NULL, NULL, NULL);
  G_OBJECT_CLASS (ww_event_feed_parent_class)->dispose (object);
}

static void
ww_event_feed_finalize (GObject *object)
{
  WwEventFeed *self = WW_EVENT_FEED (object);

  g_clear_pointer (&self->sim, ww_feed_sim_free);
  g_clear_pointer (&self->state, ww_feed_state_free);
  g_clear_pointer (&self->config, ww_feed_config_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->bp_context, g_main_context_unref);
  g_clear_pointer (&self->state_dir, g_free);
  g_clear_pointer (&self->snapshot, g_free);
  g_clear_pointer (&self->save_shared, save_shared_unref);
  g_mutex_clear (&self->snapshot_lock);
  G_OBJECT_CLASS (ww_event_feed_parent_class)->finalize (object);
}

static void
ww_event_feed_class_init (WwEventFeedClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ww_event_feed_dispose;
  object_class->finalize = ww_event_feed_finalize;
}

static void
ww_event_feed_init (WwEventFeed *self)
{
  static const char base32[] = "abcdefghijkmnpqrstuvwxyz23456789";

  g_mutex_init (&self->snapshot_lock);
  self->save_shared = save_shared_new ();
  /* Not from the simulator's RNG: the seed decides the scores only. */
  for (guint i = 0; i < sizeof self->instance_tag - 1; i++)
    self->instance_tag[i] = base32[g_random_int_range (0, 32)];
  self->instance_tag[sizeof self->instance_tag - 1] = '\0';
  self->config = ww_feed_config_new ();
  self->state = ww_feed_state_new (self->config->history);
  self->presence_sent = G_MAXUINT;
}
