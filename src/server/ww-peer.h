/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * One WebSocket connection.  Owned by the server; only valid on the I/O
 * context between the endpoint's opened and closed callbacks.
 */
typedef struct _WwPeer WwPeer;

guint64     ww_peer_get_id          (WwPeer        *peer);
const char *ww_peer_get_address     (WwPeer        *peer);
const char *ww_peer_get_origin      (WwPeer        *peer);
const char *ww_peer_get_user_agent  (WwPeer        *peer);
/* The decoded request path and the raw query, as the handshake saw them. */
const char *ww_peer_get_path        (WwPeer        *peer);
const char *ww_peer_get_query       (WwPeer        *peer);
void        ww_peer_send_text       (WwPeer        *peer,
                                     const char    *text,
                                     gsize          len);
void        ww_peer_send_binary     (WwPeer        *peer,
                                     const guint8  *data,
                                     gsize          len);
/* A complete encoded frame (ww_frame_encode()); the peer keeps a ref. */
void        ww_peer_send_frame      (WwPeer        *peer,
                                     GBytes        *frame);
void        ww_peer_close           (WwPeer        *peer,
                                     guint16        code,
                                     const char    *reason);
gsize       ww_peer_get_queued_bytes (WwPeer       *peer);
void        ww_peer_set_data        (WwPeer        *peer,
                                     gpointer       data,
                                     GDestroyNotify destroy);
gpointer    ww_peer_get_data        (WwPeer        *peer);

/* A copy of a peer's record, for the GUI's Clients page. */
typedef struct {
  guint64  id;
  char    *address;
  char    *origin;
  char    *user_agent;
  char    *path;
  gint64   connected_at;  /* g_get_real_time () */
  guint64  frames_in;
  guint64  frames_out;
  guint64  messages_in;
  guint64  messages_out;
  guint64  bytes_in;
  guint64  bytes_out;
  guint64  queued_bytes;
  gint64   last_rtt_us;   /* -1 until the first pong */
} WwPeerInfo;

void        ww_peer_info_free       (WwPeerInfo    *info);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwPeerInfo, ww_peer_info_free)

G_END_DECLS
