/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "ww-event.h"

G_BEGIN_DECLS

/*
 * The feed's model without any I/O: the five events, the feed-wide seq,
 * the bounded history of UPDATE messages kept for RESUME, and the cached
 * INITIAL.  Used on one thread (the server's I/O context).
 */
typedef struct _WwFeedState WwFeedState;

typedef enum {
  WW_FEED_RESUME_REPLAY,  /* the missed UPDATEs were appended (maybe none) */
  WW_FEED_RESUME_INITIAL, /* too old or ahead of us: send a fresh INITIAL */
} WwFeedResume;

#define WW_FEED_STATE_FORMAT 1

WwFeedState   *ww_feed_state_new             (guint          history_len);
void           ww_feed_state_free            (WwFeedState   *self);
guint64        ww_feed_state_get_seq         (WwFeedState   *self);
guint          ww_feed_state_get_history_len (WwFeedState   *self);
const WwEvent *ww_feed_state_get_event       (WwFeedState   *self,
                                              guint          index);
/* Index of the event with @id, or -1. */
int            ww_feed_state_find            (WwFeedState   *self,
                                              const char    *id);
/* {"type":"INITIAL","seq":N,"events":[…]}, rebuilt only after a change. */
GBytes        *ww_feed_state_get_initial     (WwFeedState   *self);
/* The JSON array of the five events (what INITIAL carries). */
char          *ww_feed_state_dup_events_json (WwFeedState   *self);
/*
 * Replaces the event with the same id and makes @seq the feed's seq.
 * @seq must be above the current one; a jump of more than one (an
 * external source) empties the history, so a RESUME across the jump gets
 * an INITIAL.  Returns the encoded UPDATE (also kept in the history).
 */
GBytes        *ww_feed_state_apply_update    (WwFeedState   *self,
                                              const WwEvent *event,
                                              guint64        seq,
                                              gint64         ts_ms,
                                              GError       **error);
/*
 * Takes a state from elsewhere (the shared state in Redis): each JSON
 * event of @events_json replaces the one with its id (events not listed
 * stay), @seq becomes the seq and the history is emptied, so a RESUME
 * across the jump gets an INITIAL.  All or nothing.
 */
gboolean       ww_feed_state_adopt           (WwFeedState   *self,
                                              guint64        seq,
                                              GPtrArray     *events_json,
                                              GError       **error);
/* {"type":"UPDATE","seq":N,"event":{…},"ts":ms}, as apply_update() makes. */
GBytes        *ww_feed_message_update        (const WwEvent *event,
                                              guint64        seq,
                                              gint64         ts_ms);
/* Reads such an UPDATE back (from another instance). */
gboolean       ww_feed_parse_update          (const char    *json,
                                              gssize         len,
                                              WwEvent      **event,
                                              guint64       *seq,
                                              gint64        *ts_ms,
                                              GError       **error);
/*
 * What a client that saw everything up to @since needs.  It has had every
 * UPDATE after @live_from delivered live already (the seq of its WELCOME),
 * so only (since, live_from] is replayed; G_MAXUINT64 = up to now.
 * Appends GBytes references to @out.
 */
WwFeedResume   ww_feed_state_resume          (WwFeedState   *self,
                                              guint64        since,
                                              guint64        live_from,
                                              GPtrArray     *out);

/* {"format":1,"seq":N,"savedAt":ms,"events":[…]} */
char          *ww_feed_state_serialize       (WwFeedState   *self,
                                              gint64         now_ms);
/* Validates all of @data before changing anything; clears the history. */
gboolean       ww_feed_state_restore         (WwFeedState   *self,
                                              const char    *data,
                                              gssize         len,
                                              GError       **error);

/*
 * The simulator: each event changes at its own moment, drawn uniformly
 * from [min_ms, max_ms] after its previous change.  Due times are virtual
 * (ms since the simulator began), so which event changes next and which
 * side scores depend only on the seed, never on timer jitter.
 */
typedef struct _WwFeedSim WwFeedSim;

WwFeedSim     *ww_feed_sim_new               (gboolean       has_seed,
                                              guint64        seed,
                                              guint          min_ms,
                                              guint          max_ms);
void           ww_feed_sim_free              (WwFeedSim     *self);
/* Virtual due time of the next change; sets @index to its event. */
gint64         ww_feed_sim_peek              (WwFeedSim     *self,
                                              guint         *index);
/* Takes the next change: its event index, side and due time. */
guint          ww_feed_sim_next              (WwFeedSim     *self,
                                              gboolean      *home_scores,
                                              gint64        *due);
/* Moves every due time by @delta_ms (catching up after a stall). */
void           ww_feed_sim_shift             (WwFeedSim     *self,
                                              gint64         delta_ms);
/* A copy of @event after one side scored: score +1, version +1. */
WwEvent       *ww_feed_score_change          (const WwEvent *event,
                                              gboolean       home_scores,
                                              gint64         now_ms);
/*
 * One whole step for tests and tools: takes the next change from @sim
 * and applies it to @state with seq + 1.  Returns the UPDATE.
 */
GBytes        *ww_feed_simulate_one          (WwFeedState   *state,
                                              WwFeedSim     *sim,
                                              gint64         now_ms,
                                              guint         *index);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwFeedState, ww_feed_state_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwFeedSim, ww_feed_sim_free)

G_END_DECLS
