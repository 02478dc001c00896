/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "ww-frame.h"

G_BEGIN_DECLS

/*
 * An incremental RFC 6455 parser that turns a byte stream into data
 * messages and control frames.  It does no I/O: the caller feeds it
 * whatever the socket returned, in any split, and pulls events until
 * WW_PARSE_NEED_MORE.
 *
 * The input buffer is unmasked in place, which is why it is not const.
 * An unfragmented frame that lies wholly inside the input is handed out
 * without a copy; fragments and frames split across reads are gathered in
 * a buffer that is allocated only then, and released after the message.
 * Limits are checked against the header's length field before anything is
 * allocated.  The gather buffer of a delivered message is released by the
 * next feed() (whose event data it may still be), so keep calling feed()
 * until WW_PARSE_NEED_MORE, even with 0 bytes left: then an idle parser
 * holds no buffer (sizeof (WwMessageParser) is 64 bytes).
 */
typedef struct _WwMessageParser WwMessageParser;

typedef struct {
  guint64  max_frame;     /* largest payload of one frame; 0 = max_message */
  guint64  max_message;   /* largest assembled data message; 0 = 16 MiB */
  gboolean allow_rsv1;    /* permessage-deflate negotiated (RFC 7692) */
  gboolean validate_utf8; /* check text messages; off for compressed ones */
} WwParserLimits;

typedef enum {
  WW_PARSE_NEED_MORE, /* all input consumed; feed more */
  WW_PARSE_MESSAGE,   /* event holds a whole text or binary message */
  WW_PARSE_CONTROL,   /* event holds a ping, pong or close frame */
  WW_PARSE_ERROR,     /* error set; its code is the close code to send */
} WwParseResult;

typedef struct {
  guint8        opcode;       /* WW_OPCODE_* (never CONTINUATION) */
  gboolean      compressed;   /* RSV1 was set on the first frame */
  const guint8 *data;         /* valid until the next feed() or reset() */
  gsize         len;
  guint16       close_code;   /* WW_OPCODE_CLOSE: 1005 when no payload */
  const char   *close_reason; /* WW_OPCODE_CLOSE: validated UTF-8, not NUL-terminated */
  gsize         close_reason_len;
} WwParseEvent;

WwMessageParser *ww_message_parser_new      (WwRole                 role,
                                             const WwParserLimits  *limits);
void             ww_message_parser_free     (WwMessageParser       *self);
void             ww_message_parser_reset    (WwMessageParser       *self);
void             ww_message_parser_set_limits (WwMessageParser     *self,
                                             const WwParserLimits  *limits);
WwParseResult    ww_message_parser_feed     (WwMessageParser       *self,
                                             guint8                *data,
                                             gsize                  len,
                                             gsize                 *consumed,
                                             WwParseEvent          *event,
                                             GError               **error);
gboolean         ww_message_parser_in_message (WwMessageParser     *self);
gsize            ww_message_parser_buffered (WwMessageParser       *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WwMessageParser, ww_message_parser_free)

G_END_DECLS
