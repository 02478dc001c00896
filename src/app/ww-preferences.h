/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define WW_TYPE_PREFERENCES (ww_preferences_get_type ())
G_DECLARE_FINAL_TYPE (WwPreferences, ww_preferences, WW, PREFERENCES, AdwPreferencesWindow)

/* Every row is bound to a key of @settings; changes are written at once. */
WwPreferences *ww_preferences_new (GSettings *settings);

G_END_DECLS
