/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-fuzz"

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/ww-handshake.h"
#include "protocol/ww-http.h"
#include "protocol/ww-protocol-error.h"

/*
 * libFuzzer target for the HTTP head parser and the opening handshake.
 *
 * Input: byte 0 picks the mode (bit 0: the rest is a server's response
 * for the client-side check; bit 1: a 64-byte head limit instead of
 * 16 KiB); the rest is the head.
 *
 * Properties checked:
 * - head-end search never reports an end past the limit, and 431 only
 *   when the input reached it; the incremental search agrees with it;
 * - parse errors are 400, 431, 501 or 505; handshake errors 400, 405, 426;
 * - every accessor works on an accepted request, and the decoded path
 *   holds no NUL;
 * - a handshake we accept produces a 101 that our own client check
 *   accepts for the request's key;
 * - every error response is a well-formed head with a JSON body.
 */

static void
abort_on_critical (const char     *log_domain,
                   GLogLevelFlags  log_level,
                   const char     *message,
                   gpointer        user_data)
{
  /* G_DEBUG=fatal-criticals raises SIGTRAP, which libFuzzer does not
   * report as a crash; abort() is. */
  if (log_level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL |
                   G_LOG_LEVEL_ERROR))
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

#define CHECK(cond) \
  G_STMT_START { if (!(cond)) { g_printerr ("check failed: %s\n", #cond); abort (); } } G_STMT_END

static void
check_response_head (GBytes *resp)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (resp, &len);
  g_autoptr(GError) error = NULL;
  gssize end = ww_http_find_head_end (d, len, len, &error);

  CHECK (end > 0);
  CHECK (len >= 12 && memcmp (d, "HTTP/1.1 ", 9) == 0);
  /* A JSON body, when there is one, is valid UTF-8 with no raw controls. */
  for (gsize i = (gsize) end; i < len; i++)
    CHECK (d[i] >= 0x20);
  CHECK (g_utf8_validate ((const char *) d + end, (gssize) (len - (gsize) end), NULL));
}

static void
fuzz_request (const guint8 *head,
              gsize         len,
              gsize         max_head)
{
  const char *protocols[] = { "v1.feed", "chat", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(WwHttpRequest) req = NULL;
  gssize end = ww_http_find_head_end (head, len, max_head, &error);
  WwHandshake hs;

  if (end < 0)
    {
      g_autoptr(GBytes) resp = NULL;

      CHECK (error != NULL && error->code == 431 && len >= max_head);
      resp = ww_handshake_build_error (error);
      check_response_head (resp);
      return;
    }
  CHECK (error == NULL);
  CHECK ((gsize) end <= MIN (len, max_head));

  /* The incremental search agrees with the one-shot search, whatever the
   * read sizes. */
  {
    gsize scanned = 0;
    gssize inc = 0;
    gsize step = 1 + len / 32;

    for (gsize n = MIN (step, len); ; n = MIN (n + step, len))
      {
        g_autoptr(GError) inc_error = NULL;

        inc = ww_http_find_head_end_from (head, n, max_head, &scanned, &inc_error);
        CHECK (inc >= 0 && inc_error == NULL);
        if (inc != 0 || n == len)
          break;
      }
    CHECK (inc == end);
  }

  /* Parse what was found, or the whole input to exercise the parser on
   * unterminated heads too. */
  req = ww_http_request_parse ((const char *) head, end > 0 ? (gsize) end : len, &error);
  if (req == NULL)
    {
      g_autoptr(GBytes) resp = NULL;

      CHECK (error != NULL && error->domain == WW_HTTP_ERROR);
      CHECK (error->code == 400 || error->code == 431 || error->code == 501 || error->code == 505);
      resp = ww_handshake_build_error (error);
      check_response_head (resp);
      return;
    }

  CHECK (ww_http_request_get_method (req) != NULL);
  CHECK (ww_http_request_get_target (req) != NULL);
  CHECK (ww_http_request_get_path (req) != NULL);
  CHECK (ww_http_request_get_version_minor (req) <= 9);
  g_free (ww_http_request_dup_query_param (req, "token"));
  g_free (ww_http_request_dup_query_param (req, ""));
  (void) ww_http_request_get_query (req);
  (void) ww_http_request_header_has_token (req, "Connection", "upgrade");
  (void) ww_http_request_wants_keep_alive (req);
  (void) ww_handshake_is_upgrade (req);

  {
    g_autoptr(GBytes) resp = ww_http_response_build_error (404, "not_found",
                                                           ww_http_request_get_path (req), NULL,
                                                           FALSE, TRUE);

    check_response_head (resp);
  }

  if (ww_handshake_validate (req, protocols, &hs, &error))
    {
      g_autoptr(GBytes) resp = ww_handshake_build_response (&hs, NULL);
      const char *key = ww_http_request_get_header (req, "Sec-WebSocket-Key");
      g_autoptr(GError) check_error = NULL;

      CHECK (error == NULL && key != NULL);
      CHECK (ww_handshake_client_check_response (g_bytes_get_data (resp, NULL),
                                                 g_bytes_get_size (resp), key, &check_error));
      ww_handshake_clear (&hs);
    }
  else
    {
      g_autoptr(GBytes) resp = NULL;

      CHECK (error != NULL && error->domain == WW_HTTP_ERROR);
      CHECK (error->code == 400 || error->code == 405 || error->code == 426);
      CHECK (hs.accept == NULL && hs.protocol == NULL && hs.extensions == NULL);
      resp = ww_handshake_build_error (error);
      check_response_head (resp);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  if (size < 1)
    return 0;

  if (data[0] & 1)
    {
      g_autoptr(GError) error = NULL;
      gboolean ok = ww_handshake_client_check_response ((const char *) data + 1, size - 1,
                                                        "dGhlIHNhbXBsZSBub25jZQ==", &error);

      CHECK (ok == (error == NULL));
      CHECK (ok || error->domain == WW_HTTP_ERROR);
      return 0;
    }

  fuzz_request (data + 1, size - 1, (data[0] & 2) ? 64 : 16384);
  return 0;
}
