/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <glib/gi18n.h>

#include "ww-chart.h"
#include "ww-proc-stats.h"
#include "ww-traffic-page.h"

enum {
  T_S_ACTIVE,
  T_S_TOTAL,
  T_S_RATE_IN,
  T_S_RATE_OUT,
  T_S_MSG_IN,
  T_S_MSG_OUT,
  T_S_BYTES_IN,
  T_S_BYTES_OUT,
  T_S_HTTP,
  T_S_HANDSHAKE,
  T_S_HEARTBEAT,
  T_S_BACKPRESSURE,
  T_S_RATELIMIT,
  T_S_LATENCY,
  T_C_STATE,
  T_C_RATE_IN,
  T_C_MSG_IN,
  T_C_MSG_OUT,
  T_C_BYTES_IN,
  T_C_BYTES_OUT,
  T_C_CONNECTS,
  T_C_DROPS,
  T_C_GAPS,
  T_C_RTT,
  T_C_CLOSE_CODES,
  T_P_CPU,
  T_P_MEM,
  T_P_THREADS,
  T_P_FDS,
  N_TILES
};

struct _WwTrafficPage
{
  GtkWidget         parent_instance;

  WwChart          *latency_chart;
  WwChart          *throughput_chart;
  GtkWidget        *server_section;
  GtkWidget        *client_section;
  GtkLabel         *tiles[N_TILES];

  guint             rtt_series;
  guint             p50_series;
  guint             p95_series;
  guint             p99_series;
  guint             in_series;
  guint             out_series;

  gboolean          server_mode;
  guint             n_rtt_samples;

  /* The previous one-second sample, for rates. */
  gint64            last_sample_us;
  guint64           last_server_in;
  guint64           last_server_out;
  guint64           last_client_in;
  guint64           last_client_out;
  double            last_cpu_seconds;
  double            message_rate;
  gint64            last_fd_count_us;
};

G_DEFINE_FINAL_TYPE (WwTrafficPage, ww_traffic_page, GTK_TYPE_WIDGET)

static void
set_tile (WwTrafficPage *self,
          guint          tile,
          const char    *text)
{
  if (g_strcmp0 (gtk_label_get_text (self->tiles[tile]), text) != 0)
    gtk_label_set_text (self->tiles[tile], text);
}

static void
set_tile_count (WwTrafficPage *self,
                guint          tile,
                guint64        value)
{
  char text[32];

  g_snprintf (text, sizeof text, "%" G_GUINT64_FORMAT, value);
  set_tile (self, tile, text);
}

static void
set_tile_size (WwTrafficPage *self,
               guint          tile,
               guint64        value)
{
  g_autofree char *text = g_format_size (value);

  set_tile (self, tile, text);
}

static void
set_tile_rate (WwTrafficPage *self,
               guint          tile,
               double         rate)
{
  g_autofree char *text = NULL;

  if (rate >= 10000)
    text = g_strdup_printf ("%.1fk", rate / 1000);
  else if (rate >= 10)
    text = g_strdup_printf ("%.0f", rate);
  else
    text = g_strdup_printf ("%.1f", rate);
  set_tile (self, tile, text);
}

static char *
format_ms (guint64 us)
{
  if (us == 0)
    return g_strdup ("—");
  if (us < 10000)
    return g_strdup_printf ("%.2f", us / 1000.0);
  return g_strdup_printf ("%.0f", us / 1000.0);
}

void
ww_traffic_page_set_server_mode (WwTrafficPage *self,
                                 gboolean       server_mode)
{
  g_return_if_fail (WW_IS_TRAFFIC_PAGE (self));

  self->server_mode = server_mode;
  gtk_widget_set_visible (self->server_section, server_mode);
}

void
ww_traffic_page_add_rtt (WwTrafficPage *self,
                         gint64         now_us,
                         gint64         rtt_us)
{
  g_return_if_fail (WW_IS_TRAFFIC_PAGE (self));

  if (rtt_us < 0)
    return;
  ww_chart_push (self->latency_chart, self->rtt_series, now_us, rtt_us / 1000.0);
  self->n_rtt_samples++;
}

guint
ww_traffic_page_get_n_rtt_samples (WwTrafficPage *self)
{
  g_return_val_if_fail (WW_IS_TRAFFIC_PAGE (self), 0);
  return self->n_rtt_samples;
}

double
ww_traffic_page_get_message_rate (WwTrafficPage *self)
{
  g_return_val_if_fail (WW_IS_TRAFFIC_PAGE (self), 0);
  return self->message_rate;
}

void
ww_traffic_page_reset (WwTrafficPage *self)
{
  g_return_if_fail (WW_IS_TRAFFIC_PAGE (self));

  ww_chart_clear (self->latency_chart);
  ww_chart_clear (self->throughput_chart);
  self->n_rtt_samples = 0;
  self->last_sample_us = 0;
  self->message_rate = 0;
  for (guint i = 0; i < N_TILES; i++)
    if (i != T_P_CPU && i != T_P_MEM && i != T_P_THREADS && i != T_P_FDS)
      set_tile (self, i, "—");
}

static void
update_process (WwTrafficPage *self,
                double         dt)
{
  WwProcStats stats;
  g_autofree char *cpu = NULL;
  gint64 now = g_get_monotonic_time ();
  gboolean count_fds = gtk_widget_get_mapped (GTK_WIDGET (self)) &&
                       now - self->last_fd_count_us >= 5 * G_USEC_PER_SEC;

  if (!ww_proc_stats_read (&stats, count_fds))
    return;
  if (self->last_cpu_seconds > 0 && dt > 0)
    {
      /* Percent of one core, as top(1) shows it. */
      cpu = g_strdup_printf ("%.1f %%", 100.0 * (stats.cpu_seconds - self->last_cpu_seconds) / dt);
      set_tile (self, T_P_CPU, cpu);
    }
  self->last_cpu_seconds = stats.cpu_seconds;
  set_tile_size (self, T_P_MEM, stats.rss_bytes);
  set_tile_count (self, T_P_THREADS, stats.n_threads);
  if (count_fds)
    {
      self->last_fd_count_us = now;
      set_tile_count (self, T_P_FDS, stats.n_fds);
    }
}

/* Per second since the last sample; a counter that went back (a new
 * server or connection) counts as no traffic rather than a negative rate. */
static double
rate (guint64 now,
      guint64 before,
      double  dt)
{
  return now >= before ? (now - before) / dt : 0;
}

void
ww_traffic_page_update (WwTrafficPage          *self,
                        const WwServerCounters *server,
                        const WwHistogram      *server_latency,
                        const WwClientCounters *client,
                        GArray                 *drop_codes,
                        const WwHistogram      *rtt_window,
                        gint64                  now_us)
{
  g_autofree char *text = NULL;

  g_return_if_fail (WW_IS_TRAFFIC_PAGE (self));

  if (server != NULL)
    {
      set_tile_count (self, T_S_ACTIVE, server->connections_active);
      set_tile_count (self, T_S_TOTAL, server->connections_total);
      set_tile_count (self, T_S_MSG_IN, server->messages_in);
      set_tile_count (self, T_S_MSG_OUT, server->messages_out);
      set_tile_size (self, T_S_BYTES_IN, server->bytes_in);
      set_tile_size (self, T_S_BYTES_OUT, server->bytes_out);
      set_tile_count (self, T_S_HTTP, server->http_requests);
      set_tile_count (self, T_S_HANDSHAKE, server->handshake_failures);
      set_tile_count (self, T_S_HEARTBEAT, server->heartbeat_timeouts);
      set_tile_count (self, T_S_BACKPRESSURE, server->backpressure_closes);
      set_tile_count (self, T_S_RATELIMIT, server->rate_limit_closes);
    }
  if (server_latency != NULL)
    {
      g_autofree char *p50 = format_ms (ww_histogram_percentile (server_latency, 0.50));
      g_autofree char *p99 = format_ms (ww_histogram_percentile (server_latency, 0.99));
      g_autofree char *latency = g_strdup_printf (_("%s / %s ms"), p50, p99);

      set_tile (self, T_S_LATENCY, latency);
    }

  if (client != NULL)
    {
      g_autofree char *gaps = g_strdup_printf ("%" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT,
                                               client->gaps_detected, client->resumes_sent);

      set_tile_count (self, T_C_MSG_IN, client->messages_in);
      set_tile_count (self, T_C_MSG_OUT, client->messages_out);
      set_tile_size (self, T_C_BYTES_IN, client->bytes_in);
      set_tile_size (self, T_C_BYTES_OUT, client->bytes_out);
      set_tile_count (self, T_C_CONNECTS, client->connects);
      set_tile_count (self, T_C_DROPS, client->drops);
      set_tile (self, T_C_GAPS, gaps);
    }

  if (drop_codes != NULL)
    {
      GString *codes = g_string_new (NULL);

      for (guint i = 0; i < drop_codes->len; i++)
        {
          const WwClientCloseCount *c = &g_array_index (drop_codes, WwClientCloseCount, i);

          g_string_append_printf (codes, "%s%u × %" G_GUINT64_FORMAT, i ? ", " : "", c->code,
                                  c->count);
        }
      set_tile (self, T_C_CLOSE_CODES, codes->len ? codes->str : _("none"));
      g_string_free (codes, TRUE);
    }

  if (rtt_window != NULL)
    {
      g_autofree char *p50 = format_ms (ww_histogram_percentile (rtt_window, 0.50));
      g_autofree char *p95 = format_ms (ww_histogram_percentile (rtt_window, 0.95));
      g_autofree char *p99 = format_ms (ww_histogram_percentile (rtt_window, 0.99));

      text = g_strdup_printf (_("%s / %s / %s ms"), p50, p95, p99);
      set_tile (self, T_C_RTT, text);
    }

  /* Rates and chart points once a second: steadier than per refresh. */
  if (self->last_sample_us == 0 || now_us - self->last_sample_us >= G_USEC_PER_SEC)
    {
      double dt = self->last_sample_us ? (now_us - self->last_sample_us) / 1e6 : 0;
      guint64 s_in = server ? server->messages_in : 0;
      guint64 s_out = server ? server->messages_out : 0;
      guint64 c_in = client ? client->messages_in : 0;
      guint64 c_out = client ? client->messages_out : 0;

      if (dt > 0)
        {
          double s_in_rate = rate (s_in, self->last_server_in, dt);
          double s_out_rate = rate (s_out, self->last_server_out, dt);
          double c_in_rate = rate (c_in, self->last_client_in, dt);
          double c_out_rate = rate (c_out, self->last_client_out, dt);
          double in_rate = server ? s_in_rate : c_in_rate;
          double out_rate = server ? s_out_rate : c_out_rate;

          if (server)
            {
              set_tile_rate (self, T_S_RATE_IN, s_in_rate);
              set_tile_rate (self, T_S_RATE_OUT, s_out_rate);
            }
          set_tile_rate (self, T_C_RATE_IN, c_in_rate);
          self->message_rate = in_rate + out_rate;
          ww_chart_push (self->throughput_chart, self->in_series, now_us, in_rate);
          ww_chart_push (self->throughput_chart, self->out_series, now_us, out_rate);

          if (rtt_window != NULL && ww_histogram_count (rtt_window) > 0)
            {
              ww_chart_push (self->latency_chart, self->p50_series, now_us,
                             ww_histogram_percentile (rtt_window, 0.50) / 1000.0);
              ww_chart_push (self->latency_chart, self->p95_series, now_us,
                             ww_histogram_percentile (rtt_window, 0.95) / 1000.0);
              ww_chart_push (self->latency_chart, self->p99_series, now_us,
                             ww_histogram_percentile (rtt_window, 0.99) / 1000.0);
            }
        }
      update_process (self, dt);

      self->last_sample_us = now_us;
      self->last_server_in = s_in;
      self->last_server_out = s_out;
      self->last_client_in = c_in;
      self->last_client_out = c_out;
    }
}

void
ww_traffic_page_set_client_state (WwTrafficPage *self,
                                  const char    *text)
{
  g_return_if_fail (WW_IS_TRAFFIC_PAGE (self));

  set_tile (self, T_C_STATE, text);
}

static void
ww_traffic_page_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), WW_TYPE_TRAFFIC_PAGE);
  /* The root of the template is not bound, so unparent it here. */
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (object)); child != NULL;
       child = gtk_widget_get_first_child (GTK_WIDGET (object)))
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (ww_traffic_page_parent_class)->dispose (object);
}

#define BIND_TILE(name, index) \
  gtk_widget_class_bind_template_child_full (widget_class, #name, FALSE, \
                                             G_STRUCT_OFFSET (WwTrafficPage, tiles) + \
                                             (index) * sizeof (gpointer))

static void
ww_traffic_page_class_init (WwTrafficPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ww_traffic_page_dispose;

  g_type_ensure (WW_TYPE_CHART);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PREFIX "/ui/ww-traffic-page.ui");
  gtk_widget_class_bind_template_child (widget_class, WwTrafficPage, latency_chart);
  gtk_widget_class_bind_template_child (widget_class, WwTrafficPage, throughput_chart);
  gtk_widget_class_bind_template_child (widget_class, WwTrafficPage, server_section);
  gtk_widget_class_bind_template_child (widget_class, WwTrafficPage, client_section);
  BIND_TILE (s_active, T_S_ACTIVE);
  BIND_TILE (s_total, T_S_TOTAL);
  BIND_TILE (s_rate_in, T_S_RATE_IN);
  BIND_TILE (s_rate_out, T_S_RATE_OUT);
  BIND_TILE (s_msg_in, T_S_MSG_IN);
  BIND_TILE (s_msg_out, T_S_MSG_OUT);
  BIND_TILE (s_bytes_in, T_S_BYTES_IN);
  BIND_TILE (s_bytes_out, T_S_BYTES_OUT);
  BIND_TILE (s_http, T_S_HTTP);
  BIND_TILE (s_handshake, T_S_HANDSHAKE);
  BIND_TILE (s_heartbeat, T_S_HEARTBEAT);
  BIND_TILE (s_backpressure, T_S_BACKPRESSURE);
  BIND_TILE (s_ratelimit, T_S_RATELIMIT);
  BIND_TILE (s_latency, T_S_LATENCY);
  BIND_TILE (c_state, T_C_STATE);
  BIND_TILE (c_rate_in, T_C_RATE_IN);
  BIND_TILE (c_msg_in, T_C_MSG_IN);
  BIND_TILE (c_msg_out, T_C_MSG_OUT);
  BIND_TILE (c_bytes_in, T_C_BYTES_IN);
  BIND_TILE (c_bytes_out, T_C_BYTES_OUT);
  BIND_TILE (c_connects, T_C_CONNECTS);
  BIND_TILE (c_drops, T_C_DROPS);
  BIND_TILE (c_gaps, T_C_GAPS);
  BIND_TILE (c_rtt, T_C_RTT);
  BIND_TILE (c_close_codes, T_C_CLOSE_CODES);
  BIND_TILE (p_cpu, T_P_CPU);
  BIND_TILE (p_mem, T_P_MEM);
  BIND_TILE (p_threads, T_P_THREADS);
  BIND_TILE (p_fds, T_P_FDS);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
ww_traffic_page_init (WwTrafficPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  /* GNOME palette: blue samples, green/orange/red percentile lines. */
  self->rtt_series = ww_chart_add_series (self->latency_chart, _("RTT"), "#3584e4", WW_CHART_DOTS);
  self->p50_series = ww_chart_add_series (self->latency_chart, _("p50"), "#2ec27e", WW_CHART_LINE);
  self->p95_series = ww_chart_add_series (self->latency_chart, _("p95"), "#e66100", WW_CHART_LINE);
  self->p99_series = ww_chart_add_series (self->latency_chart, _("p99"), "#c01c28", WW_CHART_LINE);
  self->in_series = ww_chart_add_series (self->throughput_chart, _("received"), "#3584e4",
                                         WW_CHART_LINE);
  self->out_series = ww_chart_add_series (self->throughput_chart, _("sent"), "#9141ac",
                                          WW_CHART_LINE);
  self->server_mode = TRUE;
}
