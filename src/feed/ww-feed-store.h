/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "ww-feed-state.h"

G_BEGIN_DECLS

/*
 * The feed's state file, <dir>/feed.json, written atomically (a temporary
 * file renamed over the old one) so that a crash mid-write never leaves a
 * torn file behind.
 */
typedef enum {
  WW_FEED_LOAD_OK,       /* the state was restored */
  WW_FEED_LOAD_MISSING,  /* no file yet: a first start */
  WW_FEED_LOAD_CORRUPT,  /* unusable content, renamed aside (@moved_to) */
  WW_FEED_LOAD_FAILED,   /* could not be read at all; @error says why */
} WwFeedLoad;

#define WW_FEED_STATE_FILE "feed.json"

/* g_get_user_state_dir ()/wirewatch */
char       *ww_feed_store_default_dir (void);
char       *ww_feed_store_path        (const char   *dir);
/*
 * Never fatal: on CORRUPT the file is renamed to
 * feed.json.corrupt-<UTC timestamp> and @state is left as it was.
 */
WwFeedLoad  ww_feed_store_load        (const char   *dir,
                                       WwFeedState  *state,
                                       char        **moved_to,
                                       GError      **error);
gboolean    ww_feed_store_save        (const char   *dir,
                                       const char   *contents,
                                       GError      **error);

G_END_DECLS
