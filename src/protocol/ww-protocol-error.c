/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-protocol"

#include "config.h"

#include "ww-protocol-error.h"

G_DEFINE_QUARK (ww-protocol-error-quark, ww_protocol_error)
G_DEFINE_QUARK (ww-http-error-quark, ww_http_error)
