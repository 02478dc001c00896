/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "ww-http.h"

G_BEGIN_DECLS

/* RFC 6455 §4.2.2: base64 (SHA-1 (key + GUID)). */
char    *ww_handshake_accept_key       (const char *client_key);

/*
 * The outcome of validating an opening handshake (RFC 6455 §4.2.1).
 * protocol is the one subprotocol chosen from the client's offers (or
 * NULL); extensions is the raw Sec-WebSocket-Extensions offer for the
 * extension layer to negotiate (or NULL).
 */
typedef struct {
  char *accept;
  char *protocol;
  char *extensions;
} WwHandshake;

void     ww_handshake_clear            (WwHandshake *hs);

/* Whether the request asks for an upgrade at all (Upgrade: websocket). */
gboolean ww_handshake_is_upgrade       (const WwHttpRequest *req);

/*
 * Validates @req.  On failure sets WW_HTTP_ERROR whose code is the HTTP
 * status to answer: 400 for a malformed request, 405 for a method other
 * than GET, 426 for a version other than 13 (the response must carry
 * "Sec-WebSocket-Version: 13").
 * @server_protocols: NULL-terminated list in our order of preference, or NULL.
 */
gboolean ww_handshake_validate         (const WwHttpRequest *req,
                                        const char * const  *server_protocols,
                                        WwHandshake         *out,
                                        GError             **error);

/* The 101 response; @extensions_response may be NULL. */
GBytes  *ww_handshake_build_response   (const WwHandshake *hs,
                                        const char        *extensions_response);

/*
 * The response for a refused handshake or a bad head: the status of a
 * WW_HTTP_ERROR (400 otherwise) with a JSON body and "Connection: close";
 * 426 carries "Sec-WebSocket-Version: 13", 405 carries "Allow: GET".
 */
GBytes  *ww_handshake_build_error      (const GError      *error);

/* Client side, for tests and bench/: a fresh 16-byte key in base64. */
char    *ww_handshake_client_key_new   (void);
GBytes  *ww_handshake_client_request   (const char *host,
                                        const char *path,
                                        const char *key,
                                        const char * const *extra_headers);
/* Checks a complete response head against @key; 101 and the right accept. */
gboolean ww_handshake_client_check_response (const char *head,
                                        gsize       len,
                                        const char *key,
                                        GError    **error);

G_END_DECLS
