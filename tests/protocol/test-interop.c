/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test"

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "ww-frame.h"
#include "ww-handshake.h"
#include "ww-http.h"
#include "ww-message-parser.h"
#include "ww-protocol-error.h"

/*
 * Interoperability with an independent implementation: Python's
 * `websockets` (Debian's python3-websockets, run by /usr/bin/python3)
 * writes frames and handshakes that our parser must read, and reads the
 * ones our writer makes.  The helper is tests/protocol/interop-websockets.py.
 * Skipped when that Python module is not installed.
 */

#define PYTHON "/usr/bin/python3"

static char *tmpdir;

static char *
helper_path (void)
{
  const char *root = g_getenv ("WW_SOURCE_ROOT");

  return g_build_filename (root != NULL ? root : ".", "tests", "protocol", "interop-websockets.py",
                           NULL);
}

static gboolean
have_websockets (void)
{
  const char *argv[] = { PYTHON, "-c", "import websockets.frames, websockets.client", NULL };
  gint status = -1;

  if (!g_file_test (PYTHON, G_FILE_TEST_IS_EXECUTABLE))
    return FALSE;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL |
                     G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL))
    return FALSE;
  return g_spawn_check_wait_status (status, NULL);
}

/* Runs the helper to completion (it always exits on its own) and returns
 * its stdout; fails the test if it failed. */
static char *
run_helper (const char *command,
            ...)
{
  g_autofree char *helper = helper_path ();
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;
  gint status = -1;
  const char *arg;
  va_list ap;

  g_ptr_array_add (argv, (gpointer) PYTHON);
  g_ptr_array_add (argv, helper);
  g_ptr_array_add (argv, (gpointer) command);
  va_start (ap, command);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, &error))
    g_error ("%s %s failed: %s\n%s", helper, command, error->message, err);
  return out;
}

static char *
tmp_file (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

static void
append_line (GString      *s,
             guint         opcode,
             const guint8 *data,
             gsize         len)
{
  g_autofree char *sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);

  g_string_append_printf (s, "%u %" G_GSIZE_FORMAT " %s\n", opcode, len, sha);
}

/* websockets writes masked client frames; we read them in random reads. */
static void
test_frames_from_websockets (void)
{
  g_autofree char *stream_path = tmp_file ("client-stream");
  g_autofree char *expect_path = tmp_file ("client-expect");
  g_autoptr(GRand) rand = g_rand_new_with_seed (7692);

  if (!have_websockets ())
    {
      g_test_skip ("python3-websockets is not installed");
      return;
    }

  for (guint seed = 1; seed <= 6; seed++)
    {
      g_autofree char *seed_str = g_strdup_printf ("%u", seed);
      g_autofree char *out = run_helper ("frames-gen", seed_str, stream_path, expect_path, NULL);
      g_autofree char *stream = NULL;
      g_autofree char *expect = NULL;
      g_autoptr(GString) got = g_string_new ("");
      g_autoptr(WwMessageParser) p = ww_message_parser_new (WW_ROLE_SERVER, NULL);
      gsize len = 0, off = 0;
      guint guard = 0;

      g_assert_true (g_file_get_contents (stream_path, &stream, &len, NULL));
      g_assert_true (g_file_get_contents (expect_path, &expect, NULL, NULL));

      while (off < len)
        {
          /* (MIN evaluates its arguments twice: draw the size first.) */
          gsize want = (gsize) g_rand_int_range (rand, 1, 5000);
          gsize n = MIN (len - off, want);
          gsize pos = 0;

          for (;;)
            {
              g_autoptr(GError) error = NULL;
              WwParseEvent ev;
              gsize used;
              WwParseResult r = ww_message_parser_feed (p, (guint8 *) stream + off + pos, n - pos,
                                                        &used, &ev, &error);

              g_assert_cmpuint (++guard, <, 1000000);
              g_assert_no_error (error);
              pos += used;
              if (r == WW_PARSE_NEED_MORE)
                break;
              append_line (got, ev.opcode, ev.data, ev.len);
            }
          off += n;
        }

      g_test_message ("seed %u: %" G_GSIZE_FORMAT " bytes from websockets", seed, len);
      g_assert_cmpstr (got->str, ==, expect);
    }
}

/* Our server frames (fragmented, with pings between) read by websockets. */
static void
test_frames_to_websockets (void)
{
  g_autofree char *stream_path = tmp_file ("server-stream");
  g_autofree char *expect_path = tmp_file ("server-expect");
  g_autoptr(GByteArray) stream = g_byte_array_new ();
  g_autoptr(GString) expected = g_string_new ("");
  g_autoptr(GRand) rand = g_rand_new_with_seed (6455);
  g_autofree char *out = NULL;
  g_autofree char *parsed = NULL;
  const gsize sizes[] = { 0, 1, 125, 126, 65535, 65536, 100000, 3 };

  if (!have_websockets ())
    {
      g_test_skip ("python3-websockets is not installed");
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autofree guint8 *data = g_malloc (sizes[i] + 1);
      guint8 opcode = i % 2 ? WW_OPCODE_BINARY : WW_OPCODE_TEXT;

      for (gsize k = 0; k < sizes[i]; k++)
        data[k] = opcode == WW_OPCODE_TEXT ? (guint8) ('a' + k % 26) : (guint8) g_rand_int (rand);

      if (i % 3 == 0)
        {
          g_autoptr(GBytes) f = ww_frame_encode (WW_ROLE_SERVER, opcode, data, sizes[i]);

          g_byte_array_append (stream, g_bytes_get_data (f, NULL), g_bytes_get_size (f));
        }
      else
        {
          /* Two fragments written header-first, as the server's writev does,
           * with a ping between them. */
          gsize cut = sizes[i] / 2;
          guint8 h[WW_FRAME_HEADER_MAX];
          gsize hl;
          g_autoptr(GBytes) ping = ww_frame_encode (WW_ROLE_SERVER, WW_OPCODE_PING, "hb", 2);

          hl = ww_frame_write_header (h, opcode, FALSE, FALSE, cut, NULL);
          g_byte_array_append (stream, h, (guint) hl);
          g_byte_array_append (stream, data, (guint) cut);
          g_byte_array_append (stream, g_bytes_get_data (ping, NULL), g_bytes_get_size (ping));
          append_line (expected, WW_OPCODE_PING, (const guint8 *) "hb", 2);
          hl = ww_frame_write_header (h, WW_OPCODE_CONTINUATION, TRUE, FALSE, sizes[i] - cut,
                                      NULL);
          g_byte_array_append (stream, h, (guint) hl);
          g_byte_array_append (stream, data + cut, (guint) (sizes[i] - cut));
        }
      append_line (expected, opcode, data, sizes[i]);
    }
  {
    g_autoptr(GBytes) close = ww_frame_encode_close (WW_ROLE_SERVER, 1001, "going away");

    g_byte_array_append (stream, g_bytes_get_data (close, NULL), g_bytes_get_size (close));
    append_line (expected, WW_OPCODE_CLOSE, (const guint8 *) "\x03\xe9going away", 12);
  }

  g_assert_true (g_file_set_contents (stream_path, (const char *) stream->data, stream->len,
                                      NULL));
  out = run_helper ("frames-parse", stream_path, expect_path, NULL);
  g_assert_true (g_file_get_contents (expect_path, &parsed, NULL, NULL));
  g_assert_cmpstr (parsed, ==, expected->str);
}

/* A websockets client's handshake, answered by us, accepted by it. */
static void
test_handshake_websockets_client (void)
{
  g_autofree char *key = ww_handshake_client_key_new ();
  g_autofree char *request_path = tmp_file ("ws-request");
  g_autofree char *response_path = tmp_file ("our-response");
  g_autofree char *out = NULL;
  g_autofree char *verdict = NULL;
  g_autofree char *head = NULL;
  g_autoptr(WwHttpRequest) req = NULL;
  g_autoptr(GBytes) resp = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *param = NULL;
  const char *protocols[] = { "chat", NULL };
  WwHandshake hs;
  gsize len;
  gssize end;

  if (!have_websockets ())
    {
      g_test_skip ("python3-websockets is not installed");
      return;
    }

  out = run_helper ("client-request", key, request_path, NULL);
  g_assert_true (g_file_get_contents (request_path, &head, &len, NULL));
  end = ww_http_find_head_end ((const guint8 *) head, len, 16384, &error);
  g_assert_no_error (error);
  g_assert_cmpint (end, ==, (gssize) len);
  req = ww_http_request_parse (head, len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ww_http_request_get_path (req), ==, "/echo");
  param = ww_http_request_dup_query_param (req, "x");
  g_assert_cmpstr (param, ==, "1");
  g_assert_true (ww_handshake_validate (req, protocols, &hs, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (hs.protocol, ==, "chat");
  resp = ww_handshake_build_response (&hs, NULL);
  g_assert_true (g_file_set_contents (response_path, g_bytes_get_data (resp, NULL),
                                      (gssize) g_bytes_get_size (resp), NULL));
  verdict = run_helper ("client-check", key, response_path, NULL);
  g_assert_cmpstr (verdict, ==, "OPEN subprotocol=chat\n");
  ww_handshake_clear (&hs);
}

/* Our client request, answered by a websockets server, checked by us. */
static void
test_handshake_websockets_server (void)
{
  g_autofree char *key = ww_handshake_client_key_new ();
  g_autofree char *request_path = tmp_file ("our-request");
  g_autofree char *response_path = tmp_file ("ws-response");
  const char *extra[] = { "Sec-WebSocket-Protocol: chat", NULL };
  g_autoptr(GBytes) req = ww_handshake_client_request ("127.0.0.1:8080", "/ws", key, extra);
  g_autofree char *out = NULL;
  g_autofree char *response = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;
  gssize end;

  if (!have_websockets ())
    {
      g_test_skip ("python3-websockets is not installed");
      return;
    }

  g_assert_true (g_file_set_contents (request_path, g_bytes_get_data (req, NULL),
                                      (gssize) g_bytes_get_size (req), NULL));
  out = run_helper ("server-answer", request_path, response_path, NULL);
  g_assert_true (g_file_get_contents (response_path, &response, &len, NULL));
  end = ww_http_find_head_end ((const guint8 *) response, len, 16384, &error);
  g_assert_cmpint (end, ==, (gssize) len);
  g_assert_true (ww_handshake_client_check_response (response, len, key, &error));
  g_assert_no_error (error);
  /* A different key must not pass. */
  g_assert_false (ww_handshake_client_check_response (response, len, "AAAAAAAAAAAAAAAAAAAAAA==",
                                                      &error));
  g_assert_error (error, WW_HTTP_ERROR, 502);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);

  tmpdir = g_dir_make_tmp ("ww-interop-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/interop/frames-from-websockets", test_frames_from_websockets);
  g_test_add_func ("/interop/frames-to-websockets", test_frames_to_websockets);
  g_test_add_func ("/interop/handshake-websockets-client", test_handshake_websockets_client);
  g_test_add_func ("/interop/handshake-websockets-server", test_handshake_websockets_server);

  ret = g_test_run ();

  {
    const char *names[] = { "client-stream", "client-expect", "server-stream", "server-expect",
                            "ws-request", "our-response", "our-request", "ws-response" };

    for (guint i = 0; i < G_N_ELEMENTS (names); i++)
      {
        g_autofree char *path = tmp_file (names[i]);

        g_remove (path);
      }
    g_rmdir (tmpdir);
    g_free (tmpdir);
  }
  return ret;
}
