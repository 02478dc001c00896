/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client"

#include "config.h"

#include "ww-backoff.h"

guint
ww_backoff_delay (guint  attempt,
                  guint  base_ms,
                  guint  max_ms,
                  double jitter,
                  double rand01)
{
  guint64 d = MAX (base_ms, 1);
  double cut;

  if (max_ms < d)
    max_ms = (guint) d;

  /* Doubling stops at the cap; 32 shifts would overflow anyway. */
  for (guint i = 0; i < attempt && d < max_ms; i++)
    d *= 2;
  d = MIN (d, (guint64) max_ms);

  if (!(jitter > 0.0))
    jitter = 0.0; /* also catches NaN */
  jitter = MIN (jitter, 1.0);
  if (!(rand01 > 0.0))
    rand01 = 0.0;
  rand01 = MIN (rand01, 1.0);

  cut = (double) d * jitter * rand01;
  d -= (guint64) cut;
  return (guint) MAX (d, 1);
}

guint
ww_backoff_after_open (guint  attempt,
                       gint64 open_ms,
                       guint  stable_ms)
{
  if (open_ms >= (gint64) stable_ms)
    return 0;
  return attempt;
}
