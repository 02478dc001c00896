/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-bench"
#define _GNU_SOURCE

/*
 * lean: the reference peer of bench/compare, "the machine's ceiling" of
 * DESIGN.md.  libc only: one thread, one epoll instance, no per-message
 * allocation, writes batched per loop iteration.
 *
 *   /echo       echoes every message (same opcode, same bytes)
 *   /ws and /   relays every text message to all feed clients as
 *               {"type":"CHAT","from":"cN","text":…,"ts":ms}
 *   /healthz    200 ok
 *
 * It is a measuring stick, not a server to deploy: it trusts its client
 * more than a real server may (no fragmented messages — those are refused
 * with 1003 —, no UTF-8 check, no origin or limits beyond frame size).
 *
 * usage: ww-lean [PORT [ADDRESS]]      (PORT 0 picks one; printed on stdout)
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK   (256 * 1024)
#define MAX_HEAD     16384
#define MAX_MESSAGE  (16 * 1024 * 1024)
#define MAX_QUEUE    (64 * 1024 * 1024)
#define MAX_EVENTS   1024

/* ------------------------------------------------------------------ */
/* SHA-1 (FIPS 180-4) and base64, for the accept key of RFC 6455 §4.2.2 */

typedef struct {
  uint32_t h[5];
  uint64_t len;
  uint8_t  block[64];
  size_t   used;
} Sha1;

static uint32_t
rol32 (uint32_t x, int n)
{
  return (x << n) | (x >> (32 - n));
}

static void
sha1_block (Sha1 *s, const uint8_t *p)
{
  uint32_t w[80], a, b, c, d, e;

  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
           (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 80; i++)
    w[i] = rol32 (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4];
  for (int i = 0; i < 80; i++)
    {
      uint32_t f, k, t;

      if (i < 20)
        f = (b & c) | (~b & d), k = 0x5A827999;
      else if (i < 40)
        f = b ^ c ^ d, k = 0x6ED9EBA1;
      else if (i < 60)
        f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
      else
        f = b ^ c ^ d, k = 0xCA62C1D6;
      t = rol32 (a, 5) + f + e + k + w[i];
      e = d; d = c; c = rol32 (b, 30); b = a; a = t;
    }
  s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}

static void
sha1_init (Sha1 *s)
{
  static const uint32_t iv[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };

  memcpy (s->h, iv, sizeof iv);
  s->len = 0;
  s->used = 0;
}

static void
sha1_update (Sha1 *s, const void *data, size_t len)
{
  const uint8_t *p = data;

  s->len += len;
  while (len > 0)
    {
      size_t take = 64 - s->used;

      if (take > len)
        take = len;
      memcpy (s->block + s->used, p, take);
      s->used += take;
      p += take;
      len -= take;
      if (s->used == 64)
        {
          sha1_block (s, s->block);
          s->used = 0;
        }
    }
}

static void
sha1_final (Sha1 *s, uint8_t out[20])
{
  uint64_t bits = s->len * 8;
  uint8_t pad = 0x80, zero = 0, lenbuf[8];

  sha1_update (s, &pad, 1);
  while (s->used != 56)
    sha1_update (s, &zero, 1);
  for (int i = 0; i < 8; i++)
    lenbuf[i] = (uint8_t) (bits >> (56 - 8 * i));
  sha1_update (s, lenbuf, 8);
  for (int i = 0; i < 5; i++)
    {
      out[4 * i] = (uint8_t) (s->h[i] >> 24);
      out[4 * i + 1] = (uint8_t) (s->h[i] >> 16);
      out[4 * i + 2] = (uint8_t) (s->h[i] >> 8);
      out[4 * i + 3] = (uint8_t) s->h[i];
    }
}

static void
base64_encode (const uint8_t *in, size_t len, char *out)
{
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;

  for (; i + 3 <= len; i += 3)
    {
      uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];

      *out++ = alphabet[v >> 18];
      *out++ = alphabet[(v >> 12) & 63];
      *out++ = alphabet[(v >> 6) & 63];
      *out++ = alphabet[v & 63];
    }
  if (len - i == 1)
    {
      uint32_t v = (uint32_t) in[i] << 16;

      *out++ = alphabet[v >> 18];
      *out++ = alphabet[(v >> 12) & 63];
      *out++ = '=';
      *out++ = '=';
    }
  else if (len - i == 2)
    {
      uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;

      *out++ = alphabet[v >> 18];
      *out++ = alphabet[(v >> 12) & 63];
      *out++ = alphabet[(v >> 6) & 63];
      *out++ = '=';
    }
  *out = '\0';
}

/* ------------------------------------------------------------------ */
/* Connections, indexed by file descriptor                             */

enum { KIND_HTTP, KIND_ECHO, KIND_FEED };

/* Buffers exist only while a connection has bytes pending either way. */
typedef struct {
  uint32_t  rlen, rcap;
  uint32_t  wlen, woff, wcap;
  uint8_t  *rbuf;
  uint8_t  *wbuf;
} Io;

/* Kept small on purpose (20 bytes + padding): the idle workload reads the
 * server's memory per connection, and an idle connection has no Io. */
typedef struct {
  uint8_t   kind;
  uint8_t   closing;
  uint8_t   dirty;     /* on the flush list */
  uint8_t   want_out;
  uint32_t  id;
  uint32_t  feed_pos;  /* index in feed[] */
  Io       *io;
} Conn;

static Io *
conn_io (Conn *c)
{
  if (c->io == NULL)
    c->io = calloc (1, sizeof (Io));
  return c->io;
}

static Conn    *conns;      /* [max_fds], pages touched only as fds are used */
static int      max_fds;
static int      epfd;
static int     *feed;       /* feed member fds */
static uint32_t n_feed;
static int     *dirty;      /* fds with queued output, flushed once per iteration */
static uint32_t n_dirty;
static uint8_t *read_buf;
static uint8_t *frame_buf;
static size_t   frame_cap;
static uint32_t next_id;
static volatile sig_atomic_t stop;

static void conn_close (int fd);

static void
epoll_mod (int fd, uint32_t events, int op)
{
  struct epoll_event ev = { .events = events, .data.fd = fd };

  epoll_ctl (epfd, op, fd, &ev);
}

static int
wbuf_append (Conn *c, const uint8_t *data, size_t len)
{
  Io *io = conn_io (c);

  if (io == NULL)
    return -1;
  if (io->wlen + len > io->wcap)
    {
      size_t cap;
      uint8_t *nb;

      if (io->woff > 0)
        {
          memmove (io->wbuf, io->wbuf + io->woff, io->wlen - io->woff);
          io->wlen -= io->woff;
          io->woff = 0;
        }
      if (io->wlen + len > MAX_QUEUE)
        return -1; /* a reader this far behind is dropped, not buffered */
      cap = io->wcap ? io->wcap : 512;
      while (cap < io->wlen + len)
        cap *= 2;
      if (cap != io->wcap)
        {
          nb = realloc (io->wbuf, cap);
          if (nb == NULL)
            return -1;
          io->wbuf = nb;
          io->wcap = (uint32_t) cap;
        }
    }
  memcpy (io->wbuf + io->wlen, data, len);
  io->wlen += (uint32_t) len;
  if (!c->dirty)
    {
      c->dirty = 1;
      dirty[n_dirty++] = (int) (c - conns);
    }
  return 0;
}

static size_t
frame_header (uint8_t *p, uint8_t opcode, size_t len)
{
  p[0] = 0x80 | opcode;
  if (len < 126)
    {
      p[1] = (uint8_t) len;
      return 2;
    }
  if (len < 65536)
    {
      p[1] = 126;
      p[2] = (uint8_t) (len >> 8);
      p[3] = (uint8_t) len;
      return 4;
    }
  p[1] = 127;
  for (int i = 0; i < 8; i++)
    p[2 + i] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
  return 10;
}

static int
send_frame (Conn *c, uint8_t opcode, const uint8_t *data, size_t len)
{
  uint8_t hdr[10];
  size_t h = frame_header (hdr, opcode, len);

  if (wbuf_append (c, hdr, h) < 0)
    return -1;
  return wbuf_append (c, data, len);
}

static void
flush_conn (int fd)
{
  Conn *c = &conns[fd];
  Io *io = c->io;
  int pending;

  while (io && io->woff < io->wlen)
    {
      ssize_t n = send (fd, io->wbuf + io->woff, io->wlen - io->woff, MSG_NOSIGNAL);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            break;
          conn_close (fd);
          return;
        }
      io->woff += (uint32_t) n;
    }
  pending = io && io->woff < io->wlen;
  if (!pending)
    {
      if (c->closing)
        {
          conn_close (fd);
          return;
        }
      if (io)
        {
          /* Buffers stay while the connection lives (no malloc churn per
           * message); only a burst's big buffer is given back. */
          io->woff = io->wlen = 0;
          if (io->wcap > 256 * 1024)
            {
              free (io->wbuf);
              io->wbuf = NULL;
              io->wcap = 0;
            }
        }
    }
  if (pending != c->want_out)
    {
      c->want_out = (uint8_t) pending;
      epoll_mod (fd, EPOLLIN | (pending ? EPOLLOUT : 0), EPOLL_CTL_MOD);
    }
}

static void
flush_dirty (void)
{
  for (uint32_t i = 0; i < n_dirty; i++)
    {
      int fd = dirty[i];

      if (conns[fd].dirty)
        {
          conns[fd].dirty = 0;
          flush_conn (fd);
        }
    }
  n_dirty = 0;
}

static void
conn_close (int fd)
{
  Conn *c = &conns[fd];

  if (c->kind == KIND_FEED && n_feed > 0)
    {
      int last = feed[--n_feed];

      feed[c->feed_pos] = last;
      conns[last].feed_pos = c->feed_pos;
    }
  if (c->io)
    {
      free (c->io->rbuf);
      free (c->io->wbuf);
      free (c->io);
    }
  /* Still on the dirty list: the entry is skipped since dirty is 0. */
  memset (c, 0, sizeof *c);
  close (fd);
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */

static void
http_reply (int fd, const char *status, const char *body)
{
  char buf[256];
  int n = snprintf (buf, sizeof buf,
                    "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n%s", status, strlen (body), body);

  wbuf_append (&conns[fd], (const uint8_t *) buf, (size_t) n);
  conns[fd].closing = 1;
}

static const char *
header_value (const char *head, const char *end, const char *name, size_t *len)
{
  size_t nlen = strlen (name);
  const char *line = memchr (head, '\n', (size_t) (end - head));

  while (line != NULL && line + 1 < end)
    {
      const char *next;

      line++;
      next = memchr (line, '\n', (size_t) (end - line));
      if (next == NULL)
        next = end;
      if ((size_t) (next - line) > nlen && line[nlen] == ':' &&
          strncasecmp (line, name, nlen) == 0)
        {
          const char *v = line + nlen + 1;
          const char *ve = next;

          while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
          while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
          *len = (size_t) (ve - v);
          return v;
        }
      line = next;
    }
  return NULL;
}

/* Returns the bytes consumed, 0 for more, -1 when the connection is done. */
static long
handle_http (int fd, const uint8_t *data, size_t len)
{
  Conn *c = &conns[fd];
  const char *head = (const char *) data;
  const char *end = memmem (head, len, "\r\n\r\n", 4);
  const char *path, *sp, *key;
  size_t plen, klen;
  char resp[256], accept[32];
  uint8_t digest[20];
  Sha1 sha;
  int n;

  if (end == NULL)
    {
      if (len > MAX_HEAD)
        {
          http_reply (fd, "431 Request Header Fields Too Large", "header too large\n");
          return -1;
        }
      return 0;
    }
  end += 2;
  if (len < 5 || memcmp (head, "GET ", 4) != 0)
    {
      http_reply (fd, "405 Method Not Allowed", "only GET\n");
      return -1;
    }
  path = head + 4;
  sp = memchr (path, ' ', (size_t) (end - path));
  if (sp == NULL)
    {
      http_reply (fd, "400 Bad Request", "bad request line\n");
      return -1;
    }
  plen = (size_t) (sp - path);
  {
    const char *q = memchr (path, '?', plen);

    if (q)
      plen = (size_t) (q - path);
  }
  if (plen == 8 && memcmp (path, "/healthz", 8) == 0)
    {
      http_reply (fd, "200 OK", "ok\n");
      return -1;
    }
  key = header_value (head, end, "Sec-WebSocket-Key", &klen);
  if (key == NULL || klen != 24)
    {
      http_reply (fd, "400 Bad Request", "not a WebSocket handshake\n");
      return -1;
    }
  if (plen == 5 && memcmp (path, "/echo", 5) == 0)
    c->kind = KIND_ECHO;
  else if ((plen == 3 && memcmp (path, "/ws", 3) == 0) || (plen == 1 && path[0] == '/'))
    c->kind = KIND_FEED;
  else
    {
      http_reply (fd, "404 Not Found", "not found\n");
      return -1;
    }

  sha1_init (&sha);
  sha1_update (&sha, key, klen);
  sha1_update (&sha, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
  sha1_final (&sha, digest);
  base64_encode (digest, 20, accept);
  n = snprintf (resp, sizeof resp,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
  {
    /* Written at once, so an idle connection never gets an Io. */
    ssize_t w = send (fd, resp, (size_t) n, MSG_NOSIGNAL);

    if (w < 0)
      w = 0;
    if (w < n)
      wbuf_append (c, (const uint8_t *) resp + w, (size_t) (n - w));
  }
  c->id = ++next_id;
  if (c->kind == KIND_FEED)
    {
      c->feed_pos = n_feed;
      feed[n_feed++] = fd;
    }
  return (long) ((const uint8_t *) end + 2 - data);
}

/* ------------------------------------------------------------------ */
/* WebSocket                                                           */

static int64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The raw (still JSON-escaped) value of "text":"…" in @msg. */
static const uint8_t *
find_text (const uint8_t *msg, size_t len, size_t *out_len)
{
  const uint8_t *p = memmem (msg, len, "\"text\":\"", 8);
  const uint8_t *end = msg + len;
  const uint8_t *start;

  if (p == NULL)
    return NULL;
  start = p + 8;
  for (p = start; p < end; p++)
    {
      if (*p == '\\')
        p++;
      else if (*p == '"')
        {
          *out_len = (size_t) (p - start);
          return start;
        }
    }
  return NULL;
}

static void
relay (Conn *from, const uint8_t *msg, size_t len)
{
  size_t tlen = 0, need, h;
  const uint8_t *text = find_text (msg, len, &tlen);
  int n;

  if (text == NULL)
    return;
  need = tlen + 96;
  if (need > frame_cap)
    {
      uint8_t *nb = realloc (frame_buf, need);

      if (nb == NULL)
        return;
      frame_buf = nb;
      frame_cap = need;
    }
  /* Encoded once, then copied into each member's batch. */
  n = snprintf ((char *) frame_buf + 10, frame_cap - 10, "{\"type\":\"CHAT\",\"from\":\"c%u\",\"text\":\"",
                from->id);
  memcpy (frame_buf + 10 + n, text, tlen);
  n += (int) tlen;
  n += snprintf ((char *) frame_buf + 10 + n, frame_cap - 10 - (size_t) n, "\",\"ts\":%lld}",
                 (long long) now_ms ());
  {
    uint8_t hdr[10];

    h = frame_header (hdr, 0x1, (size_t) n);
    memcpy (frame_buf + 10 - h, hdr, h);
  }
  for (uint32_t i = 0; i < n_feed; i++)
    {
      int fd = feed[i];

      if (wbuf_append (&conns[fd], frame_buf + 10 - h, h + (size_t) n) < 0)
        {
          conns[fd].closing = 1;
          shutdown (fd, SHUT_RDWR);
        }
    }
}

static void
send_close (int fd, uint16_t code)
{
  uint8_t body[2] = { (uint8_t) (code >> 8), (uint8_t) code };

  send_frame (&conns[fd], 0x8, body, 2);
  conns[fd].closing = 1;
}

/* Returns the bytes consumed, or -1 once the connection is closing. */
static long
handle_frames (int fd, uint8_t *data, size_t len)
{
  Conn *c = &conns[fd];
  size_t off = 0;

  while (len - off >= 2 && !c->closing)
    {
      uint8_t *p = data + off;
      uint8_t opcode = p[0] & 0x0f;
      uint64_t plen = p[1] & 0x7f;
      size_t hdr = 2;
      uint8_t *payload;

      /* RFC 6455 §5.1: a client frame must be masked; no extensions. */
      if (!(p[1] & 0x80) || (p[0] & 0x70))
        {
          send_close (fd, 1002);
          return -1;
        }
      if (plen == 126)
        {
          if (len - off < 4)
            break;
          plen = (uint64_t) p[2] << 8 | p[3];
          hdr = 4;
        }
      else if (plen == 127)
        {
          if (len - off < 10)
            break;
          plen = 0;
          for (int i = 0; i < 8; i++)
            plen = plen << 8 | p[2 + i];
          hdr = 10;
        }
      if (plen > MAX_MESSAGE)
        {
          send_close (fd, 1009);
          return -1;
        }
      if (len - off < hdr + 4 + plen)
        break;
      payload = p + hdr + 4;
      {
        uint8_t k[4];
        uint32_t kw;
        size_t i = 0;

        memcpy (k, p + hdr, 4);
        memcpy (&kw, k, 4);
        for (; i + 4 <= plen; i += 4)
          {
            uint32_t w;

            memcpy (&w, payload + i, 4);
            w ^= kw;
            memcpy (payload + i, &w, 4);
          }
        for (; i < plen; i++)
          payload[i] ^= k[i & 3];
      }
      off += hdr + 4 + plen;

      switch (opcode)
        {
        case 0x1:
        case 0x2:
          if (!(p[0] & 0x80))
            {
              send_close (fd, 1003);
              return -1;
            }
          if (c->kind == KIND_ECHO)
            {
              if (send_frame (c, opcode, payload, plen) < 0)
                {
                  c->closing = 1;
                  return -1;
                }
            }
          else if (opcode == 0x1)
            relay (c, payload, plen);
          break;
        case 0x8:
          send_close (fd, plen >= 2 ? (uint16_t) (payload[0] << 8 | payload[1]) : 1000);
          return -1;
        case 0x9:
          send_frame (c, 0xA, payload, plen);
          break;
        case 0xA:
          break;
        default:
          send_close (fd, opcode == 0 ? 1003 : 1002);
          return -1;
        }
    }
  return (long) off;
}

static void
conn_readable (int fd)
{
  Conn *c = &conns[fd];

  for (int round = 0; round < 4; round++)
    {
      Io *io = c->io;
      uint8_t *buf;
      size_t cap, have, off = 0;
      ssize_t n;
      long used;

      if (io && io->rlen > 0)
        {
          if (io->rcap - io->rlen < 65536)
            {
              size_t ncap = (size_t) io->rcap * 2 + 65536;
              uint8_t *nb;

              if (ncap > (size_t) MAX_MESSAGE + 2 * 65536)
                ncap = (size_t) MAX_MESSAGE + 2 * 65536;
              if (ncap <= io->rlen || (nb = realloc (io->rbuf, ncap)) == NULL)
                {
                  conn_close (fd);
                  return;
                }
              io->rbuf = nb;
              io->rcap = (uint32_t) ncap;
            }
          buf = io->rbuf + io->rlen;
          cap = io->rcap - io->rlen;
        }
      else
        {
          buf = read_buf;
          cap = READ_CHUNK;
        }
      n = recv (fd, buf, cap, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n <= 0)
        {
          conn_close (fd);
          return;
        }
      if (buf != read_buf)
        {
          io->rlen += (uint32_t) n;
          buf = io->rbuf;
          have = io->rlen;
        }
      else
        have = (size_t) n;

      if (c->kind == KIND_HTTP)
        {
          used = handle_http (fd, buf, have);
          if (used < 0)
            goto done;
          off = (size_t) used;
        }
      if (c->kind != KIND_HTTP)
        {
          used = handle_frames (fd, buf + off, have - off);
          if (used < 0)
            goto done;
          off += (size_t) used;
        }
      if (off < have)
        {
          size_t rest = have - off;

          io = conn_io (c);
          if (io == NULL)
            {
              conn_close (fd);
              return;
            }
          if (buf == io->rbuf)
            memmove (io->rbuf, io->rbuf + off, rest);
          else
            {
              if (io->rcap < rest + 65536)
                {
                  uint8_t *nb = realloc (io->rbuf, rest + 65536);

                  if (nb == NULL)
                    {
                      conn_close (fd);
                      return;
                    }
                  io->rbuf = nb;
                  io->rcap = (uint32_t) (rest + 65536);
                }
              memcpy (io->rbuf, buf + off, rest);
            }
          io->rlen = (uint32_t) rest;
        }
      else if (c->io)
        {
          c->io->rlen = 0;
          free (c->io->rbuf);
          c->io->rbuf = NULL;
          c->io->rcap = 0;
        }
      if ((size_t) n < cap)
        return;
    }
  return;

done:
  /* Closing: whatever else the peer sent is ignored. */
  if (c->io)
    c->io->rlen = 0;
}

static void
on_signal (int sig)
{
  (void) sig;
  stop = 1;
}

int
main (int argc, char **argv)
{
  int port = argc > 1 ? atoi (argv[1]) : 8080;
  const char *addr = argc > 2 ? argv[2] : "127.0.0.1";
  struct sockaddr_in sa = { .sin_family = AF_INET };
  struct sigaction sig = { .sa_handler = on_signal };
  struct epoll_event events[MAX_EVENTS];
  struct rlimit rl;
  socklen_t slen = sizeof sa;
  int lfd, one = 1;

  if (port < 0 || port > 65535 || inet_pton (AF_INET, addr, &sa.sin_addr) != 1)
    {
      fprintf (stderr, "usage: %s [PORT [IPv4 ADDRESS]]\n", argv[0]);
      return 2;
    }
  sa.sin_port = htons ((uint16_t) port);
  sigaction (SIGINT, &sig, NULL);
  sigaction (SIGTERM, &sig, NULL);
  signal (SIGPIPE, SIG_IGN);

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
      getrlimit (RLIMIT_NOFILE, &rl);
    }
  max_fds = rl.rlim_cur > 1000000 ? 1000000 : (int) rl.rlim_cur;
  conns = calloc ((size_t) max_fds, sizeof *conns);
  feed = calloc ((size_t) max_fds, sizeof *feed);
  dirty = calloc ((size_t) max_fds, sizeof *dirty);
  read_buf = malloc (READ_CHUNK);
  if (!conns || !feed || !dirty || !read_buf)
    return 1;

  lfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (lfd < 0 || bind (lfd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen (lfd, 4096) < 0)
    {
      perror ("ww-lean: listen");
      return 1;
    }
  getsockname (lfd, (struct sockaddr *) &sa, &slen);
  printf ("lean peer listening on %s:%d\n", addr, ntohs (sa.sin_port));
  fflush (stdout);

  epfd = epoll_create1 (EPOLL_CLOEXEC);
  epoll_mod (lfd, EPOLLIN, EPOLL_CTL_ADD);

  while (!stop)
    {
      int n = epoll_wait (epfd, events, MAX_EVENTS, 500);

      for (int i = 0; i < n; i++)
        {
          int fd = events[i].data.fd;

          if (fd == lfd)
            {
              for (int burst = 0; burst < 256; burst++)
                {
                  int cfd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                  if (cfd < 0)
                    break;
                  if (cfd >= max_fds)
                    {
                      close (cfd);
                      continue;
                    }
                  setsockopt (cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                  memset (&conns[cfd], 0, sizeof conns[cfd]);
                  epoll_mod (cfd, EPOLLIN, EPOLL_CTL_ADD);
                }
              continue;
            }
          if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            conn_readable (fd);
          else if (events[i].events & EPOLLOUT)
            {
              if (!conns[fd].dirty)
                {
                  conns[fd].dirty = 1;
                  dirty[n_dirty++] = fd;
                }
            }
        }
      flush_dirty ();
    }

  for (int fd = 0; fd < max_fds; fd++)
    if (conns[fd].io)
      {
        free (conns[fd].io->rbuf);
        free (conns[fd].io->wbuf);
        free (conns[fd].io);
      }
  free (conns);
  free (feed);
  free (dirty);
  free (read_buf);
  free (frame_buf);
  close (lfd);
  close (epfd);
  return 0;
}
