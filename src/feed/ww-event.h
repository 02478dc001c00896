/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WW_FEED_N_EVENTS 5

/*
 * One live event (DESIGN.md "Wire protocol of the feed"):
 * {"id":"EVENT#00","name":"Harbor City vs Northgate","home":"Harbor City",
 *  "away":"Northgate","homeScore":2,"awayScore":1,"version":17,
 *  "updatedAt":1763800000000}
 */
typedef struct {
  char    *id;
  char    *name;
  char    *home;
  char    *away;
  gint64   home_score;
  gint64   away_score;
  guint64  version;
  gint64   updated_at;  /* ms since the epoch */
} WwEvent;

WwEvent  *ww_event_new            (const char    *id,
                                   const char    *home,
                                   const char    *away);
WwEvent  *ww_event_copy           (const WwEvent *event);
void      ww_event_free           (WwEvent       *event);
gboolean  ww_event_equal          (const WwEvent *a,
                                   const WwEvent *b);
/* Appends the event as one JSON object, members in the order above. */
void      ww_event_append_json    (const WwEvent *event,
                                   GString       *out);
char     *ww_event_to_json        (const WwEvent *event);
/*
 * Reads an event back (persisted state, a backplane message).  Every
 * member must be present with the right type; scores and version are
 * non-negative integers.  Errors are G_IO_ERROR_INVALID_DATA.
 */
WwEvent  *ww_event_new_from_json  (JsonObject    *object,
                                   GError       **error);

/* Appends @text as a JSON string literal (quotes included). */
void      ww_json_append_string   (GString       *out,
                                   const char    *text);

/* Node-type-checked getters: json-glib 1.6's *_with_default getters
 * emit CRITICALs on non-value members. */
gboolean  ww_json_get_string      (JsonObject    *object,
                                   const char    *member,
                                   const char   **out);
gboolean  ww_json_get_int         (JsonObject    *object,
                                   const char    *member,
                                   gint64        *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwEvent, ww_event_free)

G_END_DECLS
