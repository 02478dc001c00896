/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-fuzz"

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/ww-deflate.h"
#include "protocol/ww-protocol-error.h"

/*
 * libFuzzer target for the permessage-deflate codec.
 *
 * Input: byte 0 picks the mode and parameters, byte 1 the piece size;
 * the rest is the data.
 *   mode & 0x80: the data is a Sec-WebSocket-Extensions header, run
 *                through the server's negotiation and the client's check.
 *                Property: whatever the server answers, a client that
 *                sent that offer accepts, with the same agreement.
 *   otherwise:   the data is compressed payload, inflated in pieces into
 *                messages under a 64 KiB limit.  Property: an error has a
 *                close code of 1007, 1009 or 1011, and every message that
 *                inflates survives a compress/inflate round trip.
 */

#define FUZZ_MAX_MESSAGE (64 * 1024)

static void
abort_on_critical (const char     *log_domain,
                   GLogLevelFlags  log_level,
                   const char     *message,
                   gpointer        user_data)
{
  /* G_DEBUG=fatal-criticals raises SIGTRAP, which libFuzzer does not
   * catch as a crash; abort() it is. */
  if (log_level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_ERROR |
                   G_LOG_FLAG_FATAL))
    {
      g_printerr ("%s: %s\n", log_domain ? log_domain : "", message);
      abort ();
    }
}

int LLVMFuzzerInitialize (int    *argc,
                          char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_log_set_default_handler (abort_on_critical, NULL);
  return 0;
}

static void
fuzz_negotiation (guint8      flags,
                  const char *header)
{
  WwDeflateConfig config;
  WwDeflateParams server;
  WwDeflateOffer offer;
  g_autofree char *response = NULL;

  ww_deflate_config_init (&config);
  config.enabled = TRUE;
  config.max_window_bits = 8 + (flags & 0x7) + ((flags >> 3) & 1);
  config.force_server_no_context_takeover = (flags >> 4) & 1;
  config.force_client_no_context_takeover = (flags >> 5) & 1;

  if (ww_deflate_negotiate (&config, header, &server, &response))
    {
      g_autoptr(GError) error = NULL;
      WwDeflateParams client;

      /* When the first permessage-deflate offer is valid, it is the one
       * accepted: our client, had it sent it, must take the answer. */
      g_assert_nonnull (response);
      g_assert_true (server.server_max_window_bits >= 8 && server.server_max_window_bits <= 15);
      g_assert_true (server.client_max_window_bits >= 8 && server.client_max_window_bits <= 15);
      if (ww_deflate_parse_offer (header, &offer))
        {
          if (!ww_deflate_client_check_response (&offer, response, &client, &error))
            g_error ("server answer \"%s\" refused for \"%s\": %s", response, header,
                     error ? error->message : "no extension");
          g_assert_cmpuint (client.server_max_window_bits, ==, server.server_max_window_bits);
          g_assert_cmpuint (client.client_max_window_bits, <=, server.client_max_window_bits);
        }
    }
  else
    g_assert_null (response);

  /* The same text as a server's answer to a generous offer. */
  memset (&offer, 0, sizeof offer);
  offer.has_client_max_window_bits = TRUE;
  {
    g_autoptr(GError) error = NULL;
    WwDeflateParams client;

    if (ww_deflate_client_check_response (&offer, header, &client, &error))
      {
        g_assert_no_error (error);
        g_assert_true (client.server_max_window_bits >= 8 && client.server_max_window_bits <= 15);
        g_assert_true (client.client_max_window_bits >= 8 && client.client_max_window_bits <= 15);
      }
    else if (error != NULL)
      g_assert_true (g_error_matches (error, WW_PROTOCOL_ERROR, WW_CLOSE_PROTOCOL_ERROR));
  }
}

static void
check_round_trip (GBytes *message)
{
  WwDeflateParams params = { FALSE, FALSE, 15, 15 };
  g_autoptr(WwDeflate) sender = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);
  g_autoptr(WwDeflate) receiver = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) packed = NULL;
  g_autoptr(GBytes) back = NULL;

  packed = ww_deflate_compress (sender, g_bytes_get_data (message, NULL),
                                g_bytes_get_size (message), &error);
  g_assert_no_error (error);
  back = ww_deflate_inflate (receiver, g_bytes_get_data (packed, NULL),
                             g_bytes_get_size (packed), &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, message));
}

static void
fuzz_inflate (guint8        flags,
              guint8        piece,
              const guint8 *data,
              gsize         size)
{
  WwDeflateParams params;
  g_autoptr(WwDeflate) codec = NULL;
  gsize piece_len = 1 + (piece & 0x3f) * (piece & 0x40 ? 64 : 1);
  guint pieces_per_message = 1 + ((piece >> 7) ? 3 : 0) + (flags & 0x3);
  guint pieces = 0;
  gboolean ok = TRUE;

  params.server_no_context_takeover = (flags >> 2) & 1;
  params.client_no_context_takeover = (flags >> 3) & 1;
  params.server_max_window_bits = 15;
  params.client_max_window_bits = 8 + ((flags >> 4) & 0x7);
  codec = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
  ww_deflate_set_max_message (codec, FUZZ_MAX_MESSAGE);

  while (ok && size > 0)
    {
      g_autoptr(GError) error = NULL;
      gsize n = MIN (piece_len, size);

      ok = ww_deflate_inflate_feed (codec, data, n, &error);
      data += n;
      size -= n;
      pieces++;
      if (ok && (pieces % pieces_per_message == 0 || size == 0))
        {
          g_autoptr(GBytes) message = ww_deflate_inflate_finish (codec, &error);

          ok = message != NULL;
          if (ok)
            {
              g_assert_cmpuint (g_bytes_get_size (message), <=, FUZZ_MAX_MESSAGE);
              check_round_trip (message);
            }
          /* Idle between messages now and then. */
          if (ok && (pieces & 4))
            ww_deflate_release_idle (codec);
        }
      if (!ok)
        {
          g_assert_nonnull (error);
          g_assert_true (error->domain == WW_PROTOCOL_ERROR);
          g_assert_true (error->code == WW_CLOSE_INVALID_PAYLOAD ||
                         error->code == WW_CLOSE_MESSAGE_TOO_BIG ||
                         error->code == WW_CLOSE_INTERNAL_ERROR);
        }
    }

  {
    WwDeflateMemory memory;

    ww_deflate_get_memory (codec, &memory);
    g_assert_cmpuint (memory.buffer_peak, <=, FUZZ_MAX_MESSAGE + 1);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  if (size < 2)
    return 0;

  if (data[0] & 0x80)
    {
      g_autofree char *header = g_strndup ((const char *) data + 2, size - 2);

      fuzz_negotiation (data[0], header);
    }
  else
    fuzz_inflate (data[0], data[1], data + 2, size - 2);

  return 0;
}
