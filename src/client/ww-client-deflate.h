/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/*
 * permessage-deflate (RFC 7692) for the client's SoupWebsocketConnection,
 * in place of libsoup's own: libsoup 3.2 inflates a message without any
 * bound, so a few hundred KiB from a hostile server grow into gigabytes.
 * This one runs the protocol layer's codec (WwDeflate) with the client's
 * message limit checked while inflating, and fails the connection with
 * 1009 past it.
 */
#define WW_TYPE_CLIENT_DEFLATE (ww_client_deflate_get_type ())
G_DECLARE_FINAL_TYPE (WwClientDeflate, ww_client_deflate, WW, CLIENT_DEFLATE, SoupWebsocketExtension)

/* The largest inflated message, for every connection from now on. */
void ww_client_deflate_set_default_max_message (guint64 max_message);

G_END_DECLS
