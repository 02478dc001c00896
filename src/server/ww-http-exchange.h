/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "../protocol/ww-http.h"

G_BEGIN_DECLS

/* One HTTP request being answered; valid only inside the handler. */
typedef struct _WwHttpExchange WwHttpExchange;

const WwHttpRequest *ww_http_exchange_get_request (WwHttpExchange *exchange);
/* Decoded path without the query. */
const char *ww_http_exchange_get_path     (WwHttpExchange     *exchange);
const char *ww_http_exchange_get_address  (WwHttpExchange     *exchange);
void        ww_http_exchange_respond      (WwHttpExchange     *exchange,
                                           guint               status,
                                           const char         *content_type,
                                           GBytes             *body,
                                           const char * const *extra_headers);
void        ww_http_exchange_respond_json (WwHttpExchange     *exchange,
                                           guint               status,
                                           const char         *json);
void        ww_http_exchange_respond_error (WwHttpExchange    *exchange,
                                           guint               status,
                                           const char         *code,
                                           const char         *message);

G_END_DECLS
