/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "ww-application.h"

G_BEGIN_DECLS

#define WW_TYPE_WINDOW (ww_window_get_type ())
G_DECLARE_FINAL_TYPE (WwWindow, ww_window, WW, WINDOW, AdwApplicationWindow)

typedef enum {
  WW_MODE_SERVER,
  WW_MODE_CLIENT,
} WwMode;

WwWindow *ww_window_new (WwApplication *application);
/* Servers stop on worker threads; the application waits for them on shutdown. */
void      ww_window_wait_for_stopped_servers (void);

G_END_DECLS
