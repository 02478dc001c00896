/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

#include "server/ww-peer.h"

G_BEGIN_DECLS

#define WW_TYPE_CLIENT_ROW (ww_client_row_get_type ())
G_DECLARE_FINAL_TYPE (WwClientRow, ww_client_row, WW, CLIENT_ROW, GObject)

/*
 * One row of the Clients page, built from a WwPeerInfo snapshot and
 * updated in place (each property notifies only when it changed, so
 * only the visible cells whose text changed are redrawn).
 *
 * Numeric properties (for the column sorters): "id", "connected-at",
 * "messages-in", "messages-out", "bytes-in", "bytes-out", "queued-bytes",
 * "rtt-us".  Text properties (for the cells): "id-text", "address",
 * "agent", "connected-text", "messages-in-text", "messages-out-text",
 * "bytes-in-text", "bytes-out-text", "queued-text", "rtt-text";
 * "target" is the id as a GVariant for the row's Disconnect action.
 */
WwClientRow *ww_client_row_new            (const WwPeerInfo *info,
                                           gint64            now_us);
void         ww_client_row_update         (WwClientRow      *self,
                                           const WwPeerInfo *info,
                                           gint64            now_us);
guint64      ww_client_row_get_id         (WwClientRow      *self);
const char  *ww_client_row_get_address    (WwClientRow      *self);
const char  *ww_client_row_get_agent      (WwClientRow      *self);
guint64      ww_client_row_get_messages_in (WwClientRow     *self);
gint64       ww_client_row_get_connected_at (WwClientRow    *self);

/* For the page's diff: the snapshot generation that last saw this row. */
guint        ww_client_row_get_generation (WwClientRow      *self);
void         ww_client_row_set_generation (WwClientRow      *self,
                                           guint             generation);

G_END_DECLS
