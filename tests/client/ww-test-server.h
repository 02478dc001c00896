/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/*
 * A SoupServer for the client tests, on 127.0.0.1 with an ephemeral port:
 * /echo echoes every message; /ws speaks a minimal Wirewatch feed
 * (WELCOME, INITIAL, UPDATE, PONG, CHAT, RESUME from its history).
 * Updates come from a timer (update_ms > 0) or from
 * ww_test_server_emit_update().  The feed state outlives stop/start, as
 * the real feed's does.
 */
typedef struct _WwTestServer WwTestServer;

WwTestServer *ww_test_server_new          (guint            update_ms,
                                           GTlsCertificate *tls /* nullable */);
void          ww_test_server_free         (WwTestServer *self);
/* Listens on @port (0 = ephemeral); returns the port. */
guint16       ww_test_server_start        (WwTestServer *self,
                                           guint16       port);
/* Drops every connection without a close handshake and stops listening. */
void          ww_test_server_stop         (WwTestServer *self);
char         *ww_test_server_url          (WwTestServer *self,
                                           const char   *path);
/* Sends UPDATE @seq to every feed client (seq 0: the next one, recorded in history). */
void          ww_test_server_emit_update  (WwTestServer *self,
                                           guint64       seq);
guint64       ww_test_server_get_seq      (WwTestServer *self);
/* Records the next UPDATE in history without sending it (a lost message). */
void          ww_test_server_record_update (WwTestServer *self);
guint         ww_test_server_get_n_resumes (WwTestServer *self);
/* The last RESUME seq received, or -1. */
gint64        ww_test_server_get_last_resume (WwTestServer *self);
const char   *ww_test_server_get_last_auth (WwTestServer *self);
guint         ww_test_server_get_n_chats  (WwTestServer *self);

/* Spins the default context until @cond (polled) or @timeout_ms; returns @cond. */
typedef gboolean (*WwTestCond) (gpointer data);
gboolean      ww_test_wait                (WwTestCond cond,
                                           gpointer   data,
                                           guint      timeout_ms);
void          ww_test_sleep               (guint      ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwTestServer, ww_test_server_free)

G_END_DECLS
