/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/*
 * Test helpers: build raw frames byte by byte (so that malformed ones can
 * be made too) and run a parser over a stream in chunks of a given size,
 * recording every event.
 */

#include <string.h>

#include <glib.h>

#include "ww-message-parser.h"
#include "ww-protocol-error.h"

static const guint8 test_mask_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Appends one frame.  @len_form: 0 = shortest, 16 or 64 to force a form. */
static inline void
append_frame_full (GByteArray *out,
                   gboolean    fin,
                   guint       rsv,
                   guint       opcode,
                   gboolean    masked,
                   const void *payload,
                   gsize       len,
                   guint       len_form)
{
  guint8 b[14];
  gsize n = 2;
  gsize start;

  b[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0xf);
  b[1] = masked ? 0x80 : 0;
  if (len_form == 0 && len < 126)
    b[1] |= (guint8) len;
  else if (len_form == 16 || (len_form == 0 && len <= 0xffff))
    {
      b[1] |= 126;
      b[2] = (guint8) (len >> 8);
      b[3] = (guint8) len;
      n = 4;
    }
  else
    {
      b[1] |= 127;
      for (guint i = 0; i < 8; i++)
        b[2 + i] = (guint8) ((guint64) len >> (56 - 8 * i));
      n = 10;
    }
  if (masked)
    {
      memcpy (b + n, test_mask_key, 4);
      n += 4;
    }
  g_byte_array_append (out, b, (guint) n);
  start = out->len;
  if (len > 0)
    g_byte_array_append (out, payload, (guint) len);
  if (masked)
    for (gsize i = 0; i < len; i++)
      out->data[start + i] ^= test_mask_key[i & 3];
}

static inline void
append_frame (GByteArray *out,
              gboolean    fin,
              guint       opcode,
              gboolean    masked,
              const char *payload)
{
  append_frame_full (out, fin, 0, opcode, masked, payload, payload ? strlen (payload) : 0, 0);
}

typedef struct {
  guint8   opcode;
  gboolean compressed;
  GBytes  *data;
  guint16  close_code;
  char    *close_reason;
} TestEvent;

typedef struct {
  GArray *events;    /* TestEvent */
  gint    error_code; /* 0, or the close code of the error */
  gboolean need_more; /* ended waiting for more input */
} TestRun;

static inline void
test_event_clear (gpointer p)
{
  TestEvent *e = p;

  g_bytes_unref (e->data);
  g_free (e->close_reason);
}

static inline void
test_run_free (TestRun *run)
{
  g_array_unref (run->events);
  g_free (run);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestRun, test_run_free)

/*
 * Feeds @len bytes in chunks of @chunk (0 = all at once), each chunk in a
 * fresh heap copy so that ASan sees any read past what was given.
 */
static inline TestRun *
test_run_parser (WwMessageParser *parser,
                 const guint8    *stream,
                 gsize            len,
                 gsize            chunk)
{
  TestRun *run = g_new0 (TestRun, 1);
  gsize off = 0;
  guint guard = 0;

  run->events = g_array_new (FALSE, TRUE, sizeof (TestEvent));
  g_array_set_clear_func (run->events, test_event_clear);
  if (chunk == 0)
    chunk = MAX (len, 1);

  do
    {
      gsize n = MIN (chunk, len - off);
      guint8 *copy = g_memdup2 (stream + off, n);
      gsize pos = 0;

      for (;;)
        {
          g_autoptr(GError) error = NULL;
          WwParseEvent ev;
          gsize used = 0;
          WwParseResult r;

          g_assert_cmpuint (++guard, <, 10000000);
          r = ww_message_parser_feed (parser, copy + pos, n - pos, &used, &ev, &error);
          g_assert_cmpuint (used, <=, n - pos);
          pos += used;
          if (r == WW_PARSE_NEED_MORE)
            {
              g_assert_no_error (error);
              g_assert_cmpuint (pos, ==, n);
              run->need_more = TRUE;
              break;
            }
          if (r == WW_PARSE_ERROR)
            {
              g_assert_error (error, WW_PROTOCOL_ERROR, error->code);
              run->error_code = error->code;
              run->need_more = FALSE;
              g_free (copy);
              return run;
            }
          g_assert_no_error (error);
          {
            TestEvent te = { 0 };

            te.opcode = ev.opcode;
            te.compressed = ev.compressed;
            g_assert_true (ev.data != NULL);
            te.data = g_bytes_new (ev.data, ev.len);
            te.close_code = ev.close_code;
            if (ev.close_reason != NULL)
              te.close_reason = g_strndup (ev.close_reason, ev.close_reason_len);
            g_array_append_val (run->events, te);
          }
          run->need_more = FALSE;
        }
      g_free (copy);
      off += n;
    }
  while (off < len);

  return run;
}

static inline TestEvent *
test_run_event (TestRun *run,
                guint    i)
{
  g_assert_cmpuint (i, <, run->events->len);
  return &g_array_index (run->events, TestEvent, i);
}

static inline void
assert_event_data (TestEvent  *e,
                   const void *data,
                   gsize       len)
{
  gsize got_len;
  const void *got = g_bytes_get_data (e->data, &got_len);

  g_assert_cmpmem (got, got_len, data, len);
}
