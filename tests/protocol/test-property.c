/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test"

#include "config.h"

#include <string.h>

#include "ww-frame.h"
#include "ww-message-parser.h"
#include "ww-protocol-error.h"
#include "ww-frame-builder.h"

/*
 * Property tests with fixed seeds (printed, and settable with
 * WW_PROPERTY_SEED to replay a failure):
 *
 * 1. Random valid streams — messages of random sizes and types, split into
 *    random fragments with control frames injected between them — parse
 *    to exactly the expected events, whatever the read boundaries
 *    (one read, one byte at a time, random sizes).
 * 2. Random corruption of such streams never crashes, ends in either
 *    events or a protocol error with a close code we send, and gives the
 *    same result for every split of the input (the parser is a function
 *    of the byte stream, not of how it arrives).
 *
 * Iterations are bounded; ASan builds run the same count.
 */

#define N_STREAMS   300
#define N_CORRUPT   3000

typedef struct {
  guint8  opcode;
  GBytes *data;
} Expected;

static void
expected_clear (gpointer p)
{
  g_bytes_unref (((Expected *) p)->data);
}

static void
append_random_text (GRand      *rand,
                    GByteArray *out,
                    gsize       target)
{
  /* Code points of every encoded length, ASCII most of the time. */
  static const char *samples[] = { "a", "Z", " ", "\x7f", "\xc2\x80", "\xdf\xbf", "\xce\xba",
                                   "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
                                   "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xf0\x9f\x98\x80" };

  while (out->len < target)
    {
      const char *s = g_rand_int_range (rand, 0, 4) == 0
                      ? samples[g_rand_int_range (rand, 0, G_N_ELEMENTS (samples))]
                      : "abcdefgh";

      g_byte_array_append (out, (const guint8 *) s, (guint) strlen (s));
    }
}

static gsize
random_size (GRand *rand)
{
  switch (g_rand_int_range (rand, 0, 10))
    {
    case 0: return 0;
    case 1: return (gsize) g_rand_int_range (rand, 120, 132);
    case 2: return (gsize) g_rand_int_range (rand, 65530, 65540);
    case 3: return (gsize) g_rand_int_range (rand, 1000, 20000);
    default: return (gsize) g_rand_int_range (rand, 1, 100);
    }
}

static void
write_frame (GRand      *rand,
             GByteArray *out,
             WwRole      parser_role,
             gboolean    fin,
             guint8      opcode,
             const guint8 *payload,
             gsize       len)
{
  guint8 header[WW_FRAME_HEADER_MAX];
  guint8 key[4];
  gboolean masked = parser_role == WW_ROLE_SERVER;
  gsize hlen, start;
  guint32 k = g_rand_int (rand);

  memcpy (key, &k, 4);
  hlen = ww_frame_write_header (header, opcode, fin, FALSE, len, masked ? key : NULL);
  g_byte_array_append (out, header, (guint) hlen);
  start = out->len;
  if (len > 0)
    g_byte_array_append (out, payload, (guint) len);
  if (masked)
    ww_frame_mask (out->data + start, len, key, 0);
}

static void
maybe_control (GRand      *rand,
               GByteArray *out,
               GArray     *expected,
               WwRole      role)
{
  guint8 payload[125];
  gsize len;
  Expected e;

  if (g_rand_int_range (rand, 0, 4) != 0)
    return;
  len = (gsize) g_rand_int_range (rand, 0, 126);
  for (gsize i = 0; i < len; i++)
    payload[i] = (guint8) g_rand_int (rand);
  e.opcode = g_rand_boolean (rand) ? WW_OPCODE_PING : WW_OPCODE_PONG;
  e.data = g_bytes_new (payload, len);
  g_array_append_val (expected, e);
  write_frame (rand, out, role, TRUE, e.opcode, payload, len);
}

/* Builds a random valid stream and the events it must produce. */
static GByteArray *
random_stream (GRand  *rand,
               WwRole  role,
               GArray *expected)
{
  GByteArray *out = g_byte_array_new ();
  guint n_messages = (guint) g_rand_int_range (rand, 1, 12);

  for (guint m = 0; m < n_messages; m++)
    {
      g_autoptr(GByteArray) msg = g_byte_array_new ();
      gboolean text = g_rand_boolean (rand);
      gsize size = random_size (rand);
      guint n_frags = (guint) g_rand_int_range (rand, 1, 6);
      gsize off = 0;
      Expected e;

      if (text)
        append_random_text (rand, msg, size);
      else
        for (gsize i = 0; i < size; i++)
          g_byte_array_append (msg, (guint8[]) { (guint8) g_rand_int (rand) }, 1);

      maybe_control (rand, out, expected, role);
      for (guint f = 0; f < n_frags; f++)
        {
          gboolean last = f + 1 == n_frags;
          /* Cut anywhere, even inside a UTF-8 sequence; fragments may be
           * empty. */
          gsize left = msg->len - off;
          gsize cut = last ? msg->len
                           : off + (gsize) g_rand_int_range (rand, 0, (gint32) left + 1);

          write_frame (rand, out, role, last, f == 0 ? (text ? WW_OPCODE_TEXT : WW_OPCODE_BINARY)
                                                      : WW_OPCODE_CONTINUATION,
                       msg->data + off, cut - off);
          off = cut;
          if (!last)
            maybe_control (rand, out, expected, role);
        }

      e.opcode = text ? WW_OPCODE_TEXT : WW_OPCODE_BINARY;
      e.data = g_bytes_new (msg->data, msg->len);
      g_array_append_val (expected, e);
    }

  return out;
}

/* Feeds @stream with reads of random sizes (1 byte each when @bytewise). */
static TestRun *
run_split (WwMessageParser *p,
           GRand           *rand,
           const GByteArray *stream,
           guint            mode)
{
  if (mode == 0)
    return test_run_parser (p, stream->data, stream->len, 0);
  if (mode == 1)
    return test_run_parser (p, stream->data, stream->len, 1);
  return test_run_parser (p, stream->data, stream->len, (gsize) g_rand_int_range (rand, 1, 3000));
}

static guint32
base_seed (guint32 fallback)
{
  const char *env = g_getenv ("WW_PROPERTY_SEED");

  return env != NULL ? (guint32) g_ascii_strtoull (env, NULL, 10) : fallback;
}

static void
test_valid_streams (void)
{
  guint32 seed = base_seed (20251123);
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);

  g_test_message ("seed %u (set WW_PROPERTY_SEED to replay)", seed);

  for (guint iter = 0; iter < N_STREAMS; iter++)
    {
      WwRole role = iter % 3 == 2 ? WW_ROLE_CLIENT : WW_ROLE_SERVER;
      g_autoptr(GArray) expected = g_array_new (FALSE, TRUE, sizeof (Expected));
      g_autoptr(GByteArray) stream = NULL;

      g_array_set_clear_func (expected, expected_clear);
      stream = random_stream (rand, role, expected);

      for (guint mode = 0; mode < 3; mode++)
        {
          g_autoptr(WwMessageParser) p = NULL;
          g_autoptr(TestRun) run = NULL;

          /* One byte at a time only for streams of moderate size, to
           * keep the test bounded in time. */
          if (mode == 1 && stream->len > 200000)
            continue;
          p = ww_message_parser_new (role, NULL);
          run = run_split (p, rand, stream, mode);
          if (run->error_code != 0 || run->events->len != expected->len)
            g_error ("seed %u iteration %u mode %u: error %d, %u events, expected %u", seed, iter,
                     mode, run->error_code, run->events->len, expected->len);
          for (guint i = 0; i < expected->len; i++)
            {
              Expected *e = &g_array_index (expected, Expected, i);
              TestEvent *t = test_run_event (run, i);

              g_assert_cmpuint (t->opcode, ==, e->opcode);
              if (!g_bytes_equal (t->data, e->data))
                g_error ("seed %u iteration %u mode %u: event %u differs", seed, iter, mode, i);
            }
          g_assert_false (ww_message_parser_in_message (p));
        }
    }
}

static gboolean
runs_equal (TestRun *a,
            TestRun *b)
{
  if (a->error_code != b->error_code || a->events->len != b->events->len)
    return FALSE;
  for (guint i = 0; i < a->events->len; i++)
    {
      TestEvent *x = test_run_event (a, i);
      TestEvent *y = test_run_event (b, i);

      if (x->opcode != y->opcode || x->close_code != y->close_code ||
          !g_bytes_equal (x->data, y->data) || g_strcmp0 (x->close_reason, y->close_reason) != 0)
        return FALSE;
    }
  return TRUE;
}

static void
corrupt (GRand      *rand,
         GByteArray *s)
{
  guint n = (guint) g_rand_int_range (rand, 1, 5);

  for (guint i = 0; i < n && s->len > 0; i++)
    {
      guint at = (guint) g_rand_int_range (rand, 0, (gint32) s->len);

      switch (g_rand_int_range (rand, 0, 5))
        {
        case 0: /* flip one bit */
          s->data[at] ^= (guint8) (1u << g_rand_int_range (rand, 0, 8));
          break;
        case 1: /* random byte */
          s->data[at] = (guint8) g_rand_int (rand);
          break;
        case 2: /* truncate */
          g_byte_array_set_size (s, at);
          break;
        case 3: /* drop a byte */
          g_byte_array_remove_index (s, at);
          break;
        default: /* insert a byte */
          {
            guint8 b = (guint8) g_rand_int (rand);

            g_byte_array_append (s, &b, 1);
            memmove (s->data + at + 1, s->data + at, s->len - at - 1);
            s->data[at] = b;
          }
          break;
        }
    }
}

static void
test_corrupt_streams (void)
{
  guint32 seed = base_seed (6455);
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  guint errors = 0, clean = 0;

  g_test_message ("seed %u (set WW_PROPERTY_SEED to replay)", seed);

  for (guint iter = 0; iter < N_CORRUPT; iter++)
    {
      WwRole role = iter % 4 == 3 ? WW_ROLE_CLIENT : WW_ROLE_SERVER;
      WwParserLimits limits = { 0, iter % 2 ? 4096 : 0, iter % 5 == 0, iter % 7 != 0 };
      g_autoptr(GArray) expected = g_array_new (FALSE, TRUE, sizeof (Expected));
      g_autoptr(GByteArray) stream = NULL;
      g_autoptr(TestRun) whole = NULL;
      g_autoptr(WwMessageParser) p0 = ww_message_parser_new (role, &limits);

      g_array_set_clear_func (expected, expected_clear);
      stream = random_stream (rand, role, expected);
      /* Keep corrupt streams small so that byte-wise runs stay cheap. */
      if (stream->len > 20000)
        g_byte_array_set_size (stream, (guint) g_rand_int_range (rand, 0, 20000));
      corrupt (rand, stream);

      whole = run_split (p0, rand, stream, 0);
      if (whole->error_code != 0)
        {
          errors++;
          g_assert_true (whole->error_code == WW_CLOSE_PROTOCOL_ERROR ||
                         whole->error_code == WW_CLOSE_INVALID_PAYLOAD ||
                         whole->error_code == WW_CLOSE_MESSAGE_TOO_BIG);
        }
      else
        clean++;

      for (guint mode = 1; mode < 3; mode++)
        {
          g_autoptr(WwMessageParser) p = ww_message_parser_new (role, &limits);
          g_autoptr(TestRun) split = run_split (p, rand, stream, mode);

          if (!runs_equal (whole, split))
            g_error ("seed %u iteration %u mode %u: split input changed the result "
                     "(error %d vs %d, %u vs %u events)", seed, iter, mode, whole->error_code,
                     split->error_code, whole->events->len, split->events->len);
        }
    }
  g_test_message ("%u corrupt streams failed with a close code, %u still parsed", errors, clean);
  /* Both outcomes must actually occur, or the corruption is not testing
   * anything. */
  g_assert_cmpuint (errors, >, N_CORRUPT / 10);
  g_assert_cmpuint (clean, >, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/property/valid-streams", test_valid_streams);
  g_test_add_func ("/property/corrupt-streams", test_corrupt_streams);

  return g_test_run ();
}
