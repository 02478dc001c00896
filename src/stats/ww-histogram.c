/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-stats"

#include "config.h"

#include <string.h>

#include "ww-histogram.h"

/*
 * Values below 2^SUB_BITS get a bucket each; every larger power of two
 * [2^k, 2^(k+1)) is split into SUB linear buckets, so a bucket's width is
 * at most 1/SUB of its lower bound (about 3 % relative error).  The whole
 * 64-bit range fits in a fixed array: no allocation while recording.
 */
#define SUB_BITS  5
#define SUB       (1u << SUB_BITS)
#define N_BUCKETS (SUB + (64 - SUB_BITS) * SUB)

struct _WwHistogram {
  guint64 counts[N_BUCKETS];
  guint64 count;
  guint64 sum;
  guint64 max;
};

/* One writer at a time is the common case, but several may record: the
 * relaxed read-modify-writes keep every count exact without a lock, and
 * readers see each counter whole (never torn) at any moment. */
#define LOAD(p)    __atomic_load_n ((p), __ATOMIC_RELAXED)
#define ADD(p, v)  __atomic_fetch_add ((p), (v), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n ((p), (v), __ATOMIC_RELAXED)

static inline guint
bucket_of (guint64 v)
{
  guint k;

  if (v < SUB)
    return (guint) v;
  k = 63 - (guint) __builtin_clzll (v);
  return SUB + (k - SUB_BITS) * SUB + (guint) ((v >> (k - SUB_BITS)) & (SUB - 1));
}

static guint64
upper_of (guint b)
{
  guint k, sub;

  if (b < SUB)
    return b;
  k = (b - SUB) / SUB + SUB_BITS;
  sub = (b - SUB) % SUB;
  if (k == 63 && sub == SUB - 1)
    return G_MAXUINT64;
  return (((guint64) SUB + sub + 1) << (k - SUB_BITS)) - 1;
}

WwHistogram *
ww_histogram_new (void)
{
  return g_new0 (WwHistogram, 1);
}

void
ww_histogram_free (WwHistogram *self)
{
  g_free (self);
}

void
ww_histogram_record (WwHistogram *self,
                     guint64      value_us)
{
  guint64 max;

  g_return_if_fail (self != NULL);

  ADD (&self->counts[bucket_of (value_us)], 1);
  ADD (&self->count, 1);
  ADD (&self->sum, value_us);
  max = LOAD (&self->max);
  while (value_us > max &&
         !__atomic_compare_exchange_n (&self->max, &max, value_us, TRUE,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    ;
}

void
ww_histogram_reset (WwHistogram *self)
{
  g_return_if_fail (self != NULL);

  for (guint b = 0; b < N_BUCKETS; b++)
    STORE (&self->counts[b], 0);
  STORE (&self->count, 0);
  STORE (&self->sum, 0);
  STORE (&self->max, 0);
}

guint64
ww_histogram_count (const WwHistogram *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return LOAD (&self->count);
}

guint64
ww_histogram_sum (const WwHistogram *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return LOAD (&self->sum);
}

guint64
ww_histogram_max (const WwHistogram *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return LOAD (&self->max);
}

guint64
ww_histogram_percentile (const WwHistogram *self,
                         double             q)
{
  guint64 total = 0, rank, seen = 0, max;

  g_return_val_if_fail (self != NULL, 0);

  /* Sum the buckets rather than trusting ->count: a concurrent writer
   * may have bumped one and not yet the other. */
  for (guint b = 0; b < N_BUCKETS; b++)
    total += LOAD (&self->counts[b]);
  if (total == 0)
    return 0;
  max = LOAD (&self->max);
  q = CLAMP (q, 0.0, 1.0);
  rank = (guint64) (q * (double) total + 0.5);
  rank = CLAMP (rank, 1, total);
  for (guint b = 0; b < N_BUCKETS; b++)
    {
      seen += LOAD (&self->counts[b]);
      if (seen >= rank)
        return max ? MIN (upper_of (b), max) : upper_of (b);
    }
  return max;
}

void
ww_histogram_merge (WwHistogram       *self,
                    const WwHistogram *other)
{
  guint64 omax, max;

  g_return_if_fail (self != NULL);
  g_return_if_fail (other != NULL);

  for (guint b = 0; b < N_BUCKETS; b++)
    {
      guint64 c = LOAD (&other->counts[b]);

      if (c)
        ADD (&self->counts[b], c);
    }
  ADD (&self->count, LOAD (&other->count));
  ADD (&self->sum, LOAD (&other->sum));
  omax = LOAD (&other->max);
  max = LOAD (&self->max);
  while (omax > max &&
         !__atomic_compare_exchange_n (&self->max, &max, omax, TRUE,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    ;
}

WwHistogram *
ww_histogram_copy (const WwHistogram *self)
{
  WwHistogram *copy;

  g_return_val_if_fail (self != NULL, NULL);

  copy = ww_histogram_new ();
  ww_histogram_merge (copy, self);
  return copy;
}

void
ww_histogram_cumulative (const WwHistogram *self,
                         const guint64     *bounds_us,
                         guint64           *out,
                         gsize              n_bounds)
{
  guint b = 0;
  guint64 running = 0;

  g_return_if_fail (self != NULL);
  g_return_if_fail (n_bounds == 0 || (bounds_us != NULL && out != NULL));

  /* One pass: bounds are expected ascending; an unsorted one still gets
   * a correct count, just recomputed. */
  for (gsize i = 0; i < n_bounds; i++)
    {
      if (i > 0 && bounds_us[i] < bounds_us[i - 1])
        {
          b = 0;
          running = 0;
        }
      while (b < N_BUCKETS && upper_of (b) <= bounds_us[i])
        running += LOAD (&self->counts[b++]);
      out[i] = running;
    }
}
