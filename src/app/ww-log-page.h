/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "ww-log-entry.h"

G_BEGIN_DECLS

#define WW_TYPE_LOG_PAGE (ww_log_page_get_type ())
G_DECLARE_FINAL_TYPE (WwLogPage, ww_log_page, WW, LOG_PAGE, GtkWidget)

#define WW_LOG_PAGE_DEFAULT_CAP 5000

/*
 * Queues @entry (transfer full).  Entries reach the model in batches at
 * most ten times a second; the model never holds more than the cap
 * ("cap" property) and neither does the queue, so a flood costs bounded
 * memory and two items-changed per batch.  Dropped while paused.
 */
void        ww_log_page_append        (WwLogPage  *self,
                                       WwLogEntry *entry);
/* Moves the queued entries into the model now. */
void        ww_log_page_flush         (WwLogPage  *self);
void        ww_log_page_clear         (WwLogPage  *self);
/* Every kept entry, oldest first (before filtering). */
GListModel *ww_log_page_get_model     (WwLogPage  *self);
/* What the list shows. */
GListModel *ww_log_page_get_filtered_model (WwLogPage *self);
guint       ww_log_page_get_cap       (WwLogPage  *self);
void        ww_log_page_set_cap       (WwLogPage  *self,
                                       guint       cap);
gboolean    ww_log_page_get_paused    (WwLogPage  *self);
void        ww_log_page_set_paused    (WwLogPage  *self,
                                       gboolean    paused);
void        ww_log_page_set_filter_text (WwLogPage *self,
                                       const char *text);
/* Selects the shown entry at @position (G_MAXUINT: none). */
void        ww_log_page_select        (WwLogPage  *self,
                                       guint       position);
/* Writes the shown entries to @file (tab-separated, a header line first). */
void        ww_log_page_export        (WwLogPage           *self,
                                       GFile               *file,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
gboolean    ww_log_page_export_finish (WwLogPage           *self,
                                       GAsyncResult        *result,
                                       GError             **error);
/* All shown entries as tab-separated lines. */
char       *ww_log_page_dup_text      (WwLogPage  *self);

G_END_DECLS
