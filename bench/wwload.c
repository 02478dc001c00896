/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-bench"
#define _GNU_SOURCE

#include "config.h"

/*
 * wwload: a WebSocket load generator for bench/compare.
 *
 * One thread, one epoll instance, non-blocking sockets and a hand-written
 * RFC 6455 client loop.  It is bench code: what matters is that it costs
 * far less per message than the server it measures, so it batches reads
 * and writes per wake-up, keeps per-connection state small, parses frames
 * in place and never allocates on the message path.
 *
 * Workloads:
 *   echo     C connections × D messages in flight of S bytes on /echo
 *   fanout   C feed clients on /ws and one publisher sending CHAT messages
 *   idle     hold C connections, server memory from /proc/PID/status
 *   connect  open, handshake, close, repeat with K concurrent (optionally
 *            while N idle connections are held)
 *
 * --deflate offers permessage-deflate (RFC 7692) without context takeover
 * either way, so one deflate and one inflate stream, reset per message,
 * serve every connection; --payload feed sends compressible feed-like
 * text; --inflate-cache inflates a shared broadcast frame only once.
 *
 * Output: one JSON line on stdout (and a markdown table with --markdown).
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <zlib.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
# define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define READ_CHUNK      (256 * 1024)
#define MAX_FRAME       (64 * 1024 * 1024)
#define N_KEYS          64
#define MAX_EVENTS      1024
#define FANOUT_MARK     "wwl:"

/* ------------------------------------------------------------------ */
/* Options                                                             */

typedef enum {
  WL_ECHO,
  WL_FANOUT,
  WL_IDLE,
  WL_CONNECT,
} Workload;

static struct {
  Workload  workload;
  char     *workload_name;
  char     *host;
  int       port;
  char     *path;
  int       connections;
  int       inflight;
  int       size;
  double    duration;
  double    warmup;
  double    rate;
  int       pid;
  int       sources;
  int       concurrency;
  int       idle;
  int       max_connecting;
  double    setup_timeout;
  gboolean  binary;
  gboolean  markdown;
  char     *label;
  gboolean  deflate;
  char     *deflate_offer;
  char     *payload_kind;
  gboolean  feed_payload;
  gboolean  exchange;
  gboolean  inflate_cache;
} opt = {
  .host = NULL,
  .port = 8080,
  .connections = -1,
  .inflight = -1,
  .size = 64,
  .duration = 5.0,
  .warmup = -1,
  .rate = 0,
  .pid = 0,
  .sources = 8,
  .concurrency = 8,
  .idle = 0,
  .max_connecting = 256,
  .setup_timeout = 60.0,
};

/* ------------------------------------------------------------------ */
/* Time, randomness                                                    */

static inline gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static guint64 rng_state = 0x9e3779b97f4a7c15ULL;

static inline guint32
rng_next (void)
{
  /* xorshift64*: mask keys only need to be unpredictable to an
   * intermediary (RFC 6455 §10.3), not cryptographically strong here. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (guint32) ((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

/* ------------------------------------------------------------------ */
/* Latency histogram: log-linear, 32 sub-buckets per power of two (~3%) */

#define HIST_LINEAR 64
#define HIST_SUB    32
#define HIST_SIZE   (HIST_LINEAR + 58 * HIST_SUB)

typedef struct {
  guint64 counts[HIST_SIZE];
  guint64 total;
  guint64 max;
} Histogram;

static inline guint
hist_index (guint64 v)
{
  int msb;

  if (v < HIST_LINEAR)
    return (guint) v;
  msb = 63 - __builtin_clzll (v);
  return HIST_LINEAR + (guint) (msb - 6) * HIST_SUB + (guint) ((v >> (msb - 5)) & (HIST_SUB - 1));
}

static guint64
hist_value (guint i)
{
  guint msb, sub;
  guint64 lo, width;

  if (i < HIST_LINEAR)
    return i;
  msb = (i - HIST_LINEAR) / HIST_SUB + 6;
  sub = (i - HIST_LINEAR) % HIST_SUB;
  lo = (guint64) (HIST_SUB + sub) << (msb - 5);
  width = (guint64) 1 << (msb - 5);
  return lo + width / 2;
}

static inline void
hist_add (Histogram *h, gint64 v)
{
  if (v < 0)
    v = 0;
  h->counts[hist_index ((guint64) v)]++;
  h->total++;
  if ((guint64) v > h->max)
    h->max = (guint64) v;
}

static double
hist_percentile (const Histogram *h, double p)
{
  guint64 rank, seen = 0;

  if (h->total == 0)
    return 0;
  rank = (guint64) (p / 100.0 * (double) h->total);
  if (rank >= h->total)
    rank = h->total - 1;
  for (guint i = 0; i < HIST_SIZE; i++)
    {
      seen += h->counts[i];
      if (seen > rank)
        return (double) MIN (hist_value (i), h->max);
    }
  return (double) h->max;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */

typedef enum {
  ST_FREE,
  ST_CONNECTING,
  ST_HANDSHAKE,
  ST_OPEN,
  ST_CLOSING,
} ConnState;

typedef enum {
  ROLE_ECHO,
  ROLE_SUB,
  ROLE_PUB,
  ROLE_IDLE,
  ROLE_CONNECT,
} Role;

typedef struct {
  int       fd;
  guint8    state;
  guint8    role;
  guint8    key;          /* index into the key pool */
  gboolean  want_out;
  guint32   index;
  guint32   gen;          /* bumped per socket: stale epoll events are skipped */
  gint64    started;      /* connect() time */
  guint8   *rbuf;         /* only bytes left over from a previous read */
  guint32   rlen, rcap;
  guint8   *wbuf;
  guint32   wlen, woff, wcap;
  gint64   *stamps;       /* echo: send times, a ring of inflight */
  guint32   shead, scount;
  guint64   last_seq;     /* fanout: last sequence seen */
  gboolean  deflate;      /* permessage-deflate negotiated */
} Conn;

static Conn   *conns;
static int     n_conns;
static int     epfd = -1;
static struct sockaddr_in server_addr;
static char    host_header[128];
static char   *keys[N_KEYS];
static char   *accepts[N_KEYS];
static guint   next_key;
static guint8 *payload;   /* echo payload, unmasked */
static gint64  loop_now;
static gboolean running;  /* generating load */
static gboolean measuring;
static volatile sig_atomic_t interrupted;

static struct {
  guint64 messages;        /* echo replies / fanout deliveries while measuring */
  guint64 messages_timed;  /* the same at the end of the measured interval */
  guint64 sent;
  guint64 bytes_in;
  guint64 handshakes;      /* connect workload: completed cycles while measuring */
  guint64 opened;          /* handshakes completed (all workloads) */
  guint64 connect_errors;
  guint64 protocol_errors;
  guint64 server_closes;   /* closed by the server while we wanted it open */
  guint64 order_errors;    /* fanout: duplicate or out of order */
  guint64 published;       /* fanout: all publications */
  guint64 pub_start_seq;   /* fanout: first seq counted */
  guint64 pub_end_seq;     /* fanout: last seq counted */
  guint64 pings;
  guint64 bytes_out;       /* data frames sent, headers included */
  guint64 data_out;        /* data messages sent */
  guint64 data_in_bytes;   /* data frames received, headers included */
  guint64 data_in;         /* data messages received */
  guint64 payload_in;      /* their payload bytes after inflating */
  guint64 payload_out;     /* payload bytes before compressing */
  guint64 compressed_in;   /* messages received with RSV1 */
  guint64 compressed_out;  /* messages sent with RSV1 */
  guint64 inflate_hits;    /* --inflate-cache: inflates saved */
  guint64 deflate_conns;   /* handshakes that negotiated permessage-deflate */
  guint64 exchanged;       /* idle --exchange: echoes received */
  int     open_now;
  int     connecting_now;
  Histogram lat;
  Histogram hs_lat;
} st;

static int   subs_open;
static Conn *publisher;
static guint64 cached_min_seq;

static void conn_fail (Conn *c, guint64 *counter);
static void conn_start (Conn *c);
static void conn_flush (Conn *c);

static void
epoll_set (Conn *c, guint32 events, int op)
{
  struct epoll_event ev = { .events = events };

  ev.data.u64 = ((guint64) c->gen << 32) | c->index;

  if (epoll_ctl (epfd, op, c->fd, &ev) < 0 && op != EPOLL_CTL_DEL)
    g_error ("epoll_ctl: %s", g_strerror (errno));
}

static void
wbuf_reserve (Conn *c, guint32 extra)
{
  if (c->woff > 0 && c->woff == c->wlen)
    c->woff = c->wlen = 0;
  if (c->wlen + extra <= c->wcap)
    return;
  if (c->woff > 0)
    {
      memmove (c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
      c->wlen -= c->woff;
      c->woff = 0;
      if (c->wlen + extra <= c->wcap)
        return;
    }
  c->wcap = MAX (c->wcap * 2, c->wlen + extra);
  c->wcap = MAX (c->wcap, 256);
  c->wbuf = g_realloc (c->wbuf, c->wcap);
}

/* Appends one masked frame (RFC 6455 §5.3: every client frame is masked). */
static guint32
queue_frame (Conn *c, guint8 opcode, const guint8 *data, guint32 len)
{
  guint8 *p;
  guint32 key = rng_next ();
  guint8 k[4];

  wbuf_reserve (c, len + 14);
  p = c->wbuf + c->wlen;
  *p++ = 0x80 | opcode;
  if (len < 126)
    *p++ = 0x80 | (guint8) len;
  else if (len < 65536)
    {
      *p++ = 0x80 | 126;
      *p++ = (guint8) (len >> 8);
      *p++ = (guint8) len;
    }
  else
    {
      *p++ = 0x80 | 127;
      for (int i = 7; i >= 0; i--)
        *p++ = (guint8) ((guint64) len >> (8 * i));
    }
  memcpy (k, &key, 4);
  memcpy (p, k, 4);
  p += 4;
  {
    guint32 i = 0;

    for (; i + 4 <= len; i += 4)
      {
        guint32 w;

        memcpy (&w, data + i, 4);
        w ^= key;
        memcpy (p + i, &w, 4);
      }
    for (; i < len; i++)
      p[i] = data[i] ^ k[i & 3];
  }
  p += len;
  len = (guint32) (p - (c->wbuf + c->wlen));
  c->wlen = (guint32) (p - c->wbuf);
  return len;
}

/* ------------------------------------------------------------------ */
/* permessage-deflate (RFC 7692)                                       */

/* Both directions are negotiated without context takeover, so one deflate
 * and one inflate stream serve every connection: each message starts from
 * a reset stream.  The client side compresses at level 1 to keep the
 * generator cheap; what the server must inflate is valid deflate data
 * whatever the level. */
#define DEFLATE_MIN     64
#define DEFLATE_TAIL    "\x00\x00\xff\xff"

static z_stream zdef, zinf;
static gboolean zdef_ready, zinf_ready;
static guint8  *zbuf;      /* output of either stream; one message at a time */
static gsize    zbuf_cap;

static void
zbuf_reserve (gsize need)
{
  if (need <= zbuf_cap)
    return;
  zbuf_cap = MAX (need, MAX (zbuf_cap * 2, 4096));
  zbuf = g_realloc (zbuf, zbuf_cap);
}

/* Compresses @len bytes into zbuf; returns the compressed length without
 * the 00 00 ff ff tail (RFC 7692 §7.2.1). */
static gsize
deflate_message (const guint8 *data, guint32 len)
{
  gsize out;

  if (!zdef_ready)
    {
      if (deflateInit2 (&zdef, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        g_error ("deflateInit2 failed");
      zdef_ready = TRUE;
    }
  else
    deflateReset (&zdef);
  zbuf_reserve (deflateBound (&zdef, len) + 16);
  zdef.next_in = (Bytef *) data;
  zdef.avail_in = len;
  zdef.next_out = zbuf;
  zdef.avail_out = (uInt) zbuf_cap;
  for (;;)
    {
      int ret = deflate (&zdef, Z_SYNC_FLUSH);

      if (ret != Z_OK && ret != Z_BUF_ERROR)
        g_error ("deflate failed: %d", ret);
      if (zdef.avail_out > 0)
        break;
      out = (gsize) (zdef.next_out - zbuf);
      zbuf_reserve (zbuf_cap * 2);
      zdef.next_out = zbuf + out;
      zdef.avail_out = (uInt) (zbuf_cap - out);
    }
  out = (gsize) (zdef.next_out - zbuf);
  if (out >= 4 && memcmp (zbuf + out - 4, DEFLATE_TAIL, 4) == 0)
    out -= 4;
  return out;
}

/* Inflates one RSV1 message into zbuf, at most MAX_FRAME bytes; returns
 * FALSE on corrupt or oversized data. */
static gboolean
inflate_message (const guint8 *data, guint32 len, guint32 *out_len)
{
  static const guint8 tail[4] = { 0x00, 0x00, 0xff, 0xff };
  gsize out = 0;

  if (!zinf_ready)
    {
      if (inflateInit2 (&zinf, -15) != Z_OK)
        g_error ("inflateInit2 failed");
      zinf_ready = TRUE;
    }
  else
    inflateReset (&zinf);
  zbuf_reserve (MAX ((gsize) len * 4, 4096));
  for (int part = 0; part < 3; part++)
    {
      /* The payload, the tail, then whatever output is still pending. */
      zinf.next_in = (Bytef *) (part == 0 ? data : tail);
      zinf.avail_in = part == 0 ? len : part == 1 ? 4 : 0;
      for (int spins = 0; spins < 64; spins++)
        {
          int ret;

          if (out == zbuf_cap)
            {
              if (zbuf_cap >= MAX_FRAME)
                return FALSE;
              zbuf_reserve (MIN (zbuf_cap * 2, (gsize) MAX_FRAME));
            }
          zinf.next_out = zbuf + out;
          zinf.avail_out = (uInt) (zbuf_cap - out);
          ret = inflate (&zinf, Z_SYNC_FLUSH);
          out = (gsize) (zinf.next_out - zbuf);
          if (ret == Z_STREAM_END)
            goto done;
          if (ret != Z_OK && !(ret == Z_BUF_ERROR && (zinf.avail_out == 0 || zinf.avail_in == 0)))
            return FALSE;
          if (zinf.avail_in == 0 && zinf.avail_out > 0)
            break;
        }
      if (zinf.avail_in > 0)
        return FALSE;
    }
done:
  *out_len = (guint32) out;
  return TRUE;
}

/* --inflate-cache: recent compressed payloads and what they inflated to.
 * Without context takeover the same bytes always inflate the same way, and
 * a server that compresses a broadcast once sends the same bytes to every
 * client: the generator may skip the work a real client would do, so that
 * it measures the server rather than its own zlib.  Direct-mapped by a
 * hash of the bytes; a hit is confirmed by comparing them all. */
#define CACHE_SLOTS 256
#define CACHE_MAX   4096

typedef struct {
  guint32 in_len, out_len;
  guint8 *in, *out;      /* CACHE_MAX each, allocated on first use */
} CacheSlot;

static CacheSlot *zcache;

static const guint8 *
inflate_cached (const guint8 *data, guint32 len, guint32 *out_len)
{
  guint32 h = 2166136261u;
  CacheSlot *slot;

  if (!opt.inflate_cache || len > CACHE_MAX)
    return inflate_message (data, len, out_len) ? zbuf : NULL;
  for (guint32 i = 0; i < len; i++)
    h = (h ^ data[i]) * 16777619u;
  if (zcache == NULL)
    zcache = g_new0 (CacheSlot, CACHE_SLOTS);
  slot = &zcache[h % CACHE_SLOTS];
  if (slot->in != NULL && slot->in_len == len && memcmp (slot->in, data, len) == 0)
    {
      st.inflate_hits++;
      *out_len = slot->out_len;
      return slot->out;
    }
  if (!inflate_message (data, len, out_len))
    return NULL;
  if (*out_len <= CACHE_MAX)
    {
      if (slot->in == NULL)
        {
          slot->in = g_malloc (CACHE_MAX);
          slot->out = g_malloc (CACHE_MAX);
        }
      memcpy (slot->in, data, len);
      memcpy (slot->out, zbuf, *out_len);
      slot->in_len = len;
      slot->out_len = *out_len;
    }
  else if (slot->in != NULL)
    slot->in_len = G_MAXUINT32; /* stale: never matches */
  return zbuf;
}

/* Sends one data message, compressed when negotiated and worth it. */
static void
queue_message (Conn *c, guint8 opcode, const guint8 *data, guint32 len)
{
  st.data_out++;
  st.payload_out += len;
  if (c->deflate && len >= DEFLATE_MIN)
    {
      gsize clen = deflate_message (data, len);

      st.bytes_out += queue_frame (c, 0x40 | opcode, zbuf, (guint32) clen);
      st.compressed_out++;
    }
  else
    st.bytes_out += queue_frame (c, opcode, data, len);
}

static void
queue_close (Conn *c, guint16 code)
{
  guint8 body[2] = { (guint8) (code >> 8), (guint8) code };

  queue_frame (c, 0x8, body, 2);
}

static void
echo_send (Conn *c)
{
  guint32 slot = (c->shead + c->scount) % (guint32) opt.inflight;

  c->stamps[slot] = loop_now;
  c->scount++;
  queue_message (c, opt.binary ? 0x2 : 0x1, payload, (guint32) opt.size);
  st.sent++;
}

/* --payload feed: what a feed message looks like (an UPDATE), so that
 * permessage-deflate has realistic text to work on. */
#define FEED_UPDATE_FMT \
  "{\\\"type\\\":\\\"UPDATE\\\",\\\"target\\\":\\\"api-eu-west-%u\\\",\\\"url\\\":" \
  "\\\"https://api-eu-west-%u.example.org/health\\\",\\\"status\\\":\\\"up\\\"," \
  "\\\"http_status\\\":200,\\\"latency_ms\\\":%u,\\\"checked_at\\\":%u,\\\"error\\\":null}"

static void
publish_one (void)
{
  char text[512];
  int n;

  st.published++;
  if (opt.feed_payload)
    n = g_snprintf (text, sizeof text, "{\"type\":\"CHAT\",\"text\":\"" FANOUT_MARK "%"
                    G_GUINT64_FORMAT ":%" G_GINT64_FORMAT " " FEED_UPDATE_FMT "\"}",
                    st.published, loop_now, (guint) (st.published % 7),
                    (guint) (st.published % 7), (guint) (st.published % 997),
                    (guint) (loop_now / 1000000000));
  else
    n = g_snprintf (text, sizeof text, "{\"type\":\"CHAT\",\"text\":\"" FANOUT_MARK "%"
                    G_GUINT64_FORMAT ":%" G_GINT64_FORMAT "\"}", st.published, loop_now);
  queue_message (publisher, 0x1, (const guint8 *) text, (guint32) n);
  st.sent++;
}

/* ------------------------------------------------------------------ */
/* Messages from the server                                            */

static void
on_fanout_message (Conn *c, const guint8 *data, guint32 len)
{
  const char *p = memmem (data, len, "\"text\":\"" FANOUT_MARK, 12);
  const char *end = (const char *) data + len;
  guint64 seq = 0;
  gint64 ts = 0;

  if (p == NULL)
    return; /* WELCOME, INITIAL, PRESENCE, UPDATE… */
  p += 12;
  while (p < end && g_ascii_isdigit (*p))
    seq = seq * 10 + (guint64) (*p++ - '0');
  if (p >= end || *p != ':')
    {
      st.protocol_errors++;
      return;
    }
  p++;
  while (p < end && g_ascii_isdigit (*p))
    ts = ts * 10 + (*p++ - '0');

  if (c->role == ROLE_PUB)
    return;
  if (seq <= c->last_seq)
    st.order_errors++;
  else
    c->last_seq = seq;
  if (measuring && seq > st.pub_start_seq)
    {
      st.messages++;
      hist_add (&st.lat, loop_now - ts);
    }
}

static void
on_message (Conn *c, guint8 opcode, const guint8 *data, guint32 len)
{
  switch (c->role)
    {
    case ROLE_ECHO:
      if (c->scount == 0 || len != (guint32) opt.size)
        {
          st.protocol_errors++;
          return;
        }
      if (measuring)
        {
          st.messages++;
          hist_add (&st.lat, loop_now - c->stamps[c->shead]);
        }
      c->shead = (c->shead + 1) % (guint32) opt.inflight;
      c->scount--;
      if (running)
        echo_send (c);
      break;

    case ROLE_SUB:
    case ROLE_PUB:
      if (opcode == 0x1)
        on_fanout_message (c, data, len);
      break;

    case ROLE_IDLE:
      if (opt.exchange && len == (guint32) opt.size)
        st.exchanged++;
      break;

    default:
      break; /* connect clients ignore what the server says */
    }
}

static void
conn_close_fd (Conn *c, gboolean reset)
{
  if (c->fd < 0)
    return;
  if (reset)
    {
      /* An abortive close leaves no TIME_WAIT on our side, which would
       * otherwise eat the ephemeral ports at thousands of cycles/s. */
      struct linger lg = { .l_onoff = 1, .l_linger = 0 };

      setsockopt (c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
  close (c->fd);
  c->fd = -1;
  if (c->state == ST_OPEN || c->state == ST_CLOSING)
    {
      st.open_now--;
      if (c->role == ROLE_SUB)
        subs_open--;
    }
  else if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE)
    st.connecting_now--;
  c->state = ST_FREE;
  c->rlen = 0;
  c->wlen = c->woff = 0;
  c->shead = c->scount = 0;
  c->want_out = FALSE;
  if (c == publisher)
    publisher = NULL;
}

/* The connect workload: one cycle done, start the next one. */
static void
connect_cycle_done (Conn *c)
{
  if (measuring)
    st.handshakes++;
  conn_close_fd (c, TRUE);
  if (running)
    conn_start (c);
}

static void
on_control (Conn *c, guint8 opcode, const guint8 *data, guint32 len)
{
  if (opcode == 0x9)
    {
      st.pings++;
      queue_frame (c, 0xA, data, len);
    }
  else if (opcode == 0x8)
    {
      if (c->state == ST_CLOSING)
        {
          if (c->role == ROLE_CONNECT)
            connect_cycle_done (c);
          else
            conn_close_fd (c, FALSE);
        }
      else
        {
          /* The server ended a connection we still wanted. */
          int fd = c->fd;

          queue_close (c, 1000);
          conn_flush (c);
          if (c->fd == fd)
            conn_fail (c, &st.server_closes);
          else
            st.server_closes++;
        }
    }
}

/* Parses complete frames in @data; returns the bytes consumed, or -1 once
 * the connection is gone. */
static gssize
parse_frames (Conn *c, const guint8 *data, gsize len)
{
  gsize off = 0;

  while (len - off >= 2)
    {
      const guint8 *p = data + off;
      guint8 opcode = p[0] & 0x0f;
      guint64 plen = p[1] & 0x7f;
      gsize hdr = 2;

      /* A server never masks (RFC 6455 §5.1); RSV1 only with
       * permessage-deflate, on a data frame; RSV2/3 never. */
      if ((p[1] & 0x80) || (p[0] & 0x30) ||
          ((p[0] & 0x40) && (!c->deflate || (opcode & 0x8) || opcode == 0)))
        {
          conn_fail (c, &st.protocol_errors);
          return -1;
        }
      if (plen == 126)
        {
          if (len - off < 4)
            break;
          plen = ((guint64) p[2] << 8) | p[3];
          hdr = 4;
        }
      else if (plen == 127)
        {
          if (len - off < 10)
            break;
          plen = 0;
          for (int i = 0; i < 8; i++)
            plen = (plen << 8) | p[2 + i];
          hdr = 10;
        }
      if (plen > MAX_FRAME)
        {
          conn_fail (c, &st.protocol_errors);
          return -1;
        }
      if (len - off < hdr + plen)
        break;
      off += hdr + plen;
      st.bytes_in += hdr + plen;
      if (opcode & 0x8)
        {
          on_control (c, opcode, p + hdr, (guint32) plen);
          if (c->fd < 0 || c->state == ST_FREE || c->state == ST_CONNECTING)
            return -1;
        }
      else if (p[0] & 0x80)
        {
          const guint8 *msg = p + hdr;
          guint32 mlen = (guint32) plen;

          st.data_in++;
          st.data_in_bytes += hdr + plen;
          if (p[0] & 0x40)
            {
              msg = inflate_cached (msg, mlen, &mlen);
              if (msg == NULL)
                {
                  conn_fail (c, &st.protocol_errors);
                  return -1;
                }
              st.compressed_in++;
            }
          st.payload_in += mlen;
          on_message (c, opcode, msg, mlen);
        }
    }
  return (gssize) off;
}

/* ------------------------------------------------------------------ */
/* Handshake                                                           */

static char *
make_accept (const char *key)
{
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA1);
  guint8 digest[20];
  gsize dlen = sizeof digest;
  char *out;

  g_checksum_update (sum, (const guchar *) key, -1);
  g_checksum_update (sum, (const guchar *) "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", -1);
  g_checksum_get_digest (sum, digest, &dlen);
  g_checksum_free (sum);
  out = g_base64_encode (digest, dlen);
  return out;
}

static void
make_keys (void)
{
  /* A pool of keys with their expected accept values, so a handshake
   * costs the generator no SHA-1 (the connect workload is bounded by the
   * generator on a fast server). */
  for (int i = 0; i < N_KEYS; i++)
    {
      guint8 raw[16];

      for (int j = 0; j < 16; j++)
        raw[j] = (guint8) g_random_int ();
      keys[i] = g_base64_encode (raw, sizeof raw);
      accepts[i] = make_accept (keys[i]);
    }
}

static const char *
role_path (Conn *c)
{
  if (c->role == ROLE_SUB || c->role == ROLE_PUB)
    return opt.path ? opt.path : "/ws";
  return opt.path ? opt.path : "/echo";
}

static void
send_request (Conn *c)
{
  char req[1024];
  int n;

  c->key = (guint8) (next_key++ % N_KEYS);
  n = g_snprintf (req, sizeof req,
                  "GET %s HTTP/1.1\r\n"
                  "Host: %s\r\n"
                  "Upgrade: websocket\r\n"
                  "Connection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n"
                  "%s%s%s"
                  "User-Agent: wwload\r\n"
                  "\r\n",
                  role_path (c), host_header, keys[c->key],
                  opt.deflate ? "Sec-WebSocket-Extensions: " : "",
                  opt.deflate ? opt.deflate_offer : "",
                  opt.deflate ? "\r\n" : "");
  wbuf_reserve (c, (guint32) n);
  memcpy (c->wbuf + c->wlen, req, (gsize) n);
  c->wlen += (guint32) n;
  c->state = ST_HANDSHAKE;
  conn_flush (c);
}

static void
on_open (Conn *c)
{
  st.connecting_now--;
  st.open_now++;
  st.opened++;
  c->state = ST_OPEN;
  if (measuring || c->role == ROLE_CONNECT)
    hist_add (&st.hs_lat, loop_now - c->started);

  switch (c->role)
    {
    case ROLE_ECHO:
      if (running)
        for (int i = 0; i < opt.inflight; i++)
          echo_send (c);
      break;
    case ROLE_SUB:
      subs_open++;
      break;
    case ROLE_IDLE:
      /* --exchange: one message and its echo, then idle (what a
       * compressed message leaves behind in the server, if anything). */
      if (opt.exchange && opt.workload == WL_IDLE)
        queue_message (c, opt.binary ? 0x2 : 0x1, payload, (guint32) opt.size);
      break;
    case ROLE_CONNECT:
      queue_close (c, 1000);
      c->state = ST_CLOSING;
      break;
    default:
      break;
    }
}

/* Returns the bytes of the response head consumed, 0 when incomplete, -1
 * when the connection failed. */
static gssize
parse_response (Conn *c, const guint8 *data, gsize len)
{
  const char *head = (const char *) data;
  const char *end = g_strstr_len (head, (gssize) len, "\r\n\r\n");
  const char *line;
  gboolean accepted = FALSE;
  gboolean extension_ok = TRUE;

  if (end == NULL)
    {
      if (len > 16384)
        {
          conn_fail (c, &st.protocol_errors);
          return -1;
        }
      return 0;
    }
  if (len < 12 || memcmp (head, "HTTP/1.1 101", 12) != 0)
    {
      conn_fail (c, &st.connect_errors);
      return -1;
    }
  line = memchr (head, '\n', (gsize) (end - head));
  while (line != NULL && line < end)
    {
      const char *next;

      line++;
      next = memchr (line, '\n', (gsize) (end + 2 - line));
      if (next == NULL)
        break;
      if ((gsize) (next - line) > 21 && g_ascii_strncasecmp (line, "sec-websocket-accept:", 21) == 0)
        {
          const char *v = line + 21;
          gsize alen = strlen (accepts[c->key]);

          while (*v == ' ' || *v == '\t')
            v++;
          accepted = (gsize) (next - v) >= alen &&
                     memcmp (v, accepts[c->key], alen) == 0;
        }
      else if ((gsize) (next - line) > 25 &&
               g_ascii_strncasecmp (line, "sec-websocket-extensions:", 25) == 0)
        {
          g_autofree char *v = g_strndup (line + 25, (gsize) (next - line - 25));

          /* wwload shares one inflate stream between connections, so the
           * server must not keep its context; anything but
           * permessage-deflate was never offered. */
          if (!opt.deflate || strstr (v, "permessage-deflate") == NULL ||
              strstr (v, "server_no_context_takeover") == NULL)
            extension_ok = FALSE;
          else
            c->deflate = TRUE;
        }
      line = next;
    }
  if (accepted && !extension_ok)
    {
      static gboolean warned;

      if (!warned)
        g_printerr ("wwload: the server answered with an extension wwload did not offer, or "
                    "permessage-deflate without server_no_context_takeover (wwload shares "
                    "one inflate stream, so it needs it): connection failed\n");
      warned = TRUE;
    }
  if (!accepted || !extension_ok)
    {
      /* RFC 6455 §4.1: a wrong or missing accept fails the connection. */
      conn_fail (c, &st.protocol_errors);
      return -1;
    }
  if (c->deflate)
    st.deflate_conns++;
  on_open (c);
  return (gssize) (end + 4 - head);
}

/* ------------------------------------------------------------------ */
/* I/O                                                                 */

static void
conn_fail (Conn *c, guint64 *counter)
{
  if (counter)
    (*counter)++;
  if (c->fd >= 0)
    epoll_set (c, 0, EPOLL_CTL_DEL);
  conn_close_fd (c, TRUE);
  /* A connect-workload slot carries on with a fresh connection. */
  if (c->role == ROLE_CONNECT && running)
    conn_start (c);
}

static void
conn_flush (Conn *c)
{
  while (c->woff < c->wlen)
    {
      ssize_t n = send (c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            break;
          conn_fail (c, c->state == ST_CLOSING ? NULL : &st.server_closes);
          return;
        }
      c->woff += (guint32) n;
    }
  if (c->woff == c->wlen)
    c->woff = c->wlen = 0;
  if ((c->wlen > 0) != c->want_out)
    {
      c->want_out = c->wlen > 0;
      epoll_set (c, EPOLLIN | (c->want_out ? EPOLLOUT : 0), EPOLL_CTL_MOD);
    }
}

static void
conn_start (Conn *c)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;

  c->started = now_ns ();
  if (fd < 0)
    {
      st.connect_errors++;
      return;
    }
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (opt.sources > 1)
    {
      /* Several loopback source addresses: each has its own ~28k ephemeral
       * ports.  IP_BIND_ADDRESS_NO_PORT defers the port choice to
       * connect(), where the 4-tuple rather than the port must be unique. */
      struct sockaddr_in src = { .sin_family = AF_INET };

      src.sin_addr.s_addr = htonl (0x7f000001u + (guint32) (c->index % (guint32) opt.sources));
      setsockopt (fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      if (bind (fd, (struct sockaddr *) &src, sizeof src) < 0)
        {
          close (fd);
          st.connect_errors++;
          return;
        }
    }
  c->fd = fd;
  c->gen++;
  c->state = ST_CONNECTING;
  c->deflate = FALSE;
  c->want_out = TRUE;
  st.connecting_now++;
  if (connect (fd, (struct sockaddr *) &server_addr, sizeof server_addr) < 0 &&
      errno != EINPROGRESS)
    {
      c->want_out = FALSE;
      conn_close_fd (c, TRUE);
      st.connect_errors++;
      return;
    }
  epoll_set (c, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
}

static guint8 *read_buf;

static void
conn_readable (Conn *c)
{
  for (int round = 0; round < 4 && c->fd >= 0; round++)
    {
      guint8 *buf;
      gsize cap, have;
      ssize_t n;
      gssize used;
      gsize off = 0;

      if (c->rlen > 0)
        {
          if (c->rcap - c->rlen < 65536)
            {
              c->rcap = MAX (c->rcap * 2, c->rlen + 65536);
              c->rbuf = g_realloc (c->rbuf, c->rcap);
            }
          buf = c->rbuf + c->rlen;
          cap = c->rcap - c->rlen;
        }
      else
        {
          buf = read_buf;
          cap = READ_CHUNK;
        }

      n = recv (c->fd, buf, cap, 0);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            return;
          conn_fail (c, c->state == ST_CLOSING ? NULL :
                        c->state == ST_OPEN ? &st.server_closes : &st.connect_errors);
          return;
        }
      if (n == 0)
        {
          if (c->state == ST_CLOSING)
            {
              if (c->role == ROLE_CONNECT)
                {
                  epoll_set (c, 0, EPOLL_CTL_DEL);
                  connect_cycle_done (c);
                }
              else
                conn_fail (c, NULL);
            }
          else
            conn_fail (c, c->state == ST_OPEN ? &st.server_closes : &st.connect_errors);
          return;
        }
      loop_now = now_ns ();

      if (c->rlen > 0)
        {
          c->rlen += (guint32) n;
          buf = c->rbuf;
          have = c->rlen;
        }
      else
        have = (gsize) n;

      if (c->state == ST_HANDSHAKE)
        {
          used = parse_response (c, buf, have);
          if (used < 0)
            return;
          off = (gsize) used;
        }
      if (c->state == ST_OPEN || c->state == ST_CLOSING)
        {
          int fd_before = c->fd;

          used = parse_frames (c, buf + off, have - off);
          if (used < 0 || c->fd != fd_before)
            return;
          off += (gsize) used;
        }

      /* Keep what is left for the next read. */
      if (off < have)
        {
          gsize rest = have - off;

          if (buf == c->rbuf)
            memmove (c->rbuf, c->rbuf + off, rest);
          else
            {
              if (c->rcap < rest + 65536)
                {
                  c->rcap = (guint32) (rest + 65536);
                  c->rbuf = g_realloc (c->rbuf, c->rcap);
                }
              memcpy (c->rbuf, buf + off, rest);
            }
          c->rlen = (guint32) rest;
        }
      else
        {
          c->rlen = 0;
          if (c->rcap > 1024 * 1024)
            {
              g_clear_pointer (&c->rbuf, g_free);
              c->rcap = 0;
            }
        }

      if (c->wlen > c->woff)
        conn_flush (c);
      if ((gsize) n < cap)
        return;
    }
}

static void
conn_event (Conn *c, guint32 events)
{
  if (c->state == ST_CONNECTING)
    {
      int err = 0;
      socklen_t len = sizeof err;

      if (getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0 ||
          (events & (EPOLLERR | EPOLLHUP)))
        {
          conn_fail (c, &st.connect_errors);
          return;
        }
      if (events & EPOLLOUT)
        send_request (c);
      return;
    }
  if (events & EPOLLIN)
    conn_readable (c);
  else if (events & (EPOLLERR | EPOLLHUP))
    {
      conn_fail (c, c->state == ST_OPEN ? &st.server_closes : NULL);
      return;
    }
  if (c->fd >= 0 && (events & EPOLLOUT))
    conn_flush (c);
}

/* ------------------------------------------------------------------ */
/* Measurements of the server process and of ourselves                 */

static gint64
read_rss_kb (int pid)
{
  char path[64];
  g_autofree char *text = NULL;
  const char *p;

  if (pid <= 0)
    return -1;
  g_snprintf (path, sizeof path, "/proc/%d/status", pid);
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  p = strstr (text, "VmRSS:");
  if (p == NULL)
    return -1;
  return g_ascii_strtoll (p + 6, NULL, 10);
}

/* utime + stime of @pid in seconds (proc(5): fields 14 and 15). */
static double
read_cpu_s (int pid)
{
  char path[64];
  g_autofree char *text = NULL;
  const char *p;
  unsigned long ut = 0, stime = 0;

  if (pid <= 0)
    return -1;
  g_snprintf (path, sizeof path, "/proc/%d/stat", pid);
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  p = strrchr (text, ')');
  if (p == NULL ||
      sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stime) != 2)
    return -1;
  return (double) (ut + stime) / (double) sysconf (_SC_CLK_TCK);
}

/* Seconds @pid spent runnable but waiting for a CPU (schedstat's
 * run_delay): on a shared machine it tells a contended run from a slow
 * server.  -1 when unknown. */
static double
read_wait_s (int pid)
{
  char path[64];
  g_autofree char *text = NULL;
  unsigned long long run = 0, delay = 0;

  if (pid < 0)
    return -1;
  if (pid == 0)
    g_snprintf (path, sizeof path, "/proc/self/schedstat");
  else
    g_snprintf (path, sizeof path, "/proc/%d/schedstat", pid);
  if (!g_file_get_contents (path, &text, NULL, NULL) ||
      sscanf (text, "%llu %llu", &run, &delay) != 2)
    return -1;
  return (double) delay / 1e9;
}

static double
self_cpu_s (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ */
/* Main loop                                                           */

static void
on_signal (int sig)
{
  interrupted = 1;
}

/* Runs the loop until @until (ns) or until @done returns TRUE. */
static void
run_loop (gint64 until, gboolean (*done) (void))
{
  struct epoll_event events[MAX_EVENTS];

  while (!interrupted)
    {
      int timeout_ms, n;

      loop_now = now_ns ();
      if (loop_now >= until || (done && done ()))
        return;

      /* Fanout publisher: paced by --rate, or closed-loop with a window of
       * --inflight messages ahead of the slowest live subscriber so the
       * server's queues stay bounded whoever is the bottleneck. */
      timeout_ms = (int) MIN ((until - loop_now) / 1000000 + 1, 100);
      if (running && publisher && publisher->state == ST_OPEN)
        {
          int batch = 0;

          if (opt.rate > 0)
            {
              double elapsed = (double) (loop_now - publisher->started) / 1e9;
              guint64 target = (guint64) (elapsed * opt.rate);

              while (st.published < target && batch++ < 1000)
                publish_one ();
              timeout_ms = MIN (timeout_ms, 1);
            }
          else
            {
              while (batch < 64)
                {
                  if (st.published - cached_min_seq >= (guint64) opt.inflight)
                    {
                      guint64 m = G_MAXUINT64;

                      for (int i = 0; i < n_conns; i++)
                        if (conns[i].role == ROLE_SUB && conns[i].state == ST_OPEN)
                          m = MIN (m, conns[i].last_seq);
                      cached_min_seq = m == G_MAXUINT64 ? st.published : m;
                      if (st.published - cached_min_seq >= (guint64) opt.inflight)
                        break;
                    }
                  publish_one ();
                  batch++;
                }
            }
          if (publisher && publisher->wlen > publisher->woff)
            conn_flush (publisher);
        }

      n = epoll_wait (epfd, events, MAX_EVENTS, timeout_ms);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          g_error ("epoll_wait: %s", g_strerror (errno));
        }
      loop_now = now_ns ();
      for (int i = 0; i < n; i++)
        {
          Conn *c = &conns[(guint32) events[i].data.u64];

          /* A connection closed and reopened earlier in this batch. */
          if (c->fd >= 0 && c->gen == (guint32) (events[i].data.u64 >> 32))
            conn_event (c, events[i].events);
        }
    }
}

static int ramp_next;
static int ramp_target;

static gboolean
ramp_done (void)
{
  /* Bounded ramp-up: at most --max-connecting handshakes in flight, so a
   * server's listen backlog is not overrun (an overflow costs a 1-3 s SYN
   * retransmit and would show up as a stall). */
  while (ramp_next < ramp_target && st.connecting_now < opt.max_connecting)
    conn_start (&conns[ramp_next++]);
  return ramp_next >= ramp_target && st.connecting_now == 0;
}

/* Idle --exchange: every open connection has its echo back. */
static gboolean
exchange_done (void)
{
  return st.exchanged >= (guint64) st.open_now;
}

static gboolean
fanout_drained (void)
{
  for (int i = 0; i < n_conns; i++)
    if (conns[i].role == ROLE_SUB && conns[i].state == ST_OPEN &&
        conns[i].last_seq < st.pub_end_seq)
      return FALSE;
  return TRUE;
}

static gboolean
echo_drained (void)
{
  for (int i = 0; i < n_conns; i++)
    if (conns[i].role == ROLE_ECHO && conns[i].state == ST_OPEN && conns[i].scount > 0)
      return FALSE;
  return TRUE;
}

static void
raise_nofile (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

static void
close_all (void)
{
  for (int i = 0; i < n_conns; i++)
    {
      Conn *c = &conns[i];

      if (c->fd < 0)
        continue;
      if (c->state == ST_OPEN)
        {
          c->wlen = c->woff = 0;
          queue_close (c, 1000);
          send (c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
      c->state = ST_FREE;
      close (c->fd);
      c->fd = -1;
    }
}

static void
json_hist (GString *out, const char *name, const Histogram *h)
{
  g_string_append_printf (out, ",\"%s\":{\"count\":%" G_GUINT64_FORMAT
                          ",\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}",
                          name, h->total,
                          hist_percentile (h, 50) / 1000.0, hist_percentile (h, 90) / 1000.0,
                          hist_percentile (h, 99) / 1000.0, hist_percentile (h, 99.9) / 1000.0,
                          (double) h->max / 1000.0);
}

static gboolean
parse_workload (const char *name, const char *value, gpointer data, GError **error)
{
  static const char *names[] = { "echo", "fanout", "idle", "connect" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_str_equal (value, names[i]))
      {
        opt.workload = (Workload) i;
        opt.workload_name = g_strdup (value);
        return TRUE;
      }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "unknown workload \"%s\" (echo, fanout, idle or connect)", value);
  return FALSE;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "workload", 'w', 0, G_OPTION_ARG_CALLBACK, parse_workload, "echo, fanout, idle or connect", "W" },
    { "host", 0, 0, G_OPTION_ARG_STRING, &opt.host, "Server IPv4 address (127.0.0.1)", "ADDR" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &opt.port, "Server port (8080)", "PORT" },
    { "path", 0, 0, G_OPTION_ARG_STRING, &opt.path, "Request path (/echo; /ws for fanout)", "PATH" },
    { "connections", 'c', 0, G_OPTION_ARG_INT, &opt.connections, "Connections (echo 100, fanout 1000 subscribers, idle 1000)", "C" },
    { "inflight", 'd', 0, G_OPTION_ARG_INT, &opt.inflight, "Echo: messages in flight per connection (10); fanout: publisher window (32)", "D" },
    { "size", 's', 0, G_OPTION_ARG_INT, &opt.size, "Echo message size in bytes (64)", "S" },
    { "duration", 't', 0, G_OPTION_ARG_DOUBLE, &opt.duration, "Seconds of measurement (5)", "SECONDS" },
    { "warmup", 0, 0, G_OPTION_ARG_DOUBLE, &opt.warmup, "Seconds of load before measuring (0.5; idle 1)", "SECONDS" },
    { "rate", 'r', 0, G_OPTION_ARG_DOUBLE, &opt.rate, "Fanout: publications per second (0 = as fast as the window allows)", "R" },
    { "pid", 0, 0, G_OPTION_ARG_INT, &opt.pid, "Server process id, for its CPU time and memory", "PID" },
    { "sources", 0, 0, G_OPTION_ARG_INT, &opt.sources, "Source addresses 127.0.0.1... to spread over (8)", "N" },
    { "concurrency", 'k', 0, G_OPTION_ARG_INT, &opt.concurrency, "Connect: concurrent handshakes (8)", "K" },
    { "idle", 0, 0, G_OPTION_ARG_INT, &opt.idle, "Connect: idle connections held meanwhile (0)", "N" },
    { "max-connecting", 0, 0, G_OPTION_ARG_INT, &opt.max_connecting, "Most handshakes in flight while ramping up (256)", "N" },
    { "setup-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &opt.setup_timeout, "Seconds allowed to open the connections (60)", "SECONDS" },
    { "binary", 0, 0, G_OPTION_ARG_NONE, &opt.binary, "Echo binary rather than text messages", NULL },
    { "markdown", 0, 0, G_OPTION_ARG_NONE, &opt.markdown, "Also print a markdown table", NULL },
    { "label", 'l', 0, G_OPTION_ARG_STRING, &opt.label, "Server name for the output", "NAME" },
    { "deflate", 0, 0, G_OPTION_ARG_NONE, &opt.deflate, "Offer permessage-deflate (no context takeover either way)", NULL },
    { "deflate-offer", 0, 0, G_OPTION_ARG_STRING, &opt.deflate_offer, "The Sec-WebSocket-Extensions offer with --deflate (must get server_no_context_takeover back)", "OFFER" },
    { "payload", 0, 0, G_OPTION_ARG_STRING, &opt.payload_kind, "x (S bytes of 'x', default) or feed (UPDATE-like JSON: echo payload, fanout CHAT text)", "KIND" },
    { "inflate-cache", 0, 0, G_OPTION_ARG_NONE, &opt.inflate_cache, "With --deflate: inflate a compressed payload identical to the previous one only once (a shared broadcast), so the generator costs less than 1,000 real clients", NULL },
    { "exchange", 0, 0, G_OPTION_ARG_NONE, &opt.exchange, "Idle: each connection sends one message to /echo and gets it back first", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- WebSocket load generator");
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  struct sigaction sa = { .sa_handler = on_signal };
  gint64 t_start, t_end, setup_deadline;
  double cpu0, cpu1, scpu0, scpu1, wall;
  double wait0 = -1, wait1 = -1, swait0 = -1, swait1 = -1;
  gint64 rss_before = -1, rss_after = -1;
  int n_idle = 0, n_active;
  gboolean setup_ok;

  opt.workload = WL_ECHO;
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("wwload: %s\n", error->message);
      return 2;
    }
  if (opt.workload_name == NULL)
    opt.workload_name = g_strdup ("echo");
  if (opt.host == NULL)
    opt.host = g_strdup ("127.0.0.1");
  if (opt.deflate_offer == NULL)
    opt.deflate_offer = g_strdup ("permessage-deflate; client_no_context_takeover; "
                                  "server_no_context_takeover");
  if (strpbrk (opt.deflate_offer, "\r\n") != NULL || strlen (opt.deflate_offer) > 400)
    {
      g_printerr ("wwload: --deflate-offer must be one header line (under 400 bytes)\n");
      return 2;
    }
  if (opt.payload_kind != NULL && g_strcmp0 (opt.payload_kind, "feed") != 0 &&
      g_strcmp0 (opt.payload_kind, "x") != 0)
    {
      g_printerr ("wwload: --payload is x or feed, not \"%s\"\n", opt.payload_kind);
      return 2;
    }
  opt.feed_payload = g_strcmp0 (opt.payload_kind, "feed") == 0;
  if (opt.connections < 0)
    opt.connections = opt.workload == WL_ECHO ? 100 : 1000;
  if (opt.inflight < 0)
    opt.inflight = opt.workload == WL_FANOUT ? 32 : 10;
  if (opt.warmup < 0)
    opt.warmup = opt.workload == WL_IDLE ? 1.0 : 0.5;
  if (opt.port <= 0 || opt.port > 65535 || opt.connections < 1 || opt.inflight < 1 ||
      opt.size < 1 || opt.size > MAX_FRAME || opt.duration <= 0 || opt.duration > 86400 ||
      opt.sources < 1 || opt.sources > 250 || opt.concurrency < 1 || opt.idle < 0 ||
      opt.max_connecting < 1 || opt.rate < 0 || opt.warmup < 0 || opt.setup_timeout <= 0)
    {
      g_printerr ("wwload: an option is out of range (see --help)\n");
      return 2;
    }
  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons ((guint16) opt.port);
  if (inet_pton (AF_INET, opt.host, &server_addr.sin_addr) != 1)
    {
      g_printerr ("wwload: --host wants an IPv4 address, not \"%s\"\n", opt.host);
      return 2;
    }
  g_snprintf (host_header, sizeof host_header, "%s:%d", opt.host, opt.port);
  /* Loopback sources only make sense towards a loopback server. */
  if ((ntohl (server_addr.sin_addr.s_addr) >> 24) != 127)
    opt.sources = 1;

  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
  raise_nofile ();
  rng_state ^= (guint64) now_ns () ^ ((guint64) getpid () << 32);
  make_keys ();
  read_buf = g_malloc (READ_CHUNK);
  payload = g_malloc (opt.size);
  memset (payload, 'x', opt.size);
  if (opt.feed_payload)
    {
      /* Repeated UPDATE-like JSON (unescaped), cut to --size. */
      g_autoptr(GString) text = g_string_new (NULL);

      for (guint i = 0; text->len < (gsize) opt.size; i++)
        g_string_append_printf (text, "{\"type\":\"UPDATE\",\"target\":\"api-eu-west-%u\","
                                "\"status\":\"%s\",\"http_status\":200,\"latency_ms\":%u}\n",
                                i % 7, i % 5 ? "up" : "degraded", 17 + (i * 37) % 400);
      memcpy (payload, text->str, opt.size);
    }

  switch (opt.workload)
    {
    case WL_ECHO:
      n_active = opt.connections;
      break;
    case WL_FANOUT:
      n_active = opt.connections + 1;
      break;
    case WL_IDLE:
      n_active = opt.connections;
      break;
    case WL_CONNECT:
    default:
      n_idle = opt.idle;
      n_active = opt.concurrency;
      break;
    }
  n_conns = n_idle + n_active;
  conns = g_new0 (Conn, n_conns);
  for (int i = 0; i < n_conns; i++)
    {
      Conn *c = &conns[i];

      c->fd = -1;
      c->index = (guint32) i;
      if (opt.workload == WL_CONNECT)
        c->role = i < n_idle ? ROLE_IDLE : ROLE_CONNECT;
      else if (opt.workload == WL_ECHO)
        {
          c->role = ROLE_ECHO;
          c->stamps = g_new0 (gint64, opt.inflight);
        }
      else if (opt.workload == WL_FANOUT)
        c->role = i == n_conns - 1 ? ROLE_PUB : ROLE_SUB;
      else
        c->role = ROLE_IDLE;
    }
  if (opt.workload == WL_FANOUT)
    publisher = &conns[n_conns - 1];

  epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (epfd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));

  /* Baseline of the server's memory before we open anything. */
  rss_before = read_rss_kb (opt.pid);

  /* Setup: open the held connections (all but the publisher, which
   * starts the clock once everyone listens). */
  setup_deadline = now_ns () + (gint64) (opt.setup_timeout * 1e9);
  ramp_target = opt.workload == WL_FANOUT ? n_conns - 1 :
                opt.workload == WL_CONNECT ? n_idle : n_conns;
  running = opt.workload == WL_ECHO;
  run_loop (setup_deadline, ramp_done);
  if (opt.workload == WL_IDLE && opt.exchange && !interrupted)
    {
      /* The warm-up and the memory sample start once the server has
       * answered every message, not while it is still compressing. */
      run_loop (setup_deadline, exchange_done);
      if (!exchange_done ())
        g_printerr ("wwload: %" G_GUINT64_FORMAT " of %d connections got their echo within "
                    "--setup-timeout\n", st.exchanged, st.open_now);
    }
  if (opt.workload == WL_FANOUT && !interrupted)
    {
      Conn *pub = publisher;

      ramp_target = n_conns;
      run_loop (setup_deadline, ramp_done);
      publisher = pub->state == ST_OPEN ? pub : NULL;
    }
  setup_ok = !interrupted && ramp_next >= ramp_target && st.connecting_now == 0 &&
             st.open_now > 0 && (opt.workload != WL_FANOUT || publisher != NULL);
  if (opt.workload == WL_CONNECT && n_idle == 0 && !interrupted)
    setup_ok = TRUE;

  if (setup_ok)
    {
      /* Warm-up under load, then the measured interval. */
      running = TRUE;
      if (opt.workload == WL_CONNECT)
        for (int i = n_idle; i < n_conns; i++)
          conn_start (&conns[i]);
      if (opt.workload == WL_FANOUT)
        publisher->started = now_ns ();
      run_loop (now_ns () + (gint64) (opt.warmup * 1e9), NULL);

      if (opt.workload == WL_IDLE)
        rss_after = read_rss_kb (opt.pid);
      st.pub_start_seq = st.published;
      memset (&st.lat, 0, sizeof st.lat);
      memset (&st.hs_lat, 0, sizeof st.hs_lat);
      measuring = TRUE;
      cpu0 = self_cpu_s ();
      scpu0 = read_cpu_s (opt.pid);
      wait0 = read_wait_s (0);
      swait0 = opt.pid > 0 ? read_wait_s (opt.pid) : -1;
      t_start = now_ns ();
      run_loop (t_start + (gint64) (opt.duration * 1e9), NULL);
      t_end = now_ns ();
      st.messages_timed = st.messages;
      cpu1 = self_cpu_s ();
      scpu1 = read_cpu_s (opt.pid);
      wait1 = read_wait_s (0);
      swait1 = opt.pid > 0 ? read_wait_s (opt.pid) : -1;
      running = FALSE;

      /* Let what is in flight arrive (counted, not timed into the rate). */
      st.pub_end_seq = st.published;
      if (opt.workload == WL_FANOUT)
        run_loop (now_ns () + 2 * G_GINT64_CONSTANT (1000000000), fanout_drained);
      else if (opt.workload == WL_ECHO)
        run_loop (now_ns () + G_GINT64_CONSTANT (1000000000), echo_drained);
      measuring = FALSE;
      if (opt.workload == WL_IDLE && rss_after < 0)
        rss_after = read_rss_kb (opt.pid);
      if (opt.workload == WL_IDLE)
        {
          /* The larger of the two samples: the server may still be
           * settling right after the ramp. */
          gint64 late = read_rss_kb (opt.pid);

          rss_after = MAX (rss_after, late);
        }
    }
  else
    {
      t_start = t_end = now_ns ();
      cpu0 = cpu1 = self_cpu_s ();
      scpu0 = scpu1 = -1;
    }

  wall = (double) (t_end - t_start) / 1e9;
  g_string_append_printf (out, "{\"tool\":\"wwload\",\"workload\":\"%s\",\"label\":\"%s\"",
                          opt.workload_name, opt.label ? opt.label : "");
  g_string_append_printf (out, ",\"ok\":%s,\"connections\":%d,\"open\":%d",
                          setup_ok ? "true" : "false", opt.connections, st.open_now);
  g_string_append_printf (out, ",\"duration_s\":%.3f", wall);
  switch (opt.workload)
    {
    case WL_ECHO:
      g_string_append_printf (out, ",\"inflight\":%d,\"size\":%d,\"messages\":%" G_GUINT64_FORMAT
                              ",\"msgs_per_s\":%.0f", opt.inflight, opt.size, st.messages,
                              wall > 0 ? (double) st.messages_timed / wall : 0);
      json_hist (out, "rtt_us", &st.lat);
      break;
    case WL_FANOUT:
      {
        guint64 published = st.pub_end_seq - st.pub_start_seq;
        guint64 expected = published * (guint64) opt.connections;
        guint64 lost = expected > st.messages ? expected - st.messages : 0;

        g_string_append_printf (out, ",\"rate\":%.0f,\"window\":%d,\"published\":%" G_GUINT64_FORMAT
                                ",\"deliveries\":%" G_GUINT64_FORMAT ",\"deliveries_per_s\":%.0f"
                                ",\"expected\":%" G_GUINT64_FORMAT ",\"lost\":%" G_GUINT64_FORMAT
                                ",\"loss\":%.6f,\"order_errors\":%" G_GUINT64_FORMAT,
                                opt.rate, opt.inflight, published, st.messages,
                                wall > 0 ? (double) st.messages_timed / wall : 0, expected, lost,
                                expected ? (double) lost / (double) expected : 0.0,
                                st.order_errors);
        json_hist (out, "latency_us", &st.lat);
      }
      break;
    case WL_IDLE:
      g_string_append_printf (out, ",\"rss_before_kb\":%" G_GINT64_FORMAT ",\"rss_after_kb\":%"
                              G_GINT64_FORMAT ",\"bytes_per_conn\":%.0f",
                              rss_before, rss_after,
                              rss_before >= 0 && rss_after >= 0 && st.open_now > 0 ?
                              (double) (rss_after - rss_before) * 1024.0 / st.open_now : -1.0);
      json_hist (out, "handshake_us", &st.hs_lat);
      break;
    case WL_CONNECT:
    default:
      g_string_append_printf (out, ",\"concurrency\":%d,\"idle\":%d,\"handshakes\":%"
                              G_GUINT64_FORMAT ",\"handshakes_per_s\":%.0f",
                              opt.concurrency, n_idle, st.handshakes,
                              wall > 0 ? (double) st.handshakes / wall : 0);
      json_hist (out, "handshake_us", &st.hs_lat);
      break;
    }
  g_string_append_printf (out, ",\"payload\":\"%s\",\"deflate\":{\"offered\":%s,\"negotiated\":%"
                          G_GUINT64_FORMAT ",\"all\":%s,\"compressed_in\":%" G_GUINT64_FORMAT
                          ",\"compressed_out\":%" G_GUINT64_FORMAT ",\"inflate_cache\":%s"
                          ",\"inflate_hits\":%" G_GUINT64_FORMAT "}",
                          opt.feed_payload ? "feed" : "x", opt.deflate ? "true" : "false",
                          st.deflate_conns,
                          opt.deflate && st.opened > 0 && st.deflate_conns == st.opened ? "true" : "false",
                          st.compressed_in, st.compressed_out,
                          opt.inflate_cache ? "true" : "false", st.inflate_hits);
  /* Bytes on the wire per data message (frame headers and masks
   * included), over the whole run, and the payload bytes they carried. */
  g_string_append_printf (out, ",\"wire\":{\"in_msgs\":%" G_GUINT64_FORMAT ",\"in_bytes_per_msg\":%.1f"
                          ",\"in_payload_per_msg\":%.1f,\"out_msgs\":%" G_GUINT64_FORMAT
                          ",\"out_bytes_per_msg\":%.1f,\"out_payload_per_msg\":%.1f}",
                          st.data_in, st.data_in ? (double) st.data_in_bytes / st.data_in : 0.0,
                          st.data_in ? (double) st.payload_in / st.data_in : 0.0,
                          st.data_out, st.data_out ? (double) st.bytes_out / st.data_out : 0.0,
                          st.data_out ? (double) st.payload_out / st.data_out : 0.0);
  if (opt.workload == WL_IDLE && opt.exchange)
    g_string_append_printf (out, ",\"exchanged\":%" G_GUINT64_FORMAT, st.exchanged);
  g_string_append_printf (out, ",\"errors\":{\"connect\":%" G_GUINT64_FORMAT ",\"protocol\":%"
                          G_GUINT64_FORMAT ",\"closed\":%" G_GUINT64_FORMAT "}",
                          st.connect_errors, st.protocol_errors, st.server_closes);
  g_string_append_printf (out, ",\"pings\":%" G_GUINT64_FORMAT, st.pings);
  g_string_append_printf (out, ",\"cpu\":{\"generator\":%.3f,\"server\":%.3f}",
                          wall > 0 ? (cpu1 - cpu0) / wall : 0,
                          wall > 0 && scpu0 >= 0 && scpu1 >= 0 ? (scpu1 - scpu0) / wall : -1.0);
  /* Share of the interval each side was runnable but not running. */
  g_string_append_printf (out, ",\"wait\":{\"generator\":%.3f,\"server\":%.3f}}",
                          wall > 0 && wait0 >= 0 && wait1 >= 0 ? (wait1 - wait0) / wall : -1.0,
                          wall > 0 && swait0 >= 0 && swait1 >= 0 ? (swait1 - swait0) / wall : -1.0);
  puts (out->str);

  if (opt.markdown)
    {
      printf ("\n| wwload %s | %s |\n|---|---|\n", opt.workload_name, opt.label ? opt.label : "");
      switch (opt.workload)
        {
        case WL_ECHO:
          printf ("| messages/s | %.0f |\n", wall > 0 ? (double) st.messages_timed / wall : 0);
          printf ("| RTT p50 / p90 / p99 / p99.9 µs | %.1f / %.1f / %.1f / %.1f |\n",
                  hist_percentile (&st.lat, 50) / 1e3, hist_percentile (&st.lat, 90) / 1e3,
                  hist_percentile (&st.lat, 99) / 1e3, hist_percentile (&st.lat, 99.9) / 1e3);
          break;
        case WL_FANOUT:
          printf ("| deliveries/s | %.0f |\n", wall > 0 ? (double) st.messages_timed / wall : 0);
          printf ("| latency p50 / p90 / p99 / p99.9 µs | %.1f / %.1f / %.1f / %.1f |\n",
                  hist_percentile (&st.lat, 50) / 1e3, hist_percentile (&st.lat, 90) / 1e3,
                  hist_percentile (&st.lat, 99) / 1e3, hist_percentile (&st.lat, 99.9) / 1e3);
          break;
        case WL_IDLE:
          printf ("| server bytes per connection | %.0f |\n",
                  rss_before >= 0 && rss_after >= 0 && st.open_now > 0 ?
                  (double) (rss_after - rss_before) * 1024.0 / st.open_now : -1.0);
          break;
        case WL_CONNECT:
        default:
          printf ("| handshakes/s | %.0f |\n", wall > 0 ? (double) st.handshakes / wall : 0);
          break;
        }
      printf ("| errors connect / protocol / closed | %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT
              " / %" G_GUINT64_FORMAT " |\n", st.connect_errors, st.protocol_errors, st.server_closes);
      printf ("| CPU generator / server | %.2f / %.2f |\n",
              wall > 0 ? (cpu1 - cpu0) / wall : 0,
              wall > 0 && scpu0 >= 0 && scpu1 >= 0 ? (scpu1 - scpu0) / wall : -1.0);
    }
  fflush (stdout);

  close_all ();
  close (epfd);
  for (int i = 0; i < n_conns; i++)
    {
      g_free (conns[i].rbuf);
      g_free (conns[i].wbuf);
      g_free (conns[i].stamps);
    }
  g_free (conns);
  for (int i = 0; i < N_KEYS; i++)
    {
      g_free (keys[i]);
      g_free (accepts[i]);
    }
  g_free (read_buf);
  g_free (payload);
  g_free (opt.workload_name);
  g_free (opt.host);
  g_free (opt.path);
  g_free (opt.label);
  g_free (opt.deflate_offer);
  g_free (opt.payload_kind);
  g_free (zbuf);
  if (zcache != NULL)
    for (int i = 0; i < CACHE_SLOTS; i++)
      {
        g_free (zcache[i].in);
        g_free (zcache[i].out);
      }
  g_free (zcache);
  if (zdef_ready)
    deflateEnd (&zdef);
  if (zinf_ready)
    inflateEnd (&zinf);

  if (!setup_ok)
    {
      g_printerr ("wwload: could not open the connections (%d of %d open, %" G_GUINT64_FORMAT
                  " connect errors)\n", st.open_now, ramp_target, st.connect_errors);
      return 1;
    }
  return 0;
}
