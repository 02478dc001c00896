/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Errors of the frame layer carry, as their code, the RFC 6455 close code
 * to send (WW_CLOSE_PROTOCOL_ERROR, WW_CLOSE_INVALID_PAYLOAD,
 * WW_CLOSE_MESSAGE_TOO_BIG, ...).  Errors of the HTTP layer use
 * WW_HTTP_ERROR with the HTTP status to answer (400, 405, 426, 431 ...).
 */
#define WW_PROTOCOL_ERROR (ww_protocol_error_quark ())
#define WW_HTTP_ERROR     (ww_http_error_quark ())

GQuark ww_protocol_error_quark (void);
GQuark ww_http_error_quark     (void);

G_END_DECLS
