/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed-bridge"

#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "feed/ww-event.h"
#include "feed/ww-feed-state.h"
#include "ww-feed-bridge.h"

/*
 * The rules, as the real feed integration should follow them:
 *
 *  - Connected and leader: run the simulator, but PUBLISH each change
 *    (ww_backplane_publish_update) instead of applying it; seq is
 *    MAX (feed seq, shared seq, last published) + 1.
 *  - Every instance, the leader included, applies UPDATEs only when they
 *    come back through "message": one Redis order everywhere.
 *    ww_event_feed_apply_update() drops a seq that is not above its own,
 *    which is all the de-duplication needed.
 *  - Not connected: the feed simulates and delivers on its own
 *    (set_simulating TRUE); ww_backplane_set_local_seq() keeps the seq it
 *    reached, so the shared seq never goes back when Redis returns.
 *  - state-loaded with a seq above the feed's: adopt the stored events.
 *  - CHAT from a local client: publish it and deliver it when it comes
 *    back (locally only when publish_chat() returns FALSE).  The public
 *    hooks cannot intercept the feed's own CHAT path, so this prototype
 *    only relays CHATs that others publish.
 *  - Presence: ww_backplane_set_local_clients() on every change; the
 *    PRESENCE message carries "total-clients" while connected.
 *
 * Here a 10 ms tick stands in for the feed's simulator timer.
 */

struct _WwFeedBridge {
  WwEventFeed *feed;
  WwBackplane *bp;
  WwFeedSim   *sim;
  gint64       sim_origin_us;
  gboolean     was_leader;
  guint64      last_published;
  GSource     *tick;
};

static WwEvent *
event_from_node (JsonNode *node)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return ww_event_new_from_json (json_node_get_object (node), NULL);
}

static WwEvent *
current_event (WwFeedBridge *self,
               guint         index)
{
  g_autofree char *json = ww_event_feed_dup_events_json (self->feed);
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;
  JsonArray *array;

  if (!json_parser_load_from_data (parser, json, -1, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    return NULL;
  array = json_node_get_array (root);
  if (index >= json_array_get_length (array))
    return NULL;
  return event_from_node (json_array_get_element (array, index));
}

static void
publish_one (WwFeedBridge *self)
{
  g_autoptr(WwEvent) current = NULL;
  g_autoptr(WwEvent) changed = NULL;
  g_autofree char *event_json = NULL;
  g_autofree char *update_json = NULL;
  gboolean home;
  guint index;
  gint64 now_ms = g_get_real_time () / 1000;
  guint64 seq;

  index = ww_feed_sim_next (self->sim, &home, NULL);
  current = current_event (self, index);
  if (current == NULL)
    return;
  changed = ww_feed_score_change (current, home, now_ms);
  seq = MAX (ww_event_feed_get_seq (self->feed), ww_backplane_get_shared_seq (self->bp));
  seq = MAX (seq, self->last_published) + 1;
  event_json = ww_event_to_json (changed);
  update_json = g_strdup_printf ("{\"type\":\"UPDATE\",\"seq\":%" G_GUINT64_FORMAT
                                 ",\"event\":%s,\"ts\":%" G_GINT64_FORMAT "}",
                                 seq, event_json, now_ms);
  if (ww_backplane_publish_update (self->bp, seq, event_json, update_json))
    self->last_published = seq;
}

static gboolean
on_tick (gpointer data)
{
  WwFeedBridge *self = data;
  gboolean leader = ww_backplane_is_leader (self->bp) && ww_backplane_is_connected (self->bp);
  gint64 now = (g_get_monotonic_time () - self->sim_origin_us) / 1000;

  ww_backplane_set_local_clients (self->bp, ww_event_feed_get_n_clients (self->feed));
  ww_backplane_set_local_seq (self->bp, ww_event_feed_get_seq (self->feed));

  if (leader && !self->was_leader)
    {
      /* Start from now: no burst of the changes missed while following. */
      gint64 lag = now - ww_feed_sim_peek (self->sim, NULL);

      if (lag > 0)
        ww_feed_sim_shift (self->sim, lag);
    }
  self->was_leader = leader;

  /* One change per tick: the next one is computed from the state the
   * previous one produced, which arrives through Redis. */
  if (leader && ww_feed_sim_peek (self->sim, NULL) <= now)
    publish_one (self);

  return G_SOURCE_CONTINUE;
}

static void
on_message (WwBackplane  *bp,
            guint         kind,
            guint64       seq,
            const char   *json,
            WwFeedBridge *self)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(WwEvent) event = NULL;
  JsonNode *root;
  JsonObject *update;
  gint64 ts = 0;

  if (kind == WW_BACKPLANE_CHAT)
    {
      g_autoptr(GBytes) chat = g_bytes_new (json, strlen (json));

      ww_event_feed_broadcast_chat (self->feed, chat);
      return;
    }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, json, -1, NULL))
    return;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  update = json_node_get_object (root);
  event = event_from_node (json_object_get_member (update, "event"));
  if (event == NULL)
    return;
  ww_json_get_int (update, "ts", &ts);
  ww_event_feed_apply_update (self->feed, event, seq, ts);
}

static void
on_state_loaded (WwBackplane      *bp,
                 WwBackplaneState *state,
                 WwFeedBridge     *self)
{
  guint64 seq = ww_event_feed_get_seq (self->feed);
  guint n = state->events->len;

  /* Only the public hook exists: the stored events go in as UPDATEs
   * numbered up to the stored seq (a real adopt_state() would replace
   * the state in one step and send INITIAL). */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new_immutable ();
      g_autoptr(WwEvent) event = NULL;
      guint64 event_seq = state->seq - (n - 1 - i);

      if (state->seq < n - i || event_seq <= seq)
        continue;
      if (!json_parser_load_from_data (parser, state->events->pdata[i], -1, NULL))
        continue;
      event = event_from_node (json_parser_get_root (parser));
      if (event != NULL)
        ww_event_feed_apply_update (self->feed, event, event_seq, event->updated_at);
    }
}

static void
on_connected (WwBackplane  *bp,
              GParamSpec   *pspec,
              WwFeedBridge *self)
{
  ww_event_feed_set_simulating (self->feed, !ww_backplane_is_connected (bp));
}

WwFeedBridge *
ww_feed_bridge_new (WwEventFeed  *feed,
                    WwBackplane  *backplane,
                    guint64       seed,
                    guint         min_interval_ms,
                    guint         max_interval_ms,
                    GMainContext *context)
{
  WwFeedBridge *self = g_new0 (WwFeedBridge, 1);

  self->feed = g_object_ref (feed);
  self->bp = g_object_ref (backplane);
  self->sim = ww_feed_sim_new (TRUE, seed, min_interval_ms, max_interval_ms);
  self->sim_origin_us = g_get_monotonic_time ();

  g_signal_connect (backplane, "message", G_CALLBACK (on_message), self);
  g_signal_connect (backplane, "state-loaded", G_CALLBACK (on_state_loaded), self);
  g_signal_connect (backplane, "notify::connected", G_CALLBACK (on_connected), self);
  ww_event_feed_set_simulating (feed, !ww_backplane_is_connected (backplane));

  self->tick = g_timeout_source_new (10);
  g_source_set_callback (self->tick, on_tick, self, NULL);
  g_source_attach (self->tick, context);
  return self;
}

void
ww_feed_bridge_free (WwFeedBridge *self)
{
  if (self == NULL)
    return;
  g_source_destroy (self->tick);
  g_source_unref (self->tick);
  g_signal_handlers_disconnect_by_data (self->bp, self);
  g_object_unref (self->bp);
  g_object_unref (self->feed);
  ww_feed_sim_free (self->sim);
  g_free (self);
}
