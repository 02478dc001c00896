/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <math.h>
#include <glib/gi18n.h>

#include "ww-chart.h"

typedef struct {
  gint64 time_us;
  double value;
} Sample;

typedef struct {
  char         *label;
  GdkRGBA       color;
  WwChartStyle  style;
  Sample        ring[WW_CHART_CAPACITY];
  guint         head;   /* next slot to write */
  guint         count;
} Series;

struct _WwChart
{
  GtkWidget  parent_instance;

  char      *title;
  char      *unit;
  gboolean   compact;
  guint      window_seconds;

  Series    *series[WW_CHART_MAX_SERIES];
  guint      n_series;
  guint      tick_id;
};

G_DEFINE_FINAL_TYPE (WwChart, ww_chart, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_TITLE,
  PROP_UNIT,
  PROP_COMPACT,
  PROP_WINDOW_SECONDS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static gboolean
redraw_tick (GtkWidget     *widget,
             GdkFrameClock *clock,
             gpointer       user_data)
{
  WwChart *self = WW_CHART (widget);

  self->tick_id = 0;
  gtk_widget_queue_draw (widget);
  return G_SOURCE_REMOVE;
}

/* However often samples arrive, redraw at most once per frame. */
static void
schedule_redraw (WwChart *self)
{
  if (self->tick_id != 0)
    return;
  if (!gtk_widget_get_mapped (GTK_WIDGET (self)))
    return;
  self->tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (self), redraw_tick, NULL, NULL);
}

/* A round number at or above @value for the top of the y axis: 1, 2, 5 × 10^n. */
static double
nice_ceiling (double value)
{
  double exponent, base;

  if (value <= 0)
    return 1;
  exponent = floor (log10 (value));
  base = pow (10, exponent);
  if (value <= base)
    return base;
  if (value <= 2 * base)
    return 2 * base;
  if (value <= 5 * base)
    return 5 * base;
  return 10 * base;
}

static char *
format_value (WwChart *self,
              double   value)
{
  const char *unit = self->unit ? self->unit : "";

  if (value >= 1e6)
    return g_strdup_printf ("%.1fM %s", value / 1e6, unit);
  if (value >= 1e4)
    return g_strdup_printf ("%.0fk %s", value / 1e3, unit);
  if (value >= 10 || value == 0)
    return g_strdup_printf ("%.0f %s", value, unit);
  if (value >= 1)
    return g_strdup_printf ("%.1f %s", value, unit);
  return g_strdup_printf ("%.2f %s", value, unit);
}

static void
draw_text (cairo_t       *cr,
           PangoLayout   *layout,
           const char    *text,
           double         x,
           double         y,
           double         align)
{
  int w, h;

  pango_layout_set_text (layout, text, -1);
  pango_layout_get_pixel_size (layout, &w, &h);
  cairo_move_to (cr, x - w * align, y - h / 2.0);
  pango_cairo_show_layout (cr, layout);
}

static void
ww_chart_snapshot (GtkWidget   *widget,
                   GtkSnapshot *snapshot)
{
  WwChart *self = WW_CHART (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  gint64 now = g_get_monotonic_time ();
  gint64 span = (gint64) self->window_seconds * G_USEC_PER_SEC;
  double left, right, top, bottom, plot_w, plot_h, max_value = 0, y_top;
  g_autoptr(PangoLayout) layout = NULL;
  PangoAttrList *attrs;
  GdkRGBA fg;
  cairo_t *cr;

  if (width <= 0 || height <= 0)
    return;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  G_GNUC_END_IGNORE_DEPRECATIONS

  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));

  layout = gtk_widget_create_pango_layout (widget, NULL);
  attrs = pango_attr_list_new ();
  pango_attr_list_insert (attrs, pango_attr_scale_new (0.8));
  pango_attr_list_insert (attrs, pango_attr_font_features_new ("tnum=1"));
  pango_layout_set_attributes (layout, attrs);
  pango_attr_list_unref (attrs);

  for (guint s = 0; s < self->n_series; s++)
    {
      Series *series = self->series[s];

      for (guint i = 0; i < series->count; i++)
        {
          const Sample *sample = &series->ring[(series->head + WW_CHART_CAPACITY - 1 - i)
                                               % WW_CHART_CAPACITY];

          if (now - sample->time_us > span)
            break;
          max_value = MAX (max_value, sample->value);
        }
    }
  y_top = nice_ceiling (max_value * 1.1);

  if (self->compact)
    {
      left = 2; right = width - 2; top = 3; bottom = height - 3;
    }
  else
    {
      int label_w = 0;

      /* Room for the widest y label, whatever the unit's translation. */
      for (int i = 0; i <= 4; i += 2)
        {
          g_autofree char *text = format_value (self, y_top * i / 4.0);
          int w, h;

          pango_layout_set_text (layout, text, -1);
          pango_layout_get_pixel_size (layout, &w, &h);
          label_w = MAX (label_w, w);
        }
      left = label_w + 14; right = width - 12; top = 30; bottom = height - 22;
    }
  plot_w = right - left;
  plot_h = bottom - top;
  if (plot_w <= 4 || plot_h <= 4)
    {
      cairo_destroy (cr);
      return;
    }

  /* Grid: quarters of the y range; labels on the left in full mode. */
  cairo_set_line_width (cr, 1);
  for (int i = 0; i <= 4; i++)
    {
      double y = floor (bottom - plot_h * i / 4.0) + 0.5;

      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, i == 0 ? 0.25 : 0.08);
      cairo_move_to (cr, left, y);
      cairo_line_to (cr, right, y);
      cairo_stroke (cr);

      if (!self->compact && (i % 2 == 0))
        {
          g_autofree char *text = format_value (self, y_top * i / 4.0);

          cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.55);
          draw_text (cr, layout, text, left - 6, y, 1.0);
        }
    }

  if (!self->compact)
    {
      double x = right;
      g_autofree char *ago = g_strdup_printf ("−%u s", self->window_seconds);

      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.55);
      draw_text (cr, layout, ago, left, bottom + 11, 0.0);
      draw_text (cr, layout, "0 s", right, bottom + 11, 1.0);

      if (self->title)
        {
          PangoAttrList *bold = pango_attr_list_new ();

          pango_attr_list_insert (bold, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
          pango_layout_set_attributes (layout, bold);
          pango_attr_list_unref (bold);
          cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.9);
          draw_text (cr, layout, self->title, 12, 12, 0.0);
          attrs = pango_attr_list_new ();
          pango_attr_list_insert (attrs, pango_attr_scale_new (0.8));
          pango_layout_set_attributes (layout, attrs);
          pango_attr_list_unref (attrs);
        }

      /* Legend, right-aligned: a colour swatch and the label per series. */
      for (int s = (int) self->n_series - 1; s >= 0; s--)
        {
          Series *series = self->series[s];
          int w, h;

          pango_layout_set_text (layout, series->label, -1);
          pango_layout_get_pixel_size (layout, &w, &h);
          x -= w;
          cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.75);
          cairo_move_to (cr, x, 12 - h / 2.0);
          pango_cairo_show_layout (cr, layout);
          x -= 14;
          gdk_cairo_set_source_rgba (cr, &series->color);
          cairo_rectangle (cr, x, 8, 10, 8);
          cairo_fill (cr);
          x -= 14;
        }
    }

  cairo_save (cr);
  cairo_rectangle (cr, left, top - 2, plot_w, plot_h + 4);
  cairo_clip (cr);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_width (cr, self->compact ? 1.5 : 2.0);

  for (guint s = 0; s < self->n_series; s++)
    {
      Series *series = self->series[s];
      gboolean started = FALSE;

      gdk_cairo_set_source_rgba (cr, &series->color);
      for (guint i = 0; i < series->count; i++)
        {
          guint index = (series->head + WW_CHART_CAPACITY - series->count + i)
                        % WW_CHART_CAPACITY;
          const Sample *sample = &series->ring[index];
          double age = (double) (now - sample->time_us);
          double x, y;

          if (age > span + G_USEC_PER_SEC)
            continue;
          x = right - plot_w * age / (double) span;
          y = bottom - plot_h * (sample->value / y_top);

          if (series->style == WW_CHART_DOTS)
            {
              cairo_rectangle (cr, x - 1.5, y - 1.5, 3, 3);
              continue;
            }
          if (!started)
            cairo_move_to (cr, x, y);
          else
            cairo_line_to (cr, x, y);
          started = TRUE;
        }
      if (series->style == WW_CHART_DOTS)
        cairo_fill (cr);
      else
        cairo_stroke (cr);
    }
  cairo_restore (cr);

  if (max_value == 0 && !self->compact)
    {
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.45);
      draw_text (cr, layout, _("No data yet"),
                 left + plot_w / 2, top + plot_h / 2, 0.5);
    }

  cairo_destroy (cr);
}

static void
ww_chart_measure (GtkWidget      *widget,
                  GtkOrientation  orientation,
                  int             for_size,
                  int            *minimum,
                  int            *natural,
                  int            *minimum_baseline,
                  int            *natural_baseline)
{
  WwChart *self = WW_CHART (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = self->compact ? 40 : 200;
      *natural = self->compact ? 200 : 480;
    }
  else
    {
      *minimum = self->compact ? 16 : 120;
      *natural = self->compact ? 24 : 200;
    }
}

static void
ww_chart_unmap (GtkWidget *widget)
{
  WwChart *self = WW_CHART (widget);

  if (self->tick_id != 0)
    {
      gtk_widget_remove_tick_callback (widget, self->tick_id);
      self->tick_id = 0;
    }
  GTK_WIDGET_CLASS (ww_chart_parent_class)->unmap (widget);
}

static void
ww_chart_finalize (GObject *object)
{
  WwChart *self = WW_CHART (object);

  for (guint s = 0; s < self->n_series; s++)
    {
      g_free (self->series[s]->label);
      g_free (self->series[s]);
    }
  g_free (self->title);
  g_free (self->unit);

  G_OBJECT_CLASS (ww_chart_parent_class)->finalize (object);
}

static void
ww_chart_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  WwChart *self = WW_CHART (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case PROP_UNIT:
      g_value_set_string (value, self->unit);
      break;
    case PROP_COMPACT:
      g_value_set_boolean (value, self->compact);
      break;
    case PROP_WINDOW_SECONDS:
      g_value_set_uint (value, self->window_seconds);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
set_string (WwChart    *self,
            char      **slot,
            const char *value,
            GParamSpec *pspec)
{
  if (g_strcmp0 (*slot, value) == 0)
    return;
  g_free (*slot);
  *slot = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), pspec);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
ww_chart_set_property (GObject      *object,
                       guint         prop_id,
                       const GValue *value,
                       GParamSpec   *pspec)
{
  WwChart *self = WW_CHART (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      set_string (self, &self->title, g_value_get_string (value), pspec);
      break;
    case PROP_UNIT:
      set_string (self, &self->unit, g_value_get_string (value), pspec);
      break;
    case PROP_COMPACT:
      if (self->compact != g_value_get_boolean (value))
        {
          self->compact = g_value_get_boolean (value);
          g_object_notify_by_pspec (object, pspec);
          gtk_widget_queue_resize (GTK_WIDGET (self));
        }
      break;
    case PROP_WINDOW_SECONDS:
      if (self->window_seconds != g_value_get_uint (value))
        {
          self->window_seconds = g_value_get_uint (value);
          g_object_notify_by_pspec (object, pspec);
          gtk_widget_queue_draw (GTK_WIDGET (self));
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_chart_class_init (WwChartClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = ww_chart_finalize;
  object_class->get_property = ww_chart_get_property;
  object_class->set_property = ww_chart_set_property;
  widget_class->snapshot = ww_chart_snapshot;
  widget_class->measure = ww_chart_measure;
  widget_class->unmap = ww_chart_unmap;

  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_UNIT] =
    g_param_spec_string ("unit", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COMPACT] =
    g_param_spec_boolean ("compact", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WINDOW_SECONDS] =
    g_param_spec_uint ("window-seconds", NULL, NULL, 5, 3600, 60,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "wwchart");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
ww_chart_init (WwChart *self)
{
  self->window_seconds = 60;
}

GtkWidget *
ww_chart_new (void)
{
  return g_object_new (WW_TYPE_CHART, NULL);
}

guint
ww_chart_add_series (WwChart      *self,
                     const char   *label,
                     const char   *color,
                     WwChartStyle  style)
{
  Series *series;

  g_return_val_if_fail (WW_IS_CHART (self), 0);
  g_return_val_if_fail (self->n_series < WW_CHART_MAX_SERIES, 0);

  series = g_new0 (Series, 1);
  series->label = g_strdup (label);
  series->style = style;
  if (!gdk_rgba_parse (&series->color, color))
    gdk_rgba_parse (&series->color, "#3584e4");
  self->series[self->n_series] = series;
  return self->n_series++;
}

void
ww_chart_push (WwChart *self,
               guint    index,
               gint64   time_us,
               double   value)
{
  Series *series;

  g_return_if_fail (WW_IS_CHART (self));
  g_return_if_fail (index < self->n_series);

  if (!isfinite (value) || value < 0)
    value = 0;
  series = self->series[index];
  series->ring[series->head] = (Sample) { time_us, value };
  series->head = (series->head + 1) % WW_CHART_CAPACITY;
  if (series->count < WW_CHART_CAPACITY)
    series->count++;
  schedule_redraw (self);
}

void
ww_chart_clear (WwChart *self)
{
  g_return_if_fail (WW_IS_CHART (self));

  for (guint s = 0; s < self->n_series; s++)
    {
      self->series[s]->count = 0;
      self->series[s]->head = 0;
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
ww_chart_get_n_samples (WwChart *self,
                        guint    index)
{
  g_return_val_if_fail (WW_IS_CHART (self), 0);
  g_return_val_if_fail (index < self->n_series, 0);

  return self->series[index]->count;
}

double
ww_chart_get_last (WwChart *self,
                   guint    index)
{
  Series *series;

  g_return_val_if_fail (WW_IS_CHART (self), 0);
  g_return_val_if_fail (index < self->n_series, 0);

  series = self->series[index];
  if (series->count == 0)
    return 0;
  return series->ring[(series->head + WW_CHART_CAPACITY - 1) % WW_CHART_CAPACITY].value;
}
