/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-protocol"

#include "config.h"

#include <string.h>

#include "ww-utf8.h"

/*
 * An incremental UTF-8 validator (RFC 3629 §4, Unicode 15 table 3-7) as a
 * small deterministic automaton.  Every state names exactly the set of
 * bytes that may come next, so the automaton rejects on the first byte
 * that can no longer lead to a valid sequence: overlongs (C0, C1, E0 80..9F,
 * F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF
 * (F4 90..BF, F5..FF) all fail on the byte that makes them so.  This is the
 * "fail fast" behaviour RFC 6455 §8.1 allows and Autobahn|Testsuite 6.x
 * checks in its strict column.
 */

enum {
  S_ACCEPT = 0,
  S_REJECT = 1,
  S_TAIL1  = 2, /* one continuation byte (80..BF) left */
  S_TAIL2  = 3, /* two left */
  S_TAIL3  = 4, /* three left */
  S_E0     = 5, /* after E0: A0..BF, then one more */
  S_ED     = 6, /* after ED: 80..9F (no surrogates), then one more */
  S_F0     = 7, /* after F0: 90..BF, then two more */
  S_F4     = 8, /* after F4: 80..8F (≤ U+10FFFF), then two more */
};

/* Byte classes: which transitions a byte takes. */
enum {
  C_ASCII = 0, /* 00..7F */
  C_80    = 1, /* 80..8F */
  C_90    = 2, /* 90..9F */
  C_A0    = 3, /* A0..BF */
  C_BAD   = 4, /* C0, C1, F5..FF: never valid */
  C_LEAD2 = 5, /* C2..DF */
  C_E0    = 6,
  C_LEAD3 = 7, /* E1..EC, EE, EF */
  C_ED    = 8,
  C_F0    = 9,
  C_LEAD4 = 10, /* F1..F3 */
  C_F4    = 11,
};

static const guint8 byte_class[256] = {
  [0x00 ... 0x7f] = C_ASCII,
  [0x80 ... 0x8f] = C_80,
  [0x90 ... 0x9f] = C_90,
  [0xa0 ... 0xbf] = C_A0,
  [0xc0 ... 0xc1] = C_BAD,
  [0xc2 ... 0xdf] = C_LEAD2,
  [0xe0]          = C_E0,
  [0xe1 ... 0xec] = C_LEAD3,
  [0xed]          = C_ED,
  [0xee ... 0xef] = C_LEAD3,
  [0xf0]          = C_F0,
  [0xf1 ... 0xf3] = C_LEAD4,
  [0xf4]          = C_F4,
  [0xf5 ... 0xff] = C_BAD,
};

#define ROW(s) ((s) * 16)

/* transition[ROW (state) + class]; unlisted entries are 0 = S_ACCEPT, so
 * every row lists its rejects explicitly through the R macro below. */
#define R S_REJECT
static const guint8 transition[9 * 16] = {
  /* columns: ASCII 80 90 A0 BAD LEAD2 E0 LEAD3 ED F0 LEAD4 F4, then 4 unused */
  /* ACCEPT */  S_ACCEPT, R, R, R, R, S_TAIL1, S_E0, S_TAIL2, S_ED, S_F0, S_TAIL3, S_F4,
                R, R, R, R,
  /* REJECT */  R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R,
  /* TAIL1 */   R, S_ACCEPT, S_ACCEPT, S_ACCEPT, R, R, R, R, R, R, R, R, R, R, R, R,
  /* TAIL2 */   R, S_TAIL1, S_TAIL1, S_TAIL1, R, R, R, R, R, R, R, R, R, R, R, R,
  /* TAIL3 */   R, S_TAIL2, S_TAIL2, S_TAIL2, R, R, R, R, R, R, R, R, R, R, R, R,
  /* E0 */      R, R, R, S_TAIL1, R, R, R, R, R, R, R, R, R, R, R, R,
  /* ED */      R, S_TAIL1, S_TAIL1, R, R, R, R, R, R, R, R, R, R, R, R, R,
  /* F0 */      R, R, S_TAIL2, S_TAIL2, R, R, R, R, R, R, R, R, R, R, R, R,
  /* F4 */      R, S_TAIL2, R, R, R, R, R, R, R, R, R, R, R, R, R, R,
};
#undef R

#define HIGH_BITS G_GUINT64_CONSTANT (0x8080808080808080)

/**
 * ww_utf8_validate_chunk:
 * @state: (inout): the validator state, %WW_UTF8_ACCEPT to start
 * @data: the next bytes of the text
 * @len: their number
 *
 * Feeds @data to the validator.  Returns %FALSE as soon as a byte cannot
 * continue any valid sequence; @state then stays rejected.  A %TRUE return
 * may still leave a sequence open: see ww_utf8_is_complete().
 */
gboolean
ww_utf8_validate_chunk (WwUtf8State  *state,
                        const guint8 *data,
                        gsize         len)
{
  guint s = *state;
  gsize i = 0;

  if (G_UNLIKELY (s > S_F4))
    s = S_REJECT;

  while (i < len)
    {
      /* Text is mostly ASCII: between code points, skip it 8 bytes at a
       * time without touching the table. */
      if (s == S_ACCEPT)
        {
          while (len - i >= 8)
            {
              guint64 word;

              memcpy (&word, data + i, 8);
              if (word & HIGH_BITS)
                break;
              i += 8;
            }
          while (i < len && data[i] < 0x80)
            i++;
          if (i == len)
            break;
        }

      s = transition[ROW (s) + byte_class[data[i]]];
      i++;
      if (G_UNLIKELY (s == S_REJECT))
        break;
    }

  *state = s;
  return s != S_REJECT;
}

/* Whether the text so far ends between code points. */
gboolean
ww_utf8_is_complete (WwUtf8State state)
{
  return state == S_ACCEPT;
}

/* Whether @data is complete, valid UTF-8 (NUL bytes are valid). */
gboolean
ww_utf8_validate (const guint8 *data,
                  gsize         len)
{
  WwUtf8State state = WW_UTF8_ACCEPT;

  return ww_utf8_validate_chunk (&state, data, len) && ww_utf8_is_complete (state);
}
