/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client"

#include "config.h"

/*
 * Stand-in for src/stats/ww-histogram.c, built only while the stats layer
 * does not exist yet (see meson.build), so the client and its tests link.
 * Same contract, simpler: not lock-free (the client records and reads on
 * one thread).
 */

#include <string.h>

#include "../stats/ww-histogram.h"

#define SUB_BITS 4
#define SUB      (1u << SUB_BITS)
#define N_BUCKETS (SUB + (64 - SUB_BITS) * SUB)

struct _WwHistogram {
  guint64 counts[N_BUCKETS];
  guint64 count;
  guint64 sum;
  guint64 max;
};

static guint
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
  self->counts[bucket_of (value_us)]++;
  self->count++;
  self->sum += value_us;
  self->max = MAX (self->max, value_us);
}

void
ww_histogram_reset (WwHistogram *self)
{
  memset (self, 0, sizeof *self);
}

guint64
ww_histogram_count (const WwHistogram *self)
{
  return self->count;
}

guint64
ww_histogram_sum (const WwHistogram *self)
{
  return self->sum;
}

guint64
ww_histogram_max (const WwHistogram *self)
{
  return self->max;
}

guint64
ww_histogram_percentile (const WwHistogram *self,
                         double             q)
{
  guint64 rank, seen = 0;

  if (self->count == 0)
    return 0;
  q = CLAMP (q, 0.0, 1.0);
  rank = (guint64) (q * (double) self->count + 0.5);
  rank = CLAMP (rank, 1, self->count);
  for (guint b = 0; b < N_BUCKETS; b++)
    {
      seen += self->counts[b];
      if (seen >= rank)
        return MIN (upper_of (b), self->max);
    }
  return self->max;
}

void
ww_histogram_merge (WwHistogram       *self,
                    const WwHistogram *other)
{
  for (guint b = 0; b < N_BUCKETS; b++)
    self->counts[b] += other->counts[b];
  self->count += other->count;
  self->sum += other->sum;
  self->max = MAX (self->max, other->max);
}

WwHistogram *
ww_histogram_copy (const WwHistogram *self)
{
  return g_memdup2 (self, sizeof *self);
}

void
ww_histogram_cumulative (const WwHistogram *self,
                         const guint64     *bounds_us,
                         guint64           *out,
                         gsize              n_bounds)
{
  for (gsize i = 0; i < n_bounds; i++)
    {
      guint64 total = 0;

      for (guint b = 0; b < N_BUCKETS && upper_of (b) <= bounds_us[i]; b++)
        total += self->counts[b];
      out[i] = total;
    }
}
