/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "ww-frame.h"

G_BEGIN_DECLS

/*
 * permessage-deflate (RFC 7692): negotiation, a per-connection codec and a
 * shared one-shot compressor for broadcasts.  No I/O; GLib and zlib only.
 *
 * Errors are WW_PROTOCOL_ERROR with the close code to send as error->code:
 * WW_CLOSE_MESSAGE_TOO_BIG (1009) when the inflated message outgrows the
 * limit, WW_CLOSE_INVALID_PAYLOAD (1007) for data zlib rejects (RFC 7692
 * names no code; 1007 is RFC 6455's "data not consistent with the type of
 * the message", as Node's ws does), WW_CLOSE_PROTOCOL_ERROR (1002) for an
 * extension response a client must refuse, WW_CLOSE_INTERNAL_ERROR (1011)
 * when zlib runs out of memory.
 *
 * Memory (zlib's own figures, zconf.h): a deflate stream with window bits
 * w and memLevel m holds (1 << (w + 2)) + (1 << (m + 9)) bytes plus ~6 KiB
 * of state, an inflate stream 1 << w plus ~7 KiB.  We default to memLevel
 * 4: at w = 15 a deflate stream is 136 KiB instead of 262 KiB at zlib's
 * default 8, for output ~1-2% larger (feed JSON: 23.0 vs 22.6 bytes per
 * update with context takeover, 7.47% vs 7.37% for 1 MiB) and the same
 * speed on feed-sized messages.  Streams exist only while a peer is
 * active: they are allocated on first use and ww_deflate_release_idle()
 * drops what it can.  Feed clients negotiate server_no_context_takeover
 * and borrow the shared compressor, so they own no deflate stream at all.
 *
 * Server use: at the handshake, ww_deflate_negotiate() on the offer from
 * WwHandshake.extensions gives the response header and the params for
 * ww_deflate_new(); then allow RSV1 in the parser and turn its UTF-8 check
 * off for compressed messages (check the inflated text instead).  A
 * message with RSV1 goes through ww_deflate_inflate() (limit set with
 * ww_deflate_set_max_message()); an outgoing one through
 * ww_deflate_compress() when ww_deflate_should_compress(), sent with
 * RSV1 on its first frame.  A broadcast is compressed once per distinct
 * ww_deflate_broadcast_window() with ww_deflate_shared_compress(); peers
 * that answer 0 get their own ww_deflate_compress().  Control frames are
 * never compressed (RFC 7692 §6.1).
 */

#define WW_DEFLATE_EXTENSION_NAME "permessage-deflate"

/* Server policy and codec settings. */
typedef struct {
  gboolean enabled;                          /* default FALSE (DESIGN: off unless --deflate) */
  gboolean force_server_no_context_takeover; /* compress each message alone so one
                                              * compressed frame can go to every peer;
                                              * default TRUE (DESIGN); an endpoint that
                                              * only echoes may turn it off for ratio */
  gboolean force_client_no_context_takeover; /* lets the inflate stream go between
                                              * messages; costs the client ratio */
  guint    max_window_bits;                  /* 8..15: our window, and the client's when
                                              * it allows us to limit it; default 15 */
  guint    client_max_window_bits;           /* 8..15: the client's window when it allows
                                              * us to limit it (its inflate state on our
                                              * side is ~7 KiB + 2^bits); 0 = as
                                              * max_window_bits (default) */
  gsize    compress_threshold;               /* shorter messages go uncompressed; 64 */
  int      level;                            /* zlib level 0..9 or -1; default 6 */
  int      mem_level;                        /* zlib memLevel 1..9; default 4 */
} WwDeflateConfig;

void ww_deflate_config_init (WwDeflateConfig *config);

/*
 * One permessage-deflate offer as sent by a client (RFC 7692 §7.1).
 * A window-bits field of 0 means the parameter is absent.
 */
typedef struct {
  gboolean server_no_context_takeover;
  gboolean client_no_context_takeover;
  guint8   server_max_window_bits;     /* 0 or 8..15 */
  gboolean has_client_max_window_bits; /* the client lets the server limit its window */
  guint8   client_max_window_bits;     /* 0 (no value) or 8..15 */
} WwDeflateOffer;

/* What was agreed for one connection; window bits always 8..15. */
typedef struct {
  gboolean server_no_context_takeover;
  gboolean client_no_context_takeover;
  guint8   server_max_window_bits;
  guint8   client_max_window_bits;
} WwDeflateParams;

/*
 * Server side.  Reads a Sec-WebSocket-Extensions value (several
 * comma-separated offers, `;` parameters, token or quoted-string values
 * per RFC 6455 §9.1) and accepts the first permessage-deflate offer that
 * is valid and that @config can serve.  An offer with an unknown,
 * duplicate or invalid parameter is declined and the next one tried
 * (§7.1); other extensions are passed over.  Never fails the handshake:
 * returns FALSE when nothing was accepted (or @config->enabled is FALSE).
 * On TRUE, @params holds the agreement and *@response (if not NULL) the
 * header value to send back; free it with g_free().
 */
gboolean ww_deflate_negotiate (const WwDeflateConfig *config,
                               const char            *header,
                               WwDeflateParams       *params,
                               char                 **response);

/* Parses the first permessage-deflate offer of @header, valid or not:
 * FALSE when there is none or it is invalid.  For tests and tools. */
gboolean ww_deflate_parse_offer (const char     *header,
                                 WwDeflateOffer *offer);

/* Client side: the header value for @offer. */
char    *ww_deflate_offer_to_string     (const WwDeflateOffer *offer);

/*
 * Client side: checks the server's Sec-WebSocket-Extensions @response
 * against what we offered.  NULL or empty @response: no extension, returns
 * FALSE without error.  A response we must refuse (§7.1: a parameter we
 * did not allow, an invalid or duplicate one, an extension we never
 * offered) returns FALSE with WW_CLOSE_PROTOCOL_ERROR: fail the
 * connection.  TRUE fills @params.
 */
gboolean ww_deflate_client_check_response (const WwDeflateOffer *offer,
                                           const char           *response,
                                           WwDeflateParams      *params,
                                           GError              **error);

/*
 * A shared one-shot compressor, for messages compressed once and queued on
 * every peer that negotiated no context takeover for our direction.  Each
 * call compresses alone (the stream is reset after it), keyed by window
 * bits since a peer may have asked for a smaller window.  Not thread-safe:
 * one per I/O thread.
 */
typedef struct _WwDeflateShared WwDeflateShared;

WwDeflateShared *ww_deflate_shared_new      (const WwDeflateConfig *config);
void             ww_deflate_shared_free     (WwDeflateShared       *self);
/* Compressed payload, without the 00 00 ff ff tail (§7.2.1). */
GBytes          *ww_deflate_shared_compress (WwDeflateShared       *self,
                                             guint                  window_bits,
                                             const void            *data,
                                             gsize                  len,
                                             GError               **error);
gsize            ww_deflate_shared_memory   (WwDeflateShared       *self);

/*
 * The codec of one connection.  @role says which side of @params is ours:
 * a server compresses with the server_* parameters and inflates with the
 * client_* ones.  zlib streams are created on first use.  If @shared is
 * not NULL and our direction has no context takeover, compression borrows
 * it instead of owning a stream; it must outlive the codec.
 */
typedef struct _WwDeflate WwDeflate;

WwDeflate *ww_deflate_new             (WwRole                 role,
                                       const WwDeflateParams *params,
                                       const WwDeflateConfig *config,
                                       WwDeflateShared       *shared);
void       ww_deflate_free            (WwDeflate             *self);

/* Largest inflated message; default 16 MiB.  Checked while inflating. */
void       ww_deflate_set_max_message (WwDeflate             *self,
                                       guint64                max_message);

/* Whether a message of @len bytes is worth compressing (threshold). */
gboolean   ww_deflate_should_compress (WwDeflate             *self,
                                       gsize                  len);
/* Whether outgoing messages may be sent uncompressed after compressing
 * them (only without context takeover: else the peer's window would miss
 * them), e.g. when compression did not make them smaller. */
gboolean   ww_deflate_can_skip        (WwDeflate             *self);

/*
 * The window bits of a frame from ww_deflate_shared_compress() that this
 * peer can take, or 0 when it cannot share (we keep context towards it).
 * A broadcast compresses once per distinct value among its peers.
 */
guint      ww_deflate_broadcast_window (WwDeflate            *self);

/* Compresses one whole message; the result has no 00 00 ff ff tail. */
GBytes    *ww_deflate_compress        (WwDeflate             *self,
                                       const void            *data,
                                       gsize                  len,
                                       GError               **error);

/*
 * Incremental inflate of one message: feed the payload of each frame (in
 * any split), then finish.  After an error the codec stays failed; close
 * the connection with error->code.
 */
gboolean   ww_deflate_inflate_feed    (WwDeflate             *self,
                                       const void            *data,
                                       gsize                  len,
                                       GError               **error);
GBytes    *ww_deflate_inflate_finish  (WwDeflate             *self,
                                       GError               **error);
/* feed() + finish() for a message already assembled. */
GBytes    *ww_deflate_inflate         (WwDeflate             *self,
                                       const void            *data,
                                       gsize                  len,
                                       GError               **error);

/*
 * Call when the peer has been idle for a while: frees the deflate stream
 * (a fresh one only costs ratio; the peer's window just goes unused) and
 * the inflate stream when the peer keeps no context.  Returns the bytes
 * released.
 */
gsize      ww_deflate_release_idle    (WwDeflate             *self);

typedef struct {
  gsize zlib_bytes;   /* held by zlib now (our streams, not the shared one) */
  gsize zlib_peak;
  gsize buffer_bytes; /* inflate output buffer capacity now */
  gsize buffer_peak;  /* never above the message limit + 1 */
} WwDeflateMemory;

void       ww_deflate_get_memory      (WwDeflate             *self,
                                       WwDeflateMemory       *memory);

/* zlib's figure for one deflate stream, see above. */
gsize      ww_deflate_stream_memory   (guint                  window_bits,
                                       int                    mem_level);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwDeflate, ww_deflate_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwDeflateShared, ww_deflate_shared_free)

G_END_DECLS
