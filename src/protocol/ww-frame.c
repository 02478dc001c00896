/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-protocol"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ww-frame.h"
#include "ww-protocol-private.h"

/* RFC 6455 §5.2: opcodes 0x8..0xF are control frames. */
gboolean
ww_opcode_is_control (guint8 opcode)
{
  return (opcode & 0x8) != 0;
}

/*
 * RFC 6455 §7.4: codes a peer may put in a close frame.  1004 is reserved,
 * 1005/1006/1015 must never be sent, 1016-2999 are reserved for future
 * RFCs, 3000-3999 are registered with IANA and 4000-4999 are private.
 * 1012-1014 were registered after the RFC and are in common use.
 */
gboolean
ww_close_code_is_valid (guint code)
{
  if (code >= 1000 && code <= 1003)
    return TRUE;
  if (code >= 1007 && code <= 1014)
    return TRUE;
  return code >= 3000 && code <= 4999;
}

/**
 * ww_frame_write_header:
 * @buf: room for %WW_FRAME_HEADER_MAX bytes
 * @mask_key: (nullable): the 4-byte key for a masked (client) frame
 *
 * Writes a frame header (RFC 6455 §5.2) with the shortest length encoding
 * and returns its size, so that the payload can follow in a separate
 * iovec.  The payload is not touched: mask it with ww_frame_mask().
 */
gsize
ww_frame_write_header (guint8        buf[WW_FRAME_HEADER_MAX],
                       guint8        opcode,
                       gboolean      fin,
                       gboolean      rsv1,
                       guint64       payload_len,
                       const guint8 *mask_key)
{
  gsize n = 2;

  buf[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f);
  buf[1] = mask_key != NULL ? 0x80 : 0;

  if (payload_len < 126)
    {
      buf[1] |= (guint8) payload_len;
    }
  else if (payload_len <= G_MAXUINT16)
    {
      buf[1] |= 126;
      buf[2] = (guint8) (payload_len >> 8);
      buf[3] = (guint8) payload_len;
      n = 4;
    }
  else
    {
      /* §5.2: the most significant bit of a 64-bit length must be 0. */
      payload_len &= G_GUINT64_CONSTANT (0x7fffffffffffffff);
      buf[1] |= 127;
      for (guint i = 0; i < 8; i++)
        buf[2 + i] = (guint8) (payload_len >> (56 - 8 * i));
      n = 10;
    }

  if (mask_key != NULL)
    {
      memcpy (buf + n, mask_key, 4);
      n += 4;
    }

  return n;
}

/**
 * ww_frame_mask:
 * @offset: how many payload bytes of this frame came before @data
 *
 * XORs @data with the masking key (RFC 6455 §5.3).  Masking is its own
 * inverse, so this both masks and unmasks.  Works 8 bytes at a time.
 */
void
ww_frame_mask (guint8       *data,
               gsize         len,
               const guint8  mask_key[4],
               gsize         offset)
{
  guint8 key[8];
  guint64 key64;
  gsize i = 0;

  /* Rotate the key so that key[0] applies to data[0]. */
  for (guint k = 0; k < 8; k++)
    key[k] = mask_key[(offset + k) & 3];
  memcpy (&key64, key, 8);

  for (; len - i >= 32; i += 32)
    {
      guint64 w[4];

      memcpy (w, data + i, 32);
      w[0] ^= key64;
      w[1] ^= key64;
      w[2] ^= key64;
      w[3] ^= key64;
      memcpy (data + i, w, 32);
    }
  for (; len - i >= 8; i += 8)
    {
      guint64 w;

      memcpy (&w, data + i, 8);
      w ^= key64;
      memcpy (data + i, &w, 8);
    }
  for (; i < len; i++)
    data[i] ^= key[i & 7];
}

/* The fallback for kernels or sandboxes without getrandom(). */
gboolean
ww_frame_read_urandom (guint8 *buf,
                       gsize   len)
{
  int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
  gsize done = 0;

  if (fd < 0)
    return FALSE;
  while (done < len)
    {
      ssize_t r = read (fd, buf + done, len - done);

      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      done += (gsize) r;
    }
  close (fd);
  return done == len;
}

/*
 * Fills @buf from the kernel's CSPRNG.  RFC 6455 §5.3 and §10.3 require
 * masking keys that an attacker cannot predict (the mask is what stops a
 * script from steering the bytes a proxy sees).  g_random_*() is a
 * Mersenne Twister: fast, but its state can be recovered from its output,
 * so it must not be used here.  getrandom() never blocks after boot and
 * costs one syscall per call, which is why keys are drawn in batches.
 */
static void
fill_secure_random (guint8 *buf,
                    gsize   len)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t r = getrandom (buf + done, len - done, 0);

      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      done += (gsize) r;
    }

  if (done < len && !ww_frame_read_urandom (buf + done, len - done))
    g_error ("No source of secure random bytes for WebSocket masking keys");
}

#define KEY_POOL_SIZE 256

/**
 * ww_frame_random_mask_key:
 *
 * A fresh unpredictable masking key for a client frame.  Keys come from a
 * per-thread pool refilled from getrandom(), so a client writing many small
 * frames does not pay a syscall per frame.
 */
void
ww_frame_random_mask_key (guint8 mask_key[4])
{
  static __thread guint8 pool[KEY_POOL_SIZE];
  static __thread guint pool_pos = KEY_POOL_SIZE;

  if (pool_pos + 4 > KEY_POOL_SIZE)
    {
      fill_secure_random (pool, sizeof pool);
      pool_pos = 0;
    }

  memcpy (mask_key, pool + pool_pos, 4);
  /* Do not leave used key material lying around in the pool. */
  memset (pool + pool_pos, 0, 4);
  pool_pos += 4;
}

void
ww_frame_secure_random (guint8 *buf,
                        gsize   len)
{
  fill_secure_random (buf, len);
}

/**
 * ww_frame_encode:
 *
 * One complete, final frame: unmasked for @role %WW_ROLE_SERVER, masked
 * with a fresh key for %WW_ROLE_CLIENT (RFC 6455 §5.1).
 */
GBytes *
ww_frame_encode (WwRole      role,
                 guint8      opcode,
                 const void *payload,
                 gsize       len)
{
  guint8 key[4];
  guint8 *out;
  gsize hlen;

  g_return_val_if_fail (payload != NULL || len == 0, NULL);
  g_return_val_if_fail (len <= G_MAXSIZE - WW_FRAME_HEADER_MAX, NULL);

  out = g_malloc (WW_FRAME_HEADER_MAX + len);
  if (role == WW_ROLE_CLIENT)
    ww_frame_random_mask_key (key);
  hlen = ww_frame_write_header (out, opcode, TRUE, FALSE, len,
                                role == WW_ROLE_CLIENT ? key : NULL);
  if (len > 0)
    memcpy (out + hlen, payload, len);
  if (role == WW_ROLE_CLIENT)
    ww_frame_mask (out + hlen, len, key, 0);

  return g_bytes_new_take (out, hlen + len);
}

/* Longest prefix of @reason that is at most @max bytes and ends on a
 * character boundary. */
static gsize
utf8_prefix_len (const char *reason,
                 gsize       max)
{
  gsize len = strlen (reason);

  if (len <= max)
    return len;
  len = max;
  /* Step back over continuation bytes so no character is cut. */
  while (len > 0 && ((guchar) reason[len] & 0xc0) == 0x80)
    len--;
  return len;
}

/**
 * ww_frame_encode_close:
 * @code: the close code, or 0 for a close frame without payload
 * @reason: (nullable): UTF-8 text, cut to fit 125 bytes
 *
 * A close frame (RFC 6455 §5.5.1).  The reason is truncated on a character
 * boundary so that the frame stays a valid control frame.  A code that
 * must not appear on the wire (1005, 1006, 1015, reserved ranges, §7.4)
 * gives a close frame without payload rather than one the peer rejects.
 */
GBytes *
ww_frame_encode_close (WwRole      role,
                       guint16     code,
                       const char *reason)
{
  guint8 payload[125];
  gsize len = 0;

  if (ww_close_code_is_valid (code))
    {
      payload[0] = (guint8) (code >> 8);
      payload[1] = (guint8) code;
      len = 2;
      if (reason != NULL)
        {
          gsize rlen = utf8_prefix_len (reason, sizeof payload - 2);

          memcpy (payload + 2, reason, rlen);
          len += rlen;
        }
    }

  return ww_frame_encode (role, WW_OPCODE_CLOSE, payload, len);
}
