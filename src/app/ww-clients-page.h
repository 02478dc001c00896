/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "server/ww-server.h"

G_BEGIN_DECLS

#define WW_TYPE_CLIENTS_PAGE (ww_clients_page_get_type ())
G_DECLARE_FINAL_TYPE (WwClientsPage, ww_clients_page, WW, CLIENTS_PAGE, GtkWidget)

/*
 * @server: the embedded server whose peers are listed (and kicked by the
 * per-row Disconnect action), or NULL in client mode, where the page
 * says it only works in server mode.
 */
void        ww_clients_page_set_server (WwClientsPage *self,
                                        WwServer      *server);
/*
 * Applies a ww_server_dup_peer_infos() snapshot: rows are updated in
 * place by id, new ones appended and gone ones removed in contiguous
 * runs, so the model emits as few items-changed as possible.  When
 * @joined / @left are given, a line per arrival / departure is added
 * to them (newly allocated strings).
 */
/* Without a server: "stopped" in server mode, "only in server mode" otherwise. */
void        ww_clients_page_set_server_mode (WwClientsPage *self,
                                        gboolean       server_mode);
void        ww_clients_page_update     (WwClientsPage *self,
                                        GPtrArray     *infos,
                                        gint64         now_us,
                                        GPtrArray     *joined,
                                        GPtrArray     *left);
void        ww_clients_page_clear      (WwClientsPage *self);
/* Closes one client's connection with 1000 (what the row's button does). */
void        ww_clients_page_kick       (WwClientsPage *self,
                                        guint64        id);
/* The unsorted model of WwClientRow. */
GListModel *ww_clients_page_get_model  (WwClientsPage *self);

G_END_DECLS
