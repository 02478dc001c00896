/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WW_TYPE_EVENT_CARD (ww_event_card_get_type ())
G_DECLARE_FINAL_TYPE (WwEventCard, ww_event_card, WW, EVENT_CARD, GtkWidget)

GtkWidget  *ww_event_card_new           (void);
/*
 * Shows @event (the feed's event object).  @highlight: the score changed
 * live, so the card lights up for about a second.
 */
void        ww_event_card_set_event     (WwEventCard *self,
                                         JsonObject  *event,
                                         guint64      seq,
                                         gboolean     highlight);
void        ww_event_card_clear         (WwEventCard *self);
/* Refreshes "3 s ago"; @now_ms is wall-clock milliseconds. */
void        ww_event_card_refresh_age   (WwEventCard *self,
                                         gint64       now_ms);
const char *ww_event_card_get_event_id  (WwEventCard *self);
gboolean    ww_event_card_has_event     (WwEventCard *self);
guint64     ww_event_card_get_seq       (WwEventCard *self);
gint64      ww_event_card_get_version   (WwEventCard *self);
gboolean    ww_event_card_is_highlighted (WwEventCard *self);
/* "2 – 1" as shown. */
const char *ww_event_card_get_score_text (WwEventCard *self);

G_END_DECLS
