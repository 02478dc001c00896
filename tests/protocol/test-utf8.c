/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test"

#include "config.h"

#include <string.h>

#include "ww-utf8.h"

/*
 * A reference for the position where a strict validator must fail: an
 * independent reading of Unicode table 3-7 ("well-formed UTF-8 byte
 * sequences"), one lead-byte range at a time.  Returns the index of the
 * first byte that no well-formed text can have there, or -1 when none
 * (the text may still end inside a character: *complete says).
 */
static gssize
reference_fail_index (const guint8 *s,
                      gsize         n,
                      gboolean     *complete)
{
  gsize i = 0;

  while (i < n)
    {
      guint8 b = s[i];
      guint8 lo2 = 0x80, hi2 = 0xbf;
      guint tail;

      if (b <= 0x7f)
        {
          i++;
          continue;
        }
      else if (b >= 0xc2 && b <= 0xdf)
        tail = 1;
      else if (b == 0xe0)
        tail = 2, lo2 = 0xa0;
      else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef)
        tail = 2;
      else if (b == 0xed)
        tail = 2, hi2 = 0x9f;
      else if (b == 0xf0)
        tail = 3, lo2 = 0x90;
      else if (b >= 0xf1 && b <= 0xf3)
        tail = 3;
      else if (b == 0xf4)
        tail = 3, hi2 = 0x8f;
      else
        return (gssize) i;

      for (guint k = 1; k <= tail; k++)
        {
          guint8 lo = k == 1 ? lo2 : 0x80;
          guint8 hi = k == 1 ? hi2 : 0xbf;

          if (i + k >= n)
            {
              *complete = FALSE;
              return -1;
            }
          if (s[i + k] < lo || s[i + k] > hi)
            return (gssize) (i + k);
        }
      i += tail + 1;
    }
  *complete = TRUE;
  return -1;
}

/* Where the validator fails when fed one byte at a time. */
static gssize
fail_index_bytewise (const guint8 *s,
                     gsize         n,
                     gboolean     *complete)
{
  WwUtf8State st = WW_UTF8_ACCEPT;

  for (gsize i = 0; i < n; i++)
    if (!ww_utf8_validate_chunk (&st, s + i, 1))
      return (gssize) i;
  *complete = ww_utf8_is_complete (st);
  return -1;
}

static void
check_string (const guint8 *s,
              gsize         n)
{
  gboolean ref_complete = FALSE, got_complete = FALSE;
  gssize ref = reference_fail_index (s, n, &ref_complete);
  gssize got = fail_index_bytewise (s, n, &got_complete);

  if (ref != got || (ref < 0 && ref_complete != got_complete))
    {
      g_autofree char *hex = g_strnfill (n * 3, ' ');

      for (gsize i = 0; i < n; i++)
        g_snprintf (hex + 3 * i, 4, "%02x ", s[i]);
      g_error ("%s: reference fails at %" G_GSSIZE_FORMAT ", validator at %" G_GSSIZE_FORMAT,
               hex, ref, got);
    }
  g_assert_cmpint (ww_utf8_validate (s, n), ==, ref < 0 && ref_complete);
}

/* Every string of one, two and three bytes: same verdict and same fail
 * position as the reference. */
static void
test_exhaustive_short (void)
{
  guint8 s[3];

  for (guint a = 0; a < 256; a++)
    {
      s[0] = (guint8) a;
      check_string (s, 1);
      for (guint b = 0; b < 256; b++)
        {
          s[1] = (guint8) b;
          check_string (s, 2);
          /* Third byte only matters after a multi-byte lead. */
          if (a < 0xc0)
            continue;
          for (guint c = 0; c < 256; c++)
            {
              s[2] = (guint8) c;
              check_string (s, 3);
            }
        }
    }
}

/* Four-byte strings around every boundary of table 3-7, and random ones. */
static void
test_four_bytes (void)
{
  const guint8 interesting[] = {
    0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
    0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff,
  };
  guint n = G_N_ELEMENTS (interesting);
  g_autoptr(GRand) rand = g_rand_new_with_seed (6455);
  guint8 s[4];

  for (guint a = 0; a < n; a++)
    for (guint b = 0; b < n; b++)
      for (guint c = 0; c < n; c++)
        for (guint d = 0; d < n; d++)
          {
            s[0] = interesting[a];
            s[1] = interesting[b];
            s[2] = interesting[c];
            s[3] = interesting[d];
            check_string (s, 4);
          }

  g_test_message ("random four-byte strings, seed 6455");
  for (guint i = 0; i < 200000; i++)
    {
      guint32 v = g_rand_int (rand);

      memcpy (s, &v, 4);
      s[0] |= 0xc0; /* mostly leads */
      check_string (s, 4);
    }
}

typedef struct {
  const char *name;
  const char *bytes;
  gssize      fail_at; /* -1 = valid */
} Utf8Case;

/* Autobahn 6.x style cases: the column "strict" expects failure at the
 * given byte. */
static const Utf8Case utf8_cases[] = {
  { "ascii", "Hello", -1 },
  { "U+0000", "\x00", -1 },
  { "U+007F", "\x7f", -1 },
  { "U+0080", "\xc2\x80", -1 },
  { "U+07FF", "\xdf\xbf", -1 },
  { "U+0800", "\xe0\xa0\x80", -1 },
  { "U+D7FF", "\xed\x9f\xbf", -1 },
  { "U+E000", "\xee\x80\x80", -1 },
  { "U+FFFD", "\xef\xbf\xbd", -1 },
  { "U+FFFF", "\xef\xbf\xbf", -1 },
  { "U+10000", "\xf0\x90\x80\x80", -1 },
  { "U+10FFFF", "\xf4\x8f\xbf\xbf", -1 },
  { "kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", -1 },
  { "6.3.1 kosme then surrogate",
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited",
    12 },
  { "overlong / 2 bytes", "\xc0\xaf", 0 },
  { "overlong / 3 bytes", "\xe0\x80\xaf", 1 },
  { "overlong / 4 bytes", "\xf0\x80\x80\xaf", 1 },
  { "overlong max 2", "\xc1\xbf", 0 },
  { "overlong max 3", "\xe0\x9f\xbf", 1 },
  { "overlong max 4", "\xf0\x8f\xbf\xbf", 1 },
  { "surrogate D800", "\xed\xa0\x80", 1 },
  { "surrogate DFFF", "\xed\xbf\xbf", 1 },
  { "paired surrogates", "\xed\xa0\x80\xed\xb0\x80", 1 },
  { "U+110000", "\xf4\x90\x80\x80", 1 },
  { "F5", "\xf5\x80\x80\x80", 0 },
  { "5-byte", "\xf8\x88\x80\x80\x80", 0 },
  { "6-byte", "\xfc\x84\x80\x80\x80\x80", 0 },
  { "FE", "\xfe", 0 },
  { "FF", "\xff", 0 },
  { "lone continuation", "a\x80", 1 },
  { "lead then ASCII", "\xc2" "a", 1 },
  { "3-byte lead then ASCII", "\xe1\x80" "a", 2 },
  { "4-byte lead cut", "\xf1\x80\x80" "a", 3 },
  { "6.6.11 nested", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", -1 },
  { "long ASCII then bad", "0123456789abcdefghijklmnopqrstuvwxyz\xff", 36 },
};

static void
test_cases (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (utf8_cases); i++)
    {
      const Utf8Case *c = &utf8_cases[i];
      gsize n = strcmp (c->name, "U+0000") == 0 ? 1 : strlen (c->bytes);
      gboolean complete = FALSE;
      gssize got = fail_index_bytewise ((const guint8 *) c->bytes, n, &complete);
      WwUtf8State st = WW_UTF8_ACCEPT;

      g_test_message ("%s", c->name);
      g_assert_cmpint (got, ==, c->fail_at);
      if (c->fail_at < 0)
        g_assert_true (complete);
      g_assert_cmpint (ww_utf8_validate ((const guint8 *) c->bytes, n), ==, c->fail_at < 0);
      /* Whole-buffer feeding agrees with byte-wise feeding. */
      g_assert_cmpint (ww_utf8_validate_chunk (&st, (const guint8 *) c->bytes, n), ==,
                       c->fail_at < 0);
    }
}

/* A rejected state stays rejected. */
static void
test_sticky_reject (void)
{
  WwUtf8State st = WW_UTF8_ACCEPT;

  g_assert_false (ww_utf8_validate_chunk (&st, (const guint8 *) "\xff", 1));
  g_assert_false (ww_utf8_validate_chunk (&st, (const guint8 *) "abc", 3));
  g_assert_false (ww_utf8_validate_chunk (&st, (const guint8 *) "", 0));
  g_assert_false (ww_utf8_is_complete (st));
  /* A state value out of range is treated as rejected, not as an index. */
  st = 0xdeadbeef;
  g_assert_false (ww_utf8_validate_chunk (&st, (const guint8 *) "a", 1));
}

/* Long valid text split at every point, with the ASCII fast path on both
 * sides of the split. */
static void
test_every_split (void)
{
  const char *text = "plain ASCII text long enough for words \xce\xba\xe1\xbd\xb9\xcf\x83\xce"
                     "\xbc\xce\xb5 and \xf0\x9f\x98\x80 emoji, then more ASCII to the end!";
  gsize n = strlen (text);

  for (gsize a = 0; a <= n; a++)
    for (gsize b = a; b <= n; b += 7)
      {
        WwUtf8State st = WW_UTF8_ACCEPT;
        const guint8 *t = (const guint8 *) text;

        g_assert_true (ww_utf8_validate_chunk (&st, t, a));
        g_assert_true (ww_utf8_validate_chunk (&st, t + a, b - a));
        g_assert_true (ww_utf8_validate_chunk (&st, t + b, n - b));
        g_assert_true (ww_utf8_is_complete (st));
      }
}

/* The fast path must still find a bad byte at any position in a word. */
static void
test_bad_byte_anywhere (void)
{
  for (gsize len = 1; len < 40; len++)
    for (gsize at = 0; at < len; at++)
      {
        g_autofree guint8 *s = g_malloc (len);
        WwUtf8State st = WW_UTF8_ACCEPT;

        memset (s, 'a', len);
        s[at] = 0x80;
        g_assert_false (ww_utf8_validate_chunk (&st, s, len));
        g_assert_false (ww_utf8_validate (s, len));
      }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/utf8/cases", test_cases);
  g_test_add_func ("/utf8/sticky-reject", test_sticky_reject);
  g_test_add_func ("/utf8/every-split", test_every_split);
  g_test_add_func ("/utf8/bad-byte-anywhere", test_bad_byte_anywhere);
  g_test_add_func ("/utf8/exhaustive-3-bytes", test_exhaustive_short);
  g_test_add_func ("/utf8/four-bytes", test_four_bytes);

  return g_test_run ();
}
