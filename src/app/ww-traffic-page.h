/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "client/ww-client.h"
#include "server/ww-server.h"

G_BEGIN_DECLS

#define WW_TYPE_TRAFFIC_PAGE (ww_traffic_page_get_type ())
G_DECLARE_FINAL_TYPE (WwTrafficPage, ww_traffic_page, WW, TRAFFIC_PAGE, GtkWidget)

/* Shows the embedded server's figures (server mode) or hides them. */
void    ww_traffic_page_set_server_mode (WwTrafficPage          *self,
                                         gboolean                server_mode);
/*
 * One refresh from snapshots: @server and @server_latency may be NULL
 * (client mode); @rtt_window holds the client's recent round trips.
 * Rates are computed over about a second; the throughput and
 * percentile lines get a point per second.
 */
void    ww_traffic_page_update          (WwTrafficPage          *self,
                                         const WwServerCounters *server,
                                         const WwHistogram      *server_latency,
                                         const WwClientCounters *client,
                                         GArray                 *drop_codes,
                                         const WwHistogram      *rtt_window,
                                         gint64                  now_us);
/* A PING round trip, as it happens. */
void    ww_traffic_page_add_rtt         (WwTrafficPage          *self,
                                         gint64                  now_us,
                                         gint64                  rtt_us);
void    ww_traffic_page_reset           (WwTrafficPage          *self);
/* Messages per second, both directions: the server's in server mode,
 * the client's otherwise. */
double  ww_traffic_page_get_message_rate (WwTrafficPage         *self);
/* Number of RTT samples plotted so far. */
guint   ww_traffic_page_get_n_rtt_samples (WwTrafficPage        *self);
/* The "Connection" tile of the client section. */
void    ww_traffic_page_set_client_state (WwTrafficPage         *self,
                                          const char            *text);

G_END_DECLS
