/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server-test"

#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libsoup/soup.h>

#include "ww-server-test.h"
#include "protocol/ww-frame.h"
#include "protocol/ww-protocol-error.h"
#include "protocol/ww-deflate.h"

/* ---- HTTP ------------------------------------------------------------------ */

static void
assert_json_error (const char *response, guint status, const char *code)
{
  const char *body = wwt_response_body (response);
  g_autofree char *needle = g_strdup_printf ("\"error\":\"%s\"", code);

  g_assert_cmpuint (wwt_response_status (response), ==, status);
  g_assert_nonnull (strstr (response, "Content-Type: application/json"));
  g_assert_true (body[0] == '{');
  g_assert_nonnull (strstr (body, needle));
}

/* A second client that must keep working whatever the first one did. */
static void
assert_echo_works (guint16 port)
{
  g_autoptr(WwtClient) c = wwt_client_new (port, "/echo");
  g_autoptr(GByteArray) m = NULL;
  guint8 op = 0;

  g_assert_true (wwt_send (c, WW_OPCODE_TEXT, "still here", 10));
  m = wwt_recv_message (c, &op);
  g_assert_nonnull (m);
  g_assert_cmpuint (op, ==, WW_OPCODE_TEXT);
  g_assert_cmpmem (m->data, m->len, "still here", 10);
}

static void
test_http_routes (void)
{
  WwServer *server = wwt_server_new (NULL);
  guint16 port = ww_server_get_port (server);
  g_autofree char *ok = NULL, *missing = NULL, *post = NULL, *head = NULL;
  g_autofree char *metrics = NULL, *bad = NULL, *plain_echo = NULL;

  ok = wwt_http (port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  g_assert_cmpuint (wwt_response_status (ok), ==, 200);
  g_assert_cmpstr (wwt_response_body (ok), ==, "ok\n");

  missing = wwt_http (port, "GET /nothing/here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  assert_json_error (missing, 404, "not_found");

  post = wwt_http (port, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n", NULL);
  assert_json_error (post, 405, "method_not_allowed");
  g_assert_nonnull (strstr (post, "Allow: GET, HEAD"));

  head = wwt_http (port, "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  g_assert_cmpuint (wwt_response_status (head), ==, 200);
  g_assert_nonnull (strstr (head, "Content-Length: 3\r\n"));
  g_assert_cmpstr (wwt_response_body (head), ==, "");

  bad = wwt_http (port, "NONSENSE\r\n\r\n", NULL);
  assert_json_error (bad, 400, "bad_request");

  plain_echo = wwt_http (port, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  assert_json_error (plain_echo, 426, "upgrade_required");

  metrics = wwt_http (port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  g_assert_cmpuint (wwt_response_status (metrics), ==, 200);
  g_assert_nonnull (strstr (metrics, "text/plain; version=0.0.4"));
  for (const char * const *name = (const char * const[]) {
         "wirewatch_connections_active ", "wirewatch_connections_total ",
         "wirewatch_messages_received_total ", "wirewatch_sent_bytes_total ",
         "wirewatch_handshake_failures_total{reason=\"bad_request\"} 1",
         "wirewatch_close_codes_sent_total{code=\"1000\"}",
         "wirewatch_ping_rtt_seconds_bucket{le=\"0.001\"}",
         "wirewatch_ping_rtt_seconds_bucket{le=\"+Inf\"}",
         "process_cpu_seconds_total ", "process_resident_memory_bytes ",
         "process_open_fds ", "process_start_time_seconds ", NULL };
       *name; name++)
    if (strstr (metrics, *name) == NULL)
      g_error ("/metrics lacks “%s”:\n%s", *name, metrics);

  assert_echo_works (port);
  wwt_server_free (server);
}

static void
test_http_keep_alive (void)
{
  WwServer *server = wwt_server_new (NULL);
  guint16 port = ww_server_get_port (server);
  const char *pipelined =
    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  int fd = wwt_connect (port);

  /* Three requests in one write (pipelined), then one more later on the
   * same connection: four answers in order. */
  g_assert_cmpint (send (fd, pipelined, strlen (pipelined), MSG_NOSIGNAL), ==, (gssize) strlen (pipelined));
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *r = wwt_read_response (fd, i == 1);

      if (i == 2)
        assert_json_error (r, 404, "not_found");
      else
        {
          g_assert_cmpuint (wwt_response_status (r), ==, 200);
          g_assert_nonnull (strstr (r, "Connection: keep-alive"));
        }
    }
  {
    const char *again = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    g_autofree char *r = NULL;

    /* The same request split over two writes. */
    g_assert_cmpint (send (fd, again, 10, MSG_NOSIGNAL), ==, 10);
    g_usleep (20000);
    g_assert_cmpint (send (fd, again + 10, strlen (again) - 10, MSG_NOSIGNAL), >, 0);
    r = wwt_read_response (fd, FALSE);
    g_assert_cmpuint (wwt_response_status (r), ==, 200);
    g_assert_cmpstr (wwt_response_body (r), ==, "ok\n");
  }
  close (fd);
  wwt_server_free (server);
}

static void
test_http_header_too_large (void)
{
  WwServer *server = wwt_server_new (NULL);
  guint16 port = ww_server_get_port (server);
  g_autoptr(WwtClient) bystander = wwt_client_new (port, "/echo");
  GString *req = g_string_new ("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  g_autofree char *r = NULL;
  g_autofree char *r2 = NULL;
  WwServerCounters counters;

  while (req->len < 17 * 1024)
    g_string_append (req, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
  g_string_append (req, "\r\n");
  r = wwt_http (port, req->str, NULL);
  assert_json_error (r, 431, "header_too_large");

  /* A head that never ends, sent in small pieces: 431 as soon as the
   * limit is crossed, not when the client stops. */
  {
    int fd = wwt_connect (port);

    send (fd, "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL);
    for (guint i = 0; i < 300; i++)
      if (send (fd, "X-A: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n",
                78, MSG_NOSIGNAL) < 0)
        break;
    r2 = wwt_read_response (fd, FALSE);
    close (fd);
    assert_json_error (r2, 431, "header_too_large");
  }
  g_string_free (req, TRUE);

  g_assert_true (wwt_send (bystander, WW_OPCODE_TEXT, "hi", 2));
  {
    g_autoptr(GByteArray) m = wwt_recv_message (bystander, NULL);

    g_assert_nonnull (m);
    g_assert_cmpmem (m->data, m->len, "hi", 2);
  }
  ww_server_get_counters (server, &counters);
  g_assert_cmpuint (counters.handshake_failures, >=, 2);
  wwt_server_free (server);
}

static void
test_http_resource (void)
{
  WwServer *server;
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  guint16 port;
  g_autofree char *page = NULL, *again = NULL, *missing = NULL, *head = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *req = NULL;
  const char *e;

  config->own_thread = TRUE;
  config->port = 0;
  server = ww_server_new (config);
  ww_server_add_resource_route (server, "/", "/io/github/wirewatch/Wirewatch/web",
                                "default-src 'self'");
  g_assert_true (ww_server_start (server, NULL));
  port = ww_server_get_port (server);

  page = wwt_http (port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  g_assert_cmpuint (wwt_response_status (page), ==, 200);
  g_assert_nonnull (strstr (page, "Content-Type: text/html; charset=utf-8"));
  g_assert_nonnull (strstr (page, "Cache-Control: no-cache"));
  g_assert_nonnull (strstr (page, "Content-Security-Policy: default-src 'self'"));
  g_assert_nonnull (strstr (wwt_response_body (page), "<"));
  e = strstr (page, "ETag: ");
  g_assert_nonnull (e);
  etag = g_strndup (e + 6, strcspn (e + 6, "\r"));

  req = g_strdup_printf ("GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n"
                         "Connection: close\r\n\r\n", etag);
  again = wwt_http (port, req, NULL);
  g_assert_cmpuint (wwt_response_status (again), ==, 304);
  g_assert_cmpstr (wwt_response_body (again), ==, "");

  head = wwt_http (port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  g_assert_cmpuint (wwt_response_status (head), ==, 200);
  g_assert_cmpstr (wwt_response_body (head), ==, "");

  missing = wwt_http (port, "GET /no-such.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);
  assert_json_error (missing, 404, "not_found");

  /* Exact routes still win over the "/" prefix. */
  {
    g_autofree char *ok = wwt_http (port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL);

    g_assert_cmpstr (wwt_response_body (ok), ==, "ok\n");
  }
  wwt_server_free (server);
}

/* ---- WebSocket ------------------------------------------------------------- */

static void
echo_roundtrip (WwtClient *c, guint8 opcode, gsize len)
{
  g_autofree guint8 *data = g_malloc (len + 1);
  g_autoptr(GByteArray) m = NULL;
  guint8 op = 0;

  for (gsize i = 0; i < len; i++)
    data[i] = opcode == WW_OPCODE_TEXT ? (guint8) ('a' + i % 26) : (guint8) (i * 31 + 7);
  g_assert_true (wwt_send (c, opcode, data, len));
  m = wwt_recv_message (c, &op);
  g_assert_nonnull (m);
  g_assert_cmpuint (op, ==, opcode);
  g_assert_cmpuint (m->len, ==, len);
  g_assert_true (len == 0 || memcmp (m->data, data, len) == 0);
}

static void
test_ws_echo_sizes (void)
{
  WwServer *server = wwt_server_new (NULL);
  g_autoptr(WwtClient) c = wwt_client_new (ww_server_get_port (server), "/echo");
  const gsize sizes[] = { 0, 1, 125, 126, 127, 65535, 65536, 65537, 200000, 1 << 20,
                          16 * 1024 * 1024 };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      echo_roundtrip (c, WW_OPCODE_TEXT, sizes[i]);
      echo_roundtrip (c, WW_OPCODE_BINARY, sizes[i]);
    }
  /* One byte over the /echo limit: 1009, decided from the header. */
  {
    guint8 hdr[14] = { 0x82, 0x80 | 127 };
    guint64 len = 16 * 1024 * 1024 + 1;

    for (int i = 0; i < 8; i++)
      hdr[2 + i] = (guint8) (len >> (8 * (7 - i)));
    g_assert_true (wwt_send_bytes (c, hdr, sizeof hdr));
    g_assert_cmpint (wwt_recv_close (c), ==, WW_CLOSE_MESSAGE_TOO_BIG);
    g_assert_true (wwt_wait_eof (c, 3000));
  }
  assert_echo_works (ww_server_get_port (server));
  wwt_server_free (server);
}

static void
test_ws_fragments_and_pings (void)
{
  WwServer *server = wwt_server_new (NULL);
  g_autoptr(WwtClient) c = wwt_client_new (ww_server_get_port (server), "/echo");
  WwtEvent ev;
  g_autoptr(GByteArray) m = NULL;
  guint8 op = 0;

  /* A ping is answered with the same payload. */
  g_assert_true (wwt_send (c, WW_OPCODE_PING, "are you there", 13));
  g_assert_true (wwt_recv (c, &ev));
  g_assert_cmpuint (ev.opcode, ==, WW_OPCODE_PONG);
  g_assert_cmpmem (ev.data->data, ev.data->len, "are you there", 13);
  wwt_event_clear (&ev);

  /* Three fragments with a ping between them (§5.4): pong first, then
   * the whole message. */
  g_assert_true (wwt_send_raw (c, WW_OPCODE_TEXT, "Hello, ", 7, 0));
  g_assert_true (wwt_send_raw (c, 0x80 | WW_OPCODE_PING, "p", 1, 0));
  g_assert_true (wwt_send_raw (c, WW_OPCODE_CONTINUATION, "frag", 4, 1));
  g_assert_true (wwt_send_raw (c, 0x80 | WW_OPCODE_CONTINUATION, "ments!", 6, 0));
  g_assert_true (wwt_recv (c, &ev));
  g_assert_cmpuint (ev.opcode, ==, WW_OPCODE_PONG);
  wwt_event_clear (&ev);
  m = wwt_recv_message (c, &op);
  g_assert_nonnull (m);
  g_assert_cmpuint (op, ==, WW_OPCODE_TEXT);
  g_assert_cmpmem (m->data, m->len, "Hello, fragments!", 17);

  /* Close: echoed with the same code, then the server closes TCP. */
  {
    guint8 payload[] = { 0x03, 0xe8, 'b', 'y', 'e' };

    g_assert_true (wwt_send (c, WW_OPCODE_CLOSE, payload, sizeof payload));
    g_assert_cmpint (wwt_recv_close (c), ==, 1000);
    g_assert_true (wwt_wait_eof (c, 3000));
  }
  {
    g_autoptr(WwtClient) c2 = wwt_client_new (ww_server_get_port (server), "/echo");

    /* An empty close is answered with 1000. */
    g_assert_true (wwt_send (c2, WW_OPCODE_CLOSE, NULL, 0));
    g_assert_cmpint (wwt_recv_close (c2), ==, 1000);
    g_assert_true (wwt_wait_eof (c2, 3000));
  }
  {
    g_autoptr(WwtClient) c3 = wwt_client_new (ww_server_get_port (server), "/echo");
    guint8 payload[] = { 0x0f, 0xa0 }; /* 4000: application code */

    g_assert_true (wwt_send (c3, WW_OPCODE_CLOSE, payload, sizeof payload));
    g_assert_cmpint (wwt_recv_close (c3), ==, 4000);
  }
  wwt_server_free (server);
}

static void
test_ws_bad_input_isolated (void)
{
  WwServer *server = wwt_server_new (NULL);
  guint16 port = ww_server_get_port (server);
  g_autoptr(WwtClient) good = wwt_client_new (port, "/echo");
  struct { guint8 b0; const char *payload; gsize len; int code; } cases[] = {
    { 0x83, "x", 1, WW_CLOSE_PROTOCOL_ERROR },          /* reserved opcode */
    { 0xC1, "x", 1, WW_CLOSE_PROTOCOL_ERROR },          /* RSV1 without an extension */
    { 0x81, "\xc3\x28", 2, WW_CLOSE_INVALID_PAYLOAD },  /* bad UTF-8 */
    { 0x80, "x", 1, WW_CLOSE_PROTOCOL_ERROR },          /* continuation without a start */
    { 0x09, "x", 1, WW_CLOSE_PROTOCOL_ERROR },          /* fragmented ping */
  };
  WwServerCounters counters;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(WwtClient) bad = wwt_client_new (port, "/echo");

      g_assert_true (wwt_send_raw (bad, cases[i].b0, cases[i].payload, cases[i].len, 0));
      g_assert_cmpint (wwt_recv_close (bad), ==, cases[i].code);
      g_assert_true (wwt_wait_eof (bad, 3000));

      g_assert_true (wwt_send (good, WW_OPCODE_BINARY, "ok", 2));
      {
        g_autoptr(GByteArray) m = wwt_recv_message (good, NULL);

        g_assert_nonnull (m);
        g_assert_cmpmem (m->data, m->len, "ok", 2);
      }
    }

  /* An unmasked client frame is a protocol error too (§5.1). */
  {
    g_autoptr(WwtClient) bad = wwt_client_new (port, "/echo");
    const guint8 unmasked[] = { 0x81, 0x02, 'h', 'i' };

    g_assert_true (wwt_send_bytes (bad, unmasked, sizeof unmasked));
    g_assert_cmpint (wwt_recv_close (bad), ==, WW_CLOSE_PROTOCOL_ERROR);
  }
  /* Bad handshakes: no key, wrong version, unknown path. */
  {
    g_autofree char *r1 = wwt_http (port, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                          "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", NULL);
    g_autofree char *r2 = wwt_http (port, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                          "Sec-WebSocket-Version: 8\r\n\r\n", NULL);
    g_autofree char *r3 = wwt_http (port, "GET /nowhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                          "Sec-WebSocket-Version: 13\r\n\r\n", NULL);

    g_assert_cmpuint (wwt_response_status (r1), ==, 400);
    g_assert_cmpuint (wwt_response_status (r2), ==, 426);
    g_assert_nonnull (strstr (r2, "Sec-WebSocket-Version: 13"));
    assert_json_error (r3, 404, "not_found");
  }
  ww_server_get_counters (server, &counters);
  g_assert_cmpuint (counters.handshake_failures, >=, 3);
  assert_echo_works (port);
  wwt_server_free (server);
}

/* ---- broadcast to several hundred peers -------------------------------------- */

typedef struct {
  WwEndpoint *endpoint;
  guint       n_open;
  guint       n_closed;
  guint       n_messages;
  const char *text;
} Hub;

static void
hub_opened (WwPeer *peer, gpointer data)
{
  Hub *hub = data;

  __atomic_add_fetch (&hub->n_open, 1, __ATOMIC_SEQ_CST);
}

static void
hub_closed (WwPeer *peer, guint16 code, gpointer data)
{
  Hub *hub = data;

  __atomic_add_fetch (&hub->n_closed, 1, __ATOMIC_SEQ_CST);
}

static gboolean
hub_broadcast (gpointer data)
{
  Hub *hub = data;

  for (guint i = 0; i < hub->n_messages; i++)
    {
      char text[32];
      int n = g_snprintf (text, sizeof text, "update %u", i);

      ww_endpoint_broadcast_text (hub->endpoint, text, (gsize) n);
    }
  return G_SOURCE_REMOVE;
}

static gboolean
hub_broadcast_text (gpointer data)
{
  Hub *hub = data;

  ww_endpoint_broadcast_text (hub->endpoint, hub->text, strlen (hub->text));
  return G_SOURCE_REMOVE;
}

static gboolean
hub_all_open (gpointer data)
{
  Hub *hub = data;

  return __atomic_load_n (&hub->n_open, __ATOMIC_SEQ_CST) == 300;
}

static void
test_ws_broadcast (void)
{
  const WwEndpointVTable vtable = { hub_opened, NULL, hub_closed };
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  Hub hub = { 0 };
  WwServer *server;
  WwtClient *clients[300];
  WwServerCounters counters;

  config->own_thread = TRUE;
  config->port = 0;
  server = ww_server_new (config);
  hub.endpoint = ww_server_add_endpoint (server, "/hub", 4096, &vtable, &hub, NULL);
  hub.n_messages = 100;
  g_assert_true (ww_server_start (server, NULL));

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    clients[i] = wwt_client_new (ww_server_get_port (server), "/hub");
  g_assert_true (wwt_wait_until (hub_all_open, &hub, 5000));

  ww_server_invoke (server, hub_broadcast, &hub, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      for (guint k = 0; k < hub.n_messages; k++)
        {
          g_autoptr(GByteArray) m = wwt_recv_message (clients[i], NULL);
          g_autofree char *want = g_strdup_printf ("update %u", k);

          g_assert_nonnull (m);
          g_assert_cmpmem (m->data, m->len, want, strlen (want));
        }
    }
  ww_server_get_counters (server, &counters);
  g_assert_cmpuint (counters.connections_active, ==, 300);
  g_assert_cmpuint (counters.messages_out, ==, 300 * hub.n_messages);

  /* Shutdown with everyone connected: each one gets 1001. */
  ww_server_stop (server);
  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      g_assert_cmpint (wwt_recv_close (clients[i]), ==, WW_CLOSE_GOING_AWAY);
      wwt_client_free (clients[i]);
    }
  g_assert_cmpuint (hub.n_closed, ==, 300);
  g_assert_finalize_object (server);
}

static void
test_ws_broadcast_deflate (void)
{
  const WwEndpointVTable vtable = { hub_opened, NULL, hub_closed };
  const char *offer[] = { "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", NULL };
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  g_autoptr(GString) text = g_string_new (NULL);
  Hub hub = { 0 };
  WwServer *server;
  WwtClient *zipped[3], *plain;
  g_autoptr(GByteArray) first_wire = NULL;

  config->own_thread = TRUE;
  config->port = 0;
  config->deflate = TRUE;
  server = ww_server_new (config);
  hub.endpoint = ww_server_add_endpoint (server, "/hub", 1 << 20, &vtable, &hub, NULL);
  hub.n_messages = 1;
  g_assert_true (ww_server_start (server, NULL));

  for (guint i = 0; i < G_N_ELEMENTS (zipped); i++)
    {
      g_autofree char *response = NULL;
      guint status = 0;

      zipped[i] = wwt_client_try_new (ww_server_get_port (server), "/hub", offer, &status, &response);
      g_assert_nonnull (zipped[i]);
      g_assert_nonnull (strstr (response, "Sec-WebSocket-Extensions: permessage-deflate"));
      g_assert_nonnull (strstr (response, "server_no_context_takeover"));
    }
  plain = wwt_client_new (ww_server_get_port (server), "/hub");
  while (__atomic_load_n (&hub.n_open, __ATOMIC_SEQ_CST) < 4)
    g_usleep (1000);

  ww_server_invoke (server, hub_broadcast, &hub, NULL);
  g_string_append (text, "update 0");
  {
    g_autoptr(GByteArray) m = wwt_recv_message (plain, NULL);

    g_assert_nonnull (m);
    g_assert_cmpmem (m->data, m->len, text->str, text->len);
  }
  for (guint i = 0; i < G_N_ELEMENTS (zipped); i++)
    {
      g_autoptr(GByteArray) m = wwt_recv_message (zipped[i], NULL);

      /* "update 0" is under the 64-byte threshold: sent plain. */
      g_assert_nonnull (m);
      g_assert_cmpmem (m->data, m->len, text->str, text->len);
    }

  /* A long text is compressed once and the same bytes go to everyone. */
  {
    WwDeflateParams params = { FALSE, FALSE, 15, 15 };
    g_autoptr(WwDeflate) inflater = NULL;
    gsize n = 0;

    params.server_no_context_takeover = TRUE;
    inflater = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);
    for (guint k = 0; k < 200; k++)
      g_string_append (text, " and again the same words");
    hub.text = text->str;
    ww_server_invoke (server, hub_broadcast_text, &hub, NULL);
    for (guint i = 0; i < G_N_ELEMENTS (zipped); i++)
      {
        WwtEvent ev;
        g_autoptr(GBytes) plain_bytes = NULL;

        g_assert_true (wwt_recv (zipped[i], &ev));
        g_assert_cmpuint (ev.opcode, ==, WW_OPCODE_TEXT);
        g_assert_true (ev.compressed);
        g_assert_cmpuint (ev.data->len, <, text->len / 4);
        if (first_wire == NULL)
          first_wire = g_byte_array_ref (ev.data);
        else
          g_assert_cmpmem (ev.data->data, ev.data->len, first_wire->data, first_wire->len);
        plain_bytes = ww_deflate_inflate (inflater, ev.data->data, ev.data->len, NULL);
        g_assert_nonnull (plain_bytes);
        g_assert_cmpmem (g_bytes_get_data (plain_bytes, &n), g_bytes_get_size (plain_bytes),
                         text->str, text->len);
        wwt_event_clear (&ev);
      }
    {
      g_autoptr(GByteArray) m = wwt_recv_message (plain, NULL);

      g_assert_nonnull (m);
      g_assert_cmpmem (m->data, m->len, text->str, text->len);
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (zipped); i++)
    wwt_client_free (zipped[i]);
  wwt_client_free (plain);
  wwt_server_free (server);
}

/* ---- limits ---------------------------------------------------------------------- */

static void
test_limits_connections (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  guint16 port;
  guint status = 0;
  g_autofree char *response = NULL;
  WwtClient *a, *b, *c;

  config->max_connections = 2;
  server = wwt_server_new (config);
  port = ww_server_get_port (server);
  a = wwt_client_new (port, "/echo");
  b = wwt_client_new (port, "/echo");
  c = wwt_client_try_new (port, "/echo", NULL, &status, &response);
  g_assert_null (c);
  g_assert_cmpuint (status, ==, 503);
  assert_json_error (response, 503, "too_many_connections");

  /* The two that are in still work; after one leaves, a new one gets in. */
  echo_roundtrip (a, WW_OPCODE_TEXT, 10);
  wwt_client_free (a);
  for (guint i = 0; i < 100; i++)
    {
      c = wwt_client_try_new (port, "/echo", NULL, &status, NULL);
      if (c)
        break;
      g_usleep (10000);
    }
  g_assert_nonnull (c);
  echo_roundtrip (b, WW_OPCODE_TEXT, 10);
  wwt_client_free (b);
  wwt_client_free (c);
  wwt_server_free (server);

  /* Per address. */
  ww_server_config_free (config);
  config = ww_server_config_new ();
  config->max_per_address = 1;
  server = wwt_server_new (config);
  port = ww_server_get_port (server);
  a = wwt_client_new (port, "/echo");
  g_clear_pointer (&response, g_free);
  b = wwt_client_try_new (port, "/echo", NULL, &status, &response);
  g_assert_null (b);
  assert_json_error (response, 503, "too_many_connections");
  echo_roundtrip (a, WW_OPCODE_BINARY, 3);
  wwt_client_free (a);
  wwt_server_free (server);
}

static void
test_limits_handshake_rate (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  guint ok = 0, refused = 0;

  config->handshakes_per_second_per_address = 5;
  server = wwt_server_new (config);
  for (guint i = 0; i < 12; i++)
    {
      guint status = 0;
      g_autofree char *response = NULL;
      WwtClient *c = wwt_client_try_new (ww_server_get_port (server), "/echo", NULL,
                                         &status, &response);

      if (c)
        ok++;
      else
        {
          assert_json_error (response, 429, "too_many_handshakes");
          refused++;
        }
      wwt_client_free (c);
    }
  /* A burst of one second's worth passes, the rest is refused. */
  g_assert_cmpuint (ok, >=, 5);
  g_assert_cmpuint (refused, >=, 1);
  g_assert_cmpuint (refused, ==, 12 - ok);
  /* The bucket refills. */
  g_usleep (1100 * 1000);
  assert_echo_works (ww_server_get_port (server));
  wwt_server_free (server);
}

static void
test_limits_handshake_timeout (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  WwtClient idle = { 0 };
  WwServerCounters counters;
  gint64 start;

  config->handshake_timeout_ms = 200;
  server = wwt_server_new (config);
  idle.fd = wwt_connect (ww_server_get_port (server));
  send (idle.fd, "GET /echo HTTP/1.1\r\n", 20, MSG_NOSIGNAL);
  start = g_get_monotonic_time ();
  g_assert_true (wwt_wait_eof (&idle, 3000));
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 150 * 1000);
  close (idle.fd);
  ww_server_get_counters (server, &counters);
  g_assert_cmpuint (counters.handshake_failures, ==, 1);
  assert_echo_works (ww_server_get_port (server));
  wwt_server_free (server);
}

static void
test_limits_rate (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  WwServerCounters counters;

  config->rate_limit = 20;
  server = wwt_server_new (config);
  {
    g_autoptr(WwtClient) c = wwt_client_new (ww_server_get_port (server), "/echo");

    for (guint i = 0; i < 200; i++)
      if (!wwt_send (c, WW_OPCODE_TEXT, "spam", 4))
        break;
    g_assert_cmpint (wwt_recv_close (c), ==, WW_CLOSE_POLICY_VIOLATION);
  }
  ww_server_get_counters (server, &counters);
  g_assert_cmpuint (counters.rate_limit_closes, ==, 1);
  /* A well-behaved client is not affected. */
  {
    g_autoptr(WwtClient) c = wwt_client_new (ww_server_get_port (server), "/echo");

    for (guint i = 0; i < 5; i++)
      echo_roundtrip (c, WW_OPCODE_TEXT, 8);
  }
  wwt_server_free (server);
}

typedef struct {
  WwEndpoint *endpoint;
  guint       rounds;
} Flood;

static gboolean
flood_cb (gpointer data)
{
  Flood *flood = data;
  g_autofree char *chunk = g_malloc0 (32 * 1024);

  for (guint i = 0; i < flood->rounds; i++)
    ww_endpoint_broadcast_text (flood->endpoint, chunk, 32 * 1024);
  return G_SOURCE_REMOVE;
}

static gboolean
backpressure_counted (gpointer data)
{
  WwServerCounters counters;

  ww_server_get_counters (data, &counters);
  return counters.backpressure_closes == 1;
}

static void
test_limits_send_queue (void)
{
  const WwEndpointVTable vtable = { hub_opened, NULL, hub_closed };
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  Hub hub = { 0 };
  Flood flood = { 0 };
  WwServer *server;
  WwtClient *slow;
  int small = 4096;
  int code = 0;

  config->own_thread = TRUE;
  config->port = 0;
  config->max_queue_bytes = 256 * 1024;
  server = ww_server_new (config);
  flood.endpoint = ww_server_add_endpoint (server, "/flood", 4096, &vtable, &hub, NULL);
  flood.rounds = 2048; /* 64 MiB offered to a reader that reads nothing */
  g_assert_true (ww_server_start (server, NULL));

  slow = wwt_client_new (ww_server_get_port (server), "/flood");
  setsockopt (slow->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ww_server_invoke (server, flood_cb, &flood, NULL);
  g_assert_true (wwt_wait_until (backpressure_counted, server, 5000));

  /* Draining now finds the 1008 close behind the messages that fit. */
  for (guint i = 0; i < 10000 && code == 0; i++)
    {
      WwtEvent ev;

      if (!wwt_recv (slow, &ev))
        {
          code = -1;
          break;
        }
      if (ev.opcode == WW_OPCODE_CLOSE)
        code = ev.close_code;
      wwt_event_clear (&ev);
    }
  g_assert_cmpint (code, ==, WW_CLOSE_POLICY_VIOLATION);
  wwt_client_free (slow);
  assert_echo_works (ww_server_get_port (server));
  wwt_server_free (server);
}

static void
test_limits_http_pipeline_flood (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  WwtClient flood = { 0 };
  WwServerCounters counters;
  int small = 4096;
  const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  gsize sent = 0;

  config->max_queue_bytes = 64 * 1024;
  server = wwt_server_new (config);
  flood.fd = wwt_connect (ww_server_get_port (server));
  setsockopt (flood.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  /* Thousands of pipelined requests, none of the answers read. */
  for (guint i = 0; i < 20000; i++)
    {
      gssize n = send (flood.fd, req, strlen (req), MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n <= 0)
        break;
      sent += (gsize) n;
    }
  g_assert_cmpuint (sent, >, 0);
  g_assert_true (wwt_wait_eof (&flood, 5000));
  close (flood.fd);
  ww_server_get_counters (server, &counters);
  g_assert_cmpuint (counters.backpressure_closes, ==, 1);
  assert_echo_works (ww_server_get_port (server));
  wwt_server_free (server);
}

static void
test_limits_out_of_fds (void)
{
  WwServer *server = wwt_server_new (NULL);
  guint16 port = ww_server_get_port (server);
  struct rlimit saved, low;
  GArray *fds = g_array_new (FALSE, FALSE, sizeof (int));

  /* The I/O thread is up and GLib has made its contexts (each needs an
   * fd) before the limit is lowered. */
  g_main_context_default ();
  assert_echo_works (port);

  /* Leave room for a few connections only: the server's accept() hits
   * EMFILE, pauses instead of spinning, and recovers once fds return. */
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  low = saved;
  low.rlim_cur = wwt_count_fds () + 9;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &low), ==, 0);
  for (guint i = 0; i < 64; i++)
    {
      int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_in sa = { 0 };

      if (fd < 0)
        break;
      sa.sin_family = AF_INET;
      sa.sin_port = htons (port);
      sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      if (connect (fd, (struct sockaddr *) &sa, sizeof sa) != 0)
        {
          close (fd);
          break;
        }
      g_array_append_val (fds, fd);
    }
  g_usleep (300 * 1000);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  for (guint i = 0; i < fds->len; i++)
    close (g_array_index (fds, int, i));
  g_array_unref (fds);

  assert_echo_works (port);
  wwt_server_free (server);
}

/* ---- heartbeat ---------------------------------------------------------------- */

static gboolean
heartbeat_timeout_counted (gpointer data)
{
  WwServerCounters counters;

  ww_server_get_counters (data, &counters);
  return counters.heartbeat_timeouts == 1;
}

static void
test_heartbeat (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  g_autoptr(WwtClient) silent = NULL;
  g_autoptr(WwtClient) lively = NULL;
  g_autoptr(GPtrArray) infos = NULL;
  g_autoptr(WwHistogram) latency = NULL;
  gint64 end;
  guint pings = 0;

  config->heartbeat_ms = 100;
  server = wwt_server_new (config);
  silent = wwt_client_new (ww_server_get_port (server), "/echo");
  lively = wwt_client_new (ww_server_get_port (server), "/echo");

  /* The lively one answers every ping for a while. */
  end = g_get_monotonic_time () + 600 * 1000;
  while (g_get_monotonic_time () < end)
    {
      WwtEvent ev;

      g_assert_true (wwt_recv (lively, &ev));
      if (ev.opcode == WW_OPCODE_PING)
        {
          pings++;
          g_assert_true (wwt_send (lively, WW_OPCODE_PONG, ev.data->data, ev.data->len));
        }
      wwt_event_clear (&ev);
    }
  g_assert_cmpuint (pings, >=, 3);

  /* The silent one was dropped after two unanswered pings, without a
   * close frame: the pings are all it ever got. */
  g_assert_true (wwt_wait_until (heartbeat_timeout_counted, server, 3000));
  {
    WwtEvent ev;
    guint seen = 0;

    while (wwt_recv (silent, &ev))
      {
        g_assert_cmpuint (ev.opcode, ==, WW_OPCODE_PING);
        seen++;
        wwt_event_clear (&ev);
      }
    g_assert_cmpuint (seen, ==, 2);
  }

  infos = ww_server_dup_peer_infos (server);
  g_assert_cmpuint (infos->len, ==, 1);
  {
    WwPeerInfo *info = infos->pdata[0];

    g_assert_cmpint (info->last_rtt_us, >=, 0);
    g_assert_cmpstr (info->address, ==, "127.0.0.1");
    g_assert_cmpstr (info->path, ==, "/echo");
    g_assert_cmpuint (info->frames_in, >=, 3);
  }
  latency = ww_server_dup_latency (server);
  g_assert_cmpuint (ww_histogram_count (latency), >=, 3);
  wwt_server_free (server);
}

static void
test_idle_timeout (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  g_autoptr(WwtClient) quiet = NULL;
  g_autoptr(WwtClient) chatty = NULL;
  gint64 start = g_get_monotonic_time ();

  config->heartbeat_ms = 0;
  config->idle_timeout_ms = 600;
  server = wwt_server_new (config);
  quiet = wwt_client_new (ww_server_get_port (server), "/echo");
  chatty = wwt_client_new (ww_server_get_port (server), "/echo");
  /* The chatty one keeps talking past the limit and stays. */
  for (guint i = 0; i < 16; i++)
    {
      echo_roundtrip (chatty, WW_OPCODE_TEXT, 4);
      g_usleep (50 * 1000);
    }
  g_assert_cmpint (wwt_recv_close (quiet), ==, WW_CLOSE_GOING_AWAY);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 550 * 1000);
  echo_roundtrip (chatty, WW_OPCODE_TEXT, 4);
  wwt_server_free (server);
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void
test_lifecycle_restart (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  guint16 first;
  g_autoptr(WwtClient) c = NULL;
  g_autoptr(GError) error = NULL;

  server = wwt_server_new (NULL);
  first = ww_server_get_port (server);
  c = wwt_client_new (first, "/echo");
  echo_roundtrip (c, WW_OPCODE_TEXT, 5);

  /* Starting twice is an error, not a second listener. */
  g_assert_false (ww_server_start (server, &error));
  g_assert_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_ALREADY_RUNNING);
  g_clear_error (&error);

  ww_server_stop (server);
  g_assert_false (ww_server_is_running (server));
  g_assert_cmpint (wwt_recv_close (c), ==, WW_CLOSE_GOING_AWAY);
  g_assert_true (wwt_wait_eof (c, 3000));
  g_assert_cmpint (wwt_connect (first), <, 0);

  config->own_thread = TRUE;
  config->port = 0;
  ww_server_set_config (server, config);
  g_assert_true (ww_server_start (server, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ww_server_get_port (server), !=, 0);
  assert_echo_works (ww_server_get_port (server));
  {
    g_autofree char *url = ww_server_dup_url (server, "/ws");
    g_autofree char *want = g_strdup_printf ("ws://127.0.0.1:%u/ws", ww_server_get_port (server));

    g_assert_cmpstr (url, ==, want);
  }
  wwt_server_free (server);
}

static void
test_lifecycle_no_fd_leak (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  guint before, after;

  config->own_thread = TRUE;
  config->port = 0;
  /* The test client does not answer the 1001: do not wait a second. */
  config->close_timeout_ms = 50;
  server = ww_server_new (config);
  /* Warm up once: GLib opens its own wakeup fds lazily. */
  g_assert_true (ww_server_start (server, NULL));
  ww_server_stop (server);
  before = wwt_count_fds ();
  for (guint i = 0; i < 20; i++)
    {
      g_autoptr(WwtClient) c = NULL;

      g_assert_true (ww_server_start (server, NULL));
      c = wwt_client_new (ww_server_get_port (server), "/echo");
      echo_roundtrip (c, WW_OPCODE_BINARY, 100);
      if (i % 2)
        {
          int idle = wwt_connect (ww_server_get_port (server));

          ww_server_stop (server);
          close (idle);
        }
      else
        ww_server_stop (server);
    }
  after = wwt_count_fds ();
  g_assert_cmpuint (after, ==, before);
  g_assert_finalize_object (server);
}

static void
test_lifecycle_port_attempts (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  g_autoptr(GError) error = NULL;
  WwServer *holder, *server;
  guint16 taken;

  holder = wwt_server_new (NULL);
  taken = ww_server_get_port (holder);

  config->own_thread = TRUE;
  config->port = taken;
  config->port_attempts = 1;
  server = ww_server_new (config);
  g_assert_false (ww_server_start (server, &error));
  g_assert_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_ADDRESS_IN_USE);
  g_clear_error (&error);

  config->port_attempts = 10;
  ww_server_set_config (server, config);
  g_assert_true (ww_server_start (server, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ww_server_get_port (server), >, taken);
  g_assert_cmpuint (ww_server_get_port (server), <, taken + 10);
  assert_echo_works (ww_server_get_port (server));
  wwt_server_free (server);
  wwt_server_free (holder);

  /* Bad addresses are reported as such. */
  config->bind_address = (g_free (config->bind_address), g_strdup ("not-an-address"));
  config->port = 0;
  server = ww_server_new (config);
  g_assert_false (ww_server_start (server, &error));
  g_assert_error (error, WW_SERVER_ERROR, WW_SERVER_ERROR_BAD_ADDRESS);
  g_assert_finalize_object (server);
}

static void
test_lifecycle_ipv6 (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  g_autoptr(GError) error = NULL;
  WwServer *server;
  struct sockaddr_in6 sa = { 0 };
  int fd;
  g_autofree char *url = NULL;

  config->own_thread = TRUE;
  config->port = 0;
  config->bind_address = (g_free (config->bind_address), g_strdup ("::1"));
  server = ww_server_new (config);
  if (!ww_server_start (server, &error))
    {
      g_test_skip ("no IPv6 loopback here");
      g_assert_finalize_object (server);
      return;
    }
  url = ww_server_dup_url (server, "/");
  g_assert_true (g_str_has_prefix (url, "ws://[::1]:"));
  fd = socket (AF_INET6, SOCK_STREAM, 0);
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons (ww_server_get_port (server));
  sa.sin6_addr = in6addr_loopback;
  g_assert_cmpint (connect (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  {
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    g_autofree char *r = NULL;

    g_assert_cmpint (send (fd, req, strlen (req), MSG_NOSIGNAL), >, 0);
    r = wwt_read_response (fd, FALSE);
    g_assert_cmpuint (wwt_response_status (r), ==, 200);
  }
  close (fd);
  wwt_server_free (server);
}

static gboolean
count_tick (gpointer data)
{
  __atomic_add_fetch ((guint *) data, 1, __ATOMIC_SEQ_CST);
  return G_SOURCE_CONTINUE;
}

static gboolean
ticked (gpointer data)
{
  return __atomic_load_n ((guint *) data, __ATOMIC_SEQ_CST) > 0;
}

static void
test_lifecycle_context_before_start (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;
  GMainContext *context;
  GSource *timer;
  guint ticks = 0;

  /* What the feed does: attach its timers to the I/O context before the
   * server starts; they must run once it does, and again after a restart. */
  config->own_thread = TRUE;
  config->port = 0;
  server = ww_server_new (config);
  context = ww_server_get_context (server);
  g_assert_true (context != g_main_context_default ());
  timer = g_timeout_source_new (5);
  g_source_set_callback (timer, count_tick, &ticks, NULL);
  g_source_attach (timer, context);

  g_assert_true (ww_server_start (server, NULL));
  g_assert_true (ww_server_get_context (server) == context);
  g_assert_true (wwt_wait_until (ticked, &ticks, 3000));
  ww_server_stop (server);

  __atomic_store_n (&ticks, 0, __ATOMIC_SEQ_CST);
  g_assert_true (ww_server_start (server, NULL));
  g_assert_true (ww_server_get_context (server) == context);
  g_assert_true (wwt_wait_until (ticked, &ticks, 3000));
  ww_server_stop (server);

  g_source_destroy (timer);
  g_source_unref (timer);
  g_assert_finalize_object (server);
}

static void
test_kick (void)
{
  WwServer *server = wwt_server_new (NULL);
  g_autoptr(WwtClient) a = wwt_client_new (ww_server_get_port (server), "/echo");
  g_autoptr(WwtClient) b = wwt_client_new (ww_server_get_port (server), "/echo");
  g_autoptr(GPtrArray) infos = NULL;
  guint64 id;

  echo_roundtrip (a, WW_OPCODE_TEXT, 3);
  infos = ww_server_dup_peer_infos (server);
  g_assert_cmpuint (infos->len, ==, 2);
  id = ((WwPeerInfo *) infos->pdata[0])->id;
  g_assert_cmpuint (id, !=, ((WwPeerInfo *) infos->pdata[1])->id);
  ww_server_kick (server, id, 4001, "bye");
  {
    WwtClient *kicked = ((WwPeerInfo *) infos->pdata[0])->messages_in ? a : b;
    WwtClient *other = kicked == a ? b : a;

    g_assert_cmpint (wwt_recv_close (kicked), ==, 4001);
    echo_roundtrip (other, WW_OPCODE_TEXT, 4);
  }
  wwt_server_free (server);
}

/* ---- libsoup as a client ---------------------------------------------------- */

typedef struct {
  SoupWebsocketConnection *conn;
  GError                  *error;
  GBytes                  *received;
  gint                     received_type;
  gboolean                 closed;
} SoupRun;

static void
soup_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  SoupRun *run = data;

  run->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &run->error);
}

static void
soup_message_cb (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer data)
{
  SoupRun *run = data;

  g_clear_pointer (&run->received, g_bytes_unref);
  run->received = g_bytes_ref (message);
  run->received_type = type;
}

static void
soup_closed_cb (SoupWebsocketConnection *conn, gpointer data)
{
  ((SoupRun *) data)->closed = TRUE;
}

static void
iterate_until (gboolean *flag, gpointer *ptr, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (!(flag && *flag) && !(ptr && *ptr) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE), g_usleep (1000);
}

static void
test_libsoup_client (void)
{
  WwServer *server = wwt_server_new (NULL);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *url = ww_server_dup_url (server, "/echo");
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autofree guint8 *big = g_malloc (300 * 1024);
  SoupRun run = { 0 };

  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        soup_connected, &run);
  iterate_until (NULL, (gpointer *) &run.conn, 5000);
  if (run.conn == NULL)
    iterate_until (NULL, (gpointer *) &run.error, 100);
  g_assert_no_error (run.error);
  g_assert_nonnull (run.conn);
  soup_websocket_connection_set_max_incoming_payload_size (run.conn, 1024 * 1024);
  g_signal_connect (run.conn, "message", G_CALLBACK (soup_message_cb), &run);
  g_signal_connect (run.conn, "closed", G_CALLBACK (soup_closed_cb), &run);

  soup_websocket_connection_send_text (run.conn, "from libsoup");
  iterate_until (NULL, (gpointer *) &run.received, 5000);
  g_assert_nonnull (run.received);
  g_assert_cmpint (run.received_type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  g_assert_cmpmem (g_bytes_get_data (run.received, NULL), g_bytes_get_size (run.received),
                   "from libsoup", 12);
  g_clear_pointer (&run.received, g_bytes_unref);

  for (gsize i = 0; i < 300 * 1024; i++)
    big[i] = (guint8) (i ^ (i >> 8));
  soup_websocket_connection_send_binary (run.conn, big, 300 * 1024);
  iterate_until (NULL, (gpointer *) &run.received, 5000);
  g_assert_nonnull (run.received);
  g_assert_cmpint (run.received_type, ==, SOUP_WEBSOCKET_DATA_BINARY);
  g_assert_cmpmem (g_bytes_get_data (run.received, NULL), g_bytes_get_size (run.received),
                   big, 300 * 1024);

  soup_websocket_connection_close (run.conn, 1000, "done");
  iterate_until (&run.closed, NULL, 5000);
  g_assert_true (run.closed);
  g_assert_cmpuint (soup_websocket_connection_get_close_code (run.conn), ==, 1000);

  g_clear_pointer (&run.received, g_bytes_unref);
  g_clear_object (&run.conn);
  wwt_server_free (server);
}

/* ---- headless mode in-process: the caller's context -------------------------- */

static void
test_headless_context (void)
{
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  WwServer *server;

  config->own_thread = FALSE;
  config->port = 0;
  server = ww_server_new (config);
  g_assert_true (ww_server_start (server, NULL));
  g_assert_true (ww_server_get_context (server) == g_main_context_default ());

  /* This thread is both the client (non-blocking reads) and the server
   * (iterating the default context in between). */
  {
    int fd = wwt_connect (ww_server_get_port (server));
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    GString *out = g_string_new (NULL);
    gint64 end = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;

    send (fd, req, strlen (req), MSG_NOSIGNAL);
    while (g_get_monotonic_time () < end)
      {
        char buf[1024];
        gssize n;

        g_main_context_iteration (NULL, FALSE);
        n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
          g_string_append_len (out, buf, n);
        else if (n == 0)
          break;
        else
          g_usleep (1000);
      }
    close (fd);
    g_assert_cmpuint (wwt_response_status (out->str), ==, 200);
    g_string_free (out, TRUE);
  }
  ww_server_stop (server);
  g_assert_finalize_object (server);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/server/http/routes", test_http_routes);
  g_test_add_func ("/server/http/keep-alive", test_http_keep_alive);
  g_test_add_func ("/server/http/header-too-large", test_http_header_too_large);
  g_test_add_func ("/server/http/resource", test_http_resource);
  g_test_add_func ("/server/ws/echo-sizes", test_ws_echo_sizes);
  g_test_add_func ("/server/ws/fragments-pings-close", test_ws_fragments_and_pings);
  g_test_add_func ("/server/ws/bad-input-isolated", test_ws_bad_input_isolated);
  g_test_add_func ("/server/ws/broadcast-300", test_ws_broadcast);
  g_test_add_func ("/server/ws/kick", test_kick);
  g_test_add_func ("/server/ws/broadcast-deflate", test_ws_broadcast_deflate);
  g_test_add_func ("/server/limits/connections", test_limits_connections);
  g_test_add_func ("/server/limits/handshake-timeout", test_limits_handshake_timeout);
  g_test_add_func ("/server/limits/handshake-rate", test_limits_handshake_rate);
  g_test_add_func ("/server/limits/rate", test_limits_rate);
  g_test_add_func ("/server/limits/send-queue", test_limits_send_queue);
  g_test_add_func ("/server/limits/http-pipeline-flood", test_limits_http_pipeline_flood);
  g_test_add_func ("/server/limits/out-of-fds", test_limits_out_of_fds);
  g_test_add_func ("/server/heartbeat", test_heartbeat);
  g_test_add_func ("/server/idle-timeout", test_idle_timeout);
  g_test_add_func ("/server/lifecycle/restart", test_lifecycle_restart);
  g_test_add_func ("/server/lifecycle/no-fd-leak", test_lifecycle_no_fd_leak);
  g_test_add_func ("/server/lifecycle/port-attempts", test_lifecycle_port_attempts);
  g_test_add_func ("/server/lifecycle/ipv6", test_lifecycle_ipv6);
  g_test_add_func ("/server/lifecycle/caller-context", test_headless_context);
  g_test_add_func ("/server/lifecycle/context-before-start", test_lifecycle_context_before_start);
  g_test_add_func ("/server/libsoup-client", test_libsoup_client);

  return g_test_run ();
}
