/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-backplane"

#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
/* All static functions: included in this one file only. */
#include <hiredis/adapters/glib.h>

#include "ww-backplane.h"
#include "ww-backplane-private.h"

#define DEFAULT_NAMESPACE        "wirewatch"
#define DEFAULT_LEASE_MS         3000
#define DEFAULT_PRESENCE_MS      1000
#define BACKOFF_MIN_MS           250
#define BACKOFF_MAX_MS           5000
#define DEFAULT_REDIS_PORT       6379

/*
 * Lua scripts.  Each runs atomically in Redis, which is what makes the
 * lease and the seq safe: a leader whose lease expired (a stalled
 * process) cannot store or publish, and a seq can never be stored twice.
 */

/* KEYS: leader seq events; ARGV: id lease_ms → {1, seq, {field, value…}} or {0, pttl} */
static const char acquire_script[] =
  "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
  "  return {1, redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[3])}\n"
  "end\n"
  "return {0, redis.call('PTTL', KEYS[1])}\n";

/* KEYS: leader; ARGV: id lease_ms → 1 renewed, 0 someone else holds it */
static const char renew_script[] =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
  "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
  "end\n"
  "return 0\n";

/* KEYS: leader; ARGV: id channel notice.  The notice lets the others
 * take over at once instead of at their next try. */
static const char release_script[] =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
  "  redis.call('DEL', KEYS[1])\n"
  "  redis.call('PUBLISH', ARGV[2], ARGV[3])\n"
  "  return 1\n"
  "end\n"
  "return 0\n";

/* KEYS: events seq leader; ARGV: id event-id event-json seq channel message */
static const char publish_script[] =
  "if redis.call('GET', KEYS[3]) ~= ARGV[1] then\n"
  "  return redis.error_reply('NOTLEADER')\n"
  "end\n"
  "local cur = redis.call('GET', KEYS[2]) or '0'\n"
  "if tonumber(cur) == nil then\n"
  "  return redis.error_reply('BADSEQ the stored seq is not a number')\n"
  "end\n"
  "if tonumber(ARGV[4]) <= tonumber(cur) then\n"
  "  return redis.error_reply('STALESEQ ' .. cur)\n"
  "end\n"
  "redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])\n"
  "redis.call('SET', KEYS[2], ARGV[4])\n"
  "return redis.call('PUBLISH', ARGV[5], ARGV[6])\n";

/* KEYS: events seq; ARGV: floor → {seq, {field, value…}} */
static const char state_script[] =
  "local cur = redis.call('GET', KEYS[2]) or '0'\n"
  "if tonumber(cur) == nil then\n"
  "  return redis.error_reply('BADSEQ the stored seq is not a number')\n"
  "end\n"
  "if tonumber(ARGV[1]) > tonumber(cur) then\n"
  "  redis.call('SET', KEYS[2], ARGV[1])\n"
  "  cur = ARGV[1]\n"
  "end\n"
  "return {cur, redis.call('HGETALL', KEYS[1])}\n";

/* KEYS: presence; ARGV: alive-key-prefix id count ttl_ms → total of live instances */
static const char presence_script[] =
  "redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])\n"
  "redis.call('SET', ARGV[1] .. ARGV[2], '1', 'PX', ARGV[4])\n"
  "local all = redis.call('HGETALL', KEYS[1])\n"
  "local total = 0\n"
  "for i = 1, #all, 2 do\n"
  "  if redis.call('EXISTS', ARGV[1] .. all[i]) == 1 then\n"
  "    total = total + (tonumber(all[i + 1]) or 0)\n"
  "  else\n"
  "    redis.call('HDEL', KEYS[1], all[i])\n"
  "  end\n"
  "end\n"
  "return total\n";

typedef struct _WwRedisLink WwRedisLink;

/*
 * One hiredis connection with its GSource.  Heap-allocated on its own
 * because hiredis may finish freeing a context after the backplane has
 * let go of it (a free requested inside a reply callback is deferred).
 */
struct _WwRedisLink {
  WwBackplane       *self;     /* NULL once detached */
  redisAsyncContext *ac;       /* NULL once hiredis frees or freed it */
  GSource           *source;
  GMainContext      *context;
  gboolean           is_sub;
  gboolean           up;       /* PING answered / SUBSCRIBE confirmed */
  gboolean           freeing;  /* we are inside our own redisAsyncFree() */
};

struct _WwBackplane {
  GObject       parent_instance;

  char         *url;
  char         *host;
  int           port;
  int           db;
  char         *user;
  char         *password;

  char         *id;
  char         *ns;
  char         *channel;
  char         *key_events;
  char         *key_seq;
  char         *key_leader;
  char         *key_presence;
  char         *presence_prefix;
  guint         lease_ms;
  guint         presence_ms;

  GMainContext *context;
  gboolean      started;
  gboolean      in_dispose;
  WwRedisLink  *cmd;
  WwRedisLink  *sub;

  /* Read from other threads: accessed atomically. */
  gint          connected;
  gint          leader;
  guint         total_clients;
  guint         local_clients;
  guint64       shared_seq;
  guint64       local_seq;

  gboolean      ever_connected;
  gboolean      outage_logged;
  guint         backoff_ms;
  GSource      *reconnect_source;
  GSource      *lease_source;
  GSource      *presence_source;

  gint64        lease_deadline;    /* monotonic µs; the lease is surely ours until then */
  gint64        connect_started;   /* monotonic µs of the current attempt */
  gint64        lease_sent_at;
  gint64        presence_sent_at;
  gboolean      lease_in_flight;
  gboolean      presence_in_flight;
  gboolean      presence_dirty;

  WwBackplaneCounters counters;   /* atomically updated */
};

G_DEFINE_FINAL_TYPE (WwBackplane, ww_backplane, G_TYPE_OBJECT)

G_DEFINE_QUARK (ww-backplane-error-quark, ww_backplane_error)

G_DEFINE_BOXED_TYPE (WwBackplaneState, ww_backplane_state,
                     ww_backplane_state_copy, ww_backplane_state_free)

enum {
  PROP_0,
  PROP_URL,
  PROP_ID,
  PROP_NAMESPACE,
  PROP_LEASE_MS,
  PROP_CONNECTED,
  PROP_DEGRADED,
  PROP_LEADER,
  PROP_TOTAL_CLIENTS,
  PROP_SHARED_SEQ,
  N_PROPS
};

enum {
  MESSAGE,
  STATE_LOADED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];
static GQuark quark_update;
static GQuark quark_chat;

static void go_down             (WwBackplane *self,
                                 const char  *why);
static void try_connect         (WwBackplane *self);
static void lease_tick          (WwBackplane *self);
static void presence_refresh    (WwBackplane *self);
static void request_state       (WwBackplane *self,
                                 GTask       *task);

#define COUNT(self, field) \
  (__atomic_fetch_add (&(self)->counters.field, 1, __ATOMIC_RELAXED))

/* ------------------------------------------------------------------ */
/* State boxed type                                                    */

static WwBackplaneState *
state_new (void)
{
  WwBackplaneState *state = g_new0 (WwBackplaneState, 1);

  state->events = g_ptr_array_new_with_free_func (g_free);
  return state;
}

WwBackplaneState *
ww_backplane_state_copy (const WwBackplaneState *state)
{
  WwBackplaneState *copy;

  g_return_val_if_fail (state != NULL, NULL);

  copy = state_new ();
  copy->seq = state->seq;
  for (guint i = 0; i < state->events->len; i++)
    g_ptr_array_add (copy->events, g_strdup (g_ptr_array_index (state->events, i)));
  return copy;
}

void
ww_backplane_state_free (WwBackplaneState *state)
{
  if (state == NULL)
    return;
  g_ptr_array_unref (state->events);
  g_free (state);
}

typedef struct {
  const char *field;
  const char *value;
} FieldValue;

static int
compare_field (gconstpointer a,
               gconstpointer b)
{
  return strcmp (((const FieldValue *) a)->field, ((const FieldValue *) b)->field);
}

static gboolean
parse_u64 (const char *str,
           size_t      len,
           guint64    *out)
{
  guint64 v = 0;

  if (len == 0 || len > 20)
    return FALSE;
  for (size_t i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (str[i]))
        return FALSE;
      if (v > (G_MAXUINT64 - (guint64) (str[i] - '0')) / 10)
        return FALSE;
      v = v * 10 + (guint64) (str[i] - '0');
    }
  *out = v;
  return TRUE;
}

/* @seq: a string reply; @hash: HGETALL's flat array. */
static WwBackplaneState *
state_from_replies (const redisReply  *seq,
                    const redisReply  *hash,
                    GError           **error)
{
  g_autoptr(WwBackplaneState) state = state_new ();
  g_autoptr(GArray) pairs = NULL;

  if (seq == NULL || seq->type != REDIS_REPLY_STRING ||
      !parse_u64 (seq->str, seq->len, &state->seq))
    {
      g_set_error (error, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_REDIS,
                   "the stored seq is not a number");
      return NULL;
    }
  if (hash == NULL || hash->type != REDIS_REPLY_ARRAY || hash->elements % 2 != 0)
    {
      g_set_error (error, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_REDIS,
                   "the stored events are not a hash");
      return NULL;
    }

  pairs = g_array_sized_new (FALSE, FALSE, sizeof (FieldValue), hash->elements / 2);
  for (size_t i = 0; i + 1 < hash->elements; i += 2)
    {
      const redisReply *k = hash->element[i];
      const redisReply *v = hash->element[i + 1];
      FieldValue fv;

      if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
        continue;
      fv.field = k->str;
      fv.value = v->str;
      g_array_append_val (pairs, fv);
    }
  g_array_sort (pairs, compare_field);
  for (guint i = 0; i < pairs->len; i++)
    g_ptr_array_add (state->events, g_strdup (g_array_index (pairs, FieldValue, i).value));

  return g_steal_pointer (&state);
}

/* ------------------------------------------------------------------ */
/* Properties                                                          */

static void
set_connected (WwBackplane *self,
               gboolean     connected)
{
  connected = !!connected;
  if (g_atomic_int_get (&self->connected) == connected)
    return;
  g_atomic_int_set (&self->connected, connected);
  if (!self->in_dispose)
    {
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEGRADED]);
    }
}

static void
set_leader (WwBackplane *self,
            gboolean     leader)
{
  leader = !!leader;
  if (g_atomic_int_get (&self->leader) == leader)
    return;
  g_atomic_int_set (&self->leader, leader);
  if (leader)
    g_info ("Instance %s leads namespace %s", self->id, self->ns);
  else
    g_info ("Instance %s no longer leads namespace %s", self->id, self->ns);
  if (!self->in_dispose)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LEADER]);
}

static void
set_total_clients (WwBackplane *self,
                   guint        total)
{
  if ((guint) g_atomic_int_get (&self->total_clients) == total)
    return;
  g_atomic_int_set (&self->total_clients, total);
  if (!self->in_dispose)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOTAL_CLIENTS]);
}

static void
raise_shared_seq (WwBackplane *self,
                  guint64      seq)
{
  if (seq <= __atomic_load_n (&self->shared_seq, __ATOMIC_RELAXED))
    return;
  __atomic_store_n (&self->shared_seq, seq, __ATOMIC_RELAXED);
  if (!self->in_dispose)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHARED_SEQ]);
}

/* ------------------------------------------------------------------ */
/* Links                                                               */

/*
 * The adapter's dispatch handles a write event and then a read event
 * through the same context pointer; if the write fails, hiredis has freed
 * the context by the time the read is handled.  Forgetting the pending
 * events when hiredis tears the source down closes that gap.
 */
static void
link_source_cleanup (gpointer data)
{
  RedisSource *source = data;

  redis_source_cleanup (data);
  source->poll_fd.revents = 0;
}

static void
link_free (WwRedisLink *link)
{
  if (link->source != NULL)
    {
      g_source_destroy (link->source);
      g_clear_pointer (&link->source, g_source_unref);
    }
  g_clear_pointer (&link->context, g_main_context_unref);
  g_free (link);
}

static gboolean
link_free_idle (gpointer data)
{
  link_free (data);
  return G_SOURCE_REMOVE;
}

/* Detach @link from @self (a link that died under us). */
static void
link_detach (WwRedisLink *link)
{
  WwBackplane *self = link->self;

  link->self = NULL;
  if (self == NULL)
    return;
  if (self->cmd == link)
    self->cmd = NULL;
  if (self->sub == link)
    self->sub = NULL;
}

/* Drop a link the backplane still holds, whether or not we are inside one
 * of its reply callbacks (then hiredis defers the free to its return, and
 * on_disconnect finishes the job). */
static void
link_drop (WwRedisLink *link)
{
  redisAsyncContext *ac;

  if (link == NULL)
    return;
  link_detach (link);
  ac = link->ac;
  if (ac == NULL)
    {
      link_free (link);
      return;
    }
  if (ac->c.flags & REDIS_IN_CALLBACK)
    {
      redisAsyncFree (ac);
      return;
    }
  /* hiredis frees before the GSource goes (the other order is fatal). */
  link->freeing = TRUE;
  redisAsyncFree (ac);
  link->ac = NULL;
  link_free (link);
}

static void
on_connect (const redisAsyncContext *ac,
            int                      status)
{
  WwRedisLink *link = ac->data;
  WwBackplane *self = link->self;
  GSource *idle;

  if (status == REDIS_OK)
    return;

  /* hiredis frees the context (and tears the source down) right after
   * this returns, so the source can only go later. */
  link->ac = NULL;
  link_detach (link);
  idle = g_idle_source_new ();
  g_source_set_callback (idle, link_free_idle, link, NULL);
  g_source_attach (idle, link->context);
  g_source_unref (idle);

  if (self != NULL)
    {
      COUNT (self, errors);
      go_down (self, ac->errstr[0] ? ac->errstr : "connection failed");
    }
}

static void
on_disconnect (const redisAsyncContext *ac,
               int                      status)
{
  WwRedisLink *link = ac->data;
  WwBackplane *self = link->self;
  g_autofree char *why = NULL;

  if (link->freeing)
    return;  /* link_drop() is freeing it and will free the link */

  why = g_strdup (status == REDIS_OK || ac->errstr[0] == '\0' ? "connection closed" : ac->errstr);
  link->ac = NULL;
  link_detach (link);
  if (self != NULL)
    {
      /* hiredis also lands here on an error reply it has no callback
       * for, such as NOAUTH in answer to SUBSCRIBE. */
      if (status != REDIS_OK)
        COUNT (self, errors);
      go_down (self, why);
    }
  /* The adapter already removed its poll; the source can go now. */
  link_free (link);
}

static WwRedisLink *
link_open (WwBackplane  *self,
           gboolean      is_sub,
           GError      **error)
{
  redisAsyncContext *ac;
  WwRedisLink *link;

  /* Name resolution in hiredis is blocking; a host name in --redis costs
   * one lookup per (re)connect, a numeric address nothing. */
  ac = redisAsyncConnect (self->host, self->port);
  if (ac == NULL)
    {
      g_set_error (error, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_NOT_CONNECTED,
                   "out of memory");
      return NULL;
    }
  if (ac->err)
    {
      g_set_error (error, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_NOT_CONNECTED,
                   "%s", ac->errstr);
      redisAsyncFree (ac);
      return NULL;
    }

  /* Detects a Redis host that vanished without closing the socket. */
  redisEnableKeepAlive (&ac->c);

  link = g_new0 (WwRedisLink, 1);
  link->self = self;
  link->ac = ac;
  link->is_sub = is_sub;
  link->context = g_main_context_ref (self->context);
  ac->data = link;
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);

  link->source = redis_source_new (ac);
  ac->ev.cleanup = link_source_cleanup;
  g_source_set_name (link->source, is_sub ? "[ww] redis subscriber" : "[ww] redis commands");
  g_source_attach (link->source, self->context);

  return link;
}

/* Queues one command with binary-safe arguments. */
static gboolean
link_command (WwRedisLink      *link,
              redisCallbackFn  *fn,
              gpointer          privdata,
              int               argc,
              const char      **argv)
{
  size_t lens[16];

  g_assert (argc <= (int) G_N_ELEMENTS (lens));

  if (link == NULL || link->ac == NULL)
    return FALSE;
  for (int i = 0; i < argc; i++)
    lens[i] = strlen (argv[i]);
  return redisAsyncCommandArgv (link->ac, fn, privdata, argc, argv, lens) == REDIS_OK;
}

/* The argument count follows from the list, so it cannot be wrong. */
#define LINK_COMMAND(link, fn, privdata, ...)                                 \
  link_command ((link), (fn), (privdata),                                    \
                (int) G_N_ELEMENTS (((const char *[]) { __VA_ARGS__ })),     \
                (const char *[]) { __VA_ARGS__ })

static gboolean
reply_is_error (const redisReply *reply)
{
  return reply->type == REDIS_REPLY_ERROR;
}

/* Closing from a reply callback: the loss then takes the usual way. */
static void
link_fail (WwRedisLink *link,
           const char  *why)
{
  WwBackplane *self = link->self;

  if (self == NULL)
    return;
  COUNT (self, errors);
  g_object_ref (self);
  link_detach (link);
  link->self = NULL;
  /* Deferred by hiredis until the callback returns; on_disconnect frees
   * the link (it is detached, so it does not report the loss twice). */
  if (link->ac != NULL)
    redisAsyncFree (link->ac);
  go_down (self, why);
  g_object_unref (self);
}

/* ------------------------------------------------------------------ */
/* Coming up                                                           */

static void
maybe_up (WwBackplane *self)
{
  if (self->cmd == NULL || !self->cmd->up || self->sub == NULL || !self->sub->up)
    return;
  if (g_atomic_int_get (&self->connected))
    return;

  COUNT (self, connects);
  if (self->ever_connected)
    {
      COUNT (self, reconnects);
      g_message ("Redis at %s:%d is back; rejoining namespace %s",
                 self->host, self->port, self->ns);
    }
  else
    g_info ("Connected to Redis at %s:%d as instance %s", self->host, self->port, self->id);
  self->ever_connected = TRUE;
  self->outage_logged = FALSE;
  self->backoff_ms = BACKOFF_MIN_MS;

  g_object_ref (self);
  set_connected (self, TRUE);
  /* The channel is subscribed: a snapshot read now misses nothing. */
  if (self->started && g_atomic_int_get (&self->connected))
    {
      request_state (self, NULL);
      presence_refresh (self);
    }
  g_object_unref (self);
}

static void
auth_cb (redisAsyncContext *ac,
         void              *r,
         void              *privdata)
{
  WwRedisLink *link = privdata;
  redisReply *reply = r;

  if (reply == NULL || link->self == NULL)
    return;
  if (reply_is_error (reply))
    {
      g_autofree char *why = g_strdup_printf ("Redis refused the credentials: %s", reply->str);
      link_fail (link, why);
    }
}

static void
ready_cb (redisAsyncContext *ac,
          void              *r,
          void              *privdata)
{
  WwRedisLink *link = privdata;
  redisReply *reply = r;

  if (reply == NULL || link->self == NULL)
    return;
  if (reply_is_error (reply))
    {
      g_autofree char *why = g_strdup_printf ("Redis error: %s", reply->str);
      link_fail (link, why);
      return;
    }
  link->up = TRUE;
  maybe_up (link->self);
}

/* "U <seq> <origin> <json>" or "C 0 <origin> <json>" */
static void
handle_payload (WwBackplane      *self,
                const redisReply *payload)
{
  const char *s, *end, *p, *json;
  WwBackplaneKind kind;
  guint64 seq = 0;

  if (payload->type != REDIS_REPLY_STRING || payload->len < 8)
    goto malformed;

  s = payload->str;
  end = s + payload->len;
  if (s[0] == 'U')
    kind = WW_BACKPLANE_UPDATE;
  else if (s[0] == 'C')
    kind = WW_BACKPLANE_CHAT;
  else if (s[0] == 'L' && s[1] == ' ')
    {
      /* A leader let go of the lease on a clean stop: try now. */
      if (self->started && g_atomic_int_get (&self->connected) &&
          !g_atomic_int_get (&self->leader) && !self->lease_in_flight)
        lease_tick (self);
      return;
    }
  else
    goto malformed;
  if (s[1] != ' ')
    goto malformed;

  p = memchr (s + 2, ' ', (size_t) (end - (s + 2)));
  if (p == NULL || !parse_u64 (s + 2, (size_t) (p - (s + 2)), &seq))
    goto malformed;
  if ((kind == WW_BACKPLANE_UPDATE) != (seq > 0))
    goto malformed;

  /* The origin id: present, not checked (every instance delivers every
   * message, its own included). */
  p++;
  json = memchr (p, ' ', (size_t) (end - p));
  if (json == NULL || json == p || json + 1 >= end)
    goto malformed;
  json++;
  /* hiredis strings are NUL-terminated; refuse embedded NULs. */
  if (strlen (json) != (size_t) (end - json))
    goto malformed;

  __atomic_fetch_add (&self->counters.received, 1, __ATOMIC_RELAXED);
  if (kind == WW_BACKPLANE_UPDATE)
    raise_shared_seq (self, seq);
  g_signal_emit (self, signals[MESSAGE],
                 kind == WW_BACKPLANE_UPDATE ? quark_update : quark_chat,
                 kind, seq, json);
  return;

malformed:
  COUNT (self, errors);
  g_debug ("Ignoring a malformed message on %s", self->channel);
}

static void
sub_cb (redisAsyncContext *ac,
        void              *r,
        void              *privdata)
{
  WwRedisLink *link = privdata;
  redisReply *reply = r;
  WwBackplane *self = link->self;
  const redisReply *what;

  if (reply == NULL || self == NULL)
    return;
  if (reply_is_error (reply))
    {
      g_autofree char *why = g_strdup_printf ("SUBSCRIBE failed: %s", reply->str);
      link_fail (link, why);
      return;
    }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
    return;

  what = reply->element[0];
  if (what->type != REDIS_REPLY_STRING)
    return;

  if (g_str_equal (what->str, "subscribe"))
    {
      link->up = TRUE;
      maybe_up (self);
    }
  else if (g_str_equal (what->str, "message"))
    {
      g_object_ref (self);
      handle_payload (self, reply->element[2]);
      g_object_unref (self);
    }
}

static void
try_connect (WwBackplane *self)
{
  g_autoptr(GError) error = NULL;
  char db[16];

  g_assert (self->cmd == NULL && self->sub == NULL);

  self->connect_started = g_get_monotonic_time ();

  self->cmd = link_open (self, FALSE, &error);
  if (self->cmd != NULL)
    self->sub = link_open (self, TRUE, &error);
  if (self->cmd == NULL || self->sub == NULL)
    {
      COUNT (self, errors);
      go_down (self, error->message);
      return;
    }

  for (guint i = 0; i < 2; i++)
    {
      WwRedisLink *link = i == 0 ? self->cmd : self->sub;

      if (self->password != NULL)
        {
          if (self->user != NULL)
            LINK_COMMAND (link, auth_cb, link,
                          "AUTH", self->user, self->password);
          else
            LINK_COMMAND (link, auth_cb, link,
                          "AUTH", self->password);
        }
    }

  /* The pub/sub channel is global to the server; SELECT only matters for
   * the keys.  hiredis connects once a command is queued. */
  if (self->db != 0)
    {
      g_snprintf (db, sizeof db, "%d", self->db);
      LINK_COMMAND (self->cmd, ready_cb, self->cmd, "SELECT", db);
    }
  else
    LINK_COMMAND (self->cmd, ready_cb, self->cmd, "PING");
  LINK_COMMAND (self->sub, sub_cb, self->sub,
                "SUBSCRIBE", self->channel);
}

static gboolean
reconnect_cb (gpointer data)
{
  WwBackplane *self = data;

  g_clear_pointer (&self->reconnect_source, g_source_unref);
  if (self->started && self->cmd == NULL && self->sub == NULL)
    try_connect (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (WwBackplane *self)
{
  guint delay;

  if (self->reconnect_source != NULL || !self->started)
    return;

  /* ±10 % jitter so a fleet does not reconnect in lock step. */
  delay = self->backoff_ms;
  delay = delay - delay / 10 + g_random_int_range (0, (gint32) (delay / 5) + 1);
  self->backoff_ms = MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);

  self->reconnect_source = g_timeout_source_new (delay);
  g_source_set_name (self->reconnect_source, "[ww] redis reconnect");
  g_source_set_callback (self->reconnect_source, reconnect_cb, self, NULL);
  g_source_attach (self->reconnect_source, self->context);
}

/* Any loss: drop both links, run alone, retry. */
static void
go_down (WwBackplane *self,
         const char  *why)
{
  gboolean was_connected;

  if (!self->started)
    return;

  g_object_ref (self);

  was_connected = g_atomic_int_get (&self->connected);
  link_drop (self->cmd);
  link_drop (self->sub);
  self->lease_in_flight = FALSE;
  self->presence_in_flight = FALSE;
  self->presence_dirty = FALSE;
  if (self->lease_source != NULL)
    {
      g_source_destroy (self->lease_source);
      g_clear_pointer (&self->lease_source, g_source_unref);
    }

  if (was_connected)
    COUNT (self, disconnects);
  /* Once per outage, and a message rather than a warning: running alone
   * is a supported state, not a bug. */
  if (!self->outage_logged)
    {
      self->outage_logged = TRUE;
      if (was_connected || self->ever_connected)
        g_message ("Lost Redis at %s:%d (%s); running on our own and retrying",
                   self->host, self->port, why);
      else
        g_message ("Cannot reach Redis at %s:%d (%s); running on our own and retrying",
                   self->host, self->port, why);
    }

  set_leader (self, FALSE);
  set_connected (self, FALSE);
  set_total_clients (self, g_atomic_int_get (&self->local_clients));
  schedule_reconnect (self);

  g_object_unref (self);
}

/* ------------------------------------------------------------------ */
/* State                                                               */

typedef struct {
  WwRedisLink *link;
  GTask       *task;  /* NULL: the load that follows coming up */
} StateRequest;

static void
state_cb (redisAsyncContext *ac,
          void              *r,
          void              *privdata)
{
  StateRequest *req = privdata;
  redisReply *reply = r;
  WwBackplane *self = req->link->self;
  g_autoptr(GTask) task = g_steal_pointer (&req->task);
  g_autoptr(WwBackplaneState) state = NULL;
  g_autoptr(GError) error = NULL;

  g_free (req);

  if (reply == NULL || self == NULL)
    {
      if (task != NULL)
        g_task_return_new_error (task, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_NOT_CONNECTED,
                                 "The connection to Redis was lost");
      return;
    }

  if (reply_is_error (reply))
    g_set_error (&error, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_REDIS,
                 "Redis error: %s", reply->str);
  else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
    g_set_error (&error, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_REDIS,
                 "unexpected reply to the state script");
  else
    state = state_from_replies (reply->element[0], reply->element[1], &error);

  if (state == NULL)
    {
      COUNT (self, errors);
      if (task != NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        {
          /* Unreadable state (someone else's keys?): still compete for
           * the lease, whose script reads the state again. */
          g_message ("Cannot read the shared state in Redis: %s", error->message);
          if (self->started && g_atomic_int_get (&self->connected) &&
              self->lease_source == NULL && !self->lease_in_flight)
            lease_tick (self);
        }
      return;
    }

  g_object_ref (self);
  raise_shared_seq (self, state->seq);
  if (task != NULL)
    g_task_return_pointer (task, ww_backplane_state_copy (state),
                           (GDestroyNotify) ww_backplane_state_free);
  else
    {
      g_signal_emit (self, signals[STATE_LOADED], 0, state);
      /* Only now compete for the lease: the seq floor is in place. */
      if (self->started && g_atomic_int_get (&self->connected) && self->lease_source == NULL &&
          !self->lease_in_flight)
        lease_tick (self);
    }
  g_object_unref (self);
}

static void
request_state (WwBackplane *self,
               GTask       *task)
{
  StateRequest *req;
  char floor[24];

  g_snprintf (floor, sizeof floor, "%" G_GUINT64_FORMAT,
              __atomic_load_n (&self->local_seq, __ATOMIC_RELAXED));

  req = g_new0 (StateRequest, 1);
  req->link = self->cmd;
  req->task = task;
  if (!LINK_COMMAND (self->cmd, state_cb, req,
                     "EVAL", state_script, "2", self->key_events, self->key_seq, floor))
    {
      g_free (req);
      COUNT (self, errors);
      if (task != NULL)
        {
          g_task_return_new_error (task, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_NOT_CONNECTED,
                                   "Not connected to Redis");
          g_object_unref (task);
        }
    }
}

void
ww_backplane_load_state_async (WwBackplane         *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (WW_IS_BACKPLANE (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ww_backplane_load_state_async);

  if (!self->started || !g_atomic_int_get (&self->connected))
    {
      g_task_return_new_error (task, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_NOT_CONNECTED,
                               "Not connected to Redis");
      g_object_unref (task);
      return;
    }
  request_state (self, task);
}

WwBackplaneState *
ww_backplane_load_state_finish (WwBackplane   *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (WW_IS_BACKPLANE (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------ */
/* Lease                                                               */

static gboolean
lease_timeout_cb (gpointer data)
{
  WwBackplane *self = data;

  g_clear_pointer (&self->lease_source, g_source_unref);
  lease_tick (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_lease (WwBackplane *self,
                guint        delay_ms)
{
  if (self->lease_source != NULL)
    {
      g_source_destroy (self->lease_source);
      g_clear_pointer (&self->lease_source, g_source_unref);
    }
  if (!self->started)
    return;
  self->lease_source = g_timeout_source_new (MAX (delay_ms, 1));
  g_source_set_name (self->lease_source, "[ww] redis lease");
  g_source_set_callback (self->lease_source, lease_timeout_cb, self, NULL);
  g_source_attach (self->lease_source, self->context);
}

typedef struct {
  WwRedisLink *link;
  gint64       sent_at;
} LeaseRequest;

static void
renew_cb (redisAsyncContext *ac,
          void              *r,
          void              *privdata)
{
  LeaseRequest *req = privdata;
  redisReply *reply = r;
  WwBackplane *self = req->link->self;
  gint64 sent_at = req->sent_at;

  g_free (req);
  if (reply == NULL || self == NULL)
    return;

  self->lease_in_flight = FALSE;
  if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
    self->lease_deadline = sent_at + (gint64) self->lease_ms * 1000;
  else
    {
      if (reply_is_error (reply))
        COUNT (self, errors);
      set_leader (self, FALSE);
    }
  schedule_lease (self, self->lease_ms / 3);
}

static void
acquire_cb (redisAsyncContext *ac,
            void              *r,
            void              *privdata)
{
  LeaseRequest *req = privdata;
  redisReply *reply = r;
  WwBackplane *self = req->link->self;
  gint64 sent_at = req->sent_at;
  guint next = 0;

  g_free (req);
  if (reply == NULL || self == NULL)
    return;

  self->lease_in_flight = FALSE;
  next = self->lease_ms / 3;

  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
      reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[0]->integer == 1)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(WwBackplaneState) state =
        state_from_replies (reply->element[1], reply->element[2], &error);

      self->lease_deadline = sent_at + (gint64) self->lease_ms * 1000;
      COUNT (self, elections);
      g_object_ref (self);
      if (state != NULL)
        {
          raise_shared_seq (self, state->seq);
          g_signal_emit (self, signals[STATE_LOADED], 0, state);
        }
      else
        {
          COUNT (self, errors);
          g_debug ("Cannot read the shared state with the lease: %s", error->message);
        }
      /* The leader notify comes after shared-seq is current, so its
       * handlers can continue from ww_backplane_get_shared_seq(). */
      if (self->started && g_atomic_int_get (&self->connected))
        set_leader (self, TRUE);
      g_object_unref (self);
    }
  else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
           reply->element[1]->type == REDIS_REPLY_INTEGER)
    {
      long long pttl = reply->element[1]->integer;

      /* Try again right when the holder's lease runs out, so a dead
       * leader is replaced within one lease period. */
      if (pttl >= 0 && pttl + 2 < (long long) next)
        next = (guint) pttl + 2;
    }
  else
    COUNT (self, errors);

  schedule_lease (self, next);
}

static void
lease_tick (WwBackplane *self)
{
  LeaseRequest *req;
  char lease[16];
  gboolean ok;

  if (!self->started || !g_atomic_int_get (&self->connected) || self->lease_in_flight)
    return;

  g_snprintf (lease, sizeof lease, "%u", self->lease_ms);
  req = g_new0 (LeaseRequest, 1);
  req->link = self->cmd;
  req->sent_at = g_get_monotonic_time ();

  if (g_atomic_int_get (&self->leader))
    {
      if (req->sent_at > self->lease_deadline)
        {
          /* Renewals did not come back in time: the key may be gone. */
          set_leader (self, FALSE);
        }
    }

  if (g_atomic_int_get (&self->leader))
    ok = LINK_COMMAND (self->cmd, renew_cb, req,
                       "EVAL", renew_script, "1", self->key_leader, self->id, lease);
  else
    ok = LINK_COMMAND (self->cmd, acquire_cb, req,
                       "EVAL", acquire_script, "3",
                       self->key_leader, self->key_seq, self->key_events, self->id, lease);
  if (!ok)
    {
      g_free (req);
      COUNT (self, errors);
      return;
    }
  self->lease_in_flight = TRUE;
  self->lease_sent_at = req->sent_at;
}

/* ------------------------------------------------------------------ */
/* Presence                                                            */

static void
presence_cb (redisAsyncContext *ac,
             void              *r,
             void              *privdata)
{
  WwRedisLink *link = privdata;
  redisReply *reply = r;
  WwBackplane *self = link->self;

  if (reply == NULL || self == NULL)
    return;

  self->presence_in_flight = FALSE;
  if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
    set_total_clients (self, (guint) MIN (reply->integer, (long long) G_MAXUINT));
  else
    COUNT (self, errors);

  if (self->presence_dirty)
    {
      self->presence_dirty = FALSE;
      presence_refresh (self);
    }
}

static void
presence_refresh (WwBackplane *self)
{
  char count[16], ttl[16];

  if (!self->started)
    return;
  if (!g_atomic_int_get (&self->connected))
    {
      set_total_clients (self, g_atomic_int_get (&self->local_clients));
      return;
    }
  /* One script in flight at a time; a burst of joins costs one more. */
  if (self->presence_in_flight)
    {
      self->presence_dirty = TRUE;
      return;
    }

  g_snprintf (count, sizeof count, "%u", g_atomic_int_get (&self->local_clients));
  g_snprintf (ttl, sizeof ttl, "%u", self->presence_ms * 3);
  if (LINK_COMMAND (self->cmd, presence_cb, self->cmd,
                    "EVAL", presence_script, "1", self->key_presence,
                    self->presence_prefix, self->id, count, ttl))
    {
      self->presence_in_flight = TRUE;
      self->presence_sent_at = g_get_monotonic_time ();
    }
  else
    COUNT (self, errors);
}

/*
 * hiredis has no timeouts of its own: a Redis that stops answering (a
 * stopped process, a black-holed route) would leave a link "up" forever
 * and a leader believing in a lease it no longer has.  Anything that
 * takes longer than a lease period counts as a loss.
 */
static gboolean
watchdog (WwBackplane *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 limit = (gint64) MAX (self->lease_ms, 500) * 1000;
  const char *what = NULL;

  if (g_atomic_int_get (&self->leader) && now > self->lease_deadline)
    set_leader (self, FALSE);

  if (!g_atomic_int_get (&self->connected))
    {
      if ((self->cmd != NULL || self->sub != NULL) && now - self->connect_started > limit)
        what = "no answer while connecting";
    }
  else if (self->lease_in_flight && now - self->lease_sent_at > limit)
    what = "no answer to the lease";
  else if (self->presence_in_flight && now - self->presence_sent_at > limit)
    what = "no answer to the presence update";

  if (what == NULL)
    return FALSE;
  COUNT (self, errors);
  go_down (self, what);
  return TRUE;
}

static gboolean
presence_timeout_cb (gpointer data)
{
  WwBackplane *self = data;

  if (!watchdog (self))
    presence_refresh (self);
  return G_SOURCE_CONTINUE;
}

void
ww_backplane_set_local_clients (WwBackplane *self,
                                guint        n_clients)
{
  g_return_if_fail (WW_IS_BACKPLANE (self));

  if ((guint) g_atomic_int_get (&self->local_clients) == n_clients)
    return;
  g_atomic_int_set (&self->local_clients, n_clients);
  if (self->started && self->context != NULL && g_main_context_is_owner (self->context))
    presence_refresh (self);
}

void
ww_backplane_set_local_seq (WwBackplane *self,
                            guint64      seq)
{
  g_return_if_fail (WW_IS_BACKPLANE (self));

  __atomic_store_n (&self->local_seq, seq, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Publishing                                                          */

static void
publish_cb (redisAsyncContext *ac,
            void              *r,
            void              *privdata)
{
  WwRedisLink *link = privdata;
  redisReply *reply = r;
  WwBackplane *self = link->self;

  if (reply == NULL || self == NULL)
    return;

  if (!reply_is_error (reply))
    {
      COUNT (self, published);
      return;
    }

  COUNT (self, errors);
  if (g_str_has_prefix (reply->str, "NOTLEADER"))
    {
      g_debug ("Update rejected: the lease is someone else's");
      set_leader (self, FALSE);
    }
  else if (g_str_has_prefix (reply->str, "STALESEQ "))
    {
      const char *num = reply->str + strlen ("STALESEQ ");
      guint64 stored;

      g_debug ("Update rejected: Redis already stores seq %s", num);
      if (parse_u64 (num, strlen (num), &stored))
        raise_shared_seq (self, stored);
    }
  else
    g_debug ("Publish failed: %s", reply->str);
}

static char *
event_id_from_json (const char *event_json)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;
  JsonObject *obj;
  JsonNode *id;

  if (!json_parser_load_from_data (parser, event_json, -1, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  obj = json_node_get_object (root);
  id = json_object_get_member (obj, "id");
  if (id == NULL || !JSON_NODE_HOLDS_VALUE (id) || json_node_get_value_type (id) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (id));
}

gboolean
ww_backplane_publish_update (WwBackplane *self,
                             guint64      seq,
                             const char  *event_json,
                             const char  *update_json)
{
  g_autofree char *event_id = NULL;
  g_autofree char *message = NULL;
  char seq_str[24];

  g_return_val_if_fail (WW_IS_BACKPLANE (self), FALSE);
  g_return_val_if_fail (event_json != NULL, FALSE);
  g_return_val_if_fail (update_json != NULL, FALSE);

  if (!self->started || !g_atomic_int_get (&self->connected) ||
      !g_atomic_int_get (&self->leader))
    return FALSE;
  if (g_get_monotonic_time () > self->lease_deadline)
    {
      set_leader (self, FALSE);
      return FALSE;
    }
  /* Only the cheap check here; Redis refuses a seq it already stores
   * (STALESEQ), which also covers two publishes in flight. */
  if (seq == 0 || seq <= ww_backplane_get_shared_seq (self))
    {
      COUNT (self, errors);
      return FALSE;
    }
  event_id = event_id_from_json (event_json);
  if (event_id == NULL)
    {
      COUNT (self, errors);
      g_debug ("Not publishing an event without a string \"id\"");
      return FALSE;
    }

  g_snprintf (seq_str, sizeof seq_str, "%" G_GUINT64_FORMAT, seq);
  message = g_strdup_printf ("U %s %s %s", seq_str, self->id, update_json);
  if (!LINK_COMMAND (self->cmd, publish_cb, self->cmd,
                     "EVAL", publish_script, "3",
                     self->key_events, self->key_seq, self->key_leader,
                     self->id, event_id, event_json, seq_str, self->channel, message))
    {
      COUNT (self, errors);
      return FALSE;
    }
  return TRUE;
}

gboolean
ww_backplane_publish_chat (WwBackplane *self,
                           const char  *chat_json)
{
  g_autofree char *message = NULL;

  g_return_val_if_fail (WW_IS_BACKPLANE (self), FALSE);
  g_return_val_if_fail (chat_json != NULL, FALSE);

  if (!self->started || !g_atomic_int_get (&self->connected) || chat_json[0] == '\0')
    return FALSE;

  message = g_strdup_printf ("C 0 %s %s", self->id, chat_json);
  if (!LINK_COMMAND (self->cmd, publish_cb, self->cmd,
                     "PUBLISH", self->channel, message))
    {
      COUNT (self, errors);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Start, stop                                                         */

static void
update_keys (WwBackplane *self)
{
  g_free (self->channel);
  g_free (self->key_events);
  g_free (self->key_seq);
  g_free (self->key_leader);
  g_free (self->key_presence);
  g_free (self->presence_prefix);
  self->channel = g_strconcat (self->ns, ":feed", NULL);
  self->key_events = g_strconcat (self->ns, ":events", NULL);
  self->key_seq = g_strconcat (self->ns, ":seq", NULL);
  self->key_leader = g_strconcat (self->ns, ":leader", NULL);
  self->key_presence = g_strconcat (self->ns, ":presence", NULL);
  self->presence_prefix = g_strconcat (self->ns, ":presence:", NULL);
}

static void
start_on_context (WwBackplane *self)
{
  if (self->started)
    return;

  self->started = TRUE;
  self->ever_connected = FALSE;
  self->outage_logged = FALSE;
  self->backoff_ms = BACKOFF_MIN_MS;
  self->lease_deadline = 0;

  self->presence_source = g_timeout_source_new (self->presence_ms);
  g_source_set_name (self->presence_source, "[ww] redis presence");
  g_source_set_callback (self->presence_source, presence_timeout_cb, self, NULL);
  g_source_attach (self->presence_source, self->context);

  set_total_clients (self, g_atomic_int_get (&self->local_clients));
  if (!self->in_dispose)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEGRADED]);
  try_connect (self);
}

static gboolean
start_cb (gpointer data)
{
  start_on_context (data);
  return G_SOURCE_REMOVE;
}

void
ww_backplane_start (WwBackplane  *self,
                    GMainContext *context)
{
  g_return_if_fail (WW_IS_BACKPLANE (self));

  if (self->started)
    return;

  g_clear_pointer (&self->context, g_main_context_unref);
  self->context = context != NULL ? g_main_context_ref (context)
                                  : g_main_context_ref_thread_default ();

  /* hiredis is not thread-safe: when another thread already runs the
   * context (the server's I/O thread), connect from there. */
  if (g_main_context_acquire (self->context))
    {
      start_on_context (self);
      g_main_context_release (self->context);
    }
  else
    g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, start_cb,
                                g_object_ref (self), g_object_unref);
}

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static void
shutdown_links (WwBackplane *self,
                gboolean     release)
{
  gboolean was_started = self->started;

  /* From here on, losses are not reported and nothing reconnects. */
  self->started = FALSE;

  if (release && self->cmd != NULL && self->cmd->up && self->cmd->ac != NULL)
    {
      redisAsyncContext *ac = self->cmd->ac;

      if (g_atomic_int_get (&self->leader))
        {
          g_autofree char *notice = g_strdup_printf ("L 0 %s -", self->id);

          /* %s arguments stay whole in hiredis, spaces and all. */
          redisAsyncCommand (ac, NULL, NULL, "EVAL %s 1 %s %s %s %s",
                             release_script, self->key_leader, self->id,
                             self->channel, notice);
        }
      redisAsyncCommand (ac, NULL, NULL, "HDEL %s %s", self->key_presence, self->id);
      redisAsyncCommand (ac, NULL, NULL, "DEL %s%s", self->presence_prefix, self->id);
      /* Hand the bytes to the kernel now instead of waiting for a main
       * loop turn; if the socket cannot take them the lease and the
       * presence entry simply expire. */
      if (!(ac->c.flags & REDIS_IN_CALLBACK))
        redisAsyncHandleWrite (ac);
    }

  link_drop (self->cmd);
  link_drop (self->sub);
  clear_source (&self->reconnect_source);
  clear_source (&self->lease_source);
  clear_source (&self->presence_source);
  self->lease_in_flight = FALSE;
  self->presence_in_flight = FALSE;
  self->presence_dirty = FALSE;

  set_leader (self, FALSE);
  set_connected (self, FALSE);
  set_total_clients (self, g_atomic_int_get (&self->local_clients));
  if (was_started && !self->in_dispose)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEGRADED]);
}

void
ww_backplane_stop (WwBackplane *self)
{
  g_return_if_fail (WW_IS_BACKPLANE (self));

  if (!self->started)
    return;
  shutdown_links (self, TRUE);
}

void
ww_backplane_abandon (WwBackplane *self)
{
  g_return_if_fail (WW_IS_BACKPLANE (self));

  if (!self->started)
    return;
  shutdown_links (self, FALSE);
}

/* ------------------------------------------------------------------ */
/* URL                                                                 */

static gboolean
parse_url (WwBackplane  *self,
           const char   *url,
           GError      **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *scheme, *host, *path;
  int port;
  guint64 db = 0;

#define FAIL(...) G_STMT_START {                                               \
    g_autofree char *why_ = g_strdup_printf (__VA_ARGS__);                      \
    g_set_error (error, WW_BACKPLANE_ERROR, WW_BACKPLANE_ERROR_INVALID_URL,     \
                 "Invalid Redis URL “%s”: %s (expected redis://host[:port][/db])", \
                 url, why_);                                                   \
    return FALSE;                                                              \
  } G_STMT_END

  if (url == NULL || *url == '\0')
    FAIL ("it is empty");

  uri = g_uri_parse (url, G_URI_FLAGS_HAS_PASSWORD, &local_error);
  if (uri == NULL)
    FAIL ("%s", local_error->message);

  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "rediss") == 0)
    FAIL ("TLS (rediss://) is not supported");
  if (g_ascii_strcasecmp (scheme, "redis") != 0)
    FAIL ("the scheme must be redis://, not %s://", scheme);

  host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0')
    FAIL ("no host");
  if (!g_hostname_is_ip_address (host))
    {
      for (const char *c = host; *c; c++)
        if (!g_ascii_isalnum (*c) && *c != '-' && *c != '.' && *c != '_')
          FAIL ("“%s” is not a host name or address", host);
    }

  port = g_uri_get_port (uri);
  if (port == -1)
    port = DEFAULT_REDIS_PORT;
  if (port <= 0 || port > 65535)
    FAIL ("port %d is out of range", port);

  path = g_uri_get_path (uri);
  if (path != NULL && *path != '\0' && !g_str_equal (path, "/"))
    {
      if (path[0] != '/' || !parse_u64 (path + 1, strlen (path + 1), &db) || db > G_MAXINT)
        FAIL ("the path must be a database number, not “%s”", path);
    }

  if (g_uri_get_query (uri) != NULL)
    FAIL ("query parameters are not supported");
  if (g_uri_get_fragment (uri) != NULL)
    FAIL ("a fragment is not allowed");

  self->url = g_strdup (url);
  self->host = g_strdup (host);
  self->port = port;
  self->db = (int) db;
  /* Pub/sub channels are global to a Redis server, whatever the database:
   * deployments told apart by database number must not hear each other. */
  if (self->db != 0)
    {
      g_free (self->ns);
      self->ns = g_strdup_printf ("%s.%d", DEFAULT_NAMESPACE, self->db);
      update_keys (self);
    }
  if (g_uri_get_password (uri) != NULL && *g_uri_get_password (uri) != '\0')
    {
      self->password = g_strdup (g_uri_get_password (uri));
      if (g_uri_get_user (uri) != NULL && *g_uri_get_user (uri) != '\0')
        self->user = g_strdup (g_uri_get_user (uri));
    }
  else if (g_uri_get_user (uri) != NULL && *g_uri_get_user (uri) != '\0')
    FAIL ("a user name needs a password (redis://user:password@host)");

#undef FAIL
  return TRUE;
}

WwBackplane *
ww_backplane_new (const char  *url,
                  GError     **error)
{
  g_autoptr(WwBackplane) self = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (WW_TYPE_BACKPLANE, NULL);
  if (!parse_url (self, url, error))
    return NULL;
  return g_steal_pointer (&self);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */

void
ww_backplane_set_namespace (WwBackplane *self,
                            const char  *ns)
{
  g_return_if_fail (WW_IS_BACKPLANE (self));
  g_return_if_fail (ns != NULL && *ns != '\0');
  g_return_if_fail (!self->started);

  if (g_strcmp0 (self->ns, ns) == 0)
    return;
  g_free (self->ns);
  self->ns = g_strdup (ns);
  update_keys (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NAMESPACE]);
}

const char *
ww_backplane_get_namespace (WwBackplane *self)
{
  g_return_val_if_fail (WW_IS_BACKPLANE (self), NULL);
  return self->ns;
}

void
ww_backplane_set_lease_ms (WwBackplane *self,
                           guint        lease_ms)
{
  g_return_if_fail (WW_IS_BACKPLANE (self));
  g_return_if_fail (lease_ms >= 30);
  g_return_if_fail (!self->started);

  if (self->lease_ms == lease_ms)
    return;
  self->lease_ms = lease_ms;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LEASE_MS]);
}

guint
ww_backplane_get_lease_ms (WwBackplane *self)
{
  g_return_val_if_fail (WW_IS_BACKPLANE (self), 0);
  return self->lease_ms;
}

void
ww_backplane_set_presence_interval_ms (WwBackplane *self,
                                       guint        interval_ms)
{
  g_return_if_fail (WW_IS_BACKPLANE (self));
  g_return_if_fail (interval_ms >= 10);
  g_return_if_fail (!self->started);

  self->presence_ms = interval_ms;
}

const char *
ww_backplane_get_url (WwBackplane *self)
{
  g_return_val_if_fail (WW_IS_BACKPLANE (self), NULL);
  return self->url;
}

const char *
ww_backplane_get_id (WwBackplane *self)
{
  g_return_val_if_fail (WW_IS_BACKPLANE (self), NULL);
  return self->id;
}

gboolean
ww_backplane_is_connected (WwBackplane *self)
{
  g_return_val_if_fail (WW_IS_BACKPLANE (self), FALSE);
  return g_atomic_int_get (&self->connected);
}

gboolean
ww_backplane_is_leader (WwBackplane *self)
{
  g_return_val_if_fail (WW_IS_BACKPLANE (self), FALSE);
  return g_atomic_int_get (&self->leader);
}

guint64
ww_backplane_get_shared_seq (WwBackplane *self)
{
  g_return_val_if_fail (WW_IS_BACKPLANE (self), 0);
  return __atomic_load_n (&self->shared_seq, __ATOMIC_RELAXED);
}

guint
ww_backplane_get_total_clients (WwBackplane *self)
{
  g_return_val_if_fail (WW_IS_BACKPLANE (self), 0);
  return g_atomic_int_get (&self->total_clients);
}

void
ww_backplane_get_counters (WwBackplane         *self,
                           WwBackplaneCounters *out)
{
  g_return_if_fail (WW_IS_BACKPLANE (self));
  g_return_if_fail (out != NULL);

  out->published = __atomic_load_n (&self->counters.published, __ATOMIC_RELAXED);
  out->received = __atomic_load_n (&self->counters.received, __ATOMIC_RELAXED);
  out->connects = __atomic_load_n (&self->counters.connects, __ATOMIC_RELAXED);
  out->reconnects = __atomic_load_n (&self->counters.reconnects, __ATOMIC_RELAXED);
  out->disconnects = __atomic_load_n (&self->counters.disconnects, __ATOMIC_RELAXED);
  out->errors = __atomic_load_n (&self->counters.errors, __ATOMIC_RELAXED);
  out->elections = __atomic_load_n (&self->counters.elections, __ATOMIC_RELAXED);
}

void
ww_backplane_append_metrics (WwBackplane *self,
                             GString     *out)
{
  static const struct {
    const char *name;
    const char *type;
    const char *help;
  } metrics[] = {
    { "connected", "gauge", "1 while both Redis links are up" },
    { "leader", "gauge", "1 while this instance holds the lease" },
    { "total_clients", "gauge", "Feed clients over all live instances" },
    { "shared_seq", "gauge", "Highest UPDATE seq seen in Redis" },
    { "published_total", "counter", "Messages Redis accepted from this instance" },
    { "received_total", "counter", "Messages delivered from the channel" },
    { "connects_total", "counter", "Times the Redis link came up" },
    { "reconnects_total", "counter", "Times the Redis link came back after a loss" },
    { "disconnects_total", "counter", "Losses of the Redis link" },
    { "errors_total", "counter", "Failed connects, error replies and malformed messages" },
    { "elections_total", "counter", "Times this instance won the lease" },
  };
  WwBackplaneCounters c;
  guint64 values[G_N_ELEMENTS (metrics)];

  g_return_if_fail (WW_IS_BACKPLANE (self));
  g_return_if_fail (out != NULL);

  ww_backplane_get_counters (self, &c);
  values[0] = ww_backplane_is_connected (self);
  values[1] = ww_backplane_is_leader (self);
  values[2] = ww_backplane_get_total_clients (self);
  values[3] = ww_backplane_get_shared_seq (self);
  values[4] = c.published;
  values[5] = c.received;
  values[6] = c.connects;
  values[7] = c.reconnects;
  values[8] = c.disconnects;
  values[9] = c.errors;
  values[10] = c.elections;

  for (guint i = 0; i < G_N_ELEMENTS (metrics); i++)
    g_string_append_printf (out,
                            "# HELP wirewatch_backplane_%s %s\n"
                            "# TYPE wirewatch_backplane_%s %s\n"
                            "wirewatch_backplane_%s %" G_GUINT64_FORMAT "\n",
                            metrics[i].name, metrics[i].help,
                            metrics[i].name, metrics[i].type,
                            metrics[i].name, values[i]);
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void
ww_backplane_dispose (GObject *object)
{
  WwBackplane *self = WW_BACKPLANE (object);

  self->in_dispose = TRUE;
  if (self->started)
    shutdown_links (self, TRUE);
  self->in_dispose = FALSE;

  G_OBJECT_CLASS (ww_backplane_parent_class)->dispose (object);
}

static void
ww_backplane_finalize (GObject *object)
{
  WwBackplane *self = WW_BACKPLANE (object);

  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->url);
  g_free (self->host);
  g_free (self->user);
  g_free (self->password);
  g_free (self->id);
  g_free (self->ns);
  g_free (self->channel);
  g_free (self->key_events);
  g_free (self->key_seq);
  g_free (self->key_leader);
  g_free (self->key_presence);
  g_free (self->presence_prefix);

  G_OBJECT_CLASS (ww_backplane_parent_class)->finalize (object);
}

static void
ww_backplane_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  WwBackplane *self = WW_BACKPLANE (object);

  switch (prop_id)
    {
    case PROP_URL:
      g_value_set_string (value, self->url);
      break;
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;
    case PROP_NAMESPACE:
      g_value_set_string (value, self->ns);
      break;
    case PROP_LEASE_MS:
      g_value_set_uint (value, self->lease_ms);
      break;
    case PROP_CONNECTED:
      g_value_set_boolean (value, ww_backplane_is_connected (self));
      break;
    case PROP_DEGRADED:
      g_value_set_boolean (value, self->started && !ww_backplane_is_connected (self));
      break;
    case PROP_LEADER:
      g_value_set_boolean (value, ww_backplane_is_leader (self));
      break;
    case PROP_TOTAL_CLIENTS:
      g_value_set_uint (value, ww_backplane_get_total_clients (self));
      break;
    case PROP_SHARED_SEQ:
      g_value_set_uint64 (value, ww_backplane_get_shared_seq (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_backplane_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  WwBackplane *self = WW_BACKPLANE (object);

  switch (prop_id)
    {
    case PROP_NAMESPACE:
      ww_backplane_set_namespace (self, g_value_get_string (value));
      break;
    case PROP_LEASE_MS:
      ww_backplane_set_lease_ms (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_backplane_class_init (WwBackplaneClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ww_backplane_dispose;
  object_class->finalize = ww_backplane_finalize;
  object_class->get_property = ww_backplane_get_property;
  object_class->set_property = ww_backplane_set_property;

  properties[PROP_URL] =
    g_param_spec_string ("url", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ID] =
    g_param_spec_string ("id", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_NAMESPACE] =
    g_param_spec_string ("namespace", NULL, NULL, DEFAULT_NAMESPACE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LEASE_MS] =
    g_param_spec_uint ("lease-ms", NULL, NULL, 30, G_MAXINT / 1000, DEFAULT_LEASE_MS,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DEGRADED] =
    g_param_spec_boolean ("degraded", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LEADER] =
    g_param_spec_boolean ("leader", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TOTAL_CLIENTS] =
    g_param_spec_uint ("total-clients", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SHARED_SEQ] =
    g_param_spec_uint64 ("shared-seq", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * WwBackplane::message:
   * @kind: a #WwBackplaneKind
   * @seq: the UPDATE's seq, 0 for CHAT
   * @json: the payload as published
   *
   * A message from the channel, from any instance including this one,
   * in Redis order.  Detailed "update" or "chat".
   */
  signals[MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_UINT, G_TYPE_UINT64,
                  G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);

  /**
   * WwBackplane::state-loaded:
   * @state: the shared seq and events
   *
   * The shared state, read when the link comes up and when this
   * instance wins the lease (before #WwBackplane:leader turns TRUE).
   */
  signals[STATE_LOADED] =
    g_signal_new ("state-loaded", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, WW_TYPE_BACKPLANE_STATE | G_SIGNAL_TYPE_STATIC_SCOPE);

  quark_update = g_quark_from_static_string ("update");
  quark_chat = g_quark_from_static_string ("chat");
}

static void
ww_backplane_init (WwBackplane *self)
{
  self->id = g_strdup_printf ("%08x%08x", g_random_int (), g_random_int ());
  self->ns = g_strdup (DEFAULT_NAMESPACE);
  self->lease_ms = DEFAULT_LEASE_MS;
  self->presence_ms = DEFAULT_PRESENCE_MS;
  self->backoff_ms = BACKOFF_MIN_MS;
  self->port = DEFAULT_REDIS_PORT;
  update_keys (self);
}
