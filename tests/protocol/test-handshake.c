/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test"

#include "config.h"

#include <string.h>

#include "ww-handshake.h"
#include "ww-http.h"
#include "ww-protocol-error.h"

static WwHttpRequest *
parse (const char *head)
{
  g_autoptr(GError) error = NULL;
  WwHttpRequest *req = ww_http_request_parse (head, strlen (head), &error);

  g_assert_no_error (error);
  g_assert_nonnull (req);
  return req;
}

/* RFC 6455 §1.3 example. */
static void
test_accept_key (void)
{
  g_autofree char *accept = ww_handshake_accept_key ("dGhlIHNhbXBsZSBub25jZQ==");

  g_assert_cmpstr (accept, ==, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#define GOOD_HEAD \
  "GET /chat HTTP/1.1\r\n" \
  "Host: server.example.com\r\n" \
  "Upgrade: websocket\r\n" \
  "Connection: Upgrade\r\n" \
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
  "Origin: http://example.com\r\n" \
  "Sec-WebSocket-Protocol: chat, superchat\r\n" \
  "Sec-WebSocket-Version: 13\r\n" \
  "\r\n"

static void
test_validate_rfc_example (void)
{
  g_autoptr(WwHttpRequest) req = parse (GOOD_HEAD);
  const char *protos[] = { "superchat", "chat", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) resp = NULL;
  WwHandshake hs;
  g_autofree char *text = NULL;

  g_assert_true (ww_handshake_is_upgrade (req));
  g_assert_true (ww_handshake_validate (req, protos, &hs, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (hs.accept, ==, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  /* Our preference order wins among the client's offers. */
  g_assert_cmpstr (hs.protocol, ==, "superchat");
  g_assert_null (hs.extensions);

  resp = ww_handshake_build_response (&hs, NULL);
  text = g_strndup (g_bytes_get_data (resp, NULL), g_bytes_get_size (resp));
  g_assert_cmpstr (text, ==,
                   "HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                   "Sec-WebSocket-Protocol: superchat\r\n"
                   "\r\n");
  g_assert_true (ww_handshake_client_check_response (text, strlen (text),
                                                     "dGhlIHNhbXBsZSBub25jZQ==", &error));
  g_assert_no_error (error);
  ww_handshake_clear (&hs);
}

typedef struct {
  const char *name;
  const char *head;
  guint       status; /* 0 = accepted */
  const char *protocol;
} HsCase;

#define REQ(method, version, extra) \
  method " /ws HTTP/1." version "\r\nHost: h\r\n" extra "\r\n"
#define STD_UPGRADE "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define STD_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define STD_VERSION "Sec-WebSocket-Version: 13\r\n"
#define STD STD_UPGRADE STD_KEY STD_VERSION

static const HsCase hs_cases[] = {
  { "plain", REQ ("GET", "1", STD), 0, NULL },
  { "tokens in lists, any case",
    REQ ("GET", "1", "Upgrade: foo, WebSocket\r\nConnection: keep-alive, UPGRADE\r\n" STD_KEY
         STD_VERSION), 0, NULL },
  { "connection split over two headers",
    REQ ("GET", "1", "Upgrade: websocket\r\nConnection: keep-alive\r\nConnection: upgrade\r\n"
         STD_KEY STD_VERSION), 0, NULL },
  { "POST", REQ ("POST", "1", STD), 405, NULL },
  { "HTTP/1.0", REQ ("GET", "0", STD), 400, NULL },
  { "no Upgrade", REQ ("GET", "1", "Connection: Upgrade\r\n" STD_KEY STD_VERSION), 400, NULL },
  { "Upgrade not websocket",
    REQ ("GET", "1", "Upgrade: websockets\r\nConnection: Upgrade\r\n" STD_KEY STD_VERSION), 400,
    NULL },
  { "no Connection upgrade",
    REQ ("GET", "1", "Upgrade: websocket\r\nConnection: keep-alive\r\n" STD_KEY STD_VERSION), 400,
    NULL },
  { "version 8", REQ ("GET", "1", STD_UPGRADE STD_KEY "Sec-WebSocket-Version: 8\r\n"), 426, NULL },
  { "version missing", REQ ("GET", "1", STD_UPGRADE STD_KEY), 426, NULL },
  { "version 13, 8", REQ ("GET", "1", STD_UPGRADE STD_KEY "Sec-WebSocket-Version: 13, 8\r\n"), 426,
    NULL },
  { "key missing", REQ ("GET", "1", STD_UPGRADE STD_VERSION), 400, NULL },
  { "key 15 bytes",
    REQ ("GET", "1", STD_UPGRADE "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n" STD_VERSION), 400,
    NULL },
  { "key 17 bytes",
    REQ ("GET", "1", STD_UPGRADE "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n" STD_VERSION),
    400, NULL },
  { "key bad chars",
    REQ ("GET", "1", STD_UPGRADE "Sec-WebSocket-Key: dGhlIHNhbXBsZ*Bub25jZQ==\r\n" STD_VERSION),
    400, NULL },
  { "key non-canonical",
    REQ ("GET", "1", STD_UPGRADE "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n" STD_VERSION),
    400, NULL },
  { "two keys", REQ ("GET", "1", STD STD_KEY), 400, NULL },
  { "protocol chosen",
    REQ ("GET", "1", STD "Sec-WebSocket-Protocol: v2.feed, v1.feed\r\n"), 0, "v1.feed" },
  { "protocol none in common",
    REQ ("GET", "1", STD "Sec-WebSocket-Protocol: mqtt\r\n"), 0, NULL },
  { "protocol list malformed",
    REQ ("GET", "1", STD "Sec-WebSocket-Protocol: a b\r\n"), 400, NULL },
  { "protocol list with spaces",
    REQ ("GET", "1", STD "Sec-WebSocket-Protocol: mqtt , chat\t\r\n"), 0, "chat" },
  { "protocol empty element",
    REQ ("GET", "1", STD "Sec-WebSocket-Protocol: v1.feed,,\r\n"), 400, NULL },
};

static void
test_validate_case (gconstpointer data)
{
  const HsCase *c = data;
  g_autoptr(WwHttpRequest) req = parse (c->head);
  const char *protos[] = { "v1.feed", "chat", NULL };
  g_autoptr(GError) error = NULL;
  WwHandshake hs = { 0 };
  gboolean ok = ww_handshake_validate (req, protos, &hs, &error);

  if (c->status == 0)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpstr (hs.accept, ==, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
      g_assert_cmpstr (hs.protocol, ==, c->protocol);
    }
  else
    {
      g_assert_false (ok);
      g_assert_error (error, WW_HTTP_ERROR, (gint) c->status);
      g_assert_null (hs.accept);
    }
  ww_handshake_clear (&hs);
}

static void
test_extensions_passed_through (void)
{
  g_autoptr(WwHttpRequest) req =
    parse (REQ ("GET", "1", STD "Sec-WebSocket-Extensions: permessage-deflate; "
                "client_max_window_bits\r\nSec-WebSocket-Extensions: x-other\r\n"));
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) resp = NULL;
  WwHandshake hs;

  g_assert_true (ww_handshake_validate (req, NULL, &hs, &error));
  g_assert_cmpstr (hs.extensions, ==, "permessage-deflate; client_max_window_bits, x-other");
  g_assert_null (hs.protocol);
  resp = ww_handshake_build_response (&hs, "permessage-deflate");
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (resp, NULL), g_bytes_get_size (resp),
                                  "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));
  ww_handshake_clear (&hs);
}

static char *
bytes_to_string (GBytes *b)
{
  return g_strndup (g_bytes_get_data (b, NULL), g_bytes_get_size (b));
}

static void
test_error_responses (void)
{
  g_autoptr(GError) e426 = g_error_new_literal (WW_HTTP_ERROR, 426, "Only version 13");
  g_autoptr(GError) e405 = g_error_new_literal (WW_HTTP_ERROR, 405, "GET only");
  g_autoptr(GError) other = g_error_new_literal (g_quark_from_static_string ("test-other"), 1,
                                                 "x");
  g_autoptr(GBytes) r426 = ww_handshake_build_error (e426);
  g_autoptr(GBytes) r405 = ww_handshake_build_error (e405);
  g_autoptr(GBytes) r400 = ww_handshake_build_error (other);
  g_autofree char *s426 = bytes_to_string (r426);
  g_autofree char *s405 = bytes_to_string (r405);
  g_autofree char *s400 = bytes_to_string (r400);

  g_assert_true (g_str_has_prefix (s426, "HTTP/1.1 426 Upgrade Required\r\n"));
  g_assert_nonnull (strstr (s426, "\r\nSec-WebSocket-Version: 13\r\n"));
  g_assert_nonnull (strstr (s426, "\r\nConnection: close\r\n"));
  g_assert_nonnull (strstr (s426, "\r\nContent-Type: application/json\r\n"));
  g_assert_true (g_str_has_suffix (s426,
                                   "\r\n\r\n{\"error\":\"upgrade_required\",\"message\":"
                                   "\"Only version 13\",\"status\":426}"));
  g_assert_true (g_str_has_prefix (s405, "HTTP/1.1 405 Method Not Allowed\r\n"));
  g_assert_nonnull (strstr (s405, "\r\nAllow: GET\r\n"));
  g_assert_true (g_str_has_prefix (s400, "HTTP/1.1 400 Bad Request\r\n"));

  /* The parser's own statuses map to their codes. */
  for (guint status = 400; status < 600; status++)
    {
      g_autoptr(GError) e = g_error_new (WW_HTTP_ERROR, (gint) status, "status %u", status);
      g_autoptr(GBytes) r = ww_handshake_build_error (e);
      g_autofree char *s = bytes_to_string (r);
      g_autofree char *prefix = g_strdup_printf ("HTTP/1.1 %u ", status);

      g_assert_true (g_str_has_prefix (s, prefix));
      if (status == 431)
        g_assert_nonnull (strstr (s, "\"error\":\"header_too_large\""));
      if (status == 501)
        g_assert_nonnull (strstr (s, "\"error\":\"not_implemented\""));
      if (status == 505)
        g_assert_nonnull (strstr (s, "\"error\":\"http_version_not_supported\""));
    }
}

static void
test_client_side (void)
{
  g_autofree char *key = ww_handshake_client_key_new ();
  g_autofree char *key2 = ww_handshake_client_key_new ();
  const char *extra[] = { "Origin: http://127.0.0.1", NULL };
  g_autoptr(GBytes) req_bytes = ww_handshake_client_request ("127.0.0.1:8080", "/echo", key,
                                                             extra);
  g_autofree char *req_text = bytes_to_string (req_bytes);
  g_autoptr(GError) error = NULL;
  g_autoptr(WwHttpRequest) req = NULL;
  g_autoptr(GBytes) resp = NULL;
  g_autofree char *resp_text = NULL;
  WwHandshake hs;
  gsize raw_len;
  g_autofree guchar *raw = g_base64_decode (key, &raw_len);

  g_assert_cmpuint (raw_len, ==, 16);
  g_assert_cmpstr (key, !=, key2);
  g_assert_cmpint (ww_http_find_head_end ((const guint8 *) req_text, strlen (req_text), 16384,
                                          &error), ==, (gssize) strlen (req_text));
  req = parse (req_text);
  g_assert_cmpstr (ww_http_request_get_header (req, "Origin"), ==, "http://127.0.0.1");
  g_assert_cmpstr (ww_http_request_get_path (req), ==, "/echo");
  g_assert_true (ww_handshake_validate (req, NULL, &hs, &error));
  g_assert_no_error (error);
  resp = ww_handshake_build_response (&hs, NULL);
  resp_text = bytes_to_string (resp);
  g_assert_true (ww_handshake_client_check_response (resp_text, strlen (resp_text), key, &error));
  g_assert_no_error (error);
  /* The wrong key does not match. */
  g_assert_false (ww_handshake_client_check_response (resp_text, strlen (resp_text), key2,
                                                      &error));
  g_assert_error (error, WW_HTTP_ERROR, 502);
  ww_handshake_clear (&hs);
}

static void
test_client_bad_responses (void)
{
  const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
  const struct { const char *head; gint code; } cases[] = {
    { "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404 },
    { "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", 502 },
    { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      502 },
    { "HTTP/1.1 101\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", 0 },
    { "HTTP/1.1 10 Switching\r\n\r\n", 502 },
    { "HTTP/2.0 101 Switching\r\n\r\n", 502 },
    { "HTTP/1.1 101 OK\nUpgrade: websocket\r\n\r\n", 502 },
    { "garbage", 502 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gboolean ok = ww_handshake_client_check_response (cases[i].head, strlen (cases[i].head), key,
                                                        &error);

      g_test_message ("response %u", i);
      if (cases[i].code == 0)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
        }
      else
        {
          g_assert_false (ok);
          g_assert_error (error, WW_HTTP_ERROR, cases[i].code);
        }
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/handshake/accept-key", test_accept_key);
  g_test_add_func ("/handshake/rfc-example", test_validate_rfc_example);
  for (guint i = 0; i < G_N_ELEMENTS (hs_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/handshake/validate/%s", hs_cases[i].name);

      g_strdelimit (path + strlen ("/handshake/validate/"), "/", '-');
      g_test_add_data_func (path, &hs_cases[i], test_validate_case);
    }
  g_test_add_func ("/handshake/extensions", test_extensions_passed_through);
  g_test_add_func ("/handshake/error-responses", test_error_responses);
  g_test_add_func ("/handshake/client", test_client_side);
  g_test_add_func ("/handshake/client-bad-responses", test_client_bad_responses);

  return g_test_run ();
}
