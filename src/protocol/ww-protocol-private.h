/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "ww-http.h"

G_BEGIN_DECLS

/* Bytes from the kernel's CSPRNG (getrandom, else /dev/urandom). */
void     ww_frame_secure_random (guint8     *buf,
                                 gsize       len);

/* The same from /dev/urandom; FALSE if it cannot be read. */
gboolean ww_frame_read_urandom  (guint8     *buf,
                                 gsize       len);

/* RFC 9110 §5.6.2 tchar. */
gboolean ww_http_is_token       (const char *s,
                                 gsize       len);

/* Whether a comma-separated list holds @token (case-insensitive). */
gboolean ww_http_list_has_token (const char *list,
                                 const char *token);

/* A response head, parsed into a request struct for its header
 * accessors; @status receives the status code. */
WwHttpRequest *ww_http_response_parse (const char *head,
                                       gsize       len,
                                       guint      *status,
                                       GError    **error);

G_END_DECLS
