/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server-test"

#include "config.h"

#include <string.h>

#include "ww-server-test.h"
#include "protocol/ww-frame.h"

/*
 * Our own walk through the Autobahn|Testsuite fuzzing-client categories
 * 1–7 and 9 against /echo, over raw sockets, expecting the strict ("OK")
 * outcome of each case.  Category 9's sizes are scaled down so the suite
 * stays fast; the code paths (gathering across reads, many frames) are
 * the same.
 */

static WwServer *server;
static guint16   port;

#define FIN 0x80

static WwtClient *
open_echo (void)
{
  return wwt_client_new (port, "/echo");
}

static void
expect_message (WwtClient *c, guint8 opcode, const void *payload, gsize len)
{
  g_autoptr(GByteArray) m = NULL;
  guint8 op = 0;

  m = wwt_recv_message (c, &op);
  g_assert_nonnull (m);
  g_assert_cmpuint (op, ==, opcode);
  g_assert_cmpuint (m->len, ==, len);
  g_assert_true (len == 0 || memcmp (m->data, payload, len) == 0);
}

static void
expect_pong (WwtClient *c, const void *payload, gsize len)
{
  WwtEvent ev;

  g_assert_true (wwt_recv (c, &ev));
  g_assert_cmpuint (ev.opcode, ==, WW_OPCODE_PONG);
  g_assert_cmpmem (ev.data->data, ev.data->len, payload, len);
  wwt_event_clear (&ev);
}

/* The server fails the connection with @code and then closes TCP. */
static void
expect_fail (WwtClient *c, int code)
{
  g_assert_cmpint (wwt_recv_close (c), ==, code);
  g_assert_true (wwt_wait_eof (c, 3000));
}

/* A clean close from our side: the echo of @code, then EOF. */
static void
close_cleanly (WwtClient *c)
{
  guint8 payload[2] = { 0x03, 0xe8 };

  wwt_send (c, WW_OPCODE_CLOSE, payload, 2);
  g_assert_cmpint (wwt_recv_close (c), ==, 1000);
  g_assert_true (wwt_wait_eof (c, 3000));
}

static guint8 *
pattern (gsize len, gboolean text)
{
  guint8 *p = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    p[i] = text ? (guint8) ('*' + i % 80) : (guint8) (i * 131 + 17);
  return p;
}

/* ---- 1 Framing --------------------------------------------------------------- */

static void
test_1_framing (void)
{
  const gsize sizes[] = { 0, 125, 126, 127, 128, 65535, 65536 };

  for (guint t = 0; t < 2; t++)
    {
      guint8 op = t == 0 ? WW_OPCODE_TEXT : WW_OPCODE_BINARY;
      g_autoptr(WwtClient) c = open_echo ();

      for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
        {
          g_autofree guint8 *p = pattern (sizes[i], t == 0);

          g_assert_true (wwt_send_raw (c, FIN | op, p, sizes[i], 0));
          expect_message (c, op, p, sizes[i]);
        }
      /* 1.1.8 / 1.2.8: 65536 bytes written in chops of 997. */
      {
        g_autofree guint8 *p = pattern (65536, t == 0);

        g_assert_true (wwt_send_raw (c, FIN | op, p, 65536, 997));
        expect_message (c, op, p, 65536);
      }
      close_cleanly (c);
    }
}

/* ---- 2 Pings and pongs ----------------------------------------------------------- */

static void
test_2_pings (void)
{
  {
    g_autoptr(WwtClient) c = open_echo ();
    g_autofree guint8 *bin = pattern (125, FALSE);

    wwt_send (c, WW_OPCODE_PING, NULL, 0);                        /* 2.1 */
    expect_pong (c, NULL, 0);
    wwt_send (c, WW_OPCODE_PING, "Hello, world!", 13);            /* 2.2 */
    expect_pong (c, "Hello, world!", 13);
    wwt_send (c, WW_OPCODE_PING, "\x00\xff\xfe\xfd\xfc", 5);      /* 2.3 */
    expect_pong (c, "\x00\xff\xfe\xfd\xfc", 5);
    wwt_send (c, WW_OPCODE_PING, bin, 125);                       /* 2.4 */
    expect_pong (c, bin, 125);
    wwt_send (c, WW_OPCODE_PONG, "unsolicited", 11);              /* 2.7: ignored */
    wwt_send (c, WW_OPCODE_PONG, "unsolicited", 11);              /* 2.8 */
    wwt_send (c, WW_OPCODE_PING, "after", 5);                     /* 2.9 */
    expect_pong (c, "after", 5);
    for (guint i = 0; i < 10; i++)                                 /* 2.10 */
      wwt_send (c, WW_OPCODE_PING, &i, sizeof i);
    for (guint i = 0; i < 10; i++)
      expect_pong (c, &i, sizeof i);
    for (guint i = 0; i < 10; i++)                                 /* 2.11: chopped */
      wwt_send_raw (c, FIN | WW_OPCODE_PING, &i, sizeof i, 1);
    for (guint i = 0; i < 10; i++)
      expect_pong (c, &i, sizeof i);
    close_cleanly (c);
  }
  {
    g_autoptr(WwtClient) c = open_echo ();
    g_autofree guint8 *big = pattern (126, FALSE);

    wwt_send (c, WW_OPCODE_PING, big, 126);                       /* 2.5: too long */
    expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
  }
  {
    g_autoptr(WwtClient) c = open_echo ();
    g_autofree guint8 *p = pattern (125, FALSE);

    wwt_send_raw (c, FIN | WW_OPCODE_PING, p, 125, 1);            /* 2.6 */
    expect_pong (c, p, 125);
    close_cleanly (c);
  }
}

/* ---- 3 Reserved bits ------------------------------------------------------------- */

static void
test_3_reserved_bits (void)
{
  const guint8 b0s[] = {
    FIN | 0x40 | WW_OPCODE_TEXT, FIN | 0x20 | WW_OPCODE_TEXT, FIN | 0x60 | WW_OPCODE_TEXT,
    FIN | 0x10 | WW_OPCODE_TEXT, FIN | 0x50 | WW_OPCODE_BINARY, FIN | 0x30 | WW_OPCODE_PING,
    FIN | 0x70 | WW_OPCODE_CLOSE,
  };

  for (guint i = 0; i < G_N_ELEMENTS (b0s); i++)
    {
      g_autoptr(WwtClient) c = open_echo ();

      /* 3.2/3.3: a good message first, and it is answered. */
      wwt_send (c, WW_OPCODE_TEXT, "good", 4);
      wwt_send_raw (c, b0s[i], "bad", 3, 0);
      wwt_send (c, WW_OPCODE_PING, "late", 4);
      expect_message (c, WW_OPCODE_TEXT, "good", 4);
      expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
    }
}

/* ---- 4 Opcodes --------------------------------------------------------------------- */

static void
test_4_opcodes (void)
{
  for (guint op = 3; op <= 15; op++)
    {
      g_autoptr(WwtClient) c = NULL;

      if (op == WW_OPCODE_CLOSE || op == WW_OPCODE_PING || op == WW_OPCODE_PONG)
        continue;
      c = open_echo ();
      wwt_send (c, WW_OPCODE_TEXT, "good", 4);
      wwt_send_raw (c, FIN | op, op % 2 ? "payload" : NULL, op % 2 ? 7 : 0, 0);
      wwt_send (c, WW_OPCODE_PING, "late", 4);
      expect_message (c, WW_OPCODE_TEXT, "good", 4);
      expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
    }
}

/* ---- 5 Fragmentation ----------------------------------------------------------------- */

static void
test_5_fragmentation (void)
{
  {
    g_autoptr(WwtClient) c = open_echo ();                        /* 5.1 fragmented ping */

    wwt_send_raw (c, WW_OPCODE_PING, "frag", 4, 0);
    wwt_send_raw (c, FIN | WW_OPCODE_CONTINUATION, "ment", 4, 0);
    expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
  }
  {
    g_autoptr(WwtClient) c = open_echo ();                        /* 5.2 fragmented pong */

    wwt_send_raw (c, WW_OPCODE_PONG, "frag", 4, 0);
    wwt_send_raw (c, FIN | WW_OPCODE_CONTINUATION, "ment", 4, 0);
    expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
  }
  for (guint chunk = 0; chunk <= 1; chunk++)                      /* 5.3–5.5 */
    {
      g_autoptr(WwtClient) c = open_echo ();

      wwt_send_raw (c, WW_OPCODE_TEXT, "frag", 4, chunk);
      wwt_send_raw (c, FIN | WW_OPCODE_CONTINUATION, "ment1", 5, chunk);
      expect_message (c, WW_OPCODE_TEXT, "fragment1", 9);
      close_cleanly (c);
    }
  for (guint chunk = 0; chunk <= 1; chunk++)                      /* 5.6–5.8 */
    {
      g_autoptr(WwtClient) c = open_echo ();

      wwt_send_raw (c, WW_OPCODE_TEXT, "frag", 4, chunk);
      wwt_send_raw (c, FIN | WW_OPCODE_PING, "ping", 4, chunk);
      wwt_send_raw (c, FIN | WW_OPCODE_CONTINUATION, "ment2", 5, chunk);
      expect_pong (c, "ping", 4);
      expect_message (c, WW_OPCODE_TEXT, "fragment2", 9);
      close_cleanly (c);
    }
  {
    /* 5.9–5.14: a continuation with nothing to continue. */
    const guint8 b0s[] = { FIN | WW_OPCODE_CONTINUATION, WW_OPCODE_CONTINUATION };

    for (guint i = 0; i < G_N_ELEMENTS (b0s); i++)
      {
        g_autoptr(WwtClient) c = open_echo ();

        wwt_send_raw (c, b0s[i], "fragment", 8, i);
        wwt_send (c, WW_OPCODE_TEXT, "after", 5);
        expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
      }
  }
  {
    /* 5.15–5.18: a new data frame while a message is open. */
    g_autoptr(WwtClient) c = open_echo ();

    wwt_send_raw (c, WW_OPCODE_TEXT, "frag", 4, 0);
    wwt_send_raw (c, FIN | WW_OPCODE_TEXT, "ment", 4, 0);
    expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
  }
  {
    /* 5.19/5.20: several pings between five fragments. */
    g_autoptr(WwtClient) c = open_echo ();

    wwt_send_raw (c, WW_OPCODE_TEXT, "f1", 2, 0);
    wwt_send_raw (c, WW_OPCODE_CONTINUATION, "f2", 2, 0);
    wwt_send_raw (c, FIN | WW_OPCODE_PING, "p1", 2, 0);
    wwt_send_raw (c, WW_OPCODE_CONTINUATION, "f3", 2, 0);
    wwt_send_raw (c, WW_OPCODE_CONTINUATION, "f4", 2, 0);
    wwt_send_raw (c, FIN | WW_OPCODE_PING, "p2", 2, 0);
    wwt_send_raw (c, FIN | WW_OPCODE_CONTINUATION, "f5", 2, 0);
    expect_pong (c, "p1", 2);
    expect_pong (c, "p2", 2);
    expect_message (c, WW_OPCODE_TEXT, "f1f2f3f4f5", 10);
    close_cleanly (c);
  }
}

/* ---- 6 UTF-8 ------------------------------------------------------------------------- */

static const char * const valid_utf8[] = {
  "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
  "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
  "\xf0\x90\x80\x80",                 /* first 4-byte */
  "\xf4\x8f\xbf\xbf",                 /* U+10FFFF */
  "\xef\xbf\xbf",                     /* U+FFFF (a noncharacter, still valid) */
  "\xed\x9f\xbf",                     /* U+D7FF */
  "\xee\x80\x80",                     /* U+E000 */
  "",
};

static const char * const invalid_utf8[] = {
  "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", /* 6.3 */
  "\xc0\xaf",                         /* overlong '/' */
  "\xe0\x80\xaf",
  "\xf0\x80\x80\xaf",
  "\xed\xa0\x80",                     /* surrogate */
  "\xed\xbf\xbf",
  "\xf4\x90\x80\x80",                 /* above U+10FFFF */
  "\xf8\x88\x80\x80\x80",             /* 5-byte form */
  "\x80",                             /* lone continuation */
  "\xc2",                             /* truncated at the end */
  "\xe1\x80",
  "\xfe",
  "\xff",
  "a\xc2 b",
};

static void
test_6_utf8 (void)
{
  g_autoptr(WwtClient) c = open_echo ();

  for (guint i = 0; i < G_N_ELEMENTS (valid_utf8); i++)
    {
      gsize n = strlen (valid_utf8[i]);

      wwt_send (c, WW_OPCODE_TEXT, valid_utf8[i], n);
      expect_message (c, WW_OPCODE_TEXT, valid_utf8[i], n);
      /* The same text in fragments split inside characters (6.2.x). */
      for (gsize k = 0; k < n; k++)
        wwt_send_raw (c, (k == 0 ? WW_OPCODE_TEXT : WW_OPCODE_CONTINUATION) |
                         (k == n - 1 ? FIN : 0), valid_utf8[i] + k, 1, 0);
      if (n > 0)
        expect_message (c, WW_OPCODE_TEXT, valid_utf8[i], n);
    }
  close_cleanly (c);

  for (guint i = 0; i < G_N_ELEMENTS (invalid_utf8); i++)
    {
      g_autoptr(WwtClient) bad = open_echo ();

      wwt_send (bad, WW_OPCODE_TEXT, invalid_utf8[i], strlen (invalid_utf8[i]));
      expect_fail (bad, WW_CLOSE_INVALID_PAYLOAD);
    }

  /* 6.4.x fail fast: the first fragment is already invalid; the 1007
   * must arrive although the message never finishes. */
  {
    g_autoptr(WwtClient) bad = open_echo ();

    wwt_send_raw (bad, WW_OPCODE_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80", 15, 0);
    expect_fail (bad, WW_CLOSE_INVALID_PAYLOAD);
  }
  {
    /* ... and inside a single frame whose payload is still arriving. */
    g_autoptr(WwtClient) bad = open_echo ();
    guint8 hdr[] = { FIN | WW_OPCODE_TEXT, 0x80 | 20, 0, 0, 0, 0 };

    wwt_send_bytes (bad, hdr, sizeof hdr);
    wwt_send_bytes (bad, "ab\xff", 3);  /* mask key 0: payload as is */
    expect_fail (bad, WW_CLOSE_INVALID_PAYLOAD);
  }
  /* A valid message followed by an invalid one in 1-byte writes. */
  {
    g_autoptr(WwtClient) bad = open_echo ();

    wwt_send_raw (bad, FIN | WW_OPCODE_TEXT, "ok", 2, 1);
    expect_message (bad, WW_OPCODE_TEXT, "ok", 2);
    wwt_send_raw (bad, FIN | WW_OPCODE_TEXT, "\xed\xa0\x80", 3, 1);
    expect_fail (bad, WW_CLOSE_INVALID_PAYLOAD);
  }
}

/* ---- 7 Close handling ------------------------------------------------------------------ */

static void
send_close (WwtClient *c, guint code, const char *reason, gsize reason_len)
{
  guint8 payload[128];

  payload[0] = (guint8) (code >> 8);
  payload[1] = (guint8) code;
  if (reason_len)
    memcpy (payload + 2, reason, reason_len);
  wwt_send (c, WW_OPCODE_CLOSE, payload, 2 + reason_len);
}

static void
test_7_close (void)
{
  /* 1012–1014 have been registered with IANA since the suite was
   * written; like Node's ws, they count as valid here. */
  const guint valid[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                          1012, 1013, 1014, 3000, 3999, 4000, 4999 };
  const guint invalid[] = { 0, 999, 1004, 1005, 1006, 1015, 1016,
                            1100, 2000, 2999, 5000, 65535 };

  {
    g_autoptr(WwtClient) c = open_echo ();                        /* 7.1.1 */

    wwt_send (c, WW_OPCODE_TEXT, "Hello World!", 12);
    expect_message (c, WW_OPCODE_TEXT, "Hello World!", 12);
    close_cleanly (c);
  }
  {
    /* 7.1.2–7.1.5: after the close nothing more is answered. */
    g_autoptr(WwtClient) c = open_echo ();
    WwtEvent ev;

    send_close (c, 1000, NULL, 0);
    wwt_send (c, WW_OPCODE_PING, "no", 2);
    wwt_send (c, WW_OPCODE_TEXT, "no", 2);
    g_assert_true (wwt_recv (c, &ev));
    g_assert_cmpuint (ev.opcode, ==, WW_OPCODE_CLOSE);
    g_assert_cmpuint (ev.close_code, ==, 1000);
    wwt_event_clear (&ev);
    g_assert_false (wwt_recv (c, &ev));
  }
  {
    g_autoptr(WwtClient) c = open_echo ();                        /* 7.3.1 empty */

    wwt_send (c, WW_OPCODE_CLOSE, NULL, 0);
    g_assert_cmpint (wwt_recv_close (c), ==, 1000);
  }
  {
    g_autoptr(WwtClient) c = open_echo ();                        /* 7.3.2 one byte */

    wwt_send (c, WW_OPCODE_CLOSE, "\x03", 1);
    expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
  }
  {
    g_autoptr(WwtClient) c = open_echo ();                        /* 7.3.4 123-byte reason */
    g_autofree guint8 *reason = pattern (123, TRUE);

    send_close (c, 1000, (const char *) reason, 123);
    g_assert_cmpint (wwt_recv_close (c), ==, 1000);
  }
  {
    g_autoptr(WwtClient) c = open_echo ();                        /* 7.3.6 124-byte reason */
    g_autofree guint8 *reason = pattern (124, TRUE);

    send_close (c, 1000, (const char *) reason, 124);
    expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
  }
  {
    g_autoptr(WwtClient) c = open_echo ();                        /* 7.5.1 bad UTF-8 reason */

    send_close (c, 1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", 14);
    expect_fail (c, WW_CLOSE_INVALID_PAYLOAD);
  }
  for (guint i = 0; i < G_N_ELEMENTS (valid); i++)                 /* 7.7.x */
    {
      g_autoptr(WwtClient) c = open_echo ();

      send_close (c, valid[i], "ok", 2);
      g_assert_cmpint (wwt_recv_close (c), ==, (int) valid[i]);
      g_assert_true (wwt_wait_eof (c, 3000));
    }
  for (guint i = 0; i < G_N_ELEMENTS (invalid); i++)               /* 7.9.x */
    {
      g_autoptr(WwtClient) c = open_echo ();

      send_close (c, invalid[i], NULL, 0);
      expect_fail (c, WW_CLOSE_PROTOCOL_ERROR);
    }
}

/* ---- 9 Limits and performance (scaled) ---------------------------------------------- */

static void
test_9_large (void)
{
  const gsize sizes[] = { 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024 };
  const gsize frag_sizes[] = { 64, 256, 1024, 4096, 16384, 65536 };
  g_autoptr(WwtClient) c = open_echo ();

  for (guint t = 0; t < 2; t++)                                  /* 9.1 / 9.2 */
    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
      {
        guint8 op = t == 0 ? WW_OPCODE_TEXT : WW_OPCODE_BINARY;
        g_autofree guint8 *p = pattern (sizes[i], t == 0);

        wwt_send (c, op, p, sizes[i]);
        expect_message (c, op, p, sizes[i]);
      }

  for (guint t = 0; t < 2; t++)                                  /* 9.3 / 9.4 */
    for (guint i = 0; i < G_N_ELEMENTS (frag_sizes); i++)
      {
        guint8 op = t == 0 ? WW_OPCODE_TEXT : WW_OPCODE_BINARY;
        gsize total = 256 * 1024;
        g_autofree guint8 *p = pattern (total, t == 0);

        for (gsize off = 0; off < total; off += frag_sizes[i])
          {
            gsize n = MIN (frag_sizes[i], total - off);
            guint8 b0 = (off == 0 ? op : WW_OPCODE_CONTINUATION) | (off + n == total ? FIN : 0);

            g_assert_true (wwt_send_raw (c, b0, p + off, n, 0));
          }
        expect_message (c, op, p, total);
      }

  for (guint i = 0; i < 3; i++)                                  /* 9.5 / 9.6 chopped */
    {
      gsize chop = (gsize) 64 << (i * 3);
      g_autofree guint8 *p = pattern (128 * 1024, TRUE);

      wwt_send_raw (c, FIN | WW_OPCODE_TEXT, p, 128 * 1024, chop);
      expect_message (c, WW_OPCODE_TEXT, p, 128 * 1024);
    }

  for (guint i = 0; i < 1000; i++)                               /* 9.7 / 9.8 many small */
    wwt_send (c, WW_OPCODE_TEXT, "Hello, world", 12);
  for (guint i = 0; i < 1000; i++)
    expect_message (c, WW_OPCODE_TEXT, "Hello, world", 12);
  close_cleanly (c);
}

int
main (int argc, char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  server = wwt_server_new (NULL);
  port = ww_server_get_port (server);

  g_test_add_func ("/conformance/1-framing", test_1_framing);
  g_test_add_func ("/conformance/2-pings", test_2_pings);
  g_test_add_func ("/conformance/3-reserved-bits", test_3_reserved_bits);
  g_test_add_func ("/conformance/4-opcodes", test_4_opcodes);
  g_test_add_func ("/conformance/5-fragmentation", test_5_fragmentation);
  g_test_add_func ("/conformance/6-utf8", test_6_utf8);
  g_test_add_func ("/conformance/7-close", test_7_close);
  g_test_add_func ("/conformance/9-large", test_9_large);

  ret = g_test_run ();
  wwt_server_free (server);
  return ret;
}
