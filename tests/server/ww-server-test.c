/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server-test"

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ww-server-test.h"
#include "protocol/ww-frame.h"
#include "protocol/ww-handshake.h"
#include "protocol/ww-http.h"
#include "protocol/ww-message-parser.h"

WwServer *
wwt_server_new (WwServerConfig *config)
{
  g_autoptr(WwServerConfig) owned = NULL;
  g_autoptr(GError) error = NULL;
  WwServer *server;

  if (config == NULL)
    config = owned = ww_server_config_new ();
  config->own_thread = TRUE;
  config->port = 0;
  /* Test clients rarely answer the 1001 of a stop: do not wait 1 s each. */
  if (config->close_timeout_ms == 1000)
    config->close_timeout_ms = 250;
  server = ww_server_new (config);
  g_assert_true (ww_server_start (server, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ww_server_get_port (server), >, 0);
  return server;
}

void
wwt_server_free (WwServer *server)
{
  ww_server_stop (server);
  g_assert_finalize_object (server);
}

static void
set_timeouts (int fd, guint ms)
{
  struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int
wwt_connect (guint16 port)
{
  struct sockaddr_in sa = { 0 };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;

  g_assert_cmpint (fd, >=, 0);
  sa.sin_family = AF_INET;
  sa.sin_port = htons (port);
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  set_timeouts (fd, WWT_IO_TIMEOUT_MS);
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static gboolean
write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      gssize n = send (fd, p, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (gsize) n;
    }
  return TRUE;
}

char *
wwt_http (guint16 port, const char *request, gsize *len)
{
  GString *out = g_string_new (NULL);
  int fd = wwt_connect (port);
  char buf[16384];

  g_assert_cmpint (fd, >=, 0);
  g_assert_true (write_all (fd, request, strlen (request)));
  for (;;)
    {
      gssize n = recv (fd, buf, sizeof buf, 0);

      if (n <= 0)
        break;
      g_string_append_len (out, buf, n);
    }
  close (fd);
  if (len)
    *len = out->len;
  return g_string_free (out, FALSE);
}

/* Reads one response; the socket must not carry anything after it. */
char *
wwt_read_response (int fd, gboolean head_only)
{
  GString *out = g_string_new (NULL);
  gssize head_end = -1;
  gsize want = 0;

  for (;;)
    {
      char c[4096];
      gssize n;
      gsize room;

      if (head_end >= 0 && out->len >= (gsize) head_end + want)
        break;
      /* Read no further than this response, so pipelined ones stay. */
      room = head_end >= 0 ? MIN (sizeof c, (gsize) head_end + want - out->len) : 1;
      n = recv (fd, c, room, 0);
      if (n <= 0)
        break;
      g_string_append_len (out, c, n);
      if (head_end < 0)
        {
          const char *e = g_strstr_len (out->str, out->len, "\r\n\r\n");

          if (e)
            {
              const char *cl;

              head_end = e - out->str + 4;
              cl = g_strstr_len (out->str, head_end, "Content-Length: ");
              want = cl && !head_only ? g_ascii_strtoull (cl + 16, NULL, 10) : 0;
            }
        }
    }
  return g_string_free (out, FALSE);
}

guint
wwt_response_status (const char *response)
{
  if (response == NULL || !g_str_has_prefix (response, "HTTP/1.1 "))
    return 0;
  return (guint) g_ascii_strtoull (response + 9, NULL, 10);
}

const char *
wwt_response_body (const char *response)
{
  const char *e = strstr (response, "\r\n\r\n");

  return e ? e + 4 : "";
}

WwtClient *
wwt_client_try_new (guint16 port, const char *path, const char * const *extra_headers,
                    guint *status, char **response)
{
  g_autofree char *key = ww_handshake_client_key_new ();
  g_autoptr(GBytes) request = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *head = NULL;
  WwParserLimits limits = { 0 };
  WwtClient *client;
  GString *in;
  int fd;

  if (status)
    *status = 0;
  fd = wwt_connect (port);
  if (fd < 0)
    return NULL;
  request = ww_handshake_client_request ("127.0.0.1", path, key, extra_headers);
  if (!write_all (fd, g_bytes_get_data (request, NULL), g_bytes_get_size (request)))
    {
      close (fd);
      return NULL;
    }

  /* Byte by byte up to the end of the head: what follows is WebSocket. */
  in = g_string_new (NULL);
  while (!g_str_has_suffix (in->str, "\r\n\r\n") && in->len < 65536)
    {
      char c;

      if (recv (fd, &c, 1, 0) != 1)
        break;
      g_string_append_c (in, c);
    }
  head = g_string_free (in, FALSE);
  if (status)
    *status = wwt_response_status (head);
  if (!ww_handshake_client_check_response (head, strlen (head), key, &error))
    {
      /* Keep the body for the caller too. */
      if (response)
        {
          const char *cl = strstr (head, "Content-Length: ");
          gsize want = cl ? g_ascii_strtoull (cl + 16, NULL, 10) : 0;
          GString *full = g_string_new (head);

          while (want > 0)
            {
              char buf[4096];
              gssize n = recv (fd, buf, MIN (want, sizeof buf), 0);

              if (n <= 0)
                break;
              g_string_append_len (full, buf, n);
              want -= (gsize) n;
            }
          *response = g_string_free (full, FALSE);
        }
      close (fd);
      return NULL;
    }
  if (response)
    *response = g_steal_pointer (&head);

  client = g_new0 (WwtClient, 1);
  client->fd = fd;
  limits.max_message = 64 * 1024 * 1024;
  limits.validate_utf8 = TRUE;
  limits.allow_rsv1 = TRUE; /* tests that offer permessage-deflate check it */
  client->parser = ww_message_parser_new (WW_ROLE_CLIENT, &limits);
  client->buf = g_malloc (65536);
  return client;
}

WwtClient *
wwt_client_new (guint16 port, const char *path)
{
  guint status = 0;
  WwtClient *client = wwt_client_try_new (port, path, NULL, &status, NULL);

  if (client == NULL)
    g_error ("WebSocket handshake on %s failed with status %u", path, status);
  return client;
}

void
wwt_client_free (WwtClient *client)
{
  if (client == NULL)
    return;
  if (client->fd >= 0)
    close (client->fd);
  ww_message_parser_free (client->parser);
  g_free (client->buf);
  g_free (client);
}

gboolean
wwt_send_raw (WwtClient *client, guint8 b0, const void *payload, gsize len, gsize chunk)
{
  guint8 *frame = g_malloc (len + 14);
  guint8 key[4];
  gsize h = 0;
  gboolean ok = TRUE;

  frame[h++] = b0;
  if (len < 126)
    frame[h++] = 0x80 | (guint8) len;
  else if (len <= 0xffff)
    {
      frame[h++] = 0x80 | 126;
      frame[h++] = (guint8) (len >> 8);
      frame[h++] = (guint8) len;
    }
  else
    {
      frame[h++] = 0x80 | 127;
      for (int i = 7; i >= 0; i--)
        frame[h++] = (guint8) ((guint64) len >> (8 * i));
    }
  ww_frame_random_mask_key (key);
  memcpy (frame + h, key, 4);
  h += 4;
  if (len)
    memcpy (frame + h, payload, len);
  ww_frame_mask (frame + h, len, key, 0);

  if (chunk == 0)
    ok = write_all (client->fd, frame, h + len);
  else
    for (gsize off = 0; ok && off < h + len; off += chunk)
      ok = write_all (client->fd, frame + off, MIN (chunk, h + len - off));
  g_free (frame);
  return ok;
}

gboolean
wwt_send (WwtClient *client, guint8 opcode, const void *payload, gsize len)
{
  return wwt_send_raw (client, 0x80 | opcode, payload, len, 0);
}

gboolean
wwt_send_bytes (WwtClient *client, const void *data, gsize len)
{
  return write_all (client->fd, data, len);
}

void
wwt_event_clear (WwtEvent *event)
{
  g_clear_pointer (&event->data, g_byte_array_unref);
}

gboolean
wwt_recv (WwtClient *client, WwtEvent *event)
{
  memset (event, 0, sizeof *event);
  for (;;)
    {
      if (client->off < client->len)
        {
          g_autoptr(GError) error = NULL;
          WwParseEvent ev = { 0 };
          gsize consumed = 0;
          WwParseResult r;

          r = ww_message_parser_feed (client->parser, client->buf + client->off,
                                      client->len - client->off, &consumed, &ev, &error);
          client->off += consumed;
          if (r == WW_PARSE_ERROR)
            {
              g_test_message ("client parse error: %s", error->message);
              return FALSE;
            }
          if (r == WW_PARSE_MESSAGE || r == WW_PARSE_CONTROL)
            {
              event->opcode = ev.opcode;
              event->compressed = ev.compressed;
              event->data = g_byte_array_sized_new ((guint) ev.len);
              g_byte_array_append (event->data, ev.data, (guint) ev.len);
              event->close_code = ev.close_code;
              return TRUE;
            }
          continue;
        }
      {
        gssize n = recv (client->fd, client->buf, 65536, 0);

        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          return FALSE;
        client->len = (gsize) n;
        client->off = 0;
      }
    }
}

GByteArray *
wwt_recv_message (WwtClient *client, guint8 *opcode)
{
  for (;;)
    {
      WwtEvent ev;

      if (!wwt_recv (client, &ev))
        return NULL;
      if (ev.opcode == WW_OPCODE_PING || ev.opcode == WW_OPCODE_PONG)
        {
          wwt_event_clear (&ev);
          continue;
        }
      if (ev.opcode == WW_OPCODE_CLOSE)
        {
          wwt_event_clear (&ev);
          return NULL;
        }
      if (opcode)
        *opcode = ev.opcode;
      return ev.data;
    }
}

int
wwt_recv_close (WwtClient *client)
{
  for (;;)
    {
      WwtEvent ev;
      int code;

      if (!wwt_recv (client, &ev))
        return -1;
      code = ev.close_code;
      if (ev.opcode == WW_OPCODE_CLOSE)
        {
          wwt_event_clear (&ev);
          return code;
        }
      wwt_event_clear (&ev);
    }
}

gboolean
wwt_wait_eof (WwtClient *client, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      struct pollfd p = { client->fd, POLLIN, 0 };
      char buf[4096];
      gssize n;

      if (poll (&p, 1, 50) <= 0)
        continue;
      n = recv (client->fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return TRUE;
    }
  return FALSE;
}

guint
wwt_count_fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *e;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((e = readdir (dir)))
    if (e->d_name[0] != '.')
      n++;
  closedir (dir);
  return n - 1;
}

gboolean
wwt_wait_until (gboolean (*cond) (gpointer), gpointer data, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (!cond (data))
    {
      if (g_get_monotonic_time () >= end)
        return cond (data);
      g_usleep (5000);
    }
  return TRUE;
}
