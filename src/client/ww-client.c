/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client"

#include "config.h"

#include <math.h>
#include <string.h>
#include <libsoup/soup.h>

#include "ww-backoff.h"
#include "ww-client-deflate.h"
#include "ww-client.h"

/*
 * WwClient: the feed client on top of libsoup's SoupWebsocketConnection.
 *
 * libsoup hands us whole messages, not frames, so the "frame" signal and
 * the frame counters report one frame per data message (plus the pongs and
 * close frames libsoup lets us see); byte counters count payload bytes,
 * without the 2–14 bytes of framing.
 *
 * RTT: against a feed server it is the PING → PONG round trip.  Against any
 * other server we still send the same PING text; an echo server sends it
 * back unchanged and we time that.  libsoup 3.2 does not let us send a
 * protocol ping ourselves nor tell when its keepalive ping left, so protocol
 * pongs are counted and used for liveness, never passed off as an RTT.
 */

#define DEFAULT_BASE_MS         3000
#define DEFAULT_MAX_MS          30000
#define DEFAULT_STABLE_MS       10000
#define DEFAULT_PING_INTERVAL_S 5
#define DEFAULT_KEEPALIVE_S     15
#define BACKOFF_JITTER          0.2
#define CONNECT_TIMEOUT_MS      15000
#define RESUME_TIMEOUT_MS       3000
/* DESIGN.md: the feed allows 64 KiB messages, /echo 16 MiB; libsoup's default is 128 KiB. */
#define MAX_INCOMING_PAYLOAD    (16 * 1024 * 1024)
#define MAX_CHAT_BYTES          4096
#define MAX_EVENTS              64    /* a hostile server can not grow our state */
#define MAX_REORDER             1024  /* out-of-order UPDATEs held while a gap is filled */
#define MAX_PENDING_PINGS       256
#define RTT_RING_SIZE           4096

typedef struct {
  gint64 at_us;
  gint64 rtt_us;
} RttSample;

typedef struct {
  guint64     seq;
  JsonObject *event;
  gint64      ts;
} HeldUpdate;

typedef struct {
  GWeakRef     client;
  guint        generation;
  SoupMessage *msg;
} Attempt;

struct _WwClient
{
  GObject parent_instance;

  SoupSession             *session;
  GCancellable            *cancellable;
  SoupWebsocketConnection *conn;

  char            *url;
  char            *token;
  char            *protocol;
  GHashTable      *headers;
  GTlsCertificate *accepted_cert;
  char            *accepted_for;   /* host:port the decision was made for */
  GTlsCertificate *rejected_cert;
  GTlsCertificateFlags rejected_errors;

  WwClientState state;
  guint         reconnect_in;
  guint         close_code;
  char         *close_reason;
  char         *error_message;
  gboolean      speaks_feed;
  gboolean      deflate;         /* offer permessage-deflate */
  gboolean      deflate_active;  /* the open connection negotiated it */
  char         *extensions;      /* Sec-WebSocket-Extensions of the last 101 */
  char         *conn_error;      /* why libsoup failed the open connection, if it did */
  gboolean      want_open;
  gboolean      closing_by_us;
  gboolean      timed_out;
  gboolean      liveness_failed;
  gboolean      hard_failure;
  guint         generation;

  guint  failures;
  guint  base_ms;
  guint  max_ms;
  guint  stable_ms;
  gint64 reconnect_at_us;
  gint64 opened_at_us;
  gint64 last_rx_us;
  guint  reconnect_source;
  guint  countdown_source;
  guint  connect_timeout_source;
  guint  keepalive_s;
  guint  liveness_source;

  guint       ping_interval_s;
  guint       ping_source;
  guint64     ping_counter;
  GHashTable *pending_pings; /* id → gint64 * monotonic send time */
  gint64      last_rtt_us;
  WwHistogram *rtt_hist;
  RttSample  *rtt_ring;
  guint       ring_head;
  guint       ring_len;

  GPtrArray  *events;        /* JsonObject, NULL before the first INITIAL */
  guint64     last_seq;
  gboolean    have_seq;
  gboolean    resume_pending;
  guint       resume_source;
  guint       defer_initial;
  JsonArray  *pending_initial;
  guint64     pending_initial_seq;
  GTree      *held;          /* guint64 * → HeldUpdate */

  WwClientCounters counters;
  GHashTable *drop_codes;    /* GUINT_TO_POINTER (code) → guint64 * */
};

G_DEFINE_FINAL_TYPE (WwClient, ww_client, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_URL,
  PROP_STATE,
  PROP_RECONNECT_IN,
  PROP_CLOSE_CODE,
  PROP_CLOSE_REASON,
  PROP_LAST_RTT_US,
  PROP_LAST_SEQ,
  PROP_SPEAKS_FEED,
  PROP_TOKEN,
  PROP_PROTOCOL,
  PROP_ERROR_MESSAGE,
  PROP_DEFLATE,
  PROP_DEFLATE_ACTIVE,
  N_PROPS
};

enum {
  SIGNAL_WELCOME,
  SIGNAL_INITIAL,
  SIGNAL_UPDATE,
  SIGNAL_CHAT,
  SIGNAL_PRESENCE,
  SIGNAL_SERVER_ERROR,
  SIGNAL_FRAME,
  SIGNAL_RTT,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void start_attempt (WwClient *self);

GType
ww_client_state_get_type (void)
{
  static gsize type_id = 0;

  if (g_once_init_enter (&type_id))
    {
      static const GEnumValue values[] = {
        { WW_CLIENT_STATE_IDLE, "WW_CLIENT_STATE_IDLE", "idle" },
        { WW_CLIENT_STATE_CONNECTING, "WW_CLIENT_STATE_CONNECTING", "connecting" },
        { WW_CLIENT_STATE_OPEN, "WW_CLIENT_STATE_OPEN", "open" },
        { WW_CLIENT_STATE_RECONNECTING, "WW_CLIENT_STATE_RECONNECTING", "reconnecting" },
        { WW_CLIENT_STATE_CLOSED, "WW_CLIENT_STATE_CLOSED", "closed" },
        { 0, NULL, NULL },
      };
      GType t = g_enum_register_static (g_intern_static_string ("WwClientState"), values);

      g_once_init_leave (&type_id, t);
    }
  return type_id;
}

static guint
env_ms (const char *name,
        guint       fallback)
{
  const char *v = g_getenv (name);
  guint64 n;

  if (v && g_ascii_string_to_unsigned (v, 10, 1, G_MAXUINT, &n, NULL))
    return (guint) n;
  return fallback;
}

static void
held_update_free (gpointer data)
{
  HeldUpdate *h = data;

  g_clear_pointer (&h->event, json_object_unref);
  g_free (h);
}

static int
compare_seq (gconstpointer a,
             gconstpointer b,
             gpointer      user_data)
{
  guint64 x = *(const guint64 *) a;
  guint64 y = *(const guint64 *) b;

  return x < y ? -1 : (x > y ? 1 : 0);
}

static void
attempt_free (Attempt *a)
{
  g_weak_ref_clear (&a->client);
  g_clear_object (&a->msg);
  g_free (a);
}

/* ------------------------------------------------------------------ */
/* Small setters that notify only on change (STYLE.md). */

static void
set_state (WwClient      *self,
           WwClientState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_reconnect_in (WwClient *self,
                  guint     seconds)
{
  if (self->reconnect_in == seconds)
    return;
  self->reconnect_in = seconds;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RECONNECT_IN]);
}

static void
set_string (WwClient   *self,
            char      **slot,
            const char *value,
            int         prop)
{
  char *copy;

  if (g_strcmp0 (*slot, value) == 0)
    return;
  copy = g_strdup (value);
  g_free (*slot);
  *slot = copy;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_error_message (WwClient   *self,
                   const char *message)
{
  set_string (self, &self->error_message, message, PROP_ERROR_MESSAGE);
}

static void
set_close (WwClient   *self,
           guint       code,
           const char *reason)
{
  if (self->close_code != code)
    {
      self->close_code = code;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLOSE_CODE]);
    }
  set_string (self, &self->close_reason, reason ? reason : "", PROP_CLOSE_REASON);
}

static void
set_speaks_feed (WwClient *self,
                 gboolean  speaks)
{
  if (self->speaks_feed == speaks)
    return;
  self->speaks_feed = speaks;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SPEAKS_FEED]);
}

static void
set_last_seq (WwClient *self,
              guint64   seq)
{
  self->have_seq = TRUE;
  if (self->last_seq == seq)
    return;
  self->last_seq = seq;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_SEQ]);
}

/* ------------------------------------------------------------------ */
/* Sending */

static void
emit_frame (WwClient     *self,
            gboolean      outgoing,
            guint         opcode,
            gconstpointer data,
            gsize         len)
{
  g_autoptr(GBytes) bytes = NULL;

  /* Nobody listening (the CLI without a log): skip the copy. */
  if (!g_signal_has_handler_pending (self, signals[SIGNAL_FRAME], 0, FALSE))
    return;
  bytes = g_bytes_new (data, len);
  g_signal_emit (self, signals[SIGNAL_FRAME], 0, outgoing, opcode, bytes);
}

static gboolean
send_text (WwClient   *self,
           const char *text)
{
  gsize len = strlen (text);

  if (self->conn == NULL ||
      soup_websocket_connection_get_state (self->conn) != SOUP_WEBSOCKET_STATE_OPEN)
    return FALSE;

  soup_websocket_connection_send_text (self->conn, text);
  self->counters.messages_out++;
  self->counters.frames_out++;
  self->counters.bytes_out += len;
  emit_frame (self, TRUE, 0x1, text, len);
  return TRUE;
}

static gboolean
send_object (WwClient    *self,
             JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = NULL;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  return send_text (self, text);
}

static void
send_resume (WwClient *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "RESUME");
  json_builder_set_member_name (b, "seq");
  json_builder_add_int_value (b, (gint64) self->last_seq);
  json_builder_end_object (b);
  if (send_object (self, b))
    self->counters.resumes_sent++;
}

/* ------------------------------------------------------------------ */
/* RTT */

static void
record_rtt (WwClient *self,
            gint64    rtt_us)
{
  RttSample *s;

  rtt_us = MAX (rtt_us, 0);
  self->last_rtt_us = rtt_us;
  ww_histogram_record (self->rtt_hist, (guint64) rtt_us);

  s = &self->rtt_ring[self->ring_head];
  s->at_us = g_get_monotonic_time ();
  s->rtt_us = rtt_us;
  self->ring_head = (self->ring_head + 1) % RTT_RING_SIZE;
  self->ring_len = MIN (self->ring_len + 1, RTT_RING_SIZE);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_RTT_US]);
  g_signal_emit (self, signals[SIGNAL_RTT], 0, rtt_us);
}

/* Returns whether @id was one of our outstanding pings. */
static gboolean
complete_ping (WwClient   *self,
               const char *id)
{
  gint64 *sent;

  if (id == NULL)
    return FALSE;
  sent = g_hash_table_lookup (self->pending_pings, id);
  if (sent == NULL)
    return FALSE;
  record_rtt (self, g_get_monotonic_time () - *sent);
  g_hash_table_remove (self->pending_pings, id);
  return TRUE;
}

static void
prune_pending_pings (WwClient *self)
{
  GHashTableIter iter;
  gpointer value;
  gint64 horizon = g_get_monotonic_time () - 60 * G_USEC_PER_SEC;

  /* Unanswered pings (a server that ignores them) must not pile up. */
  g_hash_table_iter_init (&iter, self->pending_pings);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (*(gint64 *) value < horizon || g_hash_table_size (self->pending_pings) > MAX_PENDING_PINGS)
      g_hash_table_iter_remove (&iter);
}

/* ------------------------------------------------------------------ */
/* Feed state: INITIAL, UPDATE, gaps and RESUME */

static JsonArray *
events_to_array (WwClient *self)
{
  JsonArray *array = json_array_sized_new (self->events ? self->events->len : 0);

  if (self->events)
    for (guint i = 0; i < self->events->len; i++)
      json_array_add_object_element (array, json_object_ref (g_ptr_array_index (self->events, i)));
  return array;
}

static const char *
object_get_string (JsonObject *obj,
                   const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
object_get_int (JsonObject *obj,
                const char *name,
                gint64     *out)
{
  JsonNode *node = json_object_get_member (obj, name);
  GType t;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  t = json_node_get_value_type (node);
  if (t == G_TYPE_INT64)
    *out = json_node_get_int (node);
  else if (t == G_TYPE_DOUBLE)
    {
      double d = json_node_get_double (node);

      if (!isfinite (d) || d < -9.2e18 || d > 9.2e18)
        return FALSE;
      *out = (gint64) d;
    }
  else
    return FALSE;
  return TRUE;
}

static gboolean
object_get_seq (JsonObject *obj,
                guint64    *out)
{
  gint64 v;

  if (!object_get_int (obj, "seq", &v) || v < 0)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static void
store_event (WwClient   *self,
             JsonObject *event)
{
  const char *id = object_get_string (event, "id");

  if (self->events == NULL)
    self->events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);

  if (id != NULL)
    for (guint i = 0; i < self->events->len; i++)
      {
        JsonObject *old = g_ptr_array_index (self->events, i);

        if (g_strcmp0 (object_get_string (old, "id"), id) == 0)
          {
            self->events->pdata[i] = json_object_ref (event);
            json_object_unref (old);
            return;
          }
      }
  if (self->events->len < MAX_EVENTS)
    g_ptr_array_add (self->events, json_object_ref (event));
}

static void
stop_resume (WwClient *self)
{
  self->resume_pending = FALSE;
  self->defer_initial = 0;
  g_clear_handle_id (&self->resume_source, g_source_remove);
}

static void
apply_update (WwClient   *self,
              guint64     seq,
              JsonObject *event,
              gint64      ts)
{
  store_event (self, event);
  set_last_seq (self, seq);
  g_signal_emit (self, signals[SIGNAL_UPDATE], 0, seq, event, ts);
}

/* Applies held UPDATEs that now follow on, and ends a RESUME once caught up. */
static void
drain_held (WwClient *self)
{
  GTreeNode *node;

  while ((node = g_tree_node_first (self->held)) != NULL)
    {
      HeldUpdate *h = g_tree_node_value (node);

      if (h->seq <= self->last_seq)
        {
          self->counters.duplicates_dropped++;
          g_tree_remove (self->held, &h->seq);
          continue;
        }
      if (h->seq != self->last_seq + 1)
        break;
      {
        guint64 seq = h->seq;
        JsonObject *event = json_object_ref (h->event);
        gint64 ts = h->ts;

        g_tree_remove (self->held, &seq);
        apply_update (self, seq, event, ts);
        json_object_unref (event);
      }
    }

  if (self->pending_initial && self->last_seq >= self->pending_initial_seq)
    g_clear_pointer (&self->pending_initial, json_array_unref);

  if (self->resume_pending && g_tree_nnodes (self->held) == 0 && self->pending_initial == NULL &&
      self->defer_initial == 0)
    stop_resume (self);
}

static void
apply_initial (WwClient  *self,
               guint64    seq,
               JsonArray *events)
{
  g_autoptr(JsonArray) copy = NULL;

  g_clear_pointer (&self->events, g_ptr_array_unref);
  self->events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      JsonNode *node = json_array_get_element (events, i);

      if (JSON_NODE_HOLDS_OBJECT (node))
        store_event (self, json_node_get_object (node));
    }

  /* A snapshot older than what we hold means the server lost its state;
   * start over from it rather than wait for seqs that will never come. */
  if (self->have_seq && seq < self->last_seq)
    g_tree_remove_all (self->held);

  set_last_seq (self, seq);
  g_clear_pointer (&self->pending_initial, json_array_unref);
  stop_resume (self);

  copy = events_to_array (self);
  g_signal_emit (self, signals[SIGNAL_INITIAL], 0, seq, copy);
  drain_held (self);
}

static gboolean
on_resume_timeout (gpointer data)
{
  WwClient *self = data;
  GTreeNode *node;

  self->resume_source = 0;
  self->resume_pending = FALSE;
  self->defer_initial = 0;

  /* The server did not fill the gap: take its snapshot if we have one,
   * else accept the gap and go on from what we hold, and count it. */
  if (self->pending_initial)
    {
      g_autoptr(JsonArray) initial = g_steal_pointer (&self->pending_initial);

      apply_initial (self, self->pending_initial_seq, initial);
    }
  else if ((node = g_tree_node_first (self->held)) != NULL)
    {
      HeldUpdate *h = g_tree_node_value (node);

      self->counters.gaps_skipped++;
      g_debug ("Gap after seq %" G_GUINT64_FORMAT " not filled; going on at %" G_GUINT64_FORMAT,
               self->last_seq, h->seq);
      set_last_seq (self, h->seq - 1);
      drain_held (self);
    }
  return G_SOURCE_REMOVE;
}

static void
begin_resume (WwClient *self)
{
  send_resume (self);
  self->resume_pending = TRUE;
  g_clear_handle_id (&self->resume_source, g_source_remove);
  self->resume_source = g_timeout_add (env_ms ("WW_CLIENT_RESUME_TIMEOUT_MS", RESUME_TIMEOUT_MS),
                                       on_resume_timeout, self);
}

static void
handle_initial (WwClient   *self,
                JsonObject *msg)
{
  JsonNode *node = json_object_get_member (msg, "events");
  guint64 seq;

  if (!object_get_seq (msg, &seq) || node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_debug ("INITIAL without seq or events; ignored");
      return;
    }

  /* Right after a reconnect the server sends its current snapshot before
   * it has read our RESUME; hold it back so that the replayed UPDATEs
   * arrive as UPDATEs (no gap in the event view), and fall back to it if
   * the replay does not come. */
  if (self->resume_pending && self->defer_initial > 0 && self->have_seq && seq > self->last_seq)
    {
      self->defer_initial--;
      g_clear_pointer (&self->pending_initial, json_array_unref);
      self->pending_initial = json_array_ref (json_node_get_array (node));
      self->pending_initial_seq = seq;
      return;
    }

  apply_initial (self, seq, json_node_get_array (node));
}

static void
handle_update (WwClient   *self,
               JsonObject *msg)
{
  JsonNode *node = json_object_get_member (msg, "event");
  JsonObject *event;
  guint64 seq;
  gint64 ts = 0;

  if (!object_get_seq (msg, &seq) || node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_debug ("UPDATE without seq or event; ignored");
      return;
    }
  event = json_node_get_object (node);
  object_get_int (msg, "ts", &ts);

  if (!self->have_seq)
    {
      /* No snapshot yet: nothing to be in sequence with. */
      apply_update (self, seq, event, ts);
      return;
    }
  if (seq <= self->last_seq)
    {
      self->counters.duplicates_dropped++;
      return;
    }
  if (seq == self->last_seq + 1)
    {
      apply_update (self, seq, event, ts);
      drain_held (self);
      return;
    }

  /* A gap: hold this one and ask for what is missing (once per gap). */
  if (g_tree_nnodes (self->held) < MAX_REORDER && g_tree_lookup (self->held, &seq) == NULL)
    {
      HeldUpdate *h = g_new0 (HeldUpdate, 1);

      h->seq = seq;
      h->event = json_object_ref (event);
      h->ts = ts;
      g_tree_insert (self->held, &h->seq, h);
    }
  if (!self->resume_pending)
    {
      self->counters.gaps_detected++;
      begin_resume (self);
    }
}

static void
handle_welcome (WwClient   *self,
                JsonObject *msg)
{
  guint64 seq;
  gboolean has_seq = object_get_seq (msg, &seq);

  set_speaks_feed (self, TRUE);
  g_signal_emit (self, signals[SIGNAL_WELCOME], 0, msg);

  /* Reconnected with state in hand: ask for what we missed.  Not needed
   * when the server is where we left it, nor when it went backwards (lost
   * its state) — its INITIAL then replaces ours. */
  if (self->have_seq && (!has_seq || seq > self->last_seq))
    {
      begin_resume (self);
      self->defer_initial = 1;
    }
}

static void
handle_text (WwClient     *self,
             const char   *data,
             gsize         len)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) error = NULL;
  JsonNode *root;
  JsonObject *msg;
  const char *type;

  if (!json_parser_load_from_data (parser, data, (gssize) len, &error))
    return; /* not our protocol; the frame was reported already */
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  msg = json_node_get_object (root);
  type = object_get_string (msg, "type");
  if (type == NULL)
    return;

  if (g_str_equal (type, "WELCOME"))
    {
      handle_welcome (self, msg);
      return;
    }

  if (!self->speaks_feed)
    {
      /* An echo server returns our PING as is: time that. */
      if (g_str_equal (type, "PING"))
        complete_ping (self, object_get_string (msg, "id"));
      return;
    }

  if (g_str_equal (type, "INITIAL"))
    handle_initial (self, msg);
  else if (g_str_equal (type, "UPDATE"))
    handle_update (self, msg);
  else if (g_str_equal (type, "PONG"))
    complete_ping (self, object_get_string (msg, "id"));
  else if (g_str_equal (type, "CHAT"))
    {
      const char *from = object_get_string (msg, "from");
      const char *text = object_get_string (msg, "text");
      gint64 ts = 0;

      object_get_int (msg, "ts", &ts);
      if (text != NULL)
        g_signal_emit (self, signals[SIGNAL_CHAT], 0, from ? from : "", text, ts);
    }
  else if (g_str_equal (type, "PRESENCE"))
    {
      gint64 n;

      if (object_get_int (msg, "clients", &n) && n >= 0 && n <= G_MAXUINT)
        g_signal_emit (self, signals[SIGNAL_PRESENCE], 0, (guint) n);
    }
  else if (g_str_equal (type, "ERROR"))
    {
      const char *code = object_get_string (msg, "code");
      const char *message = object_get_string (msg, "message");

      g_signal_emit (self, signals[SIGNAL_SERVER_ERROR], 0, code ? code : "", message ? message : "");
    }
}

/* ------------------------------------------------------------------ */
/* Connection life cycle */

static void
clear_timers (WwClient *self)
{
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  g_clear_handle_id (&self->countdown_source, g_source_remove);
  g_clear_handle_id (&self->connect_timeout_source, g_source_remove);
  g_clear_handle_id (&self->ping_source, g_source_remove);
  g_clear_handle_id (&self->liveness_source, g_source_remove);
}

static void
drop_connection (WwClient *self)
{
  g_clear_handle_id (&self->ping_source, g_source_remove);
  g_clear_handle_id (&self->liveness_source, g_source_remove);
  g_hash_table_remove_all (self->pending_pings);
  if (self->conn)
    {
      g_signal_handlers_disconnect_by_data (self->conn, self);
      g_clear_object (&self->conn);
    }
}

static gboolean
on_countdown (gpointer data)
{
  WwClient *self = data;
  gint64 left = self->reconnect_at_us - g_get_monotonic_time ();

  set_reconnect_in (self, left > 0 ? (guint) ((left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC) : 0);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_reconnect_due (gpointer data)
{
  WwClient *self = data;

  self->reconnect_source = 0;
  g_clear_handle_id (&self->countdown_source, g_source_remove);
  set_reconnect_in (self, 0);
  start_attempt (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (WwClient *self)
{
  guint delay = ww_backoff_delay (self->failures, self->base_ms, self->max_ms,
                                  BACKOFF_JITTER, g_random_double ());

  if (self->failures < 64)
    self->failures++;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  g_clear_handle_id (&self->countdown_source, g_source_remove);
  self->reconnect_at_us = g_get_monotonic_time () + (gint64) delay * 1000;
  self->reconnect_source = g_timeout_add (delay, on_reconnect_due, self);
  self->countdown_source = g_timeout_add (1000, on_countdown, self);
  g_debug ("Reconnecting to %s in %u ms", self->url, delay);
  set_reconnect_in (self, (delay + 999) / 1000);
  set_state (self, WW_CLIENT_STATE_RECONNECTING);
}

static void
on_closed (SoupWebsocketConnection *conn,
           gpointer                 data)
{
  WwClient *self = data;
  guint code = soup_websocket_connection_get_close_code (conn);
  const char *reason = soup_websocket_connection_get_close_data (conn);
  gint64 open_ms = (g_get_monotonic_time () - self->opened_at_us) / 1000;
  g_autofree char *reason_copy = g_strdup (reason ? reason : "");

  if (self->liveness_failed)
    {
      code = 1006;
      g_clear_pointer (&reason_copy, g_free);
      reason_copy = g_strdup ("no answer from the server");
    }
  else if (code == 0)
    code = 1006; /* RFC 6455 §7.1.5: closed without a close frame */

  if (!self->closing_by_us && code != 1006)
    {
      guint8 payload[2] = { code >> 8, code & 0xff };

      self->counters.frames_in++;
      emit_frame (self, FALSE, 0x8, payload, sizeof payload);
    }

  drop_connection (self);
  set_close (self, code, reason_copy);

  if (self->closing_by_us || !self->want_open)
    {
      set_state (self, WW_CLIENT_STATE_CLOSED);
      return;
    }

  {
    guint64 *count = g_hash_table_lookup (self->drop_codes, GUINT_TO_POINTER (code));

    if (count == NULL)
      {
        count = g_new0 (guint64, 1);
        g_hash_table_insert (self->drop_codes, GUINT_TO_POINTER (code), count);
      }
    (*count)++;
  }
  self->counters.drops++;
  self->failures = ww_backoff_after_open (self->failures, open_ms, self->stable_ms);
  {
    /* The close code alone hides why we failed the connection ourselves
     * (a message over the limit, bad compressed data): say it too. */
    g_autofree char *msg = g_strdup_printf ("Connection lost (%u%s%s)%s%s", code,
                                            *reason_copy ? ": " : "", reason_copy,
                                            self->conn_error ? " — " : "",
                                            self->conn_error ? self->conn_error : "");
    set_error_message (self, msg);
  }
  schedule_reconnect (self);
}

static void
on_message (SoupWebsocketConnection *conn,
            SoupWebsocketDataType    type,
            GBytes                  *message,
            gpointer                 data)
{
  WwClient *self = data;
  gsize len;
  const char *bytes = g_bytes_get_data (message, &len);

  self->last_rx_us = g_get_monotonic_time ();
  self->counters.messages_in++;
  self->counters.frames_in++;
  self->counters.bytes_in += len;
  emit_frame (self, FALSE, type == SOUP_WEBSOCKET_DATA_TEXT ? 0x1 : 0x2, bytes, len);

  /* Keep the connection alive across handlers that may disconnect us. */
  g_object_ref (self);
  if (type == SOUP_WEBSOCKET_DATA_TEXT && bytes != NULL)
    handle_text (self, bytes, len);
  g_object_unref (self);
}

static void
on_pong (SoupWebsocketConnection *conn,
         gpointer                 message,
         gpointer                 data)
{
  WwClient *self = data;

  /* libsoup 3.2 declares "pong" with a GBytes but emits a GByteArray, so
   * the payload cannot be read safely across versions.  Our pings carry
   * no payload we need; count the frame and leave its bytes out. */
  self->last_rx_us = g_get_monotonic_time ();
  self->counters.pongs_in++;
  self->counters.frames_in++;
  emit_frame (self, FALSE, 0xA, NULL, 0);
}

static void
on_conn_error (SoupWebsocketConnection *conn,
               GError                  *error,
               gpointer                 data)
{
  WwClient *self = data;

  g_free (self->conn_error);
  self->conn_error = g_strdup (error->message);
  set_error_message (self, error->message);
}

static gboolean
on_ping_timer (gpointer data)
{
  WwClient *self = data;
  g_autofree char *id = ww_client_send_ping (self);

  return G_SOURCE_CONTINUE;
}

/*
 * libsoup 3.2 sends keepalive pings but has no pong timeout
 * (keepalive-pong-timeout came later), so notice a dead peer ourselves:
 * RFC 6455 §5.5.2 obliges the peer to answer pings, so a peer silent for
 * more than two keepalive intervals is gone.
 */
static gboolean
on_liveness_check (gpointer data)
{
  WwClient *self = data;
  gint64 silent_us = g_get_monotonic_time () - self->last_rx_us;

  if (self->conn == NULL)
    return G_SOURCE_CONTINUE;
  if (silent_us > (gint64) (2 * self->keepalive_s + 1) * G_USEC_PER_SEC)
    {
      GIOStream *stream = soup_websocket_connection_get_io_stream (self->conn);

      g_debug ("No traffic from %s for %" G_GINT64_FORMAT " s; dropping", self->url,
               silent_us / G_USEC_PER_SEC);
      self->liveness_failed = TRUE;
      self->liveness_source = 0;
      /* No close handshake is possible with a peer that is gone: close the
       * stream, and libsoup reports "closed". */
      g_io_stream_close (stream, NULL, NULL);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
start_ping_timer (WwClient *self)
{
  g_clear_handle_id (&self->ping_source, g_source_remove);
  if (self->ping_interval_s > 0 && self->conn != NULL)
    self->ping_source = g_timeout_add_seconds (self->ping_interval_s, on_ping_timer, self);
}

static void
set_keepalive (WwClient *self)
{
  GObjectClass *klass;

  if (self->conn == NULL)
    return;
  soup_websocket_connection_set_keepalive_interval (self->conn, self->keepalive_s);
  /* Newer libsoup has its own pong timeout; use it where it exists. */
  klass = G_OBJECT_GET_CLASS (self->conn);
  if (g_object_class_find_property (klass, "keepalive-pong-timeout") != NULL)
    g_object_set (self->conn, "keepalive-pong-timeout", self->keepalive_s * 2, NULL);

  g_clear_handle_id (&self->liveness_source, g_source_remove);
  if (self->keepalive_s > 0)
    self->liveness_source = g_timeout_add_seconds (self->keepalive_s, on_liveness_check, self);
}

static gboolean
conn_has_deflate (SoupWebsocketConnection *conn)
{
  for (GList *l = soup_websocket_connection_get_extensions (conn); l != NULL; l = l->next)
    if (WW_IS_CLIENT_DEFLATE (l->data) || SOUP_IS_WEBSOCKET_EXTENSION_DEFLATE (l->data))
      return TRUE;
  return FALSE;
}

static void
set_deflate_active (WwClient *self,
                    gboolean  active)
{
  active = !!active;
  if (self->deflate_active == active)
    return;
  self->deflate_active = active;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEFLATE_ACTIVE]);
}

static void
on_opened (WwClient                *self,
           SoupWebsocketConnection *conn)
{
  self->conn = conn;
  self->counters.connects++;
  self->opened_at_us = self->last_rx_us = g_get_monotonic_time ();
  self->liveness_failed = FALSE;
  self->closing_by_us = FALSE;
  g_clear_pointer (&self->conn_error, g_free);

  soup_websocket_connection_set_max_incoming_payload_size (conn, MAX_INCOMING_PAYLOAD);
  set_deflate_active (self, conn_has_deflate (conn));
  g_signal_connect (conn, "message", G_CALLBACK (on_message), self);
  g_signal_connect (conn, "pong", G_CALLBACK (on_pong), self);
  g_signal_connect (conn, "error", G_CALLBACK (on_conn_error), self);
  g_signal_connect (conn, "closed", G_CALLBACK (on_closed), self);
  set_keepalive (self);

  set_speaks_feed (self, FALSE);
  set_close (self, 0, "");
  set_error_message (self, NULL);
  set_state (self, WW_CLIENT_STATE_OPEN);

  if (self->conn == conn && self->ping_interval_s > 0)
    {
      g_autofree char *id = ww_client_send_ping (self);

      start_ping_timer (self);
    }
}

static const char *
describe_tls_flags (GTlsCertificateFlags flags)
{
  if (flags & G_TLS_CERTIFICATE_UNKNOWN_CA)
    return "it is self-signed or signed by an unknown authority";
  if (flags & G_TLS_CERTIFICATE_BAD_IDENTITY)
    return "it was issued for another host";
  if (flags & G_TLS_CERTIFICATE_EXPIRED)
    return "it has expired";
  if (flags & G_TLS_CERTIFICATE_NOT_ACTIVATED)
    return "it is not valid yet";
  if (flags & G_TLS_CERTIFICATE_REVOKED)
    return "it was revoked";
  if (flags & G_TLS_CERTIFICATE_INSECURE)
    return "its algorithm is insecure";
  return "it failed verification";
}

static void
fail_hard (WwClient   *self,
           const char *message)
{
  /* Retrying can not fix this (untrusted certificate, refused token, not a
   * WebSocket endpoint): stop and say why, so the user can act. */
  self->want_open = FALSE;
  self->hard_failure = TRUE;
  set_error_message (self, message);
  set_close (self, 0, "");
  set_state (self, WW_CLIENT_STATE_CLOSED);
}

static void
on_connect_done (GObject      *source,
                 GAsyncResult *result,
                 gpointer      data)
{
  Attempt *attempt = data;
  g_autoptr(WwClient) self = g_weak_ref_get (&attempt->client);
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *conn;
  guint status;

  conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);

  if (self == NULL || attempt->generation != self->generation)
    {
      /* Disconnected or destroyed meanwhile. */
      if (conn)
        {
          soup_websocket_connection_close (conn, 1001, NULL);
          g_object_unref (conn);
        }
      attempt_free (attempt);
      return;
    }

  g_clear_handle_id (&self->connect_timeout_source, g_source_remove);
  g_clear_object (&self->cancellable);
  status = soup_message_get_status (attempt->msg);
  g_free (self->extensions);
  self->extensions = g_strdup (soup_message_headers_get_one (
                                 soup_message_get_response_headers (attempt->msg),
                                 "Sec-WebSocket-Extensions"));

  if (conn != NULL)
    {
      attempt_free (attempt);
      on_opened (self, conn);
      return;
    }

  if (self->rejected_cert != NULL && error != NULL && error->domain == G_TLS_ERROR)
    {
      g_autofree char *msg = g_strdup_printf ("The certificate of %s is not trusted: %s. "
                                              "Connect only if you accept it explicitly.",
                                              self->url, describe_tls_flags (self->rejected_errors));
      attempt_free (attempt);
      fail_hard (self, msg);
      return;
    }

  if (status == 401 || status == 403)
    {
      g_autofree char *msg = g_strdup_printf ("The server refused the connection: %u %s%s", status,
                                              soup_status_get_phrase (status),
                                              self->token ? " (check the token)" : " (it may need a token)");
      attempt_free (attempt);
      fail_hard (self, msg);
      return;
    }
  if (status >= 400 && status < 500 && status != 408 && status != 429)
    {
      g_autofree char *msg = g_strdup_printf ("%s is not a WebSocket endpoint: HTTP %u %s", self->url,
                                              status, soup_status_get_phrase (status));
      attempt_free (attempt);
      fail_hard (self, msg);
      return;
    }

  attempt_free (attempt);
  if (self->timed_out)
    set_error_message (self, "The connection attempt timed out");
  else
    set_error_message (self, error ? error->message : "Connection failed");
  g_debug ("Connect to %s failed: %s", self->url, self->error_message);
  schedule_reconnect (self);
}

static gboolean
on_accept_certificate (SoupMessage          *msg,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       gpointer              data)
{
  Attempt *attempt = data;
  g_autoptr(WwClient) self = g_weak_ref_get (&attempt->client);

  if (self == NULL)
    return FALSE;
  /* Never silently accept: only the very certificate the user chose. */
  if (self->accepted_cert != NULL && g_tls_certificate_is_same (self->accepted_cert, certificate))
    return TRUE;
  g_set_object (&self->rejected_cert, certificate);
  self->rejected_errors = errors;
  return FALSE;
}

static gboolean
on_connect_timeout (gpointer data)
{
  WwClient *self = data;

  self->connect_timeout_source = 0;
  self->timed_out = TRUE;
  g_cancellable_cancel (self->cancellable);
  return G_SOURCE_REMOVE;
}

static void
start_attempt (WwClient *self)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *auth = NULL;
  char *protocols[2] = { self->protocol, NULL };
  Attempt *attempt;
  GHashTableIter iter;
  gpointer k, v;

  msg = soup_message_new (SOUP_METHOD_GET, self->url);
  if (msg == NULL)
    {
      fail_hard (self, "Not a valid URL");
      return;
    }

  if (self->token && *self->token)
    {
      auth = g_strdup_printf ("Bearer %s", self->token);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
    }
  g_hash_table_iter_init (&iter, self->headers);
  while (g_hash_table_iter_next (&iter, &k, &v))
    soup_message_headers_replace (soup_message_get_request_headers (msg), k, v);

  self->counters.connect_attempts++;
  self->timed_out = FALSE;
  self->liveness_failed = FALSE;
  g_clear_object (&self->rejected_cert);
  self->rejected_errors = 0;

  attempt = g_new0 (Attempt, 1);
  g_weak_ref_init (&attempt->client, self);
  attempt->generation = self->generation;
  attempt->msg = g_object_ref (msg);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (on_accept_certificate), attempt);

  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_clear_handle_id (&self->connect_timeout_source, g_source_remove);
  self->connect_timeout_source = g_timeout_add (env_ms ("WW_CLIENT_CONNECT_TIMEOUT_MS",
                                                        CONNECT_TIMEOUT_MS),
                                                on_connect_timeout, self);
  set_state (self, WW_CLIENT_STATE_CONNECTING);

  /* libsoup 3.2 offers permessage-deflate only when the session has the
   * extension manager (whose default extension is deflate), so add or
   * remove it per attempt to follow ww_client_set_deflate(). */
  if (self->deflate && !soup_session_has_feature (self->session,
                                                  SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER))
    {
      soup_session_add_feature_by_type (self->session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
      /* libsoup 3.2's own deflate inflates without a bound (a zip bomb from
       * the server would take all memory): ours checks the message limit. */
      soup_session_remove_feature_by_type (self->session, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
      soup_session_add_feature_by_type (self->session, WW_TYPE_CLIENT_DEFLATE);
    }
  else if (!self->deflate)
    soup_session_remove_feature_by_type (self->session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);

  soup_session_websocket_connect_async (self->session, msg, NULL,
                                        self->protocol ? protocols : NULL,
                                        G_PRIORITY_DEFAULT, self->cancellable,
                                        on_connect_done, attempt);
}

/* ------------------------------------------------------------------ */
/* GObject */

static void
ww_client_dispose (GObject *object)
{
  WwClient *self = WW_CLIENT (object);

  self->generation++;
  self->want_open = FALSE;
  clear_timers (self);
  g_clear_handle_id (&self->resume_source, g_source_remove);
  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->conn)
    {
      g_signal_handlers_disconnect_by_data (self->conn, self);
      if (soup_websocket_connection_get_state (self->conn) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (self->conn, 1001, "client going away");
      g_clear_object (&self->conn);
    }
  if (self->session)
    soup_session_abort (self->session);
  g_clear_object (&self->session);
  g_clear_object (&self->accepted_cert);
  g_clear_object (&self->rejected_cert);

  G_OBJECT_CLASS (ww_client_parent_class)->dispose (object);
}

static void
ww_client_finalize (GObject *object)
{
  WwClient *self = WW_CLIENT (object);

  g_free (self->url);
  g_free (self->token);
  g_free (self->protocol);
  g_free (self->accepted_for);
  g_free (self->close_reason);
  g_free (self->error_message);
  g_free (self->extensions);
  g_free (self->conn_error);
  g_hash_table_unref (self->headers);
  g_hash_table_unref (self->pending_pings);
  g_hash_table_unref (self->drop_codes);
  ww_histogram_free (self->rtt_hist);
  g_free (self->rtt_ring);
  g_clear_pointer (&self->events, g_ptr_array_unref);
  g_clear_pointer (&self->pending_initial, json_array_unref);
  g_tree_unref (self->held);

  G_OBJECT_CLASS (ww_client_parent_class)->finalize (object);
}

static void
ww_client_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  WwClient *self = WW_CLIENT (object);

  switch (prop_id)
    {
    case PROP_URL:           g_value_set_string (value, self->url); break;
    case PROP_STATE:         g_value_set_enum (value, self->state); break;
    case PROP_RECONNECT_IN:  g_value_set_uint (value, self->reconnect_in); break;
    case PROP_CLOSE_CODE:    g_value_set_uint (value, self->close_code); break;
    case PROP_CLOSE_REASON:  g_value_set_string (value, self->close_reason); break;
    case PROP_LAST_RTT_US:   g_value_set_int64 (value, self->last_rtt_us); break;
    case PROP_LAST_SEQ:      g_value_set_uint64 (value, self->last_seq); break;
    case PROP_SPEAKS_FEED:   g_value_set_boolean (value, self->speaks_feed); break;
    case PROP_TOKEN:         g_value_set_string (value, self->token); break;
    case PROP_PROTOCOL:      g_value_set_string (value, self->protocol); break;
    case PROP_ERROR_MESSAGE: g_value_set_string (value, self->error_message); break;
    case PROP_DEFLATE:       g_value_set_boolean (value, self->deflate); break;
    case PROP_DEFLATE_ACTIVE: g_value_set_boolean (value, self->deflate_active); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_client_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  WwClient *self = WW_CLIENT (object);

  switch (prop_id)
    {
    case PROP_TOKEN:
      ww_client_set_token (self, g_value_get_string (value));
      break;
    case PROP_PROTOCOL:
      ww_client_set_protocol (self, g_value_get_string (value));
      break;
    case PROP_DEFLATE:
      ww_client_set_deflate (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_client_class_init (WwClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->dispose = ww_client_dispose;
  object_class->finalize = ww_client_finalize;
  object_class->get_property = ww_client_get_property;
  object_class->set_property = ww_client_set_property;

  properties[PROP_URL] = g_param_spec_string ("url", NULL, NULL, NULL, ro);
  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, WW_TYPE_CLIENT_STATE,
                                              WW_CLIENT_STATE_IDLE, ro);
  properties[PROP_RECONNECT_IN] = g_param_spec_uint ("reconnect-in", NULL, NULL,
                                                     0, G_MAXUINT, 0, ro);
  properties[PROP_CLOSE_CODE] = g_param_spec_uint ("close-code", NULL, NULL, 0, 65535, 0, ro);
  properties[PROP_CLOSE_REASON] = g_param_spec_string ("close-reason", NULL, NULL, NULL, ro);
  properties[PROP_LAST_RTT_US] = g_param_spec_int64 ("last-rtt-us", NULL, NULL,
                                                     -1, G_MAXINT64, -1, ro);
  properties[PROP_LAST_SEQ] = g_param_spec_uint64 ("last-seq", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  properties[PROP_SPEAKS_FEED] = g_param_spec_boolean ("speaks-feed", NULL, NULL, FALSE, ro);
  properties[PROP_TOKEN] = g_param_spec_string ("token", NULL, NULL, NULL, rw);
  properties[PROP_PROTOCOL] = g_param_spec_string ("protocol", NULL, NULL, NULL, rw);
  properties[PROP_ERROR_MESSAGE] = g_param_spec_string ("error-message", NULL, NULL, NULL, ro);
  properties[PROP_DEFLATE] = g_param_spec_boolean ("deflate", NULL, NULL, TRUE, rw);
  properties[PROP_DEFLATE_ACTIVE] = g_param_spec_boolean ("deflate-active", NULL, NULL, FALSE, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * WwClient::welcome:
   * @msg: the WELCOME object (clientId, server, heartbeatMs, seq)
   *
   * The server speaks the Wirewatch feed protocol.
   */
  signals[SIGNAL_WELCOME] =
    g_signal_new ("welcome", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, JSON_TYPE_OBJECT | G_SIGNAL_TYPE_STATIC_SCOPE);
  /**
   * WwClient::initial:
   * @seq: the feed sequence number of the snapshot
   * @events: all events; the objects are shared, do not modify them
   *
   * A full snapshot replaced the client's events.
   */
  signals[SIGNAL_INITIAL] =
    g_signal_new ("initial", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_UINT64, JSON_TYPE_ARRAY | G_SIGNAL_TYPE_STATIC_SCOPE);
  /**
   * WwClient::update:
   * @seq: exactly one more than the previous seq reported
   * @event: the whole changed event
   * @ts: server time in ms since the epoch
   *
   * One event changed.  Duplicates are dropped and gaps are filled (by
   * RESUME) before this is emitted, so @seq always follows on.
   */
  signals[SIGNAL_UPDATE] =
    g_signal_new ("update", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_UINT64, JSON_TYPE_OBJECT | G_SIGNAL_TYPE_STATIC_SCOPE,
                  G_TYPE_INT64);
  /**
   * WwClient::chat:
   * @from: the sender's client id
   * @text: the message
   * @ts: server time in ms since the epoch
   */
  signals[SIGNAL_CHAT] =
    g_signal_new ("chat", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_INT64);
  /**
   * WwClient::presence:
   * @clients: how many feed clients the server has
   */
  signals[SIGNAL_PRESENCE] =
    g_signal_new ("presence", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT);
  /**
   * WwClient::server-error:
   * @code: short machine word
   * @message: human text
   *
   * The server answered with an ERROR message; the connection stays open.
   */
  signals[SIGNAL_SERVER_ERROR] =
    g_signal_new ("server-error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * WwClient::frame:
   * @outgoing: TRUE for what we sent
   * @opcode: RFC 6455 opcode (1 text, 2 binary, 8 close, 10 pong)
   * @payload: the payload
   *
   * For the log view.  libsoup delivers whole messages, so a fragmented
   * message shows as one frame.
   */
  signals[SIGNAL_FRAME] =
    g_signal_new ("frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_BOOLEAN, G_TYPE_UINT,
                  G_TYPE_BYTES | G_SIGNAL_TYPE_STATIC_SCOPE);
  /**
   * WwClient::rtt:
   * @rtt_us: round trip of one PING, in microseconds
   */
  signals[SIGNAL_RTT] =
    g_signal_new ("rtt", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_INT64);
}

static void
ww_client_init (WwClient *self)
{
  /* max-conns can only be set at construction; a client has one socket,
   * but reconnect attempts must never queue behind a stale one. */
  self->session = soup_session_new_with_options ("max-conns", 16, "max-conns-per-host", 8, NULL);
  self->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->pending_pings = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->drop_codes = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  self->held = g_tree_new_full (compare_seq, NULL, NULL, held_update_free);
  self->rtt_hist = ww_histogram_new ();
  self->rtt_ring = g_new0 (RttSample, RTT_RING_SIZE);
  self->last_rtt_us = -1;
  self->base_ms = env_ms ("WW_CLIENT_BACKOFF_BASE_MS", DEFAULT_BASE_MS);
  self->max_ms = env_ms ("WW_CLIENT_BACKOFF_MAX_MS", DEFAULT_MAX_MS);
  self->stable_ms = env_ms ("WW_CLIENT_STABLE_MS", DEFAULT_STABLE_MS);
  self->ping_interval_s = DEFAULT_PING_INTERVAL_S;
  self->keepalive_s = DEFAULT_KEEPALIVE_S;
  /* On unless WW_CLIENT_DEFLATE=0 (lets `--connect` runs turn it off). */
  self->deflate = g_strcmp0 (g_getenv ("WW_CLIENT_DEFLATE"), "0") != 0;
  self->close_reason = g_strdup ("");
}

/* ------------------------------------------------------------------ */
/* Public API */

/**
 * ww_client_new:
 *
 * Returns: a client in the idle state, running on the caller's
 *   thread-default main context.
 */
WwClient *
ww_client_new (void)
{
  return g_object_new (WW_TYPE_CLIENT, NULL);
}

gboolean
ww_client_check_url (const char  *url,
                     GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;

  if (url == NULL || *url == '\0')
    {
      g_set_error_literal (error, G_URI_ERROR, G_URI_ERROR_FAILED, "No URL given");
      return FALSE;
    }
  uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, error);
  if (uri == NULL)
    return FALSE;
  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "ws") != 0 && g_ascii_strcasecmp (scheme, "wss") != 0)
    {
      g_set_error (error, G_URI_ERROR, G_URI_ERROR_BAD_SCHEME,
                   "“%s” is not a WebSocket URL: it must start with ws:// or wss://", url);
      return FALSE;
    }
  if (g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    {
      g_set_error (error, G_URI_ERROR, G_URI_ERROR_BAD_HOST, "“%s” has no host", url);
      return FALSE;
    }
  return TRUE;
}

static char *
host_port_of (const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  int port;

  if (uri == NULL)
    return NULL;
  port = g_uri_get_port (uri);
  if (port < 0)
    port = g_ascii_strcasecmp (g_uri_get_scheme (uri), "wss") == 0 ? 443 : 80;
  return g_strdup_printf ("%s:%d", g_uri_get_host (uri), port);
}

/**
 * ww_client_connect:
 * @self: a client
 * @url: a ws:// or wss:// URL
 *
 * Connects, and keeps reconnecting after drops until
 * ww_client_disconnect().  A bad URL leaves the client closed with
 * "error-message" set.
 */
void
ww_client_connect (WwClient   *self,
                   const char *url)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *host_port = NULL;

  g_return_if_fail (WW_IS_CLIENT (self));

  ww_client_disconnect (self);
  /* A close handshake still in flight belongs to the old session. */
  drop_connection (self);
  self->closing_by_us = FALSE;
  self->generation++;
  set_string (self, &self->url, url, PROP_URL);
  if (!ww_client_check_url (url, &error))
    {
      fail_hard (self, error->message);
      return;
    }

  /* The certificate decision is per server: forget it for another one. */
  host_port = host_port_of (url);
  if (self->accepted_cert != NULL)
    {
      if (self->accepted_for == NULL)
        self->accepted_for = g_strdup (host_port);
      else if (g_strcmp0 (self->accepted_for, host_port) != 0)
        {
          g_clear_object (&self->accepted_cert);
          g_clear_pointer (&self->accepted_for, g_free);
        }
    }

  /* A new session: fresh statistics and a fresh view. */
  ww_histogram_reset (self->rtt_hist);
  self->ring_len = self->ring_head = 0;
  self->last_rtt_us = -1;
  g_clear_pointer (&self->events, g_ptr_array_unref);
  g_clear_pointer (&self->pending_initial, json_array_unref);
  g_tree_remove_all (self->held);
  self->have_seq = FALSE;
  self->last_seq = 0;
  stop_resume (self);

  self->want_open = TRUE;
  self->hard_failure = FALSE;
  self->failures = 0;
  set_error_message (self, NULL);
  start_attempt (self);
}

/**
 * ww_client_disconnect:
 * @self: a client
 *
 * Closes with 1000 and stops reconnecting; the state becomes closed once
 * the close handshake is done (at once when not connected).
 */
void
ww_client_disconnect (WwClient *self)
{
  g_return_if_fail (WW_IS_CLIENT (self));

  self->want_open = FALSE;
  self->generation++;
  clear_timers (self);
  g_clear_handle_id (&self->resume_source, g_source_remove);
  self->resume_pending = FALSE;
  set_reconnect_in (self, 0);
  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);

  if (self->conn && soup_websocket_connection_get_state (self->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      static const guint8 payload[2] = { 1000 >> 8, 1000 & 0xff };

      self->closing_by_us = TRUE;
      self->counters.frames_out++;
      emit_frame (self, TRUE, 0x8, payload, sizeof payload);
      soup_websocket_connection_close (self->conn, 1000, NULL);
      return;
    }
  drop_connection (self);
  if (self->state != WW_CLIENT_STATE_IDLE)
    set_state (self, WW_CLIENT_STATE_CLOSED);
}

WwClientState
ww_client_get_state (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), WW_CLIENT_STATE_IDLE);
  return self->state;
}

const char *
ww_client_get_url (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);
  return self->url;
}

guint
ww_client_get_reconnect_in (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), 0);
  return self->reconnect_in;
}

gint64
ww_client_get_last_rtt_us (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), -1);
  return self->last_rtt_us;
}

guint64
ww_client_get_last_seq (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), 0);
  return self->last_seq;
}

gboolean
ww_client_get_speaks_feed (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), FALSE);
  return self->speaks_feed;
}

guint
ww_client_get_close_code (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), 0);
  return self->close_code;
}

const char *
ww_client_get_close_reason (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);
  return self->close_reason;
}

const char *
ww_client_get_error_message (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);
  return self->error_message;
}

/**
 * ww_client_set_token:
 * @self: a client
 * @token: (nullable): sent as "Authorization: Bearer" on the next connect
 */
void
ww_client_set_token (WwClient   *self,
                     const char *token)
{
  g_return_if_fail (WW_IS_CLIENT (self));
  set_string (self, &self->token, token, PROP_TOKEN);
}

void
ww_client_set_protocol (WwClient   *self,
                        const char *protocol)
{
  g_return_if_fail (WW_IS_CLIENT (self));
  set_string (self, &self->protocol, protocol && *protocol ? protocol : NULL, PROP_PROTOCOL);
}

void
ww_client_set_header (WwClient   *self,
                      const char *name,
                      const char *value)
{
  g_return_if_fail (WW_IS_CLIENT (self));
  g_return_if_fail (name != NULL && *name != '\0');

  if (value == NULL)
    g_hash_table_remove (self->headers, name);
  else
    g_hash_table_replace (self->headers, g_strdup (name), g_strdup (value));
}

void
ww_client_set_backoff (WwClient *self,
                       guint     base_ms,
                       guint     max_ms,
                       guint     stable_ms)
{
  g_return_if_fail (WW_IS_CLIENT (self));
  self->base_ms = MAX (base_ms, 1);
  self->max_ms = MAX (max_ms, self->base_ms);
  self->stable_ms = stable_ms;
}

void
ww_client_set_keepalive_interval (WwClient *self,
                                  guint     seconds)
{
  g_return_if_fail (WW_IS_CLIENT (self));
  self->keepalive_s = seconds;
  set_keepalive (self);
}

/**
 * ww_client_set_accepted_certificate:
 * @self: a client
 * @certificate: (nullable): the one certificate to trust despite failed
 *   verification, for the server of the current (or next) URL
 */
void
ww_client_set_accepted_certificate (WwClient        *self,
                                    GTlsCertificate *certificate)
{
  g_return_if_fail (WW_IS_CLIENT (self));
  g_return_if_fail (certificate == NULL || G_IS_TLS_CERTIFICATE (certificate));

  g_set_object (&self->accepted_cert, certificate);
  g_clear_pointer (&self->accepted_for, g_free);
  if (certificate && self->url)
    self->accepted_for = host_port_of (self->url);
}

GTlsCertificate *
ww_client_dup_rejected_certificate (WwClient             *self,
                                    GTlsCertificateFlags *errors)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);
  if (errors)
    *errors = self->rejected_cert ? self->rejected_errors : 0;
  return self->rejected_cert ? g_object_ref (self->rejected_cert) : NULL;
}

/**
 * ww_client_send_ping:
 * @self: a client
 *
 * Sends {"type":"PING","id":…,"ts":…}.  The round trip is measured on the
 * PONG of a feed server, or on the echo of an echo server.
 *
 * Returns: (transfer full) (nullable): the id, or NULL when not open
 */
char *
ww_client_send_ping (WwClient *self)
{
  g_autoptr(JsonBuilder) b = NULL;
  g_autofree char *id = NULL;
  gint64 *sent;

  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);
  if (self->state != WW_CLIENT_STATE_OPEN || self->conn == NULL)
    return NULL;

  prune_pending_pings (self);
  id = g_strdup_printf ("ww-%" G_GUINT64_FORMAT, ++self->ping_counter);
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "PING");
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, id);
  json_builder_set_member_name (b, "ts");
  json_builder_add_int_value (b, g_get_real_time () / 1000);
  json_builder_end_object (b);

  sent = g_new (gint64, 1);
  *sent = g_get_monotonic_time ();
  g_hash_table_replace (self->pending_pings, g_strdup (id), sent);
  if (!send_object (self, b))
    {
      g_hash_table_remove (self->pending_pings, id);
      return NULL;
    }
  return g_steal_pointer (&id);
}

/**
 * ww_client_send_chat:
 * @self: a client
 * @text: UTF-8, at most 4 KiB (DESIGN.md)
 *
 * Returns: whether it was sent
 */
gboolean
ww_client_send_chat (WwClient   *self,
                     const char *text)
{
  g_autoptr(JsonBuilder) b = NULL;

  g_return_val_if_fail (WW_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (text != NULL, FALSE);

  if (self->state != WW_CLIENT_STATE_OPEN)
    return FALSE;
  if (strlen (text) > MAX_CHAT_BYTES || !g_utf8_validate (text, -1, NULL))
    return FALSE;

  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "CHAT");
  json_builder_set_member_name (b, "text");
  json_builder_add_string_value (b, text);
  json_builder_end_object (b);
  return send_object (self, b);
}

/**
 * ww_client_set_ping_interval:
 * @self: a client
 * @seconds: between automatic PINGs; 0 turns them off (default 5)
 */
void
ww_client_set_ping_interval (WwClient *self,
                             guint     seconds)
{
  g_return_if_fail (WW_IS_CLIENT (self));
  self->ping_interval_s = seconds;
  if (self->state == WW_CLIENT_STATE_OPEN)
    start_ping_timer (self);
}

void
ww_client_get_counters (WwClient         *self,
                        WwClientCounters *out)
{
  g_return_if_fail (WW_IS_CLIENT (self));
  g_return_if_fail (out != NULL);
  *out = self->counters;
}

/**
 * ww_client_get_rtt_histogram:
 * @self: a client
 *
 * Returns: (transfer none): every RTT since ww_client_connect(), across
 *   reconnects
 */
WwHistogram *
ww_client_get_rtt_histogram (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);
  return self->rtt_hist;
}

GArray *
ww_client_dup_recent_rtts (WwClient *self,
                           guint     max)
{
  GArray *out;
  guint n, start;

  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);

  n = MIN (max, self->ring_len);
  out = g_array_sized_new (FALSE, FALSE, sizeof (gint64), n);
  start = (self->ring_head + RTT_RING_SIZE - n) % RTT_RING_SIZE;
  for (guint i = 0; i < n; i++)
    g_array_append_val (out, self->rtt_ring[(start + i) % RTT_RING_SIZE].rtt_us);
  return out;
}

WwHistogram *
ww_client_dup_rtt_window (WwClient *self,
                          guint     seconds)
{
  WwHistogram *h;
  gint64 horizon;

  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);

  h = ww_histogram_new ();
  horizon = g_get_monotonic_time () - (gint64) seconds * G_USEC_PER_SEC;
  for (guint i = 0; i < self->ring_len; i++)
    {
      const RttSample *s = &self->rtt_ring[(self->ring_head + RTT_RING_SIZE - 1 - i) % RTT_RING_SIZE];

      if (s->at_us < horizon)
        break; /* newest first: the rest are older still */
      ww_histogram_record (h, (guint64) s->rtt_us);
    }
  return h;
}

JsonArray *
ww_client_dup_events (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);
  if (self->events == NULL)
    return NULL;
  return events_to_array (self);
}

GArray *
ww_client_dup_drop_codes (WwClient *self)
{
  GArray *out;
  GHashTableIter iter;
  gpointer k, v;

  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);

  out = g_array_new (FALSE, FALSE, sizeof (WwClientCloseCount));
  g_hash_table_iter_init (&iter, self->drop_codes);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      WwClientCloseCount c = { (guint16) GPOINTER_TO_UINT (k), *(guint64 *) v };

      g_array_append_val (out, c);
    }
  return out;
}

/**
 * ww_client_set_deflate:
 * @deflate: whether to offer permessage-deflate (RFC 7692)
 *
 * Takes effect from the next connection attempt; on by default.
 */
void
ww_client_set_deflate (WwClient *self,
                       gboolean  deflate)
{
  g_return_if_fail (WW_IS_CLIENT (self));

  deflate = !!deflate;
  if (self->deflate == deflate)
    return;
  self->deflate = deflate;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEFLATE]);
}

gboolean
ww_client_get_deflate (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), FALSE);
  return self->deflate;
}

/**
 * ww_client_get_deflate_active:
 *
 * Returns: whether the open (or last) connection negotiated permessage-deflate.
 */
gboolean
ww_client_get_deflate_active (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), FALSE);
  return self->deflate_active;
}

/**
 * ww_client_get_extensions:
 *
 * Returns: (nullable): the Sec-WebSocket-Extensions header of the last
 *   handshake response, as the server sent it.
 */
const char *
ww_client_get_extensions (WwClient *self)
{
  g_return_val_if_fail (WW_IS_CLIENT (self), NULL);
  return self->extensions;
}
