/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-fuzz"

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/ww-frame.h"
#include "protocol/ww-message-parser.h"
#include "protocol/ww-protocol-error.h"
#include "protocol/ww-utf8.h"

/*
 * libFuzzer target for the frame/message parser.
 *
 * Input: byte 0 picks the configuration (bit 0: client role, bit 1:
 * RSV1 allowed, bit 2: no UTF-8 check, bit 3: small limits), byte 1 seeds
 * the read sizes; the rest is the byte stream.
 *
 * Properties checked:
 * - the stream parsed in one read and in reads of pseudo-random sizes
 *   gives the same events and the same outcome (split invariance);
 * - every event is well formed: a known opcode, text that is valid UTF-8
 *   when checked, sizes within the limits, close codes that may be sent;
 * - an error carries 1002, 1007 or 1009;
 * - every data message re-encoded by the writer of the other role parses
 *   back to itself.
 */

static void
abort_on_critical (const char     *log_domain,
                   GLogLevelFlags  log_level,
                   const char     *message,
                   gpointer        user_data)
{
  /* G_DEBUG=fatal-criticals raises SIGTRAP, which libFuzzer does not
   * report as a crash; abort() is. */
  if (log_level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL |
                   G_LOG_LEVEL_ERROR))
    {
      g_printerr ("%s: %s\n", log_domain ? log_domain : "", message);
      abort ();
    }
}

int LLVMFuzzerInitialize (int    *argc,
                          char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_log_set_default_handler (abort_on_critical, NULL);
  return 0;
}

#define CHECK(cond) \
  G_STMT_START { if (!(cond)) { g_printerr ("check failed: %s\n", #cond); abort (); } } G_STMT_END

typedef struct {
  guint8   opcode;
  gboolean compressed;
  gsize    len;
  guint32  hash;
  guint16  close_code;
} Record;

typedef struct {
  GArray *records;
  gint    error;
} Outcome;

static guint32
hash_bytes (const guint8 *p,
            gsize         n)
{
  guint32 h = 2166136261u; /* FNV-1a */

  for (gsize i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static void
check_event (const WwParseEvent   *ev,
             WwParseResult         r,
             const WwParserLimits *limits)
{
  CHECK (ev->data != NULL);
  if (r == WW_PARSE_MESSAGE)
    {
      CHECK (ev->opcode == WW_OPCODE_TEXT || ev->opcode == WW_OPCODE_BINARY);
      CHECK (ev->len <= limits->max_message);
      CHECK (!ev->compressed || limits->allow_rsv1);
      if (ev->opcode == WW_OPCODE_TEXT && !ev->compressed && limits->validate_utf8)
        CHECK (ww_utf8_validate (ev->data, ev->len));
    }
  else
    {
      CHECK (ev->opcode == WW_OPCODE_PING || ev->opcode == WW_OPCODE_PONG ||
             ev->opcode == WW_OPCODE_CLOSE);
      CHECK (ev->len <= 125);
      CHECK (!ev->compressed);
      if (ev->opcode == WW_OPCODE_CLOSE)
        {
          if (ev->len == 0)
            CHECK (ev->close_code == WW_CLOSE_NO_STATUS);
          else
            {
              CHECK (ww_close_code_is_valid (ev->close_code));
              CHECK (ww_utf8_validate ((const guint8 *) ev->close_reason, ev->close_reason_len));
              CHECK (ev->close_reason_len == ev->len - 2);
            }
        }
    }
}

/* Parses @stream (a private copy: it is unmasked in place) in reads whose
 * sizes come from @seed; seed 0 means one read. */
static Outcome
parse (WwRole                role,
       const WwParserLimits *limits,
       const guint8         *stream,
       gsize                 len,
       guint                 seed)
{
  g_autoptr(WwMessageParser) p = ww_message_parser_new (role, limits);
  /* Never NULL, even for an empty stream: NULL + 0 is undefined. */
  g_autofree guint8 *copy = g_malloc (MAX (len, 1));
  Outcome out = { g_array_new (FALSE, FALSE, sizeof (Record)), 0 };
  gsize off = 0;
  guint32 lcg = seed;

  if (len > 0)
    memcpy (copy, stream, len);

  while (off < len || len == 0)
    {
      gsize n = len - off;
      gsize pos = 0;

      if (seed != 0)
        {
          lcg = lcg * 1103515245u + 12345u;
          n = MIN (n, 1 + ((lcg >> 16) % 23));
        }

      for (;;)
        {
          g_autoptr(GError) error = NULL;
          WwParseEvent ev;
          gsize used = 0;
          WwParseResult r = ww_message_parser_feed (p, copy + off + pos, n - pos, &used, &ev,
                                                    &error);

          CHECK (used <= n - pos);
          pos += used;
          if (r == WW_PARSE_NEED_MORE)
            {
              CHECK (error == NULL && pos == n);
              break;
            }
          if (r == WW_PARSE_ERROR)
            {
              CHECK (error != NULL && error->domain == WW_PROTOCOL_ERROR);
              CHECK (error->code == WW_CLOSE_PROTOCOL_ERROR ||
                     error->code == WW_CLOSE_INVALID_PAYLOAD ||
                     error->code == WW_CLOSE_MESSAGE_TOO_BIG);
              out.error = error->code;
              return out;
            }
          CHECK (error == NULL);
          check_event (&ev, r, limits);
          {
            Record rec = { ev.opcode, ev.compressed, ev.len, hash_bytes (ev.data, ev.len),
                           ev.close_code };

            g_array_append_val (out.records, rec);
          }
        }
      off += n;
      if (len == 0)
        break;
    }
  return out;
}

/* A message written by the other side's writer reads back unchanged. */
static void
check_roundtrip (WwRole        role,
                 const guint8 *data,
                 gsize         len,
                 guint8        opcode,
                 gboolean      validate_utf8)
{
  WwRole writer = role == WW_ROLE_SERVER ? WW_ROLE_CLIENT : WW_ROLE_SERVER;
  g_autoptr(GBytes) frame = ww_frame_encode (writer, opcode, data, len);
  WwParserLimits limits = { 0, 0, FALSE, validate_utf8 };
  g_autoptr(WwMessageParser) p = ww_message_parser_new (role, &limits);
  gsize total = 0;
  g_autofree guint8 *copy = g_bytes_unref_to_data (g_steal_pointer (&frame), &total);
  g_autoptr(GError) error = NULL;
  WwParseEvent ev;
  gsize used;

  CHECK (ww_message_parser_feed (p, copy, total, &used, &ev, &error) == WW_PARSE_MESSAGE);
  CHECK (used == total && ev.len == len && ev.opcode == opcode);
  CHECK (len == 0 || memcmp (ev.data, data, len) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  WwParserLimits limits = { 0, 1 << 20, FALSE, TRUE };
  WwRole role;
  Outcome whole, split;

  if (size < 2)
    return 0;

  role = (data[0] & 1) ? WW_ROLE_CLIENT : WW_ROLE_SERVER;
  limits.allow_rsv1 = (data[0] & 2) != 0;
  limits.validate_utf8 = (data[0] & 4) == 0;
  if (data[0] & 8)
    {
      limits.max_frame = 200;
      limits.max_message = 300;
    }

  whole = parse (role, &limits, data + 2, size - 2, 0);
  split = parse (role, &limits, data + 2, size - 2, 1u + data[1]);

  CHECK (whole.error == split.error);
  CHECK (whole.records->len == split.records->len);
  for (guint i = 0; i < whole.records->len; i++)
    {
      Record *a = &g_array_index (whole.records, Record, i);
      Record *b = &g_array_index (split.records, Record, i);

      CHECK (a->opcode == b->opcode && a->compressed == b->compressed && a->len == b->len &&
             a->hash == b->hash && a->close_code == b->close_code);
    }

  /* Round-trip the first message of a fresh parse (events point into a
   * buffer that lives only until the next feed). */
  {
    g_autoptr(WwMessageParser) p = ww_message_parser_new (role, &limits);
    g_autofree guint8 *copy = g_memdup2 (data + 2, size - 2);
    g_autoptr(GError) error = NULL;
    WwParseEvent ev;
    gsize used;
    gsize off = 0;

    while (off < size - 2)
      {
        WwParseResult r = ww_message_parser_feed (p, copy + off, size - 2 - off, &used, &ev,
                                                  &error);

        off += used;
        if (r == WW_PARSE_MESSAGE)
          {
            check_roundtrip (role, ev.data, ev.len, ev.opcode,
                             limits.validate_utf8 && !ev.compressed);
            break;
          }
        if (r != WW_PARSE_CONTROL)
          break;
      }
  }

  g_array_unref (whole.records);
  g_array_unref (split.records);
  return 0;
}
