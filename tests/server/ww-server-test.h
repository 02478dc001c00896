/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "server/ww-server.h"

G_BEGIN_DECLS

/*
 * Helpers shared by the server tests: a server on 127.0.0.1 and an
 * ephemeral port running on its own I/O thread (so the test thread may
 * block on raw sockets), and a raw-socket WebSocket client built on the
 * protocol layer's client functions.  Every socket has a receive and send
 * timeout, so no test can hang on a silent server.
 */

#define WWT_IO_TIMEOUT_MS 5000

/* @config may be NULL; own_thread and port 0 are forced. */
WwServer   *wwt_server_new        (WwServerConfig *config);
void        wwt_server_free       (WwServer       *server);

int         wwt_connect           (guint16         port);
/* Sends @request, reads until the peer closes or the timeout. */
char       *wwt_http              (guint16         port,
                                   const char     *request,
                                   gsize          *len);
/* Reads one HTTP response (head + Content-Length body) from @fd. */
char       *wwt_read_response     (int             fd,
                                   gboolean        head_only);
guint       wwt_response_status   (const char     *response);
const char *wwt_response_body     (const char     *response);

typedef struct {
  int              fd;
  gpointer         parser;  /* WwMessageParser, client role */
  guint8          *buf;
  gsize            len;
  gsize            off;
} WwtClient;

/* Opens a WebSocket on @path; asserts the 101. NULL if it fails (with @status). */
WwtClient  *wwt_client_new        (guint16         port,
                                   const char     *path);
WwtClient  *wwt_client_try_new    (guint16         port,
                                   const char     *path,
                                   const char * const *extra_headers,
                                   guint          *status,
                                   char          **response);
void        wwt_client_free       (WwtClient      *client);

/* A frame with any first byte (FIN, RSV, opcode), masked; written in
 * @chunk-byte pieces (0 = all at once).  FALSE if the socket broke. */
gboolean    wwt_send_raw          (WwtClient      *client,
                                   guint8          b0,
                                   const void     *payload,
                                   gsize           len,
                                   gsize           chunk);
gboolean    wwt_send              (WwtClient      *client,
                                   guint8          opcode,
                                   const void     *payload,
                                   gsize           len);
gboolean    wwt_send_bytes        (WwtClient      *client,
                                   const void     *data,
                                   gsize           len);

typedef struct {
  guint8      opcode;
  gboolean    compressed;  /* RSV1: permessage-deflate */
  GByteArray *data;
  guint16     close_code;
} WwtEvent;

/* Next message or control frame; FALSE on EOF, timeout or bad framing. */
gboolean    wwt_recv              (WwtClient      *client,
                                   WwtEvent       *event);
void        wwt_event_clear       (WwtEvent       *event);
/* Skips pings; returns the next data message's payload or NULL. */
GByteArray *wwt_recv_message      (WwtClient      *client,
                                   guint8         *opcode);
/* Reads until a close frame; its code, or -1 when the stream ended
 * without one.  Pings and messages on the way are skipped. */
int         wwt_recv_close        (WwtClient      *client);
/* TRUE when the server closed TCP (EOF or reset) within the timeout. */
gboolean    wwt_wait_eof          (WwtClient      *client,
                                   guint           timeout_ms);

guint       wwt_count_fds         (void);
/* Polls @cond every few ms, at most @timeout_ms; returns its last value. */
gboolean    wwt_wait_until        (gboolean      (*cond) (gpointer),
                                   gpointer        data,
                                   guint           timeout_ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwtClient, wwt_client_free)

G_END_DECLS
