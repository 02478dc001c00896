/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A log-linear latency histogram in microseconds (HdrHistogram-like:
 * each power of two split into a fixed number of linear sub-buckets, so
 * the relative error is bounded).  Recording is lock-free (relaxed
 * atomics) so the I/O thread records while any thread reads percentiles.
 */
typedef struct _WwHistogram WwHistogram;

WwHistogram *ww_histogram_new        (void);
void         ww_histogram_free       (WwHistogram       *self);
void         ww_histogram_record     (WwHistogram       *self,
                                      guint64            value_us);
void         ww_histogram_reset      (WwHistogram       *self);
guint64      ww_histogram_count      (const WwHistogram *self);
guint64      ww_histogram_sum        (const WwHistogram *self);
guint64      ww_histogram_max        (const WwHistogram *self);
/* @q in [0, 1]; returns the upper bound of the bucket holding it, 0 if empty. */
guint64      ww_histogram_percentile (const WwHistogram *self,
                                      double             q);
/* Adds every count of @other into @self (for windows and snapshots). */
void         ww_histogram_merge      (WwHistogram       *self,
                                      const WwHistogram *other);
WwHistogram *ww_histogram_copy       (const WwHistogram *self);
/*
 * Cumulative counts at the given upper bounds (µs), as Prometheus wants;
 * @out has @n_bounds entries.
 */
void         ww_histogram_cumulative (const WwHistogram *self,
                                      const guint64     *bounds_us,
                                      guint64           *out,
                                      gsize              n_bounds);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwHistogram, ww_histogram_free)

G_END_DECLS
