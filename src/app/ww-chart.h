/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define WW_TYPE_CHART (ww_chart_get_type ())
G_DECLARE_FINAL_TYPE (WwChart, ww_chart, WW, CHART, GtkWidget)

/*
 * A live time-series chart: up to WW_CHART_MAX_SERIES series, each a
 * fixed-size ring of (time, value) samples, drawn over the last
 * "window-seconds".  Properties: "title", "unit" ("ms", "msg/s"),
 * "compact" (no axes or legend: the latency strip), "window-seconds".
 */
#define WW_CHART_MAX_SERIES 4
#define WW_CHART_CAPACITY   1024

typedef enum {
  WW_CHART_LINE,
  WW_CHART_DOTS,
} WwChartStyle;

GtkWidget *ww_chart_new          (void);
guint      ww_chart_add_series   (WwChart       *self,
                                  const char    *label,
                                  const char    *color,
                                  WwChartStyle   style);
/* @time_us: g_get_monotonic_time () of the sample. */
void       ww_chart_push         (WwChart       *self,
                                  guint          series,
                                  gint64         time_us,
                                  double         value);
void       ww_chart_clear        (WwChart       *self);
guint      ww_chart_get_n_samples (WwChart      *self,
                                  guint          series);
double     ww_chart_get_last     (WwChart       *self,
                                  guint          series);

G_END_DECLS
