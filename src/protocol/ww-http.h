/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A strict HTTP/1.1 request-head parser (RFC 9112) and response builder.
 * No I/O.  The caller finds the end of the header block with
 * ww_http_find_head_end() as bytes arrive, which never scans past the
 * limit, then parses the complete head once.
 */
typedef struct _WwHttpRequest WwHttpRequest;

/*
 * Returns the length of the head including the final CRLF CRLF, 0 when
 * more bytes are needed, or -1 with @error (WW_HTTP_ERROR, 431) when no
 * end was found within @max_head bytes.
 */
gssize         ww_http_find_head_end        (const guint8   *buf,
                                             gsize           len,
                                             gsize           max_head,
                                             GError        **error);
/*
 * The same for a head accumulated across reads: @scanned (0 at first)
 * remembers how far earlier calls searched, so that only new bytes are
 * scanned.  Keep passing the whole accumulated buffer.
 */
gssize         ww_http_find_head_end_from   (const guint8   *buf,
                                             gsize           len,
                                             gsize           max_head,
                                             gsize          *scanned,
                                             GError        **error);
/* Errors: WW_HTTP_ERROR with 400 (malformed), 501/505 as RFC 9112 says. */
WwHttpRequest *ww_http_request_parse        (const char     *head,
                                             gsize           len,
                                             GError        **error);
void           ww_http_request_free         (WwHttpRequest  *self);
const char    *ww_http_request_get_method   (const WwHttpRequest *self);
/* The target as sent, e.g. "/events/EVENT%2300?token=x". */
const char    *ww_http_request_get_target   (const WwHttpRequest *self);
/* Percent-decoded path without the query; NULL if it decodes badly. */
const char    *ww_http_request_get_path     (const WwHttpRequest *self);
/* Raw query string after '?', or NULL. */
const char    *ww_http_request_get_query    (const WwHttpRequest *self);
/* Decoded value of one query parameter, or NULL. */
char          *ww_http_request_dup_query_param (const WwHttpRequest *self,
                                             const char     *name);
guint          ww_http_request_get_version_minor (const WwHttpRequest *self);
/* Case-insensitive; repeated headers are joined with ", " (RFC 9110 §5.3). */
const char    *ww_http_request_get_header   (const WwHttpRequest *self,
                                             const char     *name);
/* Whether a comma-separated header contains @token (case-insensitive). */
gboolean       ww_http_request_header_has_token (const WwHttpRequest *self,
                                             const char     *name,
                                             const char     *token);
gboolean       ww_http_request_wants_keep_alive (const WwHttpRequest *self);

const char    *ww_http_status_phrase        (guint           status);

/*
 * Builds a complete response.  @extra_headers is a NULL-terminated list of
 * "Name: value" strings without CRLF (may be NULL).  A HEAD response keeps
 * Content-Length but drops the body.
 */
GBytes        *ww_http_response_build       (guint           status,
                                             const char     *content_type,
                                             const char * const *extra_headers,
                                             const void     *body,
                                             gsize           body_len,
                                             gboolean        head_only,
                                             gboolean        keep_alive);
/* {"error":"<code>","message":"<message>","status":N} with a JSON body. */
GBytes        *ww_http_response_build_error (guint           status,
                                             const char     *code,
                                             const char     *message,
                                             const char * const *extra_headers,
                                             gboolean        head_only,
                                             gboolean        keep_alive);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwHttpRequest, ww_http_request_free)

G_END_DECLS
