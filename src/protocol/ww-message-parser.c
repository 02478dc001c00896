/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-protocol"

#include "config.h"

#include <string.h>

#include "ww-message-parser.h"
#include "ww-protocol-error.h"
#include "ww-utf8.h"

/*
 * Design notes
 *
 * - The server keeps one parser per connection, 100,000 of them idle, so
 *   the struct is kept at 64 bytes and holds no buffer between messages.
 *   The gather buffer's capacity is not stored: it is always at least
 *   buffer_capacity (buf_len), a power of two, so growth is amortised.
 * - A frame that lies wholly in the caller's input and is a complete
 *   message (or a control frame) is unmasked in place and handed out
 *   without a copy.  Everything else is gathered.
 * - A control frame that arrives in pieces while a fragmented message is
 *   being gathered is staged just past buf_len in the same buffer, so no
 *   second buffer is needed (RFC 6455 §5.4: control frames may be injected
 *   between fragments).
 * - Length encodings must be minimal.  RFC 6455 §5.2 says "the minimal
 *   number of bytes MUST be used to encode the length"; a frame that uses
 *   the 16-bit form for less than 126 bytes or the 64-bit form for less
 *   than 65536 is rejected with 1002, as is a 64-bit length with its top
 *   bit set.
 * - After an error the parser stays failed: every later feed() returns the
 *   same close code, so a caller cannot accidentally resynchronise on a
 *   corrupt stream.
 */

#define DEFAULT_MAX_MESSAGE (16 * 1024 * 1024)
#define MIN_CAPACITY        256

enum {
  F_SERVER        = 1 << 0, /* we are the server: frames must be masked */
  F_ALLOW_RSV1    = 1 << 1, /* permessage-deflate negotiated */
  F_VALIDATE_UTF8 = 1 << 2,
  F_IN_MESSAGE    = 1 << 3, /* a data message has started */
  F_HAVE_HEADER   = 1 << 4, /* hdr holds a complete, checked header */
  F_CHECK_TEXT    = 1 << 5, /* the current message is validated text */
  F_COMPRESSED    = 1 << 6, /* RSV1 on the first frame of the message */
  F_RELEASE       = 1 << 7, /* drop the gather buffer at the next feed */
};

struct _WwMessageParser {
  guint8      *buf;          /* gather buffer, NULL between messages */
  gsize        buf_len;      /* payload of the current data message in buf */
  guint64      remaining;    /* payload bytes of the current frame to come */
  guint64      max_frame;
  guint64      max_message;
  WwUtf8State  utf8;
  guint8       hdr[WW_FRAME_HEADER_MAX];
  guint8       hdr_len;      /* header bytes received (all once complete) */
  guint8       flags;
  guint8       msg_opcode;   /* TEXT or BINARY of the current message */
  guint8       mask_off;     /* payload bytes of this frame so far, mod 4 */
  guint16      error_code;   /* non-zero once failed */
};

G_STATIC_ASSERT (sizeof (struct _WwMessageParser) <= 64);

static const guint8 empty_payload[1];

static gsize
buffer_capacity (gsize len)
{
  gsize cap = MIN_CAPACITY;

  while (cap < len && cap <= G_MAXSIZE / 2)
    cap *= 2;
  return MAX (cap, len);
}

/* Makes room for @needed bytes in buf; the limits were checked against
 * the frame header before this is ever called. */
static void
ensure_capacity (WwMessageParser *self,
                 gsize            needed)
{
  if (self->buf != NULL && buffer_capacity (needed) <= buffer_capacity (self->buf_len))
    return;
  self->buf = g_realloc (self->buf, buffer_capacity (needed));
}

static void
release_buffer (WwMessageParser *self)
{
  g_clear_pointer (&self->buf, g_free);
  self->buf_len = 0;
}

/**
 * ww_message_parser_new:
 * @role: %WW_ROLE_SERVER to parse masked client frames
 * @limits: (nullable): size limits and options; NULL for 16 MiB messages
 *   with UTF-8 validation and no extension
 */
WwMessageParser *
ww_message_parser_new (WwRole                role,
                       const WwParserLimits *limits)
{
  WwMessageParser *self = g_new0 (WwMessageParser, 1);

  if (role == WW_ROLE_SERVER)
    self->flags |= F_SERVER;
  ww_message_parser_set_limits (self, limits);
  return self;
}

void
ww_message_parser_free (WwMessageParser *self)
{
  if (self == NULL)
    return;
  g_free (self->buf);
  g_free (self);
}

/* Forgets any partial frame or message and a previous error. */
void
ww_message_parser_reset (WwMessageParser *self)
{
  g_return_if_fail (self != NULL);

  release_buffer (self);
  self->remaining = 0;
  self->utf8 = WW_UTF8_ACCEPT;
  self->hdr_len = 0;
  self->flags &= F_SERVER | F_ALLOW_RSV1 | F_VALIDATE_UTF8;
  self->msg_opcode = 0;
  self->mask_off = 0;
  self->error_code = 0;
}

/**
 * ww_message_parser_set_limits:
 * @limits: (nullable): new limits; a max_message of 0 means 16 MiB and a
 *   max_frame of 0 means max_message
 *
 * Applies from the next frame header on (e.g. once permessage-deflate has
 * been negotiated).
 */
void
ww_message_parser_set_limits (WwMessageParser      *self,
                              const WwParserLimits *limits)
{
  WwParserLimits defaults = { 0, DEFAULT_MAX_MESSAGE, FALSE, TRUE };

  g_return_if_fail (self != NULL);

  if (limits == NULL)
    limits = &defaults;

  self->max_message = limits->max_message != 0 ? limits->max_message : DEFAULT_MAX_MESSAGE;
  self->max_frame = limits->max_frame != 0 ? limits->max_frame : self->max_message;
  self->flags &= ~(F_ALLOW_RSV1 | F_VALIDATE_UTF8);
  if (limits->allow_rsv1)
    self->flags |= F_ALLOW_RSV1;
  if (limits->validate_utf8)
    self->flags |= F_VALIDATE_UTF8;
}

gboolean
ww_message_parser_in_message (WwMessageParser *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return (self->flags & F_IN_MESSAGE) != 0;
}

/* Payload bytes of an unfinished message held in the gather buffer. */
gsize
ww_message_parser_buffered (WwMessageParser *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->buf != NULL ? self->buf_len : 0;
}

static WwParseResult
fail (WwMessageParser *self,
      GError         **error,
      guint16          code,
      const char      *message)
{
  self->error_code = code;
  release_buffer (self);
  g_set_error_literal (error, WW_PROTOCOL_ERROR, code, message);
  return WW_PARSE_ERROR;
}

/* Header size implied by the second header byte (RFC 6455 §5.2). */
static guint
header_size (guint8 b1)
{
  guint n = 2;
  guint len7 = b1 & 0x7f;

  if (len7 == 126)
    n += 2;
  else if (len7 == 127)
    n += 8;
  if (b1 & 0x80)
    n += 4;
  return n;
}

/* Checks of the first two header bytes, made as soon as they arrive so
 * that a bad frame fails before its extended length or payload. */
static WwParseResult
check_first_bytes (WwMessageParser *self,
                   GError         **error)
{
  guint8 b0 = self->hdr[0];
  guint8 b1 = self->hdr[1];
  guint8 opcode = b0 & 0x0f;
  gboolean fin = (b0 & 0x80) != 0;
  gboolean control = ww_opcode_is_control (opcode);

  /* §5.2: RSV bits are 0 unless an extension defines them.  RFC 7692 §6
   * gives RSV1 to permessage-deflate, on the first frame of a data
   * message only. */
  if (b0 & 0x30)
    return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Reserved bits RSV2/RSV3 set");
  if (b0 & 0x40)
    {
      if (!(self->flags & F_ALLOW_RSV1))
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "RSV1 set without an extension");
      if (control || opcode == WW_OPCODE_CONTINUATION)
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR,
                     "RSV1 set on a control or continuation frame");
    }

  /* §5.2: opcodes 3-7 and B-F are reserved. */
  if (opcode != WW_OPCODE_CONTINUATION && opcode != WW_OPCODE_TEXT &&
      opcode != WW_OPCODE_BINARY && opcode != WW_OPCODE_CLOSE &&
      opcode != WW_OPCODE_PING && opcode != WW_OPCODE_PONG)
    return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Reserved opcode");

  if (control)
    {
      /* §5.5: control frames are never fragmented and carry ≤ 125 bytes. */
      if (!fin)
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Fragmented control frame");
      if ((b1 & 0x7f) > 125)
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Control frame longer than 125 bytes");
      /* §5.5.1: a close body starts with a 2-byte code. */
      if (opcode == WW_OPCODE_CLOSE && (b1 & 0x7f) == 1)
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Close frame with a 1-byte payload");
    }
  else if (opcode == WW_OPCODE_CONTINUATION)
    {
      /* §5.4: a continuation needs a message to continue. */
      if (!(self->flags & F_IN_MESSAGE))
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Continuation frame without a message");
    }
  else if (self->flags & F_IN_MESSAGE)
    {
      /* §5.4: fragments of one message may not interleave with another. */
      return fail (self, error, WW_CLOSE_PROTOCOL_ERROR,
                   "New data message inside a fragmented message");
    }

  /* §5.1: clients mask every frame, servers never do. */
  if ((self->flags & F_SERVER) && !(b1 & 0x80))
    return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Unmasked frame from a client");
  if (!(self->flags & F_SERVER) && (b1 & 0x80))
    return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Masked frame from a server");

  return WW_PARSE_MESSAGE;
}

/* Decodes and checks the payload length of a complete header. */
static WwParseResult
check_length (WwMessageParser *self,
              GError         **error)
{
  guint len7 = self->hdr[1] & 0x7f;
  guint8 opcode = self->hdr[0] & 0x0f;
  guint64 len;

  if (len7 < 126)
    {
      len = len7;
    }
  else if (len7 == 126)
    {
      len = ((guint64) self->hdr[2] << 8) | self->hdr[3];
      if (len < 126)
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Non-minimal 16-bit length");
    }
  else
    {
      len = 0;
      for (guint i = 0; i < 8; i++)
        len = (len << 8) | self->hdr[2 + i];
      if (len >> 63)
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "64-bit length with the top bit set");
      if (len <= G_MAXUINT16)
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Non-minimal 64-bit length");
    }

  if (!ww_opcode_is_control (opcode))
    {
      /* Limits are checked here, before a byte of payload is buffered. */
      if (len > self->max_frame)
        return fail (self, error, WW_CLOSE_MESSAGE_TOO_BIG, "Frame too big");
      if (len > self->max_message || self->buf_len > self->max_message - len)
        return fail (self, error, WW_CLOSE_MESSAGE_TOO_BIG, "Message too big");
    }

  self->remaining = len;
  return WW_PARSE_MESSAGE;
}

/* Starts a new frame: a new message for TEXT/BINARY. */
static void
begin_frame (WwMessageParser *self)
{
  guint8 opcode = self->hdr[0] & 0x0f;

  self->flags |= F_HAVE_HEADER;
  self->mask_off = 0;

  if (opcode == WW_OPCODE_TEXT || opcode == WW_OPCODE_BINARY)
    {
      gboolean rsv1 = (self->hdr[0] & 0x40) != 0;

      self->flags &= ~(F_CHECK_TEXT | F_COMPRESSED);
      self->flags |= F_IN_MESSAGE;
      if (rsv1)
        self->flags |= F_COMPRESSED;
      /* A compressed text message is validated after inflating it. */
      if (opcode == WW_OPCODE_TEXT && !rsv1 && (self->flags & F_VALIDATE_UTF8))
        self->flags |= F_CHECK_TEXT;
      self->msg_opcode = opcode;
      self->utf8 = WW_UTF8_ACCEPT;
    }
}

static void
end_frame (WwMessageParser *self)
{
  self->flags &= ~F_HAVE_HEADER;
  self->hdr_len = 0;
}

/*
 * Collects header bytes from @data.  Returns WW_PARSE_NEED_MORE when the
 * input ran out, WW_PARSE_ERROR, or WW_PARSE_MESSAGE once the header is
 * complete and checked.
 */
static WwParseResult
read_header (WwMessageParser *self,
             const guint8    *data,
             gsize            len,
             gsize           *pos,
             GError         **error)
{
  guint need;
  gsize n;

  if (self->hdr_len < 2)
    {
      n = MIN ((gsize) (2 - self->hdr_len), len - *pos);
      memcpy (self->hdr + self->hdr_len, data + *pos, n);
      self->hdr_len += n;
      *pos += n;
      if (self->hdr_len < 2)
        return WW_PARSE_NEED_MORE;
      if (check_first_bytes (self, error) == WW_PARSE_ERROR)
        return WW_PARSE_ERROR;
    }

  need = header_size (self->hdr[1]);
  n = MIN ((gsize) (need - self->hdr_len), len - *pos);
  memcpy (self->hdr + self->hdr_len, data + *pos, n);
  self->hdr_len += n;
  *pos += n;
  if (self->hdr_len < need)
    return WW_PARSE_NEED_MORE;

  if (check_length (self, error) == WW_PARSE_ERROR)
    return WW_PARSE_ERROR;

  begin_frame (self);
  return WW_PARSE_MESSAGE;
}

/* Unmasks @len payload bytes (if the frame is masked) and advances the
 * mask offset. */
static inline void
unmask (WwMessageParser *self,
        guint8          *p,
        gsize            len)
{
  if (self->hdr[1] & 0x80)
    {
      ww_frame_mask (p, len, self->hdr + self->hdr_len - 4, self->mask_off);
      self->mask_off = (self->mask_off + len) & 3;
    }
}

/* §8.1: text must be valid UTF-8; fail on the first impossible byte. */
static inline gboolean
check_text (WwMessageParser *self,
            const guint8    *p,
            gsize            len)
{
  if (!(self->flags & F_CHECK_TEXT))
    return TRUE;
  return ww_utf8_validate_chunk (&self->utf8, p, len);
}

static WwParseResult
control_event (WwMessageParser *self,
               guint8           opcode,
               const guint8    *payload,
               gsize            len,
               WwParseEvent    *event,
               GError         **error)
{
  event->opcode = opcode;
  event->compressed = FALSE;
  event->data = payload;
  event->len = len;
  event->close_code = 0;
  event->close_reason = NULL;
  event->close_reason_len = 0;

  if (opcode == WW_OPCODE_CLOSE)
    {
      guint code;

      if (len == 0)
        {
          /* §7.1.5: no status code present. */
          event->close_code = WW_CLOSE_NO_STATUS;
          return WW_PARSE_CONTROL;
        }

      code = ((guint) payload[0] << 8) | payload[1];
      if (!ww_close_code_is_valid (code))
        return fail (self, error, WW_CLOSE_PROTOCOL_ERROR, "Invalid close code");
      /* §5.5.1: the reason is UTF-8; §8.1 makes bad UTF-8 a 1007. */
      if (!ww_utf8_validate (payload + 2, len - 2))
        return fail (self, error, WW_CLOSE_INVALID_PAYLOAD, "Close reason is not valid UTF-8");
      event->close_code = code;
      event->close_reason = (const char *) payload + 2;
      event->close_reason_len = len - 2;
    }

  return WW_PARSE_CONTROL;
}

static WwParseResult
feed_control (WwMessageParser *self,
              guint8          *data,
              gsize            len,
              gsize           *pos,
              WwParseEvent    *event,
              GError         **error)
{
  guint8 opcode = self->hdr[0] & 0x0f;
  gsize total = self->hdr[1] & 0x7f;
  gsize avail = len - *pos;
  const guint8 *payload;

  if (self->remaining == total && total <= avail)
    {
      /* The whole frame is in the input: no copy. */
      guint8 *p = data + *pos;

      unmask (self, p, total);
      *pos += total;
      payload = p;
    }
  else
    {
      /* Stage it just after the message being gathered, if any. */
      gsize done = total - self->remaining;
      gsize take = MIN (avail, self->remaining);
      guint8 *dst;

      ensure_capacity (self, self->buf_len + done + take);
      dst = self->buf + self->buf_len + done;
      memcpy (dst, data + *pos, take);
      unmask (self, dst, take);
      *pos += take;
      self->remaining -= take;
      if (self->remaining > 0)
        return WW_PARSE_NEED_MORE;
      payload = self->buf + self->buf_len;
    }

  self->remaining = 0;
  end_frame (self);
  if (!(self->flags & F_IN_MESSAGE))
    self->flags |= F_RELEASE;

  return control_event (self, opcode, payload, total, event, error);
}

static WwParseResult
deliver_message (WwMessageParser *self,
                  const guint8    *data,
                  gsize            len,
                  WwParseEvent    *event,
                  GError         **error)
{
  if ((self->flags & F_CHECK_TEXT) && !ww_utf8_is_complete (self->utf8))
    return fail (self, error, WW_CLOSE_INVALID_PAYLOAD, "Text message ends inside a character");

  event->opcode = self->msg_opcode;
  event->compressed = (self->flags & F_COMPRESSED) != 0;
  event->data = data != NULL ? data : empty_payload;
  event->len = len;
  event->close_code = 0;
  event->close_reason = NULL;
  event->close_reason_len = 0;

  self->flags &= ~(F_IN_MESSAGE | F_CHECK_TEXT | F_COMPRESSED);
  self->flags |= F_RELEASE;
  return WW_PARSE_MESSAGE;
}

/**
 * ww_message_parser_feed:
 * @data: bytes from the peer; unmasked in place
 * @consumed: (out): how many bytes of @data were used
 * @event: (out): the message or control frame, on MESSAGE or CONTROL
 *
 * Parses until one event is complete or the input is used up.  Call again
 * with the rest of the input (data + consumed) until WW_PARSE_NEED_MORE;
 * @event points into @data or into the parser and stays valid until the
 * next call.  On WW_PARSE_ERROR the error code is the close code to send
 * and the parser stays failed until ww_message_parser_reset().
 */
WwParseResult
ww_message_parser_feed (WwMessageParser *self,
                        guint8          *data,
                        gsize            len,
                        gsize           *consumed,
                        WwParseEvent    *event,
                        GError         **error)
{
  gsize pos = 0;

  g_return_val_if_fail (self != NULL, WW_PARSE_ERROR);
  g_return_val_if_fail (data != NULL || len == 0, WW_PARSE_ERROR);
  g_return_val_if_fail (consumed != NULL, WW_PARSE_ERROR);
  g_return_val_if_fail (event != NULL, WW_PARSE_ERROR);

  *consumed = 0;

  if (G_UNLIKELY (self->error_code != 0))
    {
      g_set_error_literal (error, WW_PROTOCOL_ERROR, self->error_code,
                           "The stream already failed");
      return WW_PARSE_ERROR;
    }

  if (self->flags & F_RELEASE)
    {
      self->flags &= ~F_RELEASE;
      if (!(self->flags & F_IN_MESSAGE))
        release_buffer (self);
    }

  /* Every event is returned as soon as its last byte is parsed, so an
   * empty read cannot complete anything. */
  if (len == 0)
    return WW_PARSE_NEED_MORE;

  for (;;)
    {
      WwParseResult r;
      gsize avail, take;
      guint8 opcode;

      if (!(self->flags & F_HAVE_HEADER))
        {
          r = read_header (self, data, len, &pos, error);
          if (r != WW_PARSE_MESSAGE)
            {
              *consumed = pos;
              return r;
            }
        }

      opcode = self->hdr[0] & 0x0f;
      if (ww_opcode_is_control (opcode))
        {
          r = feed_control (self, data, len, &pos, event, error);
          *consumed = pos;
          return r;
        }

      avail = len - pos;

      /* A whole unfragmented message in the input, none of it gathered
       * by an earlier feed: unmask it in place. */
      if (opcode != WW_OPCODE_CONTINUATION && (self->hdr[0] & 0x80) && self->buf_len == 0 &&
          self->remaining <= avail)
        {
          guint8 *p = data + pos;
          gsize n = self->remaining;

          unmask (self, p, n);
          if (!check_text (self, p, n))
            return fail (self, error, WW_CLOSE_INVALID_PAYLOAD, "Text message is not valid UTF-8");
          pos += n;
          *consumed = pos;
          self->remaining = 0;
          end_frame (self);
          r = deliver_message (self, p, n, event, error);
          /* Nothing was gathered, so there is nothing to release. */
          self->flags &= ~F_RELEASE;
          return r;
        }

      take = (gsize) MIN ((guint64) avail, self->remaining);
      if (take > 0)
        {
          guint8 *dst;

          ensure_capacity (self, self->buf_len + take);
          dst = self->buf + self->buf_len;
          memcpy (dst, data + pos, take);
          unmask (self, dst, take);
          if (!check_text (self, dst, take))
            return fail (self, error, WW_CLOSE_INVALID_PAYLOAD, "Text message is not valid UTF-8");
          self->buf_len += take;
          self->remaining -= take;
          pos += take;
        }

      if (self->remaining > 0)
        {
          *consumed = pos;
          return WW_PARSE_NEED_MORE;
        }

      end_frame (self);
      if (self->hdr[0] & 0x80)
        {
          *consumed = pos;
          return deliver_message (self, self->buf, self->buf_len, event, error);
        }
    }
}
