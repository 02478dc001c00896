/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "server/ww-server-config.h"
#include "feed/ww-event-feed.h"

G_BEGIN_DECLS

#define WW_TYPE_APPLICATION (ww_application_get_type ())
G_DECLARE_FINAL_TYPE (WwApplication, ww_application, WW, APPLICATION, AdwApplication)

/*
 * @config: the server settings from the command line (copied); fields
 * still at their defaults are taken from GSettings.  @port_given: the
 * user asked for this exact port, so a taken port is an error instead of
 * a reason to try the next one.
 */
WwApplication        *ww_application_new           (const WwServerConfig *config,
                                                    gboolean              port_given);
const WwServerConfig *ww_application_get_config    (WwApplication        *self);
gboolean              ww_application_get_port_given (WwApplication       *self);
/*
 * From the command line, before g_application_run(): the feed's settings
 * (copied; NULL = the defaults, with the rate limit from GSettings) and a
 * Redis URL that wins over the "redis-url" setting (NULL = the setting).
 */
void                  ww_application_set_feed_config (WwApplication      *self,
                                                      const WwFeedConfig *feed_config);
const WwFeedConfig   *ww_application_get_feed_config (WwApplication      *self);
void                  ww_application_set_redis_url   (WwApplication      *self,
                                                      const char         *url);
const char           *ww_application_get_redis_url   (WwApplication      *self);
/* The app's settings, or NULL when the schema is not installed anywhere. */
GSettings            *ww_application_get_settings  (WwApplication        *self);

G_END_DECLS
