/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test"

#include "config.h"

#include <string.h>

#include "ww-frame.h"
#include "ww-message-parser.h"
#include "ww-frame-builder.h"
#include "ww-protocol-private.h"

/*
 * Table-driven frame and message cases.  Each case is a sequence of frames
 * and the expected outcome: the events in order (t text, b binary, p ping,
 * o pong, c close) and the close code of the error that ends the stream
 * (0 = none).  Every case runs whole and split into 1, 2, 3, 5 and 13-byte
 * reads, which must not change the outcome.  Cases named "ab N.N.N" follow
 * Autobahn|Testsuite's case of that number at codec level.
 */

#define BY_ROLE 0
#define MASKED 1
#define UNMASKED 2

typedef struct {
  gboolean    fin;
  guint       rsv;
  guint       opcode;
  const char *payload;  /* NULL with len = -1: empty */
  gssize      len;      /* -1: strlen (payload); else a fill of 'x' bytes */
  guint       len_form; /* 0 shortest, 16 or 64 */
  guint       mask;     /* BY_ROLE, MASKED, UNMASKED */
} FrameSpec;

typedef struct {
  const char *name;
  WwRole      role;
  gboolean    allow_rsv1;
  guint64     max_message;
  const char *expect;
  gint        error;
  FrameSpec   frames[12];
} Case;

#define F(fin, op, text) { fin, 0, op, text, -1, 0, BY_ROLE }
#define FL(fin, op, n) { fin, 0, op, NULL, n, 0, BY_ROLE }
#define FR(rsv, op, text) { TRUE, rsv, op, text, -1, 0, BY_ROLE }
#define END { 0, 0, 0xff, NULL, 0, 0, 0 }

enum { CONT = 0, TEXT = 1, BIN = 2, CLOSE = 8, PING = 9, PONG = 10 };

static const Case cases[] = {
  /* 1.x: framing of text and binary messages of the edge lengths. */
  { "ab 1.1.1 text 0", WW_ROLE_SERVER, 0, 0, "t", 0, { FL (1, TEXT, 0), END } },
  { "ab 1.1.2 text 125", WW_ROLE_SERVER, 0, 0, "t", 0, { FL (1, TEXT, 125), END } },
  { "ab 1.1.3 text 126", WW_ROLE_SERVER, 0, 0, "t", 0, { FL (1, TEXT, 126), END } },
  { "ab 1.1.4 text 127", WW_ROLE_SERVER, 0, 0, "t", 0, { FL (1, TEXT, 127), END } },
  { "ab 1.1.5 text 128", WW_ROLE_SERVER, 0, 0, "t", 0, { FL (1, TEXT, 128), END } },
  { "ab 1.1.6 text 65535", WW_ROLE_SERVER, 0, 0, "t", 0, { FL (1, TEXT, 65535), END } },
  { "ab 1.1.7 text 65536", WW_ROLE_SERVER, 0, 0, "t", 0, { FL (1, TEXT, 65536), END } },
  { "ab 1.2.1 binary 0", WW_ROLE_SERVER, 0, 0, "b", 0, { FL (1, BIN, 0), END } },
  { "ab 1.2.3 binary 126", WW_ROLE_SERVER, 0, 0, "b", 0, { FL (1, BIN, 126), END } },
  { "ab 1.2.7 binary 65536", WW_ROLE_SERVER, 0, 0, "b", 0, { FL (1, BIN, 65536), END } },
  /* 2.x: pings and pongs. */
  { "ab 2.1 ping empty", WW_ROLE_SERVER, 0, 0, "p", 0, { F (1, PING, NULL), END } },
  { "ab 2.2 ping text", WW_ROLE_SERVER, 0, 0, "p", 0, { F (1, PING, "Hello, world!"), END } },
  { "ab 2.4 ping 125", WW_ROLE_SERVER, 0, 0, "p", 0, { FL (1, PING, 125), END } },
  { "ab 2.5 ping 126", WW_ROLE_SERVER, 0, 0, "", 1002, { FL (1, PING, 126), END } },
  { "ab 2.7 unsolicited pong", WW_ROLE_SERVER, 0, 0, "o", 0, { F (1, PONG, NULL), END } },
  { "ab 2.8 pong payload", WW_ROLE_SERVER, 0, 0, "o", 0, { F (1, PONG, "unsolicited"), END } },
  { "ab 2.9 pong then ping", WW_ROLE_SERVER, 0, 0, "op", 0,
    { F (1, PONG, "x"), F (1, PING, "y"), END } },
  { "ab 2.10 ten pings", WW_ROLE_SERVER, 0, 0, "pppppppppp", 0,
    { F (1, PING, "0"), F (1, PING, "1"), F (1, PING, "2"), F (1, PING, "3"), F (1, PING, "4"),
      F (1, PING, "5"), F (1, PING, "6"), F (1, PING, "7"), F (1, PING, "8"), F (1, PING, "9"),
      END } },
  /* 3.x: reserved bits. */
  { "ab 3.1 rsv1 text", WW_ROLE_SERVER, 0, 0, "", 1002, { FR (4, TEXT, "x"), END } },
  { "ab 3.2 rsv2 after text", WW_ROLE_SERVER, 0, 0, "t", 1002,
    { F (1, TEXT, "ok"), FR (2, TEXT, "x"), F (1, PING, NULL), END } },
  { "ab 3.3 rsv3", WW_ROLE_SERVER, 0, 0, "t", 1002,
    { F (1, TEXT, "ok"), FR (1, TEXT, "x"), END } },
  { "ab 3.4 rsv1+2", WW_ROLE_SERVER, 0, 0, "", 1002, { FR (6, TEXT, "x"), END } },
  { "ab 3.5 rsv1+3 binary", WW_ROLE_SERVER, 0, 0, "", 1002, { FR (5, BIN, "x"), END } },
  { "ab 3.6 rsv2+3 ping", WW_ROLE_SERVER, 0, 0, "", 1002, { FR (3, PING, "x"), END } },
  { "ab 3.7 all rsv close", WW_ROLE_SERVER, 0, 0, "", 1002, { FR (7, CLOSE, NULL), END } },
  { "rsv1 with deflate", WW_ROLE_SERVER, 1, 0, "t", 0, { FR (4, TEXT, "x"), END } },
  { "rsv1 on ping with deflate", WW_ROLE_SERVER, 1, 0, "", 1002, { FR (4, PING, "x"), END } },
  { "rsv1 on continuation", WW_ROLE_SERVER, 1, 0, "", 1002,
    { F (0, TEXT, "a"), { 1, 4, CONT, "b", -1, 0, BY_ROLE }, END } },
  { "rsv2 with deflate", WW_ROLE_SERVER, 1, 0, "", 1002, { FR (2, TEXT, "x"), END } },
  /* 4.x: reserved opcodes. */
  { "ab 4.1.1 opcode 3", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, 3, NULL), END } },
  { "ab 4.1.2 opcode 4", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, 4, "x"), END } },
  { "ab 4.1.3 opcode 5", WW_ROLE_SERVER, 0, 0, "t", 1002,
    { F (1, TEXT, "ok"), F (1, 5, NULL), F (1, PING, NULL), END } },
  { "ab 4.1.4 opcode 6", WW_ROLE_SERVER, 0, 0, "t", 1002,
    { F (1, TEXT, "a"), F (1, 6, "x"), END } },
  { "ab 4.1.5 opcode 7", WW_ROLE_SERVER, 0, 0, "t", 1002,
    { F (1, TEXT, "a"), F (1, 7, "x"), END } },
  { "ab 4.2.1 opcode 11", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, 11, NULL), END } },
  { "ab 4.2.2 opcode 12", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, 12, "x"), END } },
  { "ab 4.2.3 opcode 13", WW_ROLE_SERVER, 0, 0, "t", 1002,
    { F (1, TEXT, "a"), F (1, 13, NULL), END } },
  { "ab 4.2.4 opcode 14", WW_ROLE_SERVER, 0, 0, "t", 1002,
    { F (1, TEXT, "a"), F (1, 14, "x"), END } },
  { "ab 4.2.5 opcode 15", WW_ROLE_SERVER, 0, 0, "t", 1002,
    { F (1, TEXT, "a"), F (1, 15, "x"), END } },
  /* 5.x: fragmentation. */
  { "ab 5.1 fragmented ping", WW_ROLE_SERVER, 0, 0, "", 1002,
    { F (0, PING, "frag1"), F (1, CONT, "frag2"), END } },
  { "ab 5.2 fragmented pong", WW_ROLE_SERVER, 0, 0, "", 1002,
    { F (0, PONG, "frag1"), F (1, CONT, "frag2"), END } },
  { "ab 5.3 text in two", WW_ROLE_SERVER, 0, 0, "t", 0,
    { F (0, TEXT, "frag1"), F (1, CONT, "frag2"), END } },
  { "ab 5.6 ping between fragments", WW_ROLE_SERVER, 0, 0, "pt", 0,
    { F (0, TEXT, "frag1"), F (1, PING, "ping"), F (1, CONT, "frag2"), END } },
  { "ab 5.9 continuation without message", WW_ROLE_SERVER, 0, 0, "", 1002,
    { F (1, CONT, "x"), F (0, TEXT, "a"), F (1, CONT, "b"), END } },
  { "ab 5.12 non-final continuation first", WW_ROLE_SERVER, 0, 0, "", 1002,
    { F (0, CONT, "x"), END } },
  { "ab 5.15 continuation after message", WW_ROLE_SERVER, 0, 0, "t", 1002,
    { F (0, TEXT, "a"), F (1, CONT, "b"), F (0, CONT, "c"), F (1, CONT, "d"), END } },
  { "ab 5.18 text inside text", WW_ROLE_SERVER, 0, 0, "", 1002,
    { F (0, TEXT, "a"), F (1, TEXT, "b"), END } },
  { "binary inside text", WW_ROLE_SERVER, 0, 0, "", 1002,
    { F (0, TEXT, "a"), F (0, BIN, "b"), END } },
  { "ab 5.19 pings in many fragments", WW_ROLE_SERVER, 0, 0, "ppt", 0,
    { F (0, TEXT, "f1"), F (0, CONT, "f2"), F (1, PING, "p1"), F (0, CONT, "f3"),
      F (0, CONT, "f4"), F (1, PING, "p2"), F (0, CONT, "f5"), F (1, CONT, "f6"), END } },
  { "empty fragments", WW_ROLE_SERVER, 0, 0, "tb", 0,
    { F (0, TEXT, NULL), F (0, CONT, NULL), F (1, CONT, NULL), F (0, BIN, NULL),
      F (1, CONT, NULL), END } },
  { "close inside fragments", WW_ROLE_SERVER, 0, 0, "c", 0,
    { F (0, TEXT, "a"), { 1, 0, CLOSE, "\x03\xe8", -1, 0, BY_ROLE }, END } },
  /* 6.x: UTF-8 in text messages (more in test-utf8). */
  { "ab 6.1.1 empty text", WW_ROLE_SERVER, 0, 0, "t", 0, { F (1, TEXT, ""), END } },
  { "ab 6.2.1 valid multibyte", WW_ROLE_SERVER, 0, 0, "t", 0,
    { F (1, TEXT, "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1"
                  "-UTF-8!!"), END } },
  { "ab 6.2.3 split inside a character", WW_ROLE_SERVER, 0, 0, "t", 0,
    { F (0, TEXT, "\xce\xba\xe1"), F (0, CONT, "\xbd\xb9\xcf\x83"),
      F (1, CONT, "\xce\xbc\xce\xb5"),
      END } },
  { "ab 6.3.1 invalid kosme", WW_ROLE_SERVER, 0, 0, "", 1007,
    { F (1, TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
                  "edited"),
      END } },
  { "ab 6.4.1 fail in first fragment", WW_ROLE_SERVER, 0, 0, "", 1007,
    { F (0, TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), F (0, CONT, "\xf4\x90\x80\x80"),
      F (1, CONT, "edited"), END } },
  { "text ends inside a character", WW_ROLE_SERVER, 0, 0, "", 1007,
    { F (0, TEXT, "ab\xe2\x82"), F (1, CONT, NULL), END } },
  { "binary is not validated", WW_ROLE_SERVER, 0, 0, "b", 0,
    { F (1, BIN, "\xff\xfe\xed\xa0\x80"), END } },
  /* 7.x: closing. */
  { "ab 7.1.1 text then close", WW_ROLE_SERVER, 0, 0, "tc", 0,
    { F (1, TEXT, "Hello"), { 1, 0, CLOSE, "\x03\xe8", -1, 0, BY_ROLE }, END } },
  { "ab 7.3.1 close empty", WW_ROLE_SERVER, 0, 0, "c", 0, { F (1, CLOSE, NULL), END } },
  { "ab 7.3.2 close 1 byte", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, CLOSE, "a"), END } },
  { "ab 7.3.4 close with reason", WW_ROLE_SERVER, 0, 0, "c", 0,
    { F (1, CLOSE, "\x03\xe8Hello World!"), END } },
  { "ab 7.3.5 close 123-byte reason", WW_ROLE_SERVER, 0, 0, "c", 0,
    { { 1, 0, CLOSE, "\x03\xe8*****************************************************************"
        "**********************************************************", 125, 0, BY_ROLE }, END } },
  { "ab 7.3.6 close 124-byte reason", WW_ROLE_SERVER, 0, 0, "", 1002,
    { FL (1, CLOSE, 126), END } },
  { "ab 7.5.1 close reason not UTF-8", WW_ROLE_SERVER, 0, 0, "", 1007,
    { F (1, CLOSE, "\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), END } },
  { "ab 7.7.1 close 1000", WW_ROLE_SERVER, 0, 0, "c", 0, { F (1, CLOSE, "\x03\xe8"), END } },
  { "ab 7.7.13 close 3000", WW_ROLE_SERVER, 0, 0, "c", 0, { F (1, CLOSE, "\x0b\xb8"), END } },
  { "ab 7.7.13 close 4999", WW_ROLE_SERVER, 0, 0, "c", 0, { F (1, CLOSE, "\x13\x87"), END } },
  { "ab 7.9.1 close 0", WW_ROLE_SERVER, 0, 0, "", 1002,
    { { 1, 0, CLOSE, "\0\0", 2, 0, 0 }, END } },
  { "ab 7.9.3 close 1004", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, CLOSE, "\x03\xec"), END } },
  { "ab 7.9.4 close 1005", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, CLOSE, "\x03\xed"), END } },
  { "ab 7.9.5 close 1006", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, CLOSE, "\x03\xee"), END } },
  { "ab 7.9.9 close 1016", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, CLOSE, "\x03\xf8"), END } },
  { "ab 7.9.11 close 2999", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, CLOSE, "\x0b\xb7"), END } },
  { "close 5000", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, CLOSE, "\x13\x88"), END } },
  { "close 1015", WW_ROLE_SERVER, 0, 0, "", 1002, { F (1, CLOSE, "\x03\xf7"), END } },
  /* Masking (§5.1). */
  { "unmasked client frame", WW_ROLE_SERVER, 0, 0, "", 1002,
    { { 1, 0, TEXT, "x", -1, 0, UNMASKED }, END } },
  { "masked server frame", WW_ROLE_CLIENT, 0, 0, "", 1002,
    { { 1, 0, TEXT, "x", -1, 0, MASKED }, END } },
  { "client role reads unmasked", WW_ROLE_CLIENT, 0, 0, "tpc", 0,
    { F (1, TEXT, "x"), F (0, BIN, NULL), F (1, PING, "p"), F (1, CLOSE, NULL), END } },
  /* Lengths (§5.2): minimal encodings only, 63-bit range. */
  { "16-bit form for 125", WW_ROLE_SERVER, 0, 0, "", 1002,
    { { 1, 0, BIN, NULL, 125, 16, BY_ROLE }, END } },
  { "16-bit form for 126", WW_ROLE_SERVER, 0, 0, "b", 0,
    { { 1, 0, BIN, NULL, 126, 16, BY_ROLE }, END } },
  { "64-bit form for 65535", WW_ROLE_SERVER, 0, 0, "", 1002,
    { { 1, 0, BIN, NULL, 65535, 64, BY_ROLE }, END } },
  { "64-bit form for 65536", WW_ROLE_SERVER, 0, 0, "b", 0,
    { { 1, 0, BIN, NULL, 65536, 64, BY_ROLE }, END } },
  /* Limits (→ 1009, before allocation). */
  { "frame over max_message", WW_ROLE_SERVER, 0, 100, "", 1009, { FL (1, BIN, 101), END } },
  { "frame at max_message", WW_ROLE_SERVER, 0, 100, "b", 0, { FL (1, BIN, 100), END } },
  { "fragments over max_message", WW_ROLE_SERVER, 0, 100, "", 1009,
    { FL (0, TEXT, 60), FL (1, CONT, 41), END } },
  { "fragments at max_message", WW_ROLE_SERVER, 0, 100, "pt", 0,
    { FL (0, TEXT, 60), F (1, PING, "x"), FL (1, CONT, 40), END } },
};

static void
build_stream (const Case *c,
              GByteArray *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (c->frames) && c->frames[i].opcode != 0xff; i++)
    {
      const FrameSpec *f = &c->frames[i];
      gboolean masked = f->mask == BY_ROLE ? c->role == WW_ROLE_SERVER : f->mask == MASKED;
      g_autofree guint8 *fill = NULL;
      const void *payload = f->payload;
      gsize len;

      if (f->len >= 0 && f->payload == NULL)
        {
          fill = g_malloc (MAX (f->len, 1));
          memset (fill, 'x', f->len);
          payload = fill;
          len = f->len;
        }
      else if (f->len >= 0)
        len = f->len;
      else
        len = f->payload != NULL ? strlen (f->payload) : 0;

      append_frame_full (out, f->fin, f->rsv, f->opcode, masked, payload, len, f->len_form);
    }
}

static char
event_letter (guint8 opcode)
{
  switch (opcode)
    {
    case WW_OPCODE_TEXT: return 't';
    case WW_OPCODE_BINARY: return 'b';
    case WW_OPCODE_PING: return 'p';
    case WW_OPCODE_PONG: return 'o';
    case WW_OPCODE_CLOSE: return 'c';
    default: return '?';
    }
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  g_autoptr(GByteArray) stream = g_byte_array_new ();
  const gsize chunks[] = { 0, 1, 2, 3, 5, 13 };

  build_stream (c, stream);

  for (guint k = 0; k < G_N_ELEMENTS (chunks); k++)
    {
      WwParserLimits limits = { 0, c->max_message, c->allow_rsv1, TRUE };
      g_autoptr(WwMessageParser) p = ww_message_parser_new (c->role, &limits);
      g_autoptr(TestRun) run = test_run_parser (p, stream->data, stream->len, chunks[k]);
      g_autoptr(GString) got = g_string_new ("");

      for (guint i = 0; i < run->events->len; i++)
        g_string_append_c (got, event_letter (test_run_event (run, i)->opcode));

      g_test_message ("chunk %" G_GSIZE_FORMAT ": events \"%s\", error %d", chunks[k], got->str,
                      run->error_code);
      g_assert_cmpstr (got->str, ==, c->expect);
      g_assert_cmpint (run->error_code, ==, c->error);
    }
}

/* Payloads come out exactly, fragments joined, controls in between. */
static void
test_payloads (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  const gsize chunks[] = { 0, 1, 4, 6 };

  append_frame (s, FALSE, WW_OPCODE_TEXT, TRUE, "Hel");
  append_frame (s, TRUE, WW_OPCODE_PING, TRUE, "p1");
  append_frame (s, FALSE, WW_OPCODE_CONTINUATION, TRUE, "lo, ");
  append_frame (s, TRUE, WW_OPCODE_CONTINUATION, TRUE, "world");
  append_frame (s, TRUE, WW_OPCODE_BINARY, TRUE, "bin");
  append_frame (s, TRUE, WW_OPCODE_CLOSE, TRUE, "\x0f\xa0going");

  for (guint k = 0; k < G_N_ELEMENTS (chunks); k++)
    {
      g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
      g_autoptr(TestRun) run = test_run_parser (p, s->data, s->len, chunks[k]);
      TestEvent *e;

      g_assert_cmpint (run->error_code, ==, 0);
      g_assert_cmpuint (run->events->len, ==, 4);
      e = test_run_event (run, 0);
      g_assert_cmpuint (e->opcode, ==, WW_OPCODE_PING);
      assert_event_data (e, "p1", 2);
      e = test_run_event (run, 1);
      g_assert_cmpuint (e->opcode, ==, WW_OPCODE_TEXT);
      g_assert_false (e->compressed);
      assert_event_data (e, "Hello, world", 12);
      e = test_run_event (run, 2);
      g_assert_cmpuint (e->opcode, ==, WW_OPCODE_BINARY);
      assert_event_data (e, "bin", 3);
      e = test_run_event (run, 3);
      g_assert_cmpuint (e->opcode, ==, WW_OPCODE_CLOSE);
      g_assert_cmpuint (e->close_code, ==, 4000);
      g_assert_cmpstr (e->close_reason, ==, "going");
      g_assert_false (ww_message_parser_in_message (p));
    }
}

static void
test_close_no_status (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  g_autoptr(TestRun) run = NULL;

  append_frame (s, TRUE, WW_OPCODE_CLOSE, TRUE, NULL);
  run = test_run_parser (p, s->data, s->len, 0);
  g_assert_cmpuint (run->events->len, ==, 1);
  g_assert_cmpuint (test_run_event (run, 0)->close_code, ==, WW_CLOSE_NO_STATUS);
  g_assert_null (test_run_event (run, 0)->close_reason);
}

/* A frame wholly in the input is handed out in place: no copy. */
static void
test_zero_copy (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  g_autoptr(GError) error = NULL;
  WwParseEvent ev;
  gsize used;

  append_frame (s, TRUE, WW_OPCODE_TEXT, TRUE, "zero copy");
  append_frame (s, TRUE, WW_OPCODE_PING, TRUE, "ping");
  g_assert_cmpint (ww_message_parser_feed (p, s->data, s->len, &used, &ev, &error), ==,
                   WW_PARSE_MESSAGE);
  g_assert_no_error (error);
  g_assert_true (ev.data == s->data + 6);
  g_assert_cmpmem (ev.data, ev.len, "zero copy", 9);
  g_assert_cmpuint (used, ==, 15);
  g_assert_cmpuint (ww_message_parser_buffered (p), ==, 0);

  g_assert_cmpint (ww_message_parser_feed (p, s->data + used, s->len - used, &used, &ev, &error),
                   ==, WW_PARSE_CONTROL);
  g_assert_true (ev.data == s->data + 15 + 6);
  g_assert_cmpmem (ev.data, ev.len, "ping", 4);
}

/* The gather buffer exists only while a message is incomplete. */
static void
test_buffer_released (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  g_autoptr(GError) error = NULL;
  WwParseEvent ev;
  gsize used;

  append_frame (s, FALSE, WW_OPCODE_BINARY, TRUE, "abc");
  append_frame (s, TRUE, WW_OPCODE_CONTINUATION, TRUE, "def");

  g_assert_cmpint (ww_message_parser_feed (p, s->data, 9, &used, &ev, &error), ==,
                   WW_PARSE_NEED_MORE);
  g_assert_cmpuint (used, ==, 9);
  g_assert_true (ww_message_parser_in_message (p));
  g_assert_cmpuint (ww_message_parser_buffered (p), ==, 3);
  g_assert_cmpint (ww_message_parser_feed (p, s->data + 9, s->len - 9, &used, &ev, &error), ==,
                   WW_PARSE_MESSAGE);
  g_assert_cmpmem (ev.data, ev.len, "abcdef", 6);
  g_assert_false (ww_message_parser_in_message (p));
  g_assert_cmpint (ww_message_parser_feed (p, NULL, 0, &used, &ev, &error), ==,
                   WW_PARSE_NEED_MORE);
  g_assert_cmpuint (ww_message_parser_buffered (p), ==, 0);
  g_assert_no_error (error);
}

/* Once failed, a parser stays failed until reset. */
static void
test_sticky_error (void)
{
  g_autoptr(GByteArray) bad = g_byte_array_new ();
  g_autoptr(GByteArray) good = g_byte_array_new ();
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  g_autoptr(TestRun) run1 = NULL;
  g_autoptr(TestRun) run2 = NULL;
  g_autoptr(TestRun) run3 = NULL;

  append_frame (bad, TRUE, 3, TRUE, NULL);
  append_frame (good, TRUE, WW_OPCODE_TEXT, TRUE, "ok");
  run1 = test_run_parser (p, bad->data, bad->len, 0);
  g_assert_cmpint (run1->error_code, ==, 1002);
  run2 = test_run_parser (p, good->data, good->len, 0);
  g_assert_cmpint (run2->error_code, ==, 1002);
  ww_message_parser_reset (p);
  run3 = test_run_parser (p, good->data, good->len, 0);
  g_assert_cmpint (run3->error_code, ==, 0);
  g_assert_cmpuint (run3->events->len, ==, 1);
}

/* §5.2: a 64-bit length with the top bit set, and max_frame. */
static void
test_length_limits (void)
{
  const guint8 huge[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4 };
  const guint8 big[] = { 0x82, 0xff, 0x00, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4 };
  WwParserLimits limits = { 10, 1000, FALSE, TRUE };
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  g_autoptr(WwMessageParser) q = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  g_autoptr(WwMessageParser) r = ww_message_parser_new (WW_ROLE_SERVER, &limits);
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(TestRun) run1 = test_run_parser (p, huge, sizeof huge, 1);
  g_autoptr(TestRun) run2 = test_run_parser (q, big, sizeof big, 0);
  g_autoptr(TestRun) run3 = NULL;

  g_assert_cmpint (run1->error_code, ==, 1002);
  /* 1 TiB: refused on the header, nothing allocated. */
  g_assert_cmpint (run2->error_code, ==, 1009);
  g_assert_cmpuint (ww_message_parser_buffered (q), ==, 0);

  append_frame (s, FALSE, WW_OPCODE_TEXT, TRUE, "0123456789");
  append_frame (s, TRUE, WW_OPCODE_CONTINUATION, TRUE, "0123456789a");
  run3 = test_run_parser (r, s->data, s->len, 0);
  g_assert_cmpint (run3->error_code, ==, 1009);
}

/* UTF-8 fails on the byte that makes it invalid, before the frame ends. */
static void
test_utf8_fail_fast (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  const char *text = "valid \xce\xba then \xc0 and more bytes after the bad one";
  gsize bad_at = 6 + 2 + 6; /* offset of \xc0 in the payload */
  gsize fed = 0;
  gint code = 0;

  append_frame (s, TRUE, WW_OPCODE_TEXT, TRUE, text);
  for (fed = 0; fed < s->len; fed++)
    {
      g_autoptr(GError) error = NULL;
      guint8 byte = s->data[fed];
      WwParseEvent ev;
      gsize used;
      WwParseResult r = ww_message_parser_feed (p, &byte, 1, &used, &ev, &error);

      if (r == WW_PARSE_ERROR)
        {
          code = error->code;
          break;
        }
      g_assert_cmpint (r, ==, WW_PARSE_NEED_MORE);
    }
  g_assert_cmpint (code, ==, WW_CLOSE_INVALID_PAYLOAD);
  /* Header is 2 + 4 bytes. */
  g_assert_cmpuint (fed, ==, 6 + bad_at);
}

/* Fail-fast across a fragment boundary, with the message still open. */
static void
test_utf8_fail_fast_fragments (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  g_autoptr(GError) error = NULL;
  WwParseEvent ev;
  gsize used;

  append_frame (s, FALSE, WW_OPCODE_TEXT, TRUE, "ok \xed");
  append_frame (s, FALSE, WW_OPCODE_CONTINUATION, TRUE, "\xa0\x80 surrogate");
  /* Feed the first frame and the second's header and first payload byte. */
  g_assert_cmpint (ww_message_parser_feed (p, s->data, 10 + 6 + 1, &used, &ev, &error), ==,
                   WW_PARSE_ERROR);
  g_assert_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_INVALID_PAYLOAD);
}

static void
test_struct_size (void)
{
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);

  /* The real check is a G_STATIC_ASSERT in the source; this documents it
   * in the test log. */
  g_test_message ("WwMessageParser holds no buffer when idle; its struct is <= 64 bytes");
  g_assert_cmpuint (ww_message_parser_buffered (p), ==, 0);
}

/* Limits changed after negotiation apply to the next frame. */
static void
test_set_limits (void)
{
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  WwParserLimits deflate = { 0, 0, TRUE, FALSE };
  g_autoptr(TestRun) run = NULL;

  append_frame_full (s, TRUE, 4, WW_OPCODE_TEXT, TRUE, "\xff", 1, 0);
  append_frame (s, TRUE, WW_OPCODE_TEXT, TRUE, "\xff");
  ww_message_parser_set_limits (p, &deflate);
  run = test_run_parser (p, s->data, s->len, 0);
  g_assert_cmpint (run->error_code, ==, 0);
  g_assert_cmpuint (run->events->len, ==, 2);
  g_assert_true (test_run_event (run, 0)->compressed);
  g_assert_false (test_run_event (run, 1)->compressed);
}

static void
test_close_codes (void)
{
  for (guint code = 0; code < 70000; code++)
    {
      gboolean expect = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                        (code >= 3000 && code <= 4999);

      g_assert_cmpint (ww_close_code_is_valid (code), ==, expect);
    }
  g_assert_false (ww_opcode_is_control (WW_OPCODE_TEXT));
  g_assert_true (ww_opcode_is_control (WW_OPCODE_PING));
}

/* ww_frame_mask at every offset and length against a byte loop. */
static void
test_mask (void)
{
  const guint8 key[4] = { 0xde, 0xad, 0xbe, 0xef };

  for (gsize len = 0; len < 80; len++)
    for (gsize off = 0; off < 8; off++)
      {
        g_autofree guint8 *a = g_malloc (len + 1);
        g_autofree guint8 *b = g_malloc (len + 1);

        for (gsize i = 0; i < len; i++)
          a[i] = b[i] = (guint8) (i * 7 + len);
        ww_frame_mask (a, len, key, off);
        for (gsize i = 0; i < len; i++)
          b[i] ^= key[(off + i) & 3];
        g_assert_cmpmem (a, len, b, len);
      }
}

static void
test_write_header (void)
{
  guint8 h[WW_FRAME_HEADER_MAX];
  const guint8 key[4] = { 1, 2, 3, 4 };
  const struct { guint64 len; gsize hlen; } lens[] = {
    { 0, 2 }, { 125, 2 }, { 126, 4 }, { 65535, 4 }, { 65536, 10 },
    { G_GUINT64_CONSTANT (1) << 40, 10 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      g_assert_cmpuint (ww_frame_write_header (h, WW_OPCODE_BINARY, TRUE, FALSE, lens[i].len,
                                               NULL), ==, lens[i].hlen);
      g_assert_cmpuint (h[0], ==, 0x82);
      g_assert_cmpuint (h[1] & 0x80, ==, 0);
      g_assert_cmpuint (ww_frame_write_header (h, WW_OPCODE_TEXT, FALSE, TRUE, lens[i].len, key),
                        ==, lens[i].hlen + 4);
      g_assert_cmpuint (h[0], ==, 0x41);
      g_assert_cmpmem (h + lens[i].hlen, 4, key, 4);
    }
  ww_frame_write_header (h, WW_OPCODE_BINARY, TRUE, FALSE, 65536, NULL);
  g_assert_cmpuint (h[7], ==, 1);
  g_assert_cmpuint (h[8], ==, 0);
}

/* What one role writes, the other role reads. */
static void
test_encode_roundtrip (void)
{
  for (guint role = 0; role < 2; role++)
    {
      g_autoptr(GBytes) f1 = ww_frame_encode (role, WW_OPCODE_TEXT, "round trip", 10);
      g_autoptr(GBytes) f2 = ww_frame_encode_close (role, 1001, "bye");
      g_autoptr(GBytes) f3 = ww_frame_encode_close (role, 0, "ignored");
      g_autoptr(GBytes) f4 = ww_frame_encode_close (role, WW_CLOSE_ABNORMAL, "never on the wire");
      g_autoptr(GByteArray) s = g_byte_array_new ();
      g_autoptr(WwMessageParser) p =
        ww_message_parser_new (role == WW_ROLE_SERVER ? WW_ROLE_CLIENT : WW_ROLE_SERVER, NULL);
      g_autoptr(TestRun) run = NULL;

      g_byte_array_append (s, g_bytes_get_data (f1, NULL), g_bytes_get_size (f1));
      g_byte_array_append (s, g_bytes_get_data (f2, NULL), g_bytes_get_size (f2));
      g_byte_array_append (s, g_bytes_get_data (f3, NULL), g_bytes_get_size (f3));
      g_byte_array_append (s, g_bytes_get_data (f4, NULL), g_bytes_get_size (f4));
      g_assert_cmpuint (g_bytes_get_size (f1), ==, 2 + 10 + (role == WW_ROLE_CLIENT ? 4 : 0));
      run = test_run_parser (p, s->data, s->len, 0);
      g_assert_cmpint (run->error_code, ==, 0);
      g_assert_cmpuint (run->events->len, ==, 4);
      assert_event_data (test_run_event (run, 0), "round trip", 10);
      g_assert_cmpuint (test_run_event (run, 1)->close_code, ==, 1001);
      g_assert_cmpstr (test_run_event (run, 1)->close_reason, ==, "bye");
      g_assert_cmpuint (test_run_event (run, 2)->close_code, ==, 1005);
      g_assert_cmpuint (test_run_event (run, 3)->close_code, ==, 1005);
    }
}

/* A long reason is cut to 123 bytes on a character boundary. */
static void
test_encode_close_truncates (void)
{
  g_autoptr(GString) reason = g_string_new ("");
  g_autoptr(GBytes) f = NULL;
  const guint8 *d;
  gsize len;

  for (guint i = 0; i < 100; i++)
    g_string_append (reason, "\xc3\xa9"); /* é, 2 bytes */
  f = ww_frame_encode_close (WW_ROLE_SERVER, 1000, reason->str);
  d = g_bytes_get_data (f, &len);
  g_assert_cmpuint (d[1], ==, 2 + 122);
  g_assert_true (g_utf8_validate ((const char *) d + 4, 122, NULL));
}

/* Client keys differ (a weak test of randomness, but a real one of
 * "not constant"). */
static void
test_mask_keys (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_direct_hash, g_direct_equal);

  for (guint i = 0; i < 1000; i++)
    {
      guint8 k[4];
      guint32 v;

      ww_frame_random_mask_key (k);
      memcpy (&v, k, 4);
      g_hash_table_add (seen, GUINT_TO_POINTER (v));
    }
  g_assert_cmpuint (g_hash_table_size (seen), >, 990);
}

/* The /dev/urandom fallback works on its own. */
static void
test_urandom_fallback (void)
{
  guint8 a[32] = { 0 }, b[32] = { 0 };

  g_assert_true (ww_frame_read_urandom (a, sizeof a));
  g_assert_true (ww_frame_read_urandom (b, sizeof b));
  g_assert_cmpmem (a, 0, b, 0);
  g_assert_true (memcmp (a, b, sizeof a) != 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/frame/case/%s", cases[i].name);

      g_strdelimit (path + strlen ("/frame/case/"), "/", '-');
      g_test_add_data_func (path, &cases[i], test_case);
    }
  g_test_add_func ("/frame/payloads", test_payloads);
  g_test_add_func ("/frame/close-no-status", test_close_no_status);
  g_test_add_func ("/frame/zero-copy", test_zero_copy);
  g_test_add_func ("/frame/buffer-released", test_buffer_released);
  g_test_add_func ("/frame/sticky-error", test_sticky_error);
  g_test_add_func ("/frame/length-limits", test_length_limits);
  g_test_add_func ("/frame/utf8-fail-fast", test_utf8_fail_fast);
  g_test_add_func ("/frame/utf8-fail-fast-fragments", test_utf8_fail_fast_fragments);
  g_test_add_func ("/frame/struct-size", test_struct_size);
  g_test_add_func ("/frame/set-limits", test_set_limits);
  g_test_add_func ("/frame/close-codes", test_close_codes);
  g_test_add_func ("/frame/mask", test_mask);
  g_test_add_func ("/frame/write-header", test_write_header);
  g_test_add_func ("/frame/encode-roundtrip", test_encode_roundtrip);
  g_test_add_func ("/frame/encode-close-truncates", test_encode_close_truncates);
  g_test_add_func ("/frame/mask-keys", test_mask_keys);
  g_test_add_func ("/frame/urandom-fallback", test_urandom_fallback);

  return g_test_run ();
}
