/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>
#include <json-glib/json-glib.h>

#include "feed/ww-event-feed.h"
#include "server/ww-server.h"

G_BEGIN_DECLS

/* A server with a feed on the test's main context (or its own thread). */
typedef struct {
  WwServer    *server;
  WwEventFeed *feed;
  guint16      port;
} FeedFixture;

FeedFixture *feed_fixture_start (const WwFeedConfig *config,
                                 gboolean            own_thread,
                                 guint16             port);
void         feed_fixture_stop  (FeedFixture        *fixture);

/* One libsoup WebSocket client that records everything it receives. */
typedef struct {
  SoupWebsocketConnection *conn;
  GError     *error;
  gboolean    connect_done;
  gboolean    closed;
  guint16     close_code;
  char       *client_id;
  gboolean    have_welcome;
  guint64     welcome_seq;
  guint       n_initial;
  guint64     initial_seq;       /* of the last INITIAL */
  char       *initial_events;    /* raw "events" array of the last INITIAL */
  GArray     *update_seqs;       /* guint64, in arrival order */
  GPtrArray  *update_texts;      /* char *, the raw UPDATE frames */
  GPtrArray  *update_ids;        /* char *, event ids */
  GArray     *update_ts;         /* gint64 */
  GArray     *presence_us;       /* gint64 monotonic time of each PRESENCE */
  GArray     *presence_counts;   /* guint */
  GPtrArray  *errors;            /* char * codes */
  GPtrArray  *pongs;             /* char * raw PONG frames */
  GPtrArray  *chats;             /* char * raw CHAT frames */
  guint       n_messages;
} FeedClient;

SoupSession *feed_test_session    (void);
FeedClient  *feed_client_connect  (SoupSession *session,
                                   guint16      port,
                                   const char  *path);
gboolean     feed_client_wait_open (FeedClient *client);
void         feed_client_send     (FeedClient  *client,
                                   const char  *text);
void         feed_client_close    (FeedClient  *client);
void         feed_client_free     (FeedClient  *client);
guint64      feed_client_last_seq (FeedClient  *client);

/* Iterates the default main context until @cond or @ms elapse. */
#define WAIT_UNTIL(cond, ms) G_STMT_START {                                  \
    gint64 _deadline = g_get_monotonic_time () + (gint64) (ms) * 1000;      \
    guint _tick = g_timeout_add (10, feed_test_tick, NULL);                  \
    while (!(cond) && g_get_monotonic_time () < _deadline)                   \
      g_main_context_iteration (NULL, TRUE);                                 \
    g_source_remove (_tick);                                                 \
  } G_STMT_END

gboolean     feed_test_tick       (gpointer data);
char        *feed_test_make_dir   (void);
void         feed_test_remove_tree (const char *dir);
/* Raw text of a top-level member of a JSON object we wrote ourselves. */
char        *feed_test_raw_member (const char *json,
                                   const char *member);

G_END_DECLS
