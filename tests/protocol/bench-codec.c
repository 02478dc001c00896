/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-bench"

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ww-frame.h"
#include "ww-handshake.h"
#include "ww-http.h"
#include "ww-message-parser.h"

/*
 * Micro-benchmark of the codec alone (not a test: timings are not
 * asserted).  Build and run:
 *   ninja -C build-protocol tests/protocol/bench-protocol-codec
 *   build-protocol/tests/protocol/bench-protocol-codec
 * Best of 5 runs over a stream of masked client frames parsed by a server
 * parser, and the server side of an opening handshake.
 */

static GByteArray *
make_stream (gsize  payload,
             guint  n,
             guint8 opcode)
{
  GByteArray *s = g_byte_array_new ();
  g_autofree guint8 *p = g_malloc (payload);
  const guint8 key[4] = { 1, 2, 3, 4 };

  memset (p, 'a', payload);
  for (guint i = 0; i < n; i++)
    {
      guint8 h[WW_FRAME_HEADER_MAX];
      gsize hl = ww_frame_write_header (h, opcode, TRUE, FALSE, payload, key);
      gsize start;

      g_byte_array_append (s, h, (guint) hl);
      start = s->len;
      g_byte_array_append (s, p, (guint) payload);
      ww_frame_mask (s->data + start, payload, key, 0);
    }
  return s;
}

static void
bench_parse (gsize  payload,
             guint  n,
             guint8 opcode)
{
  g_autoptr(GByteArray) s = make_stream (payload, n, opcode);
  g_autofree guint8 *copy = g_malloc (s->len);
  g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
  double best = G_MAXDOUBLE;
  guint64 msgs = 0;

  for (guint rep = 0; rep < 5; rep++)
    {
      gint64 t0;
      gsize off = 0;
      double dt;

      memcpy (copy, s->data, s->len);
      msgs = 0;
      t0 = g_get_monotonic_time ();
      while (off < s->len)
        {
          WwParseEvent ev;
          gsize used;
          WwParseResult r = ww_message_parser_feed (p, copy + off, s->len - off, &used, &ev, NULL);

          off += used;
          if (r == WW_PARSE_MESSAGE)
            msgs++;
          else if (r != WW_PARSE_NEED_MORE)
            g_error ("unexpected parse result %d", r);
        }
      dt = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
      best = MIN (best, dt);
    }

  printf ("parse %6" G_GSIZE_FORMAT "-byte %-6s frames: %6.2f M msg/s, %6.2f GB/s of payload\n",
          payload, opcode == WW_OPCODE_TEXT ? "text" : "binary", (double) msgs / best / 1e6,
          (double) msgs * (double) payload / best / 1e9);
}

static void
bench_handshake (guint n)
{
  const char *head = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nUser-Agent: bench\r\n\r\n";
  gsize len = strlen (head);
  gint64 t0 = g_get_monotonic_time ();
  double dt;

  for (guint i = 0; i < n; i++)
    {
      gssize end = ww_http_find_head_end ((const guint8 *) head, len, 16384, NULL);
      g_autoptr(WwHttpRequest) req = ww_http_request_parse (head, (gsize) end, NULL);
      g_autoptr(GBytes) resp = NULL;
      WwHandshake hs;

      if (!ww_handshake_validate (req, NULL, &hs, NULL))
        g_error ("handshake refused");
      resp = ww_handshake_build_response (&hs, NULL);
      ww_handshake_clear (&hs);
    }
  dt = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
  printf ("handshake (find head, parse, validate, build 101): %.0f /s, %.2f us each\n", n / dt,
          dt / n * 1e6);
}

int
main (int   argc,
      char *argv[])
{
  bench_parse (64, 1000000, WW_OPCODE_TEXT);
  bench_parse (64, 1000000, WW_OPCODE_BINARY);
  bench_parse (1024, 200000, WW_OPCODE_TEXT);
  bench_parse (65536, 3000, WW_OPCODE_TEXT);
  bench_parse (65536, 3000, WW_OPCODE_BINARY);
  bench_handshake (200000);
  return EXIT_SUCCESS;
}
