/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/*
 * The window's internals, for the tests in tests/app: they drive the
 * window through the same functions its actions use and read the state
 * the widgets show, instead of poking at widgets blindly.
 */

#include "client/ww-client.h"
#include "feed/ww-event-feed.h"
#include "server/ww-server.h"

#include "ww-clients-page.h"
#include "ww-event-card.h"
#include "ww-log-page.h"
#include "ww-traffic-page.h"
#include "ww-window.h"

G_BEGIN_DECLS

#define WW_WINDOW_N_EVENTS 5

/*
 * A window with explicit settings: @app and @settings may be NULL;
 * @feed_config may be NULL for the defaults.  Starts in server mode.
 */
WwWindow      *ww_window_new_full          (GtkApplication       *app,
                                            const WwServerConfig *config,
                                            gboolean              port_given,
                                            const WwFeedConfig   *feed_config,
                                            GSettings            *settings);
WwMode         ww_window_get_mode          (WwWindow   *self);
/* Stops one side cleanly and starts the other. */
void           ww_window_set_mode          (WwWindow   *self,
                                            WwMode      mode);
gboolean       ww_window_get_running       (WwWindow   *self);
void           ww_window_start             (WwWindow   *self);
void           ww_window_stop              (WwWindow   *self);
void           ww_window_set_port          (WwWindow   *self,
                                            guint16     port);
void           ww_window_set_client_url    (WwWindow   *self,
                                            const char *url);
/* Runs one refresh (normally on the update-interval timer). */
void           ww_window_refresh           (WwWindow   *self);
void           ww_window_ping              (WwWindow   *self);
const char    *ww_window_get_status_text   (WwWindow   *self);
/* The error shown in the status line, or NULL. */
const char    *ww_window_get_error_text    (WwWindow   *self);
gboolean       ww_window_get_warning_visible (WwWindow *self);
WwServer      *ww_window_get_server        (WwWindow   *self);
WwClient      *ww_window_get_client        (WwWindow   *self);
/* The running server's feed, or NULL. */
WwEventFeed   *ww_window_get_feed          (WwWindow   *self);
/* The Redis backplane of the running server (redis-url), or NULL. */
WwBackplane   *ww_window_get_backplane     (WwWindow   *self);
/* TRUE when @bind_address is not loopback and @token is empty (issue 8). */
gboolean       ww_window_should_warn_exposed (const char *bind_address,
                                            const char *token);
WwEventCard   *ww_window_get_event_card    (WwWindow   *self,
                                            guint       index);
WwClientsPage *ww_window_get_clients_page  (WwWindow   *self);
WwTrafficPage *ww_window_get_traffic_page  (WwWindow   *self);
WwLogPage     *ww_window_get_log_page      (WwWindow   *self);
void           ww_window_set_page          (WwWindow   *self,
                                            const char *name);
const char    *ww_window_get_page          (WwWindow   *self);

G_END_DECLS
