/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "server/ww-server-config.h"

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
/* The app's settings, or NULL when the schema is not installed anywhere. */
GSettings            *ww_application_get_settings  (WwApplication        *self);

G_END_DECLS
