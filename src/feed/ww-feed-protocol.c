/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed"

#include "config.h"

#include <math.h>
#include <string.h>

#include "ww-feed-protocol.h"

#define OPCODE_TEXT   0x1
#define OPCODE_BINARY 0x2

void
ww_feed_actions_init (WwFeedActions *actions)
{
  actions->replies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  actions->broadcast = NULL;
  actions->error = NULL;
}

void
ww_feed_actions_clear (WwFeedActions *actions)
{
  g_clear_pointer (&actions->replies, g_ptr_array_unref);
  g_clear_pointer (&actions->broadcast, g_bytes_unref);
  actions->error = NULL;
}

/* ------------------------------------------------------------------ */
/* Outgoing messages, written by hand: members in a fixed order and no
 * generator round trip on the hot path. */

GBytes *
ww_feed_message_error (const char *code,
                       const char *message)
{
  GString *out = g_string_sized_new (96);

  g_string_append (out, "{\"type\":\"ERROR\",\"code\":");
  ww_json_append_string (out, code);
  g_string_append (out, ",\"message\":");
  ww_json_append_string (out, message);
  g_string_append_c (out, '}');
  return g_string_free_to_bytes (out);
}

GBytes *
ww_feed_message_welcome (const char *client_id,
                         const char *server_name,
                         const char *server_version,
                         guint       heartbeat_ms,
                         guint64     seq)
{
  GString *out = g_string_sized_new (160);

  g_string_append (out, "{\"type\":\"WELCOME\",\"clientId\":");
  ww_json_append_string (out, client_id);
  g_string_append (out, ",\"server\":{\"name\":");
  ww_json_append_string (out, server_name);
  g_string_append (out, ",\"version\":");
  ww_json_append_string (out, server_version);
  g_string_append_printf (out, "},\"heartbeatMs\":%u,\"seq\":%" G_GUINT64_FORMAT "}",
                          heartbeat_ms, seq);
  return g_string_free_to_bytes (out);
}

GBytes *
ww_feed_message_presence (guint clients)
{
  char *text = g_strdup_printf ("{\"type\":\"PRESENCE\",\"clients\":%u}", clients);

  return g_bytes_new_take (text, strlen (text));
}

GBytes *
ww_feed_message_chat (const char *from,
                      const char *text,
                      gint64      ts_ms)
{
  GString *out = g_string_sized_new (64 + strlen (text));

  g_string_append (out, "{\"type\":\"CHAT\",\"from\":");
  ww_json_append_string (out, from);
  g_string_append (out, ",\"text\":");
  ww_json_append_string (out, text);
  g_string_append_printf (out, ",\"ts\":%" G_GINT64_FORMAT "}", ts_ms);
  return g_string_free_to_bytes (out);
}

/* ------------------------------------------------------------------ */
/* A raw view of the top-level members, so that PONG can copy the PING's
 * ts exactly as it was written (1.50, 1e3, 12345678901234567890 would
 * not survive a round trip through a double or an int64).  Only used on
 * input json-glib has accepted already; anything unexpected makes it give
 * up and the caller falls back to the parsed value. */

static const char *
skip_ws (const char *p,
         const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

/* @p at the opening quote; returns just past the closing one. */
static const char *
skip_string (const char *p,
             const char *end)
{
  for (p++; p < end; p++)
    {
      if (*p == '\\')
        p++;
      else if (*p == '"')
        return p + 1;
    }
  return NULL;
}

static const char *
skip_value (const char *p,
            const char *end)
{
  if (p >= end)
    return NULL;
  if (*p == '"')
    return skip_string (p, end);
  if (*p == '{' || *p == '[')
    {
      guint depth = 0;

      while (p < end)
        {
          if (*p == '"')
            {
              p = skip_string (p, end);
              if (p == NULL)
                return NULL;
              continue;
            }
          if (*p == '{' || *p == '[')
            depth++;
          else if (*p == '}' || *p == ']')
            {
              if (--depth == 0)
                return p + 1;
            }
          p++;
        }
      return NULL;
    }
  while (p < end && *p != ',' && *p != '}' && *p != ']' &&
         *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
    p++;
  return p;
}

static gboolean
find_raw_member (const char  *data,
                 gsize        len,
                 const char  *name,
                 const char **value,
                 gsize       *value_len)
{
  const char *p = data, *end = data + len;
  gsize name_len = strlen (name);
  gboolean found = FALSE;

  p = skip_ws (p, end);
  if (p >= end || *p != '{')
    return FALSE;
  p = skip_ws (p + 1, end);
  if (p < end && *p == '}')
    return FALSE;

  while (p < end)
    {
      const char *key, *key_end, *v;

      if (*p != '"')
        return FALSE;
      key = p + 1;
      key_end = skip_string (p, end);
      if (key_end == NULL)
        return FALSE;
      p = skip_ws (key_end, end);
      if (p >= end || *p != ':')
        return FALSE;
      v = skip_ws (p + 1, end);
      p = skip_value (v, end);
      if (p == NULL)
        return FALSE;
      /* A key written with escapes is not matched: fall back. Duplicate
       * members: the last one wins, as in json-glib. */
      if ((gsize) (key_end - 1 - key) == name_len && memcmp (key, name, name_len) == 0)
        {
          *value = v;
          *value_len = (gsize) (p - v);
          found = TRUE;
        }
      p = skip_ws (p, end);
      if (p >= end)
        return FALSE;
      if (*p == '}')
        return found;
      if (*p != ',')
        return FALSE;
      p = skip_ws (p + 1, end);
    }
  return FALSE;
}

/* RFC 8259 §6 number grammar, nothing more. */
static gboolean
is_json_number (const char *p,
                gsize       len)
{
  const char *end = p + len;

  if (len == 0 || len > 512)
    return FALSE;
  if (*p == '-')
    p++;
  if (p >= end)
    return FALSE;
  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    while (p < end && g_ascii_isdigit (*p))
      p++;
  else
    return FALSE;
  if (p < end && *p == '.')
    {
      p++;
      if (p >= end || !g_ascii_isdigit (*p))
        return FALSE;
      while (p < end && g_ascii_isdigit (*p))
        p++;
    }
  if (p < end && (*p == 'e' || *p == 'E'))
    {
      p++;
      if (p < end && (*p == '+' || *p == '-'))
        p++;
      if (p >= end || !g_ascii_isdigit (*p))
        return FALSE;
      while (p < end && g_ascii_isdigit (*p))
        p++;
    }
  return p == end;
}

/*
 * A strict RFC 8259 check run before json-glib, which on its own accepts
 * single quotes, comments, hex numbers and leading zeros.  Iterative, so
 * nesting costs no stack; deeper than WW_FEED_MAX_DEPTH is refused.
 */
typedef enum {
  JSON_CHECK_OK,
  JSON_CHECK_BAD,
  JSON_CHECK_TOO_DEEP,
} JsonCheck;

static const char *
check_string (const char *p,
              const char *end)
{
  /* @p just past the opening quote; returns just past the closing one. */
  while (p < end)
    {
      guchar c = (guchar) *p;

      if (c == '"')
        return p + 1;
      if (c < 0x20)
        return NULL;
      if (c == '\\')
        {
          p++;
          if (p >= end)
            return NULL;
          if (*p == 'u')
            {
              if (end - p < 5)
                return NULL;
              for (guint i = 1; i <= 4; i++)
                if (!g_ascii_isxdigit (p[i]))
                  return NULL;
              p += 5;
              continue;
            }
          if (strchr ("\"\\/bfnrt", *p) == NULL || *p == '\0')
            return NULL;
        }
      p++;
    }
  return NULL;
}

static const char *
check_scalar (const char *p,
              const char *end)
{
  const char *start = p;
  static const char *const words[] = { "true", "false", "null" };

  for (guint i = 0; i < G_N_ELEMENTS (words); i++)
    {
      gsize n = strlen (words[i]);

      if ((gsize) (end - p) >= n && memcmp (p, words[i], n) == 0)
        return p + n;
    }
  while (p < end && (g_ascii_isdigit (*p) || *p == '-' || *p == '+' || *p == '.' ||
                     *p == 'e' || *p == 'E'))
    p++;
  return is_json_number (start, (gsize) (p - start)) ? p : NULL;
}

static JsonCheck
check_json (const char *data,
            gsize       len)
{
  const char *p = data, *end = data + len;
  gboolean in_object[WW_FEED_MAX_DEPTH + 1];
  guint depth = 0;

  p = skip_ws (p, end);
  for (;;)
    {
      /* A value is expected at p. */
      if (p >= end)
        return JSON_CHECK_BAD;
      if (*p == '{' || *p == '[')
        {
          gboolean object = *p == '{';

          if (depth == WW_FEED_MAX_DEPTH)
            return JSON_CHECK_TOO_DEEP;
          in_object[++depth] = object;
          p = skip_ws (p + 1, end);
          if (p < end && *p == (object ? '}' : ']'))
            {
              depth--;
              p++;
              goto after_value;
            }
          if (object)
            goto member;
          continue;
        }
      if (*p == '"')
        p = check_string (p + 1, end);
      else
        p = check_scalar (p, end);
      if (p == NULL)
        return JSON_CHECK_BAD;

    after_value:
      p = skip_ws (p, end);
      if (depth == 0)
        return p == end ? JSON_CHECK_OK : JSON_CHECK_BAD;
      if (p >= end)
        return JSON_CHECK_BAD;
      if (*p == (in_object[depth] ? '}' : ']'))
        {
          depth--;
          p++;
          goto after_value;
        }
      if (*p != ',')
        return JSON_CHECK_BAD;
      p = skip_ws (p + 1, end);
      if (!in_object[depth])
        continue;

    member:
      if (p >= end || *p != '"')
        return JSON_CHECK_BAD;
      p = check_string (p + 1, end);
      if (p == NULL)
        return JSON_CHECK_BAD;
      p = skip_ws (p, end);
      if (p >= end || *p != ':')
        return JSON_CHECK_BAD;
      p = skip_ws (p + 1, end);
    }
}

/* ------------------------------------------------------------------ */

static void
reply_error (WwFeedActions *out,
             const char    *code,
             const char    *message)
{
  g_ptr_array_add (out->replies, ww_feed_message_error (code, message));
  out->error = code;
}

static gboolean
member_is_number (JsonNode *node)
{
  GType type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

static void
handle_ping (JsonObject    *msg,
             const char    *data,
             gsize          len,
             gint64         now_ms,
             WwFeedActions *out)
{
  JsonNode *id_node = json_object_get_member (msg, "id");
  JsonNode *ts_node = json_object_get_member (msg, "ts");
  const char *id = NULL;
  const char *raw = NULL;
  gsize raw_len = 0;
  GString *pong;

  if (id_node == NULL || ts_node == NULL)
    {
      reply_error (out, "missing_field", "PING needs an id (string) and a ts (number)");
      return;
    }
  if (!ww_json_get_string (msg, "id", &id))
    {
      reply_error (out, "bad_field", "PING id must be a string");
      return;
    }
  if (!g_utf8_validate (id, -1, NULL))
    {
      reply_error (out, "bad_utf8", "PING id is not valid UTF-8");
      return;
    }
  if (g_utf8_strlen (id, -1) > WW_FEED_MAX_PING_ID)
    {
      reply_error (out, "too_long", "PING id is longer than 64 characters");
      return;
    }
  if (!member_is_number (ts_node))
    {
      reply_error (out, "bad_field", "PING ts must be a number");
      return;
    }

  pong = g_string_sized_new (96 + strlen (id));
  g_string_append (pong, "{\"type\":\"PONG\",\"id\":");
  ww_json_append_string (pong, id);
  g_string_append (pong, ",\"ts\":");
  if (find_raw_member (data, len, "ts", &raw, &raw_len) && is_json_number (raw, raw_len))
    g_string_append_len (pong, raw, (gssize) raw_len);
  else if (json_node_get_value_type (ts_node) == G_TYPE_INT64)
    g_string_append_printf (pong, "%" G_GINT64_FORMAT, json_node_get_int (ts_node));
  else
    {
      double value = json_node_get_double (ts_node);
      char buf[G_ASCII_DTOSTR_BUF_SIZE];

      if (!isfinite (value))
        {
          g_string_free (pong, TRUE);
          reply_error (out, "bad_field", "PING ts must be a finite number");
          return;
        }
      g_string_append (pong, g_ascii_dtostr (buf, sizeof buf, value));
    }
  g_string_append_printf (pong, ",\"serverTs\":%" G_GINT64_FORMAT "}", now_ms);
  g_ptr_array_add (out->replies, g_string_free_to_bytes (pong));
}

static void
handle_chat (JsonObject    *msg,
             const char    *client_id,
             gint64         now_ms,
             WwFeedActions *out)
{
  const char *text = NULL;
  gsize text_len;

  if (json_object_get_member (msg, "text") == NULL)
    {
      reply_error (out, "missing_field", "CHAT needs a text");
      return;
    }
  if (!ww_json_get_string (msg, "text", &text))
    {
      reply_error (out, "bad_field", "CHAT text must be a string");
      return;
    }
  text_len = strlen (text);
  if (text_len > WW_FEED_MAX_CHAT)
    {
      reply_error (out, "too_long", "CHAT text is longer than 4096 bytes");
      return;
    }
  /* The frame was valid UTF-8, but a \ud800 escape may not be. */
  if (!g_utf8_validate (text, (gssize) text_len, NULL))
    {
      reply_error (out, "bad_utf8", "CHAT text is not valid UTF-8");
      return;
    }
  if (text_len == 0)
    {
      reply_error (out, "bad_field", "CHAT text is empty");
      return;
    }
  out->broadcast = ww_feed_message_chat (client_id, text, now_ms);
}

static void
handle_resume (WwFeedState   *state,
               JsonObject    *msg,
               const char    *data,
               gsize          len,
               guint64        live_from,
               WwFeedActions *out)
{
  const char *raw = NULL;
  gsize raw_len = 0;
  gint64 seq;

  if (json_object_get_member (msg, "seq") == NULL)
    {
      reply_error (out, "missing_field", "RESUME needs the last seq seen");
      return;
    }
  if (!ww_json_get_int (msg, "seq", &seq) || seq < 0)
    {
      reply_error (out, "bad_field", "RESUME seq must be a non-negative integer");
      return;
    }
  /* json-glib wraps integers beyond 64 bits around; read the text. */
  if (find_raw_member (data, len, "seq", &raw, &raw_len))
    {
      g_autofree char *digits = g_strndup (raw, raw_len);
      guint64 value;

      if (!g_ascii_string_to_unsigned (digits, 10, 0, G_MAXINT64, &value, NULL) ||
          value != (guint64) seq)
        {
          reply_error (out, "bad_field", "RESUME seq is out of range");
          return;
        }
    }
  if (ww_feed_state_resume (state, (guint64) seq, live_from, out->replies) ==
      WW_FEED_RESUME_INITIAL)
    g_ptr_array_add (out->replies, ww_feed_state_get_initial (state));
}

void
ww_feed_protocol_handle (WwFeedState   *state,
                         const char    *client_id,
                         guint64        live_from,
                         guint8         opcode,
                         const guint8  *data,
                         gsize          len,
                         gint64         now_ms,
                         WwFeedActions *out)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *root, *type_node;
  JsonObject *msg;
  const char *type;

  g_return_if_fail (state != NULL);
  g_return_if_fail (client_id != NULL);
  g_return_if_fail (data != NULL || len == 0);
  g_return_if_fail (out != NULL && out->replies != NULL);

  if (opcode != OPCODE_TEXT)
    {
      reply_error (out, "binary_unsupported",
                   "the feed speaks JSON in text frames, not binary ones");
      return;
    }
  if (data == NULL)
    data = (const guint8 *) "";

  /* U+0000 is UTF-8 but never JSON text outside a \u escape. */
  if (memchr (data, '\0', len) != NULL)
    {
      reply_error (out, "bad_json", "the message is not valid JSON");
      return;
    }
  /* The server checked the frame's UTF-8 (RFC 6455 §8.1); check again so
   * that this function is safe on any input. */
  if (!g_utf8_validate ((const char *) data, (gssize) len, NULL))
    {
      reply_error (out, "bad_utf8", "the message is not valid UTF-8");
      return;
    }
  switch (check_json ((const char *) data, len))
    {
    case JSON_CHECK_OK:
      break;
    case JSON_CHECK_TOO_DEEP:
      reply_error (out, "too_deep", "the message is nested too deeply");
      return;
    case JSON_CHECK_BAD:
    default:
      reply_error (out, "bad_json",
                   len == 0 ? "the message is empty" : "the message is not valid JSON");
      return;
    }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, (const char *) data, (gssize) len, &error))
    {
      reply_error (out, "bad_json", "the message is not valid JSON");
      return;
    }
  root = json_parser_get_root (parser);
  /* json-glib 1.6 accepts empty input with a NULL root. */
  if (root == NULL)
    {
      reply_error (out, "bad_json", "the message is empty");
      return;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      reply_error (out, "not_object", "a message is one JSON object with a type");
      return;
    }
  msg = json_node_get_object (root);
  type_node = json_object_get_member (msg, "type");
  if (type_node == NULL)
    {
      reply_error (out, "missing_type", "the message has no type");
      return;
    }
  if (!ww_json_get_string (msg, "type", &type))
    {
      reply_error (out, "bad_field", "type must be a string");
      return;
    }

  if (g_str_equal (type, "PING"))
    handle_ping (msg, (const char *) data, len, now_ms, out);
  else if (g_str_equal (type, "CHAT"))
    handle_chat (msg, client_id, now_ms, out);
  else if (g_str_equal (type, "RESUME"))
    handle_resume (state, msg, (const char *) data, len, live_from, out);
  else
    reply_error (out, "unknown_type", "unknown type; a client sends PING, CHAT or RESUME");
}

/* ------------------------------------------------------------------ */

void
ww_token_bucket_init (WwTokenBucket *bucket,
                      guint          rate,
                      gint64         now_us)
{
  bucket->rate = rate;
  bucket->tokens = 2.0 * rate;
  bucket->last_us = now_us;
  bucket->warned = FALSE;
}

WwRateVerdict
ww_token_bucket_take (WwTokenBucket *bucket,
                      gint64         now_us)
{
  double burst;

  if (bucket->rate == 0)
    return WW_RATE_OK;

  burst = 2.0 * bucket->rate;
  if (now_us > bucket->last_us)
    {
      bucket->tokens += (double) (now_us - bucket->last_us) * bucket->rate / G_USEC_PER_SEC;
      bucket->last_us = now_us;
    }
  if (bucket->tokens >= burst)
    {
      /* Calm for a whole burst: forgive the earlier warning. */
      bucket->tokens = burst;
      bucket->warned = FALSE;
    }

  if (bucket->tokens >= 1.0)
    {
      bucket->tokens -= 1.0;
      return WW_RATE_OK;
    }
  if (!bucket->warned)
    {
      bucket->warned = TRUE;
      return WW_RATE_WARN;
    }
  return WW_RATE_CLOSE;
}
