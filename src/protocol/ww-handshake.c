/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-protocol"

#include "config.h"

#include <string.h>

#include "ww-handshake.h"
#include "ww-protocol-error.h"
#include "ww-protocol-private.h"

/* RFC 6455 §1.3. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/**
 * ww_handshake_accept_key:
 *
 * RFC 6455 §4.2.2 item 5.4: base64 of the SHA-1 of the key followed by the
 * protocol's GUID.
 */
char *
ww_handshake_accept_key (const char *client_key)
{
  g_autoptr(GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  guint8 digest[20];
  gsize digest_len = sizeof digest;

  g_return_val_if_fail (client_key != NULL, NULL);

  g_checksum_update (sha1, (const guchar *) client_key, (gssize) strlen (client_key));
  g_checksum_update (sha1, (const guchar *) WS_GUID, sizeof WS_GUID - 1);
  g_checksum_get_digest (sha1, digest, &digest_len);
  return g_base64_encode (digest, digest_len);
}

void
ww_handshake_clear (WwHandshake *hs)
{
  if (hs == NULL)
    return;
  g_clear_pointer (&hs->accept, g_free);
  g_clear_pointer (&hs->protocol, g_free);
  g_clear_pointer (&hs->extensions, g_free);
}

gboolean
ww_handshake_is_upgrade (const WwHttpRequest *req)
{
  g_return_val_if_fail (req != NULL, FALSE);
  return ww_http_request_header_has_token (req, "Upgrade", "websocket");
}

static inline gboolean
is_base64_char (char c)
{
  return g_ascii_isalnum (c) || c == '+' || c == '/';
}

/*
 * RFC 6455 §4.2.1 item 5: the key is a base64-encoded 16-byte value.
 * g_base64_decode() skips characters outside the alphabet, so the shape is
 * checked first: 22 characters, "==", and a last character whose low four
 * bits (which fall outside the 16 bytes) are zero — the canonical encoding.
 */
static gboolean
key_is_valid (const char *key)
{
  g_autofree guchar *raw = NULL;
  gsize raw_len = 0;

  if (key == NULL || strlen (key) != 24 || key[22] != '=' || key[23] != '=')
    return FALSE;
  for (guint i = 0; i < 22; i++)
    if (!is_base64_char (key[i]))
      return FALSE;
  if (strchr ("AQgw", key[21]) == NULL)
    return FALSE;

  raw = g_base64_decode (key, &raw_len);
  return raw_len == 16;
}

/*
 * RFC 6455 §4.2.2 item 5.5 / §11.3.4: the client lists subprotocols in
 * its order of preference; we answer with the first of ours (in our order)
 * that it offered, or none.  A malformed list is a bad request.
 */
static gboolean
choose_protocol (const char          *offer,
                 const char * const  *server_protocols,
                 char               **chosen)
{
  const char *p = offer;

  *chosen = NULL;
  if (offer == NULL)
    return TRUE;

  while (p != NULL)
    {
      gsize elen = strcspn (p, ",");
      const char *s = p, *e = p + elen;

      while (s < e && (*s == ' ' || *s == '\t'))
        s++;
      while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
      if (!ww_http_is_token (s, (gsize) (e - s)))
        return FALSE;
      p = p[elen] == ',' ? p + elen + 1 : NULL;
    }

  for (guint i = 0; server_protocols != NULL && server_protocols[i] != NULL; i++)
    if (ww_http_list_has_token (offer, server_protocols[i]))
      {
        *chosen = g_strdup (server_protocols[i]);
        break;
      }
  return TRUE;
}

/**
 * ww_handshake_validate:
 *
 * Checks an opening handshake in the order of RFC 6455 §4.2.1 and fills
 * @out on success.  The checks that have their own status come first, so
 * that a POST gets 405 and an old client gets 426, not a generic 400.
 */
gboolean
ww_handshake_validate (const WwHttpRequest *req,
                       const char * const  *server_protocols,
                       WwHandshake         *out,
                       GError             **error)
{
  const char *version;
  const char *key;
  char *protocol = NULL;

  g_return_val_if_fail (req != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  memset (out, 0, sizeof *out);

  /* §4.2.1 item 1: a GET of HTTP/1.1 or higher. */
  if (strcmp (ww_http_request_get_method (req), "GET") != 0)
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 405, "A WebSocket handshake must use GET");
      return FALSE;
    }
  if (ww_http_request_get_version_minor (req) < 1)
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400, "A WebSocket handshake needs HTTP/1.1");
      return FALSE;
    }
  /* Item 2 (Host) is enforced for every HTTP/1.1 request by the parser. */
  g_assert (ww_http_request_get_header (req, "Host") != NULL);
  /* Items 3 and 4: tokens in comma lists, case-insensitive. */
  if (!ww_http_request_header_has_token (req, "Upgrade", "websocket"))
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400, "Upgrade header lacks \"websocket\"");
      return FALSE;
    }
  if (!ww_http_request_header_has_token (req, "Connection", "Upgrade"))
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400, "Connection header lacks \"Upgrade\"");
      return FALSE;
    }
  /* Item 6 and §4.4: any other version gets 426 and the one we speak. */
  version = ww_http_request_get_header (req, "Sec-WebSocket-Version");
  if (version == NULL || strcmp (version, "13") != 0)
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 426, "Only WebSocket version 13 is supported");
      return FALSE;
    }
  /* Item 5. */
  key = ww_http_request_get_header (req, "Sec-WebSocket-Key");
  if (!key_is_valid (key))
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400,
                           "Sec-WebSocket-Key is not a base64 16-byte value");
      return FALSE;
    }
  /* Item 8 (optional). */
  if (!choose_protocol (ww_http_request_get_header (req, "Sec-WebSocket-Protocol"),
                        server_protocols, &protocol))
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400, "Malformed Sec-WebSocket-Protocol");
      return FALSE;
    }

  out->accept = ww_handshake_accept_key (key);
  out->protocol = protocol;
  /* Item 9: negotiated by the extension layer (RFC 7692). */
  out->extensions = g_strdup (ww_http_request_get_header (req, "Sec-WebSocket-Extensions"));
  return TRUE;
}

/**
 * ww_handshake_build_response:
 *
 * RFC 6455 §4.2.2 item 5: the 101 response.
 */
GBytes *
ww_handshake_build_response (const WwHandshake *hs,
                             const char        *extensions_response)
{
  GString *s;

  g_return_val_if_fail (hs != NULL && hs->accept != NULL, NULL);
  g_return_val_if_fail (extensions_response == NULL ||
                        strpbrk (extensions_response, "\r\n") == NULL, NULL);

  s = g_string_sized_new (160);
  g_string_append (s,
                   "HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: ");
  g_string_append (s, hs->accept);
  g_string_append (s, "\r\n");
  if (hs->protocol != NULL)
    g_string_append_printf (s, "Sec-WebSocket-Protocol: %s\r\n", hs->protocol);
  if (extensions_response != NULL && *extensions_response != '\0')
    g_string_append_printf (s, "Sec-WebSocket-Extensions: %s\r\n", extensions_response);
  g_string_append (s, "\r\n");

  return g_string_free_to_bytes (s);
}

/**
 * ww_handshake_build_error:
 * @error: a WW_HTTP_ERROR from ww_http_request_parse() or
 *   ww_handshake_validate()
 *
 * The response for a refused handshake: the status from @error with a
 * JSON body, "Sec-WebSocket-Version: 13" on 426 (RFC 6455 §4.4), "Allow:
 * GET" on 405, and the connection closed.
 */
GBytes *
ww_handshake_build_error (const GError *error)
{
  const char *extra_426[] = { "Sec-WebSocket-Version: 13", "Upgrade: websocket", NULL };
  const char *extra_405[] = { "Allow: GET", NULL };
  const char * const *extra = NULL;
  guint status = 400;
  const char *code = "bad_request";

  g_return_val_if_fail (error != NULL, NULL);

  if (error->domain == WW_HTTP_ERROR && error->code >= 400 && error->code <= 599)
    status = (guint) error->code;

  switch (status)
    {
    case 405: code = "method_not_allowed"; extra = extra_405; break;
    case 426: code = "upgrade_required"; extra = extra_426; break;
    case 431: code = "header_too_large"; break;
    case 501: code = "not_implemented"; break;
    case 505: code = "http_version_not_supported"; break;
    default: break;
    }

  return ww_http_response_build_error (status, code, error->message, extra, FALSE, FALSE);
}

/* RFC 6455 §4.1: a random 16-byte nonce, base64-encoded. */
char *
ww_handshake_client_key_new (void)
{
  guint8 nonce[16];

  ww_frame_secure_random (nonce, sizeof nonce);
  return g_base64_encode (nonce, sizeof nonce);
}

GBytes *
ww_handshake_client_request (const char         *host,
                             const char         *path,
                             const char         *key,
                             const char * const *extra_headers)
{
  GString *s;

  g_return_val_if_fail (host != NULL && path != NULL && key != NULL, NULL);
  g_return_val_if_fail (strpbrk (host, "\r\n") == NULL, NULL);
  g_return_val_if_fail (strpbrk (path, "\r\n ") == NULL, NULL);
  g_return_val_if_fail (strpbrk (key, "\r\n") == NULL, NULL);
  for (guint i = 0; extra_headers != NULL && extra_headers[i] != NULL; i++)
    g_return_val_if_fail (strpbrk (extra_headers[i], "\r\n") == NULL, NULL);

  s = g_string_sized_new (256);
  g_string_append_printf (s,
                          "GET %s HTTP/1.1\r\n"
                          "Host: %s\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\n",
                          path, host, key);
  for (guint i = 0; extra_headers != NULL && extra_headers[i] != NULL; i++)
    g_string_append_printf (s, "%s\r\n", extra_headers[i]);
  g_string_append (s, "\r\n");

  return g_string_free_to_bytes (s);
}

/**
 * ww_handshake_client_check_response:
 *
 * RFC 6455 §4.1, the client's checks of the server's answer.  On failure
 * the WW_HTTP_ERROR code is the status the server sent when it was not
 * 101, or 502 when the response itself is malformed or does not match.
 */
gboolean
ww_handshake_client_check_response (const char  *head,
                                    gsize        len,
                                    const char  *key,
                                    GError     **error)
{
  g_autoptr(WwHttpRequest) resp = NULL;
  g_autofree char *expected = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *accept;
  guint status = 0;

  g_return_val_if_fail (head != NULL && key != NULL, FALSE);

  resp = ww_http_response_parse (head, len, &status, &local_error);
  if (resp == NULL)
    {
      g_set_error (error, WW_HTTP_ERROR, 502, "Malformed handshake response: %s",
                   local_error->message);
      return FALSE;
    }
  if (status != 101)
    {
      g_set_error (error, WW_HTTP_ERROR, (gint) status, "Server answered %u, not 101", status);
      return FALSE;
    }
  if (!ww_http_request_header_has_token (resp, "Upgrade", "websocket") ||
      !ww_http_request_header_has_token (resp, "Connection", "Upgrade"))
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 502, "Response lacks Upgrade/Connection");
      return FALSE;
    }
  expected = ww_handshake_accept_key (key);
  accept = ww_http_request_get_header (resp, "Sec-WebSocket-Accept");
  if (accept == NULL || strcmp (accept, expected) != 0)
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 502, "Sec-WebSocket-Accept does not match");
      return FALSE;
    }
  return TRUE;
}
