/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* RFC 6455 §5.2 opcodes. */
typedef enum {
  WW_OPCODE_CONTINUATION = 0x0,
  WW_OPCODE_TEXT         = 0x1,
  WW_OPCODE_BINARY       = 0x2,
  WW_OPCODE_CLOSE        = 0x8,
  WW_OPCODE_PING         = 0x9,
  WW_OPCODE_PONG         = 0xA,
} WwOpcode;

/* RFC 6455 §7.4.1 close codes that we send or count. */
typedef enum {
  WW_CLOSE_NORMAL            = 1000,
  WW_CLOSE_GOING_AWAY        = 1001,
  WW_CLOSE_PROTOCOL_ERROR    = 1002,
  WW_CLOSE_UNSUPPORTED_DATA  = 1003,
  WW_CLOSE_NO_STATUS         = 1005, /* never on the wire */
  WW_CLOSE_ABNORMAL          = 1006, /* never on the wire */
  WW_CLOSE_INVALID_PAYLOAD   = 1007,
  WW_CLOSE_POLICY_VIOLATION  = 1008,
  WW_CLOSE_MESSAGE_TOO_BIG   = 1009,
  WW_CLOSE_MANDATORY_EXT     = 1010,
  WW_CLOSE_INTERNAL_ERROR    = 1011,
  WW_CLOSE_SERVICE_RESTART   = 1012,
  WW_CLOSE_TRY_AGAIN_LATER   = 1013,
} WwCloseCode;

typedef enum {
  WW_ROLE_SERVER, /* we parse masked client frames, write unmasked ones */
  WW_ROLE_CLIENT, /* we parse unmasked server frames, write masked ones */
} WwRole;

/* Largest frame header: 2 + 8 (length) + 4 (mask key). */
#define WW_FRAME_HEADER_MAX 14

gboolean ww_opcode_is_control     (guint8 opcode);
gboolean ww_close_code_is_valid   (guint   code);

gsize    ww_frame_write_header    (guint8        buf[WW_FRAME_HEADER_MAX],
                                   guint8        opcode,
                                   gboolean      fin,
                                   gboolean      rsv1,
                                   guint64       payload_len,
                                   const guint8 *mask_key);
void     ww_frame_mask            (guint8       *data,
                                   gsize         len,
                                   const guint8  mask_key[4],
                                   gsize         offset);
void     ww_frame_random_mask_key (guint8        mask_key[4]);

GBytes  *ww_frame_encode          (WwRole        role,
                                   guint8        opcode,
                                   const void   *payload,
                                   gsize         len);
GBytes  *ww_frame_encode_close    (WwRole        role,
                                   guint16       code,
                                   const char   *reason);

G_END_DECLS
