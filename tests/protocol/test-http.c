/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test"

#include "config.h"

#include <string.h>

#include "ww-http.h"
#include "ww-protocol-error.h"

static void
test_find_head_end (void)
{
  const char *head = "GET / HTTP/1.1\r\nHost: a\r\n\r\nEXTRA";
  gsize head_len = strlen ("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  g_autoptr(GError) error = NULL;
  const guint8 *b = (const guint8 *) head;

  /* Every prefix shorter than the head needs more. */
  for (gsize n = 0; n < head_len; n++)
    {
      g_assert_cmpint (ww_http_find_head_end (b, n, 16384, &error), ==, 0);
      g_assert_no_error (error);
    }
  g_assert_cmpint (ww_http_find_head_end (b, strlen (head), 16384, &error), ==, head_len);
  /* A limit exactly the head's size is enough. */
  g_assert_cmpint (ww_http_find_head_end (b, strlen (head), head_len, &error), ==, head_len);
  /* One less is not: 431. */
  g_assert_cmpint (ww_http_find_head_end (b, strlen (head), head_len - 1, &error), ==, -1);
  g_assert_error (error, WW_HTTP_ERROR, 431);
  g_clear_error (&error);
  /* LF LF alone does not end a head. */
  g_assert_cmpint (ww_http_find_head_end ((const guint8 *) "GET /\n\n", 7, 16384, &error), ==, 0);
  g_assert_cmpint (ww_http_find_head_end ((const guint8 *) "\r\n\r\n", 4, 16384, &error), ==, 4);
}

/* A 1 MiB stream of header bytes is refused after max_head bytes, and the
 * scan never reads past them (ASan would see it: the buffer ends there). */
static void
test_find_head_end_never_past_limit (void)
{
  g_autofree guint8 *buf = g_malloc (100);
  g_autoptr(GError) error = NULL;

  memset (buf, 'a', 100);
  memcpy (buf + 96, "\r\n\r\n", 4);
  g_assert_cmpint (ww_http_find_head_end (buf, 100, 50, &error), ==, -1);
  g_assert_error (error, WW_HTTP_ERROR, 431);
}

/* Incremental search: same answers as a full search for every way the
 * head can arrive, including CRLF CRLF cut between reads. */
static void
test_find_head_end_incremental (void)
{
  const char *head = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\nrest";
  gsize total = strlen (head);
  gsize head_len = total - 4;

  for (gsize step = 1; step <= 7; step++)
    {
      gsize scanned = 0;
      gssize found = 0;

      for (gsize n = step; ; n = MIN (n + step, total))
        {
          g_autoptr(GError) error = NULL;

          found = ww_http_find_head_end_from ((const guint8 *) head, n, 16384, &scanned, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (scanned, <=, n);
          if (found != 0 || n == total)
            break;
        }
      g_assert_cmpint (found, ==, head_len);
    }

  {
    g_autoptr(GError) error = NULL;
    gsize scanned = 0;

    g_assert_cmpint (ww_http_find_head_end_from ((const guint8 *) head, 10, 20, &scanned, &error),
                     ==, 0);
    g_assert_cmpuint (scanned, ==, 10);
    g_assert_cmpint (ww_http_find_head_end_from ((const guint8 *) head, 25, 20, &scanned, &error),
                     ==, -1);
    g_assert_error (error, WW_HTTP_ERROR, 431);
  }
}

static WwHttpRequest *
parse_ok (const char *head)
{
  g_autoptr(GError) error = NULL;
  WwHttpRequest *req = ww_http_request_parse (head, strlen (head), &error);

  g_assert_no_error (error);
  g_assert_nonnull (req);
  return req;
}

static void
test_parse_request (void)
{
  g_autoptr(WwHttpRequest) req =
    parse_ok ("GET /events/EVENT%2300?token=a%20b+c&empty&x=1&x=2&bad=%zz HTTP/1.1\r\n"
              "Host: 127.0.0.1:8080\r\n"
              "Accept:  text/html \t\r\n"
              "X-Multi: one\r\n"
              "x-multi: two\r\n"
              "X-Empty:\r\n"
              "User-Agent: t\xc3\xa9st\r\n"
              "X-MULTI:three\r\n"
              "X-Multiple: other\r\n"
              "\r\n");
  g_autofree char *token = NULL;
  g_autofree char *empty = NULL;
  g_autofree char *x = NULL;
  g_autofree char *missing = NULL;
  g_autofree char *bad = NULL;

  g_assert_cmpstr (ww_http_request_get_method (req), ==, "GET");
  g_assert_cmpstr (ww_http_request_get_target (req), ==,
                   "/events/EVENT%2300?token=a%20b+c&empty&x=1&x=2&bad=%zz");
  g_assert_cmpstr (ww_http_request_get_path (req), ==, "/events/EVENT#00");
  g_assert_cmpstr (ww_http_request_get_query (req), ==, "token=a%20b+c&empty&x=1&x=2&bad=%zz");
  g_assert_cmpuint (ww_http_request_get_version_minor (req), ==, 1);
  g_assert_cmpstr (ww_http_request_get_header (req, "host"), ==, "127.0.0.1:8080");
  g_assert_cmpstr (ww_http_request_get_header (req, "ACCEPT"), ==, "text/html");
  g_assert_cmpstr (ww_http_request_get_header (req, "X-Multi"), ==, "one, two, three");
  g_assert_cmpstr (ww_http_request_get_header (req, "x-multiple"), ==, "other");
  g_assert_null (ww_http_request_get_header (req, "X-Mult"));
  g_assert_null (ww_http_request_get_header (req, "Hos"));
  g_assert_cmpstr (ww_http_request_get_header (req, "X-Empty"), ==, "");
  g_assert_cmpstr (ww_http_request_get_header (req, "User-Agent"), ==, "t\xc3\xa9st");
  g_assert_null (ww_http_request_get_header (req, "Missing"));
  g_assert_true (ww_http_request_header_has_token (req, "x-multi", "TWO"));
  g_assert_false (ww_http_request_header_has_token (req, "x-multi", "tw"));
  g_assert_false (ww_http_request_header_has_token (req, "missing", "a"));

  token = ww_http_request_dup_query_param (req, "token");
  g_assert_cmpstr (token, ==, "a b c");
  empty = ww_http_request_dup_query_param (req, "empty");
  g_assert_cmpstr (empty, ==, "");
  x = ww_http_request_dup_query_param (req, "x");
  g_assert_cmpstr (x, ==, "1");
  missing = ww_http_request_dup_query_param (req, "missing");
  g_assert_null (missing);
  bad = ww_http_request_dup_query_param (req, "bad");
  g_assert_null (bad);
}

static void
test_parse_forms (void)
{
  g_autoptr(WwHttpRequest) a =
    parse_ok ("GET http://example.com/a%2Fb?q HTTP/1.1\r\nHost: x\r\n\r\n");
  g_autoptr(WwHttpRequest) b = parse_ok ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
  g_autoptr(WwHttpRequest) c = parse_ok ("GET http://example.com?q=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  g_autoptr(WwHttpRequest) d = parse_ok ("GET / HTTP/1.0\r\n\r\n");
  g_autoptr(WwHttpRequest) e = parse_ok ("GET /? HTTP/1.1\r\nHost: x\r\n\r\n");
  g_autoptr(WwHttpRequest) f = parse_ok ("GET /caf%C3%a9 HTTP/1.1\r\nHost: x\r\n"
                                         "Connection: Upgrade\t, keep-alive\r\n\r\n");

  g_assert_cmpstr (ww_http_request_get_path (a), ==, "/a/b");
  g_assert_cmpstr (ww_http_request_get_query (a), ==, "q");
  g_assert_cmpstr (ww_http_request_get_path (b), ==, "*");
  g_assert_cmpstr (ww_http_request_get_path (c), ==, "/");
  g_assert_cmpstr (ww_http_request_get_query (c), ==, "q=1");
  g_assert_cmpuint (ww_http_request_get_version_minor (d), ==, 0);
  g_assert_null (ww_http_request_get_query (d));
  g_assert_cmpstr (ww_http_request_get_query (e), ==, "");
  g_assert_cmpstr (ww_http_request_get_path (f), ==, "/caf\xc3\xa9");
  g_assert_true (ww_http_request_header_has_token (f, "connection", "upgrade"));
  g_assert_true (ww_http_request_header_has_token (f, "connection", "Keep-Alive"));
}

typedef struct {
  const char *name;
  const char *head;
  gint        status;
} BadCase;

#define H "Host: x\r\n"

static const BadCase bad_cases[] = {
  { "empty", "", 400 },
  { "no CRLF", "GET / HTTP/1.1", 400 },
  { "bare LF line end", "GET / HTTP/1.1\n" H "\r\n", 400 },
  { "bare LF in header", "GET / HTTP/1.1\r\nHost: x\n\r\n", 400 },
  { "bare CR in value", "GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", 400 },
  { "no blank line", "GET / HTTP/1.1\r\n" H, 400 },
  { "bytes after head", "GET / HTTP/1.1\r\n" H "\r\nX", 400 },
  { "leading CRLF", "\r\nGET / HTTP/1.1\r\n" H "\r\n", 400 },
  { "obs-fold", "GET / HTTP/1.1\r\n" H "X-A: a\r\n b\r\n\r\n", 400 },
  { "tab fold", "GET / HTTP/1.1\r\n" H "X-A: a\r\n\tb\r\n\r\n", 400 },
  { "space before colon", "GET / HTTP/1.1\r\n" H "X-A : a\r\n\r\n", 400 },
  { "empty name", "GET / HTTP/1.1\r\n" H ": a\r\n\r\n", 400 },
  { "no colon", "GET / HTTP/1.1\r\n" H "X-A a\r\n\r\n", 400 },
  { "control char", "GET / HTTP/1.1\r\n" H "X-A: a\x01z\r\n\r\n", 400 },
  { "DEL in value", "GET / HTTP/1.1\r\n" H "X-A: a\x7fz\r\n\r\n", 400 },
  { "bad name char", "GET / HTTP/1.1\r\n" H "X(A): a\r\n\r\n", 400 },
  { "one space", "GET /HTTP/1.1\r\n" H "\r\n", 400 },
  { "two spaces", "GET  / HTTP/1.1\r\n" H "\r\n", 400 },
  { "trailing space", "GET / HTTP/1.1 \r\n" H "\r\n", 400 },
  { "bad method", "G(T / HTTP/1.1\r\n" H "\r\n", 400 },
  { "HTTP/2.0", "GET / HTTP/2.0\r\n" H "\r\n", 505 },
  { "HTTP/0.9", "GET / HTTP/0.9\r\n" H "\r\n", 505 },
  { "HTTP/1.10", "GET / HTTP/1.10\r\n" H "\r\n", 400 },
  { "http/1.1 lowercase", "GET / http/1.1\r\n" H "\r\n", 400 },
  { "no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400 },
  { "two Host", "GET / HTTP/1.1\r\n" H H "\r\n", 400 },
  { "relative target", "GET a/b HTTP/1.1\r\n" H "\r\n", 400 },
  { "star not OPTIONS", "GET * HTTP/1.1\r\n" H "\r\n", 400 },
  { "authority form", "CONNECT x:443 HTTP/1.1\r\n" H "\r\n", 400 },
  { "absolute without host", "GET http:///x HTTP/1.1\r\n" H "\r\n", 400 },
  { "fragment", "GET /a#b HTTP/1.1\r\n" H "\r\n", 400 },
  { "%00", "GET /a%00b HTTP/1.1\r\n" H "\r\n", 400 },
  { "bad escape", "GET /a%zzb HTTP/1.1\r\n" H "\r\n", 400 },
  { "short escape", "GET /a%2 HTTP/1.1\r\n" H "\r\n", 400 },
  { "escape at end", "GET /a% HTTP/1.1\r\n" H "\r\n", 400 },
  { "non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" H "\r\n", 400 },
  { "Transfer-Encoding", "GET / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n", 501 },
  { "TE and CL", "GET / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
    400 },
  { "CL not a number", "GET / HTTP/1.1\r\n" H "Content-Length: 1x\r\n\r\n", 400 },
  { "CL empty", "GET / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400 },
  { "CL twice", "GET / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400 },
  { "CL huge", "GET / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n\r\n", 400 },
};

static void
test_bad_case (gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WwHttpRequest) req = ww_http_request_parse (c->head, strlen (c->head), &error);

  g_assert_null (req);
  g_assert_error (error, WW_HTTP_ERROR, c->status);
}

static void
test_too_many_headers (void)
{
  g_autoptr(GString) head = g_string_new ("GET / HTTP/1.1\r\nHost: x\r\n");
  g_autoptr(GString) same = g_string_new ("GET / HTTP/1.1\r\nHost: x\r\n");
  g_autoptr(GError) error = NULL;
  g_autoptr(WwHttpRequest) ok = NULL;
  WwHttpRequest *req;

  for (guint i = 0; i < 99; i++)
    {
      g_string_append_printf (head, "X-H%u: v\r\n", i);
      g_string_append (same, "X-Same: v\r\n");
    }
  g_string_append (head, "\r\n");
  ok = ww_http_request_parse (head->str, head->len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ok);

  g_string_insert (head, head->len - 2, "X-Last: v\r\n");
  req = ww_http_request_parse (head->str, head->len, &error);
  g_assert_null (req);
  g_assert_error (error, WW_HTTP_ERROR, 431);
  g_clear_error (&error);

  /* Repeats count too, so joining stays bounded. */
  g_string_append (same, "X-Same: v\r\n\r\n");
  req = ww_http_request_parse (same->str, same->len, &error);
  g_assert_null (req);
  g_assert_error (error, WW_HTTP_ERROR, 431);
}

/* A NUL inside the head is a control character like any other. */
static void
test_nul_in_head (void)
{
  const char head[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
  const char head2[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) error2 = NULL;

  g_assert_null (ww_http_request_parse (head, sizeof head - 1, &error));
  g_assert_error (error, WW_HTTP_ERROR, 400);
  g_assert_null (ww_http_request_parse (head2, sizeof head2 - 1, &error2));
  g_assert_error (error2, WW_HTTP_ERROR, 400);
}

static void
test_keep_alive (void)
{
  const struct { const char *head; gboolean keep; } cases[] = {
    { "GET / HTTP/1.1\r\nHost: x\r\n\r\n", TRUE },
    { "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", FALSE },
    { "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, Close\r\n\r\n", FALSE },
    { "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", TRUE },
    { "GET / HTTP/1.0\r\n\r\n", FALSE },
    { "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", TRUE },
    { "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(WwHttpRequest) req = parse_ok (cases[i].head);

      g_assert_cmpint (ww_http_request_wants_keep_alive (req), ==, cases[i].keep);
    }
}

static char *
bytes_str (GBytes *b)
{
  return g_strndup (g_bytes_get_data (b, NULL), g_bytes_get_size (b));
}

static void
test_response_build (void)
{
  const char *extra[] = { "Cache-Control: no-store", NULL };
  g_autoptr(GBytes) r1 = ww_http_response_build (200, "text/plain", extra, "ok\n", 3, FALSE, TRUE);
  g_autoptr(GBytes) r2 = ww_http_response_build (200, "text/plain", NULL, "ok\n", 3, TRUE, FALSE);
  g_autoptr(GBytes) r3 = ww_http_response_build (204, NULL, NULL, NULL, 0, FALSE, TRUE);
  g_autofree char *s1 = bytes_str (r1);
  g_autofree char *s2 = bytes_str (r2);
  g_autofree char *s3 = bytes_str (r3);

  g_assert_cmpstr (s1, ==,
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                   "Connection: keep-alive\r\nCache-Control: no-store\r\n\r\nok\n");
  /* HEAD keeps the length, drops the body. */
  g_assert_cmpstr (s2, ==,
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                   "Connection: close\r\n\r\n");
  g_assert_cmpstr (s3, ==, "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
}

static void
test_response_error (void)
{
  g_autoptr(GBytes) r = ww_http_response_build_error (404, "not_found",
                                                      "No \"EVENT#9\"\n\\ \x01 \xff here", NULL,
                                                      FALSE, TRUE);
  g_autoptr(GBytes) h = ww_http_response_build_error (404, "not_found", NULL, NULL, TRUE, TRUE);
  g_autofree char *s = bytes_str (r);
  g_autofree char *sh = bytes_str (h);
  const char *body = strstr (s, "\r\n\r\n") + 4;

  g_assert_true (g_str_has_prefix (s, "HTTP/1.1 404 Not Found\r\n"
                                      "Content-Type: application/json\r\n"));
  g_assert_cmpstr (body, ==,
                   "{\"error\":\"not_found\",\"message\":\"No \\\"EVENT#9\\\"\\u000a\\\\ \\u0001 "
                   "\xef\xbf\xbd here\",\"status\":404}");
  g_assert_true (g_str_has_suffix (sh, "\r\n\r\n"));
  g_assert_nonnull (strstr (sh, "Content-Length: 56\r\n"));
}

static void
test_status_phrases (void)
{
  const guint codes[] = { 101, 200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 413,
                          414, 426, 429, 431, 500, 501, 503, 505 };

  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    g_assert_cmpstr (ww_http_status_phrase (codes[i]), !=, "Unknown");
  g_assert_cmpstr (ww_http_status_phrase (404), ==, "Not Found");
  g_assert_cmpstr (ww_http_status_phrase (599), ==, "Unknown");
}

/* Header injection through extra headers is a programmer error. */
static void
test_response_injection (void)
{
  if (g_test_subprocess ())
    {
      const char *extra[] = { "X-A: a\r\nX-B: b", NULL };

      ww_http_response_build (200, NULL, extra, NULL, 0, FALSE, TRUE);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http/find-head-end", test_find_head_end);
  g_test_add_func ("/http/find-head-end-limit", test_find_head_end_never_past_limit);
  g_test_add_func ("/http/find-head-end-incremental", test_find_head_end_incremental);
  g_test_add_func ("/http/parse", test_parse_request);
  g_test_add_func ("/http/forms", test_parse_forms);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/http/bad/%s", bad_cases[i].name);

      g_strdelimit (path + strlen ("/http/bad/"), "/", '-');
      g_test_add_data_func (path, &bad_cases[i], test_bad_case);
    }
  g_test_add_func ("/http/too-many-headers", test_too_many_headers);
  g_test_add_func ("/http/nul", test_nul_in_head);
  g_test_add_func ("/http/keep-alive", test_keep_alive);
  g_test_add_func ("/http/response", test_response_build);
  g_test_add_func ("/http/response-error", test_response_error);
  g_test_add_func ("/http/status-phrases", test_status_phrases);
  g_test_add_func ("/http/response-injection", test_response_injection);

  return g_test_run ();
}
