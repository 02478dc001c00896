/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed"

#include "config.h"

#include "ww-feed-state.h"

static const struct {
  const char *home;
  const char *away;
} default_events[WW_FEED_N_EVENTS] = {
  { "Harbor City", "Northgate" },
  { "Riverside Rovers", "Eastfield United" },
  { "Summit Lions", "Lakeside Wanderers" },
  { "Port Alder", "Granite Falls" },
  { "Westbrook Athletic", "Silver Bay" },
};

typedef struct {
  guint64  seq;
  GBytes  *message;
} HistoryEntry;

struct _WwFeedState {
  WwEvent      *events[WW_FEED_N_EVENTS];
  guint64       seq;
  GBytes       *initial;  /* cache; NULL after a change */

  /* Ring of the last UPDATEs with consecutive seqs ending at @seq. */
  HistoryEntry *history;
  guint         history_cap;
  guint         history_len;
  guint         history_head; /* slot of the oldest entry */
};

WwFeedState *
ww_feed_state_new (guint history_len)
{
  WwFeedState *self = g_new0 (WwFeedState, 1);
  gint64 now_ms = g_get_real_time () / 1000;

  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    {
      g_autofree char *id = g_strdup_printf ("EVENT#%02u", i);

      self->events[i] = ww_event_new (id, default_events[i].home, default_events[i].away);
      self->events[i]->version = 1;
      self->events[i]->updated_at = now_ms;
    }
  self->history_cap = history_len;
  if (history_len > 0)
    self->history = g_new0 (HistoryEntry, history_len);
  return self;
}

static void
history_clear (WwFeedState *self)
{
  for (guint i = 0; i < self->history_len; i++)
    {
      HistoryEntry *e = &self->history[(self->history_head + i) % self->history_cap];

      g_clear_pointer (&e->message, g_bytes_unref);
    }
  self->history_len = 0;
  self->history_head = 0;
}

void
ww_feed_state_free (WwFeedState *self)
{
  if (self == NULL)
    return;
  history_clear (self);
  g_free (self->history);
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    ww_event_free (self->events[i]);
  g_clear_pointer (&self->initial, g_bytes_unref);
  g_free (self);
}

guint64
ww_feed_state_get_seq (WwFeedState *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->seq;
}

guint
ww_feed_state_get_history_len (WwFeedState *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->history_len;
}

const WwEvent *
ww_feed_state_get_event (WwFeedState *self,
                         guint        index)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < WW_FEED_N_EVENTS, NULL);
  return self->events[index];
}

int
ww_feed_state_find (WwFeedState *self,
                    const char  *id)
{
  g_return_val_if_fail (self != NULL, -1);

  if (id == NULL)
    return -1;
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    if (g_str_equal (self->events[i]->id, id))
      return (int) i;
  return -1;
}

static void
append_events (WwFeedState *self,
               GString     *out)
{
  g_string_append_c (out, '[');
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      ww_event_append_json (self->events[i], out);
    }
  g_string_append_c (out, ']');
}

char *
ww_feed_state_dup_events_json (WwFeedState *self)
{
  GString *out = g_string_sized_new (1024);

  append_events (self, out);
  return g_string_free (out, FALSE);
}

GBytes *
ww_feed_state_get_initial (WwFeedState *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  if (self->initial == NULL)
    {
      GString *out = g_string_sized_new (1100);

      g_string_append_printf (out, "{\"type\":\"INITIAL\",\"seq\":%" G_GUINT64_FORMAT
                              ",\"events\":", self->seq);
      append_events (self, out);
      g_string_append_c (out, '}');
      self->initial = g_string_free_to_bytes (out);
    }
  return g_bytes_ref (self->initial);
}

GBytes *
ww_feed_message_update (const WwEvent *event,
                        guint64        seq,
                        gint64         ts_ms)
{
  GString *out = g_string_sized_new (256);

  g_string_append_printf (out, "{\"type\":\"UPDATE\",\"seq\":%" G_GUINT64_FORMAT ",\"event\":",
                          seq);
  ww_event_append_json (event, out);
  g_string_append_printf (out, ",\"ts\":%" G_GINT64_FORMAT "}", ts_ms);
  return g_string_free_to_bytes (out);
}

gboolean
ww_feed_parse_update (const char  *json,
                      gssize       len,
                      WwEvent    **event,
                      guint64     *seq,
                      gint64      *ts_ms,
                      GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root, *node;
  JsonObject *object;
  const char *type;
  gint64 s, ts;

  g_return_val_if_fail (json != NULL, FALSE);
  g_return_val_if_fail (event != NULL && seq != NULL && ts_ms != NULL, FALSE);

  if (!json_parser_load_from_data (parser, json, len, error))
    return FALSE;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not a JSON object");
      return FALSE;
    }
  object = json_node_get_object (root);
  node = json_object_get_member (object, "event");
  if (!ww_json_get_string (object, "type", &type) || !g_str_equal (type, "UPDATE") ||
      !ww_json_get_int (object, "seq", &s) || s <= 0 ||
      !ww_json_get_int (object, "ts", &ts) ||
      node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "an UPDATE needs a positive seq, a ts and an event");
      return FALSE;
    }
  *event = ww_event_new_from_json (json_node_get_object (node), error);
  if (*event == NULL)
    return FALSE;
  *seq = (guint64) s;
  *ts_ms = ts;
  return TRUE;
}

gboolean
ww_feed_state_adopt (WwFeedState  *self,
                     guint64       seq,
                     GPtrArray    *events_json,
                     GError      **error)
{
  WwEvent *events[WW_FEED_N_EVENTS] = { NULL, };
  gboolean ok = TRUE;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (events_json != NULL, FALSE);

  /* Validate everything before changing anything. */
  for (guint i = 0; ok && i < events_json->len; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new_immutable ();
      const char *text = events_json->pdata[i];
      JsonNode *root;
      WwEvent *event;
      int index;

      if (text == NULL || !json_parser_load_from_data (parser, text, -1, error))
        {
          if (text == NULL)
            g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "a missing event");
          ok = FALSE;
          break;
        }
      root = json_parser_get_root (parser);
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "an event is not a JSON object");
          ok = FALSE;
          break;
        }
      event = ww_event_new_from_json (json_node_get_object (root), error);
      if (event == NULL)
        {
          ok = FALSE;
          break;
        }
      index = ww_feed_state_find (self, event->id);
      if (index < 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no event “%s”", event->id);
          ww_event_free (event);
          ok = FALSE;
          break;
        }
      g_clear_pointer (&events[index], ww_event_free);
      events[index] = event;
    }

  if (!ok)
    {
      for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
        g_clear_pointer (&events[i], ww_event_free);
      return FALSE;
    }

  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    if (events[i] != NULL)
      {
        ww_event_free (self->events[i]);
        self->events[i] = events[i];
      }
  self->seq = seq;
  history_clear (self);
  g_clear_pointer (&self->initial, g_bytes_unref);
  return TRUE;
}

GBytes *
ww_feed_state_apply_update (WwFeedState    *self,
                            const WwEvent  *event,
                            guint64         seq,
                            gint64          ts_ms,
                            GError        **error)
{
  GBytes *message;
  int index;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (event != NULL, NULL);

  index = ww_feed_state_find (self, event->id);
  if (index < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no event “%s”", event->id);
      return NULL;
    }
  if (seq <= self->seq)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "seq %" G_GUINT64_FORMAT " is not after %" G_GUINT64_FORMAT,
                   seq, self->seq);
      return NULL;
    }

  /* The history must stay gap-free, or a RESUME would skip updates. */
  if (seq != self->seq + 1)
    history_clear (self);

  ww_event_free (self->events[index]);
  self->events[index] = ww_event_copy (event);
  self->seq = seq;
  g_clear_pointer (&self->initial, g_bytes_unref);

  message = ww_feed_message_update (event, seq, ts_ms);

  if (self->history_cap > 0)
    {
      HistoryEntry *slot;

      if (self->history_len == self->history_cap)
        {
          slot = &self->history[self->history_head];
          g_clear_pointer (&slot->message, g_bytes_unref);
          self->history_head = (self->history_head + 1) % self->history_cap;
          self->history_len--;
        }
      slot = &self->history[(self->history_head + self->history_len) % self->history_cap];
      slot->seq = seq;
      slot->message = g_bytes_ref (message);
      self->history_len++;
    }

  return message;
}

WwFeedResume
ww_feed_state_resume (WwFeedState *self,
                      guint64      since,
                      guint64      live_from,
                      GPtrArray   *out)
{
  guint64 upto, oldest;

  g_return_val_if_fail (self != NULL, WW_FEED_RESUME_INITIAL);
  g_return_val_if_fail (out != NULL, WW_FEED_RESUME_INITIAL);

  /* Ahead of us: the client saw another server's (or a lost) history. */
  if (since > self->seq)
    return WW_FEED_RESUME_INITIAL;

  upto = MIN (live_from, self->seq);
  if (since >= upto)
    return WW_FEED_RESUME_REPLAY;

  if (self->history_len == 0)
    return WW_FEED_RESUME_INITIAL;
  oldest = self->seq - self->history_len + 1;
  if (since + 1 < oldest)
    return WW_FEED_RESUME_INITIAL;

  for (guint64 s = since + 1; s <= upto; s++)
    {
      guint offset = (guint) (s - oldest);
      HistoryEntry *e = &self->history[(self->history_head + offset) % self->history_cap];

      g_assert (e->seq == s);
      g_ptr_array_add (out, g_bytes_ref (e->message));
    }
  return WW_FEED_RESUME_REPLAY;
}

char *
ww_feed_state_serialize (WwFeedState *self,
                         gint64       now_ms)
{
  GString *out = g_string_sized_new (1200);

  g_string_append_printf (out, "{\"format\":%d,\"seq\":%" G_GUINT64_FORMAT
                          ",\"savedAt\":%" G_GINT64_FORMAT ",\"events\":",
                          WW_FEED_STATE_FORMAT, self->seq, now_ms);
  append_events (self, out);
  g_string_append (out, "}\n");
  return g_string_free (out, FALSE);
}

gboolean
ww_feed_state_restore (WwFeedState  *self,
                       const char   *data,
                       gssize        len,
                       GError      **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  WwEvent *events[WW_FEED_N_EVENTS] = { NULL, };
  JsonNode *root, *node;
  JsonObject *object;
  JsonArray *array;
  gint64 format, seq;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL, FALSE);

  if (!json_parser_load_from_data (parser, data, len, error))
    return FALSE;
  root = json_parser_get_root (parser);
  /* json-glib 1.6 accepts empty input with a NULL root. */
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "the state is not a JSON object");
      return FALSE;
    }
  object = json_node_get_object (root);
  if (!ww_json_get_int (object, "format", &format) || format != WW_FEED_STATE_FORMAT)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "unknown state format");
      return FALSE;
    }
  if (!ww_json_get_int (object, "seq", &seq) || seq < 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "the state needs a non-negative integer seq");
      return FALSE;
    }
  node = json_object_get_member (object, "events");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node) ||
      json_array_get_length (array = json_node_get_array (node)) != WW_FEED_N_EVENTS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the state needs an array of %d events", WW_FEED_N_EVENTS);
      return FALSE;
    }

  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      g_autofree char *id = g_strdup_printf ("EVENT#%02u", i);

      if (!JSON_NODE_HOLDS_OBJECT (element))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "event %u is not an object", i);
          goto fail;
        }
      events[i] = ww_event_new_from_json (json_node_get_object (element), error);
      if (events[i] == NULL)
        goto fail;
      if (!g_str_equal (events[i]->id, id))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "event %u has id “%s”, expected “%s”", i, events[i]->id, id);
          goto fail;
        }
    }

  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    {
      ww_event_free (self->events[i]);
      self->events[i] = events[i];
    }
  self->seq = (guint64) seq;
  history_clear (self);
  g_clear_pointer (&self->initial, g_bytes_unref);
  return TRUE;

fail:
  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    ww_event_free (events[i]);
  return FALSE;
}

/* ------------------------------------------------------------------ */
/* Simulator */

struct _WwFeedSim {
  GRand  *rand;
  guint   min_ms;
  guint   max_ms;
  gint64  due[WW_FEED_N_EVENTS];
};

static gint64
draw_interval (WwFeedSim *self)
{
  if (self->min_ms == self->max_ms)
    return self->min_ms;
  /* Uniform in [min, max] inclusive. */
  return g_rand_int_range (self->rand, (gint32) self->min_ms, (gint32) self->max_ms + 1);
}

WwFeedSim *
ww_feed_sim_new (gboolean has_seed,
                 guint64  seed,
                 guint    min_ms,
                 guint    max_ms)
{
  WwFeedSim *self = g_new0 (WwFeedSim, 1);

  if (has_seed)
    {
      /* All 64 bits of the seed count. */
      guint32 words[2] = { (guint32) (seed & 0xffffffffu), (guint32) (seed >> 32) };

      self->rand = g_rand_new_with_seed_array (words, 2);
    }
  else
    self->rand = g_rand_new ();

  /* g_rand_int_range works on gint32; a day is far more than enough. */
  min_ms = CLAMP (min_ms, 1, 86400000);
  max_ms = CLAMP (max_ms, 1, 86400000);
  self->min_ms = MIN (min_ms, max_ms);
  self->max_ms = MAX (min_ms, max_ms);

  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    self->due[i] = draw_interval (self);
  return self;
}

void
ww_feed_sim_free (WwFeedSim *self)
{
  if (self == NULL)
    return;
  g_rand_free (self->rand);
  g_free (self);
}

gint64
ww_feed_sim_peek (WwFeedSim *self,
                  guint     *index)
{
  guint best = 0;

  g_return_val_if_fail (self != NULL, 0);

  /* Ties go to the lower index, so the order is fully determined. */
  for (guint i = 1; i < WW_FEED_N_EVENTS; i++)
    if (self->due[i] < self->due[best])
      best = i;
  if (index)
    *index = best;
  return self->due[best];
}

guint
ww_feed_sim_next (WwFeedSim *self,
                  gboolean  *home_scores,
                  gint64    *due)
{
  guint index;
  gint64 when = ww_feed_sim_peek (self, &index);
  gboolean home = g_rand_boolean (self->rand);

  self->due[index] = when + draw_interval (self);
  if (home_scores)
    *home_scores = home;
  if (due)
    *due = when;
  return index;
}

void
ww_feed_sim_shift (WwFeedSim *self,
                   gint64     delta_ms)
{
  g_return_if_fail (self != NULL);

  for (guint i = 0; i < WW_FEED_N_EVENTS; i++)
    self->due[i] += delta_ms;
}

WwEvent *
ww_feed_score_change (const WwEvent *event,
                      gboolean       home_scores,
                      gint64         now_ms)
{
  WwEvent *copy = ww_event_copy (event);

  if (home_scores)
    copy->home_score++;
  else
    copy->away_score++;
  copy->version++;
  /* updatedAt never goes backwards, even if the wall clock does. */
  copy->updated_at = MAX (now_ms, event->updated_at);
  return copy;
}

GBytes *
ww_feed_simulate_one (WwFeedState *state,
                      WwFeedSim   *sim,
                      gint64       now_ms,
                      guint       *index)
{
  g_autoptr(WwEvent) changed = NULL;
  gboolean home;
  guint i;

  g_return_val_if_fail (state != NULL, NULL);
  g_return_val_if_fail (sim != NULL, NULL);

  i = ww_feed_sim_next (sim, &home, NULL);
  changed = ww_feed_score_change (state->events[i], home, now_ms);
  if (index)
    *index = i;
  return ww_feed_state_apply_update (state, changed, state->seq + 1, now_ms, NULL);
}
