/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server"
#define _GNU_SOURCE /* accept4 */

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ww-server-private.h"
#include "protocol/ww-handshake.h"
#include "protocol/ww-protocol-error.h"
#include "protocol/ww-utf8.h"

/*
 * The I/O engine of one server thread.  GMainContext polls every attached
 * source on every iteration (O(connections) per wake-up), so all sockets
 * of the thread sit in one epoll instance behind a single GSource whose
 * only fd is the epoll fd, and every per-connection deadline sits in one
 * hashed timer wheel driven by that source's ready time.
 */

#define READ_BUF_SIZE   (64 * 1024)
#define MAX_EVENTS      256
#define ACCEPT_BATCH    128
#define MAX_IOV         64
/* Several queued frames up to this many bytes in all are copied into one
 * buffer and sent as one segment: the kernel's per-segment cost in
 * sendmsg() is larger than the copy (fan-out of small shared frames). */
#define COALESCE_MAX    (16 * 1024)
/* Frames up to this size are copied into the peer's contiguous scratch
 * area (one writev entry for many small frames); larger ones get a GBytes
 * of their own. */
#define SCRATCH_FRAME_MAX (64 * 1024)
/* Shared (broadcast) frames up to this size are copied too. */
#define SHARED_COPY_MAX   512
#define TICK_MS         8
#define N_SLOTS         1024
#define SLOT_MASK       (N_SLOTS - 1)
/* Without a heartbeat, still wake an idle peer now and then to give back
 * its parser and send-queue memory. */
#define TRIM_MS         10000
#define ACCEPT_PAUSE_MS 100
#define PING_MAGIC      0x77777770u
/* RFC 6455 §5.5: control opcodes have the high bit of the nibble set. */
#define WW_IS_CONTROL(op) (((op) & 0x08) != 0)

#define WW_PEER_F_DOOMED (1 << 7) /* picked to go when all queues are full */
#define REFUSE(io, r) WW_COUNT ((io)->counters, refusals[(r)], 1)

/* DESIGN: ≤ 400 bytes per idle connection, everything included. */
G_STATIC_ASSERT (sizeof (WwPeer) <= 112);

struct _WwOutQueue {
  GBytes **items;       /* ring */
  guint    head;
  guint    n;
  guint    cap;
  gsize    first_off;   /* bytes of items[head] already written */
  gsize    item_bytes;  /* unwritten bytes held by items */
  guint8  *scratch;     /* logically after every item */
  gsize    s_off;
  gsize    s_len;
  gsize    s_cap;
  gboolean used;        /* something was sent since the last idle trim */
};

struct _WwIo {
  WwServer             *server;
  const WwServerConfig *config;
  WwCounters           *counters;
  WwHistogram          *latency;
  GMainContext         *context;
  GSource              *source;
  int                   epfd;
  GPtrArray            *listeners;   /* GSocket */
  gboolean              listening;
  GPtrArray            *conns;       /* WwPeer, every open TCP connection */
  GHashTable           *per_address; /* address → AddrEntry */
  WwDeflateConfig       deflate_config;
  WwDeflateShared      *deflate_shared;
  guint64               sweep_at_ms;
  gsize                 released;    /* by idle trims since the last malloc_trim */
  guint64               malloc_trim_at_ms;
  guint                 n_ws;        /* upgraded peers not yet dropped */
  WwPeer               *dirty;
  GPtrArray            *graveyard;
  guint8               *rbuf;
  guint8               *wbuf;        /* COALESCE_MAX; only inside peer_flush */
  gsize                 total_queued;
  gint64                t0_us;
  guint64               now_ms;
  guint32               now_tick;
  gboolean              in_dispatch;
  gboolean              wake_pending;
  gint64                ready_time;  /* last value given to the source */

  WwPeer               *slots[N_SLOTS];
  guint32               wheel_tick;
  guint32               next_due;
  guint                 n_timers;
  WwPeer               *t_cursor;

  gboolean              accept_paused;
  guint64               accept_resume_ms;
  guint64               accept_warned_ms;
  gboolean              shutting_down;
  gboolean              finished;
  guint64               shutdown_deadline_ms;

  GPtrArray            *doomed;      /* peers to drop for max_total_queue_bytes */
  gsize                 doomed_bytes;/* their queues when they were picked */
  GTlsCertificate      *tls_cert;    /* NULL: plain ws:// */
  GPtrArray            *tls_pending; /* TLS peers with decrypted input left */
  guint                 n_tls_handshakes; /* in the pool or done, not yet collected */
  GThreadPool          *tls_pool;    /* runs the (blocking) TLS handshakes */
  GAsyncQueue          *tls_done;    /* TlsPeer, handshake over */
  int                   tls_efd;     /* eventfd: tls_done has news */
  GHashTable           *tls_per_address; /* address → handshakes in progress */
};

typedef struct {
  GSource source;
  WwIo   *io;
} WwIoSource;

/* Per source address: open WebSocket peers and the handshake bucket. */
typedef struct {
  guint   count;
  guint32 hs_at;     /* ms */
  double  hs_tokens;
} AddrEntry;

static void peer_drop        (WwPeer *peer, const char *why);
static void peer_enter_linger (WwPeer *peer);
static void peer_flush       (WwPeer *peer);
static void ws_consume       (WwPeer *peer, guint8 *buf, gsize len);
static void settle           (WwIo *io);
static void io_set_ready_time (WwIo *io, gint64 ready_time);
static void tls_on_readable  (WwPeer *peer);
static void tls_accepted     (WwPeer *peer);
static void http_fail        (WwPeer *peer, WwHsFail reason, guint status, const char *code,
                              const char *message, const char * const *extra_headers,
                              gboolean head_only);

/* ---- clock and wake-ups ------------------------------------------------ */

static void
io_update_now (WwIo *io)
{
  io->now_ms = (guint64) ((g_get_monotonic_time () - io->t0_us) / 1000);
  io->now_tick = (guint32) (io->now_ms / TICK_MS);
}

static inline guint32
ticks_from_now (WwIo *io, guint ms)
{
  /* Outside our dispatch (a feed timer, an invoke) the cached clock may
   * be old: a deadline from it would fire early. */
  if (!io->in_dispatch)
    io_update_now (io);
  return io->now_tick + (ms + TICK_MS - 1) / TICK_MS + 1;
}

/* Work queued from outside our dispatch (a feed timer, an invoke) gets
 * flushed on the next iteration rather than waiting for a socket. */
static void
io_wake (WwIo *io)
{
  if (io->in_dispatch || io->wake_pending || io->source == NULL)
    return;
  io->wake_pending = TRUE;
  io_set_ready_time (io, 0);
}

/* ---- timer wheel -------------------------------------------------------- */

static void
timer_unlink (WwIo *io, WwPeer *p)
{
  if (!(p->flags & WW_PEER_F_TIMER))
    return;
  if (p == io->t_cursor)
    io->t_cursor = p->t_next;
  if (p->t_prev)
    p->t_prev->t_next = p->t_next;
  else
    io->slots[p->deadline & SLOT_MASK] = p->t_next;
  if (p->t_next)
    p->t_next->t_prev = p->t_prev;
  p->t_prev = p->t_next = NULL;
  p->flags &= ~WW_PEER_F_TIMER;
  io->n_timers--;
}

static void
timer_set (WwIo *io, WwPeer *p, guint32 deadline)
{
  guint slot;

  timer_unlink (io, p);
  /* Never behind the cursor: it would wait a whole revolution. */
  if ((gint32) (deadline - io->wheel_tick) < 0)
    deadline = io->wheel_tick;
  p->deadline = deadline;
  slot = deadline & SLOT_MASK;
  p->t_prev = NULL;
  p->t_next = io->slots[slot];
  if (p->t_next)
    p->t_next->t_prev = p;
  io->slots[slot] = p;
  p->flags |= WW_PEER_F_TIMER;
  if (io->n_timers++ == 0 || (gint32) (deadline - io->next_due) < 0)
    io->next_due = deadline;
}

static void peer_on_timer (WwPeer *p);

static void
timers_run (WwIo *io)
{
  guint steps = 0;

  if (io->n_timers == 0)
    {
      io->wheel_tick = io->now_tick + 1;
      return;
    }
  if ((gint32) (io->now_tick - io->next_due) < 0)
    return;

  while ((gint32) (io->now_tick - io->wheel_tick) >= 0 && steps++ <= N_SLOTS)
    {
      WwPeer *p = io->slots[io->wheel_tick & SLOT_MASK];

      while (p)
        {
          io->t_cursor = p->t_next;
          if ((gint32) (p->deadline - io->now_tick) <= 0)
            {
              timer_unlink (io, p);
              peer_on_timer (p);
            }
          p = io->t_cursor;
        }
      io->t_cursor = NULL;
      io->wheel_tick++;
    }
  if (steps > N_SLOTS)
    io->wheel_tick = io->now_tick + 1;

  /* Find the next non-empty slot; this scan runs only after timers fired. */
  io->next_due = io->wheel_tick + N_SLOTS;
  if (io->n_timers > 0)
    for (guint i = 0; i < N_SLOTS; i++)
      if (io->slots[(io->wheel_tick + i) & SLOT_MASK])
        {
          io->next_due = io->wheel_tick + i;
          break;
        }
}

/* g_source_set_ready_time() signals the context's wakeup fd every time
 * (two syscalls and an extra loop iteration): only call it on a change. */
static void
io_set_ready_time (WwIo *io, gint64 ready_time)
{
  if (ready_time == io->ready_time)
    return;
  io->ready_time = ready_time;
  g_source_set_ready_time (io->source, ready_time);
}

static void
io_update_ready_time (WwIo *io)
{
  gint64 due_ms = -1;

  if (io->dirty || io->graveyard->len || io->tls_pending->len || io->doomed->len)
    {
      io_set_ready_time (io, 0);
      return;
    }
  if (io->n_timers > 0)
    due_ms = (gint64) io->next_due * TICK_MS;
  if (io->accept_paused && (due_ms < 0 || (gint64) io->accept_resume_ms < due_ms))
    due_ms = (gint64) io->accept_resume_ms;
  if (io->shutting_down && (due_ms < 0 || (gint64) io->shutdown_deadline_ms < due_ms))
    due_ms = (gint64) io->shutdown_deadline_ms;
  io->wake_pending = FALSE;
  io_set_ready_time (io, due_ms < 0 ? -1 : io->t0_us + due_ms * 1000);
}

/* ---- send queue --------------------------------------------------------- */

static inline gsize
queue_size (const WwOutQueue *q)
{
  return q ? q->item_bytes + (q->s_len - q->s_off) : 0;
}

static void
queue_free (WwIo *io, WwOutQueue *q)
{
  if (q == NULL)
    return;
  io->total_queued -= queue_size (q);
  for (guint i = 0; i < q->n; i++)
    g_bytes_unref (q->items[(q->head + i) % q->cap]);
  g_free (q->items);
  g_free (q->scratch);
  g_free (q);
}

static WwOutQueue *
peer_queue (WwPeer *peer)
{
  if (peer->out == NULL)
    peer->out = g_new0 (WwOutQueue, 1);
  return peer->out;
}

static void
queue_push_ring (WwOutQueue *q, GBytes *bytes)
{
  if (q->n == q->cap)
    {
      guint ncap = q->cap ? q->cap * 2 : 4;
      GBytes **items = g_new (GBytes *, ncap);

      for (guint i = 0; i < q->n; i++)
        items[i] = q->items[(q->head + i) % q->cap];
      g_free (q->items);
      q->items = items;
      q->head = 0;
      q->cap = ncap;
    }
  q->items[(q->head + q->n) % q->cap] = bytes;
  q->n++;
  q->item_bytes += g_bytes_get_size (bytes);
}

/* Takes a reference on @bytes. */
static void
queue_push_bytes (WwOutQueue *q, GBytes *bytes)
{
  /* The scratch area is behind every item: turn pending scratch bytes
   * into an item of their own first so the order holds. */
  if (q->s_len > q->s_off)
    {
      gsize pending = q->s_len - q->s_off;

      queue_push_ring (q, g_bytes_new (q->scratch + q->s_off, pending));
      q->s_off = q->s_len = 0;
    }
  queue_push_ring (q, g_bytes_ref (bytes));
}

static guint8 *
queue_reserve (WwOutQueue *q, gsize len)
{
  if (q->s_off == q->s_len)
    q->s_off = q->s_len = 0;
  if (q->s_len + len > q->s_cap)
    {
      if (q->s_off > 0)
        {
          memmove (q->scratch, q->scratch + q->s_off, q->s_len - q->s_off);
          q->s_len -= q->s_off;
          q->s_off = 0;
        }
      if (q->s_len + len > q->s_cap)
        {
          gsize ncap = MAX (MAX (q->s_cap * 2, 1024), q->s_len + len);

          q->scratch = g_realloc (q->scratch, ncap);
          q->s_cap = ncap;
        }
    }
  return q->scratch + q->s_len;
}

static void
queue_consume (WwOutQueue *q, gsize n)
{
  while (n > 0 && q->n > 0)
    {
      GBytes *first = q->items[q->head];
      gsize left = g_bytes_get_size (first) - q->first_off;

      if (n >= left)
        {
          n -= left;
          q->item_bytes -= left;
          g_bytes_unref (first);
          q->head = (q->head + 1) % q->cap;
          q->n--;
          q->first_off = 0;
        }
      else
        {
          q->first_off += n;
          q->item_bytes -= n;
          n = 0;
        }
    }
  if (n > 0)
    {
      q->s_off += n;
      g_assert (q->s_off <= q->s_len);
      if (q->s_off == q->s_len)
        q->s_off = q->s_len = 0;
    }
}

/* ---- peers -------------------------------------------------------------- */

static void
peer_mark_dirty (WwPeer *peer)
{
  WwIo *io = peer->io;

  if (peer->flags & WW_PEER_F_DIRTY)
    return;
  peer->flags |= WW_PEER_F_DIRTY;
  peer->dirty_next = io->dirty;
  io->dirty = peer;
  io_wake (io);
}

static void
epoll_set_out (WwPeer *peer, gboolean want)
{
  struct epoll_event ev = { 0 };

  if (!!(peer->flags & WW_PEER_F_POLLOUT) == !!want)
    return;
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
  ev.data.ptr = peer;
  if (epoll_ctl (peer->io->epfd, EPOLL_CTL_MOD, peer->fd, &ev) == 0)
    {
      if (want)
        peer->flags |= WW_PEER_F_POLLOUT;
      else
        peer->flags &= ~WW_PEER_F_POLLOUT;
    }
}

static gssize
peer_writev (WwPeer *peer, const struct iovec *iov, int n_iov)
{
  struct msghdr msg = { 0 };

  if (peer->transport)
    return peer->transport->writev (peer, iov, n_iov);
  if (n_iov == 1)
    return send (peer->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
  msg.msg_iov = (struct iovec *) iov;
  msg.msg_iovlen = n_iov;
  return sendmsg (peer->fd, &msg, MSG_NOSIGNAL);
}

static void
peer_count_out (WwPeer *peer, gsize n)
{
  WW_COUNT (peer->io->counters, bytes_out, n);
  if (peer->extra)
    peer->extra->bytes_out += n;
}

/* Copies @n_iov small pieces into io->wbuf; @iov[0] then points at it. */
static int
coalesce (WwIo *io, struct iovec *iov, int n_iov, gsize total)
{
  gsize at = 0;

  if (io->wbuf == NULL)
    io->wbuf = g_malloc (COALESCE_MAX);
  for (int k = 0; k < n_iov; k++)
    {
      memcpy (io->wbuf + at, iov[k].iov_base, iov[k].iov_len);
      at += iov[k].iov_len;
    }
  iov[0].iov_base = io->wbuf;
  iov[0].iov_len = total;
  return 1;
}

static void
peer_flush (WwPeer *peer)
{
  WwIo *io = peer->io;
  WwOutQueue *q = peer->out;

  while (q && queue_size (q) > 0)
    {
      struct iovec iov[MAX_IOV];
      int n_iov = 0;
      gsize total = 0;
      gssize n;

      guint i;

      for (i = 0; i < q->n && n_iov < MAX_IOV; i++)
        {
          GBytes *b = q->items[(q->head + i) % q->cap];
          gsize size;
          const guint8 *data = g_bytes_get_data (b, &size);
          gsize off = i == 0 ? q->first_off : 0;

          iov[n_iov].iov_base = (void *) (data + off);
          iov[n_iov].iov_len = size - off;
          total += size - off;
          n_iov++;
        }
      if (i == q->n && n_iov < MAX_IOV && q->s_len > q->s_off)
        {
          iov[n_iov].iov_base = q->scratch + q->s_off;
          iov[n_iov].iov_len = q->s_len - q->s_off;
          total += q->s_len - q->s_off;
          n_iov++;
        }
      if (n_iov > 1 && total <= COALESCE_MAX)
        n_iov = coalesce (io, iov, n_iov, total);

      n = peer_writev (peer, iov, n_iov);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            {
              if (peer->extra && peer->extra->stalled_at == 0)
                peer->extra->stalled_at = (guint32) io->now_ms | 1;
              epoll_set_out (peer, TRUE);
              return;
            }
          peer_drop (peer, g_strerror (errno));
          return;
        }
      queue_consume (q, (gsize) n);
      io->total_queued -= (gsize) n;
      peer_count_out (peer, (gsize) n);
      q->used = TRUE;
    }

  epoll_set_out (peer, FALSE);
  if (peer->extra)
    peer->extra->stalled_at = 0;
  /* After a big message, do not keep its scratch capacity around. */
  if (q && q->s_cap > SCRATCH_FRAME_MAX * 2)
    {
      g_clear_pointer (&q->scratch, g_free);
      q->s_cap = q->s_len = q->s_off = 0;
    }
  if (peer->state == WW_PEER_LINGER && !(peer->flags & WW_PEER_F_SHUT_WR))
    {
      /* RFC 6455 §7.1.1: the server closes the TCP connection first.
       * Half-close and read until the peer's FIN, so that our last frame
       * is not destroyed by a reset for unread input. */
      peer->flags |= WW_PEER_F_SHUT_WR;
      shutdown (peer->fd, SHUT_WR);
    }
}

/*
 * Writes @bytes now when nothing is queued before it (handshake and HTTP
 * responses: an idle peer then never allocates a queue), queues the rest.
 */
static void
peer_write_direct_full (WwPeer *peer, GBytes *bytes, gboolean copy)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  gsize done = 0;

  if (queue_size (peer->out) == 0)
    {
      while (done < size)
        {
          struct iovec iov = { (void *) (data + done), size - done };
          gssize n = peer_writev (peer, &iov, 1);

          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
          if (n < 0)
            {
              peer_drop (peer, g_strerror (errno));
              return;
            }
          done += (gsize) n;
          peer_count_out (peer, (gsize) n);
        }
      if (done == size)
        {
          if (peer->state == WW_PEER_LINGER)
            peer_mark_dirty (peer);
          return;
        }
    }
  if (done == 0 && !copy)
    queue_push_bytes (peer_queue (peer), bytes);
  else
    {
      g_autoptr(GBytes) rest = g_bytes_new (data + done, size - done);

      queue_push_bytes (peer_queue (peer), rest);
    }
  peer->io->total_queued += size - done;
  peer_mark_dirty (peer);
}

static void
peer_write_direct (WwPeer *peer, GBytes *bytes)
{
  peer_write_direct_full (peer, bytes, FALSE);
}

static void
peer_write_direct_copy (WwPeer *peer, GBytes *bytes)
{
  peer_write_direct_full (peer, bytes, TRUE);
}

/* Queue bound check, before anything is allocated (DESIGN "Limits"). */
static gboolean peer_check_room_slow (WwPeer *peer, gsize len);

static inline gboolean
peer_check_room (WwPeer *peer, gsize len)
{
  const WwServerConfig *c = peer->io->config;
  gsize queued = queue_size (peer->out);

  if (G_LIKELY (queued + len <= c->max_queue_bytes &&
                peer->io->total_queued + len <= c->max_total_queue_bytes))
    return TRUE;
  return peer_check_room_slow (peer, len);
}

static gboolean
peer_check_room_slow (WwPeer *peer, gsize len)
{
  WwIo *io = peer->io;
  const WwServerConfig *c = io->config;
  gsize queued = queue_size (peer->out);

  /* One message always fits in an empty queue (the endpoint's message
   * limit bounds it), so a 16 MiB echo works with a 4 MiB queue bound. */
  gboolean peer_ok = c->max_queue_bytes == 0 || queued == 0 || queued + len <= c->max_queue_bytes;

  /* Already picked to go: nothing more for it. */
  if (peer->flags & WW_PEER_F_DOOMED)
    return FALSE;

  /* All queues together over the bound: the biggest queues go (dropped
   * after this dispatch, so that a broadcast loop is not disturbed), the
   * others keep being served.  The search runs only over the bound. */
  while (peer_ok && c->max_total_queue_bytes &&
         io->total_queued - MIN (io->doomed_bytes, io->total_queued) + len >
           c->max_total_queue_bytes)
    {
      WwPeer *victim = NULL;
      gsize biggest = 0;
      guint32 vstall = 0;

      /* The slowest first: a peer whose writes have blocked the longest,
       * then the biggest queue. */
      for (guint i = 0; i < io->conns->len; i++)
        {
          WwPeer *p = io->conns->pdata[i];
          gsize qs = queue_size (p->out);
          guint32 st = p->extra ? p->extra->stalled_at : 0;
          gboolean better;

          if ((p->flags & WW_PEER_F_DOOMED) || qs == 0)
            continue;
          if (victim == NULL)
            better = TRUE;
          else if ((st != 0) != (vstall != 0))
            better = st != 0;
          else if (st != vstall)
            better = (guint32) (st - vstall) > G_MAXINT32; /* stalled earlier */
          else
            better = qs > biggest;
          if (better)
            {
              biggest = qs;
              vstall = st;
              victim = p;
            }
        }
      if (victim == NULL || victim == peer)
        {
          peer_ok = FALSE;
          break;
        }
      victim->flags |= WW_PEER_F_DOOMED;
      io->doomed_bytes += biggest;
      g_ptr_array_add (io->doomed, victim);
      io_wake (io);
    }
  if (peer_ok)
    return TRUE;

  REFUSE (io, queued + len > c->max_queue_bytes && c->max_queue_bytes && queued > 0
              ? WW_REFUSE_PEER_QUEUE : WW_REFUSE_TOTAL_QUEUE);
  WW_COUNT (io->counters, backpressure_closes, 1);
  g_info ("Peer %" G_GUINT64_FORMAT " (%s) fell behind (%" G_GSIZE_FORMAT " bytes queued): closing 1008",
          peer->extra ? peer->extra->id : 0, peer->extra ? peer->extra->address : "?", queued);
  ww_peer_close (peer, WW_CLOSE_POLICY_VIOLATION, "send queue full");
  return FALSE;
}

/* Data or control frame, FIN set, unmasked; no per-frame allocation for
 * small frames. */
static void
peer_queue_frame (WwPeer *peer, guint8 opcode, const guint8 *data, gsize len)
{
  g_autoptr(GBytes) compressed = NULL;
  gboolean rsv1 = FALSE;
  WwOutQueue *q;

  if (peer->extra && peer->extra->deflate && !WW_IS_CONTROL (opcode) &&
      ww_deflate_should_compress (peer->extra->deflate, len))
    {
      g_autoptr(GError) error = NULL;

      compressed = ww_deflate_compress (peer->extra->deflate, data, len, &error);
      WW_COUNT (peer->io->counters, compressions_peer, 1);
      if (compressed == NULL)
        {
          ww_peer_close (peer, error && error->domain == WW_PROTOCOL_ERROR
                               ? (guint16) error->code : WW_CLOSE_INTERNAL_ERROR,
                         "compression failed");
          return;
        }
      data = g_bytes_get_data (compressed, &len);
      rsv1 = TRUE; /* RFC 7692 §6: RSV1 marks a compressed message */
    }

  if (!peer_check_room (peer, len + WW_FRAME_HEADER_MAX))
    return;
  q = peer_queue (peer);
  if (len <= SCRATCH_FRAME_MAX)
    {
      guint8 *dst = queue_reserve (q, len + WW_FRAME_HEADER_MAX);
      gsize hlen = ww_frame_write_header (dst, opcode, TRUE, rsv1, len, NULL);

      if (len)
        memcpy (dst + hlen, data, len);
      q->s_len += hlen + len;
      peer->io->total_queued += hlen + len;
    }
  else
    {
      guint8 *buf = g_malloc (len + WW_FRAME_HEADER_MAX);
      gsize hlen = ww_frame_write_header (buf, opcode, TRUE, rsv1, len, NULL);
      g_autoptr(GBytes) frame = NULL;

      memcpy (buf + hlen, data, len);
      frame = g_bytes_new_take (buf, hlen + len);
      queue_push_bytes (q, frame);
      peer->io->total_queued += hlen + len;
    }
  if (peer->extra)
    {
      peer->extra->frames_out++;
      if (!WW_IS_CONTROL (opcode))
        peer->extra->messages_out++;
    }
  if (!WW_IS_CONTROL (opcode))
    WW_COUNT (peer->io->counters, messages_out, 1);
  peer_mark_dirty (peer);
}

static void
peer_leave_open (WwPeer *peer)
{
  WwEndpoint *ep = peer->endpoint;

  if (ep == NULL || peer->ep_index == G_MAXUINT32)
    return;
  g_assert (peer->ep_index < ep->peers->len && ep->peers->pdata[peer->ep_index] == peer);
  if (peer->ep_index != ep->peers->len - 1)
    {
      WwPeer *last = ep->peers->pdata[ep->peers->len - 1];

      ep->peers->pdata[peer->ep_index] = last;
      last->ep_index = peer->ep_index;
    }
  g_ptr_array_set_size (ep->peers, ep->peers->len - 1);
  peer->ep_index = G_MAXUINT32;
}

static void
peer_send_close (WwPeer *peer, guint16 code, const char *reason)
{
  g_autoptr(GBytes) frame = NULL;

  /* RFC 6455 §7.4.1: 1005 and 1006 never go on the wire. */
  if (code == WW_CLOSE_NO_STATUS || code == WW_CLOSE_ABNORMAL || !ww_close_code_is_valid (code))
    code = WW_CLOSE_NORMAL;
  frame = ww_frame_encode_close (WW_ROLE_SERVER, code, reason);
  /* A close frame always fits: the queue bound must not stop the close. */
  queue_push_bytes (peer_queue (peer), frame);
  peer->io->total_queued += g_bytes_get_size (frame);
  WW_COUNT (peer->io->counters, close_sent[ww_close_slot (code)], 1);
  if (peer->extra)
    peer->extra->frames_out++;
  peer_mark_dirty (peer);
}

static void
peer_enter_linger (WwPeer *peer)
{
  WwIo *io = peer->io;

  peer_leave_open (peer);
  peer->state = WW_PEER_LINGER;
  timer_set (io, peer, ticks_from_now (io, MAX (io->config->close_timeout_ms, 100)));
  peer_mark_dirty (peer);
}

static void
peer_free (WwPeer *peer)
{
  if (peer->extra)
    {
      if (peer->extra->data_destroy)
        peer->extra->data_destroy (peer->extra->data);
      g_free (peer->extra);
    }
  g_free (peer);
}

static void
peer_drop (WwPeer *peer, const char *why)
{
  WwIo *io = peer->io;
  WwPeer *last;

  if (peer->state == WW_PEER_DEAD)
    return;

  peer_leave_open (peer);
  if (peer->extra)
    {
      AddrEntry *entry;

      if (peer->state == WW_PEER_OPEN || peer->state == WW_PEER_CLOSE_SENT)
        {
          /* The close handshake never completed (§7.1.5): abnormal. */
          if (peer->extra->close_code == 0 || peer->state == WW_PEER_OPEN)
            peer->extra->close_code = WW_CLOSE_ABNORMAL;
          WW_COUNT (io->counters, drops, 1);
          g_debug ("Dropped peer %" G_GUINT64_FORMAT " (%s): %s",
                   peer->extra->id, peer->extra->address, why ? why : "gone");
        }
      io->n_ws--;
      WW_COUNT_SUB (io->counters, connections_active, 1);
      entry = g_hash_table_lookup (io->per_address, peer->extra->address);
      if (entry && entry->count > 0)
        entry->count--;
      /* With a handshake rate limit the entry outlives its connections
       * (a connect-and-close loop must not reset its bucket); a sweep
       * drops it once the bucket is full again. */
      if (entry && entry->count == 0 && io->config->handshakes_per_second_per_address == 0)
        g_hash_table_remove (io->per_address, peer->extra->address);
    }

  if (peer->flags & WW_PEER_F_DOOMED)
    g_ptr_array_remove_fast (io->doomed, peer);
  timer_unlink (io, peer);
  if (peer->transport && peer->transport->free)
    peer->transport->free (peer);
  peer->transport = NULL;
  /* Closing the fd also removes it from the epoll set. */
  close (peer->fd);
  peer->fd = -1;
  peer->state = WW_PEER_DEAD;

  last = io->conns->pdata[io->conns->len - 1];
  io->conns->pdata[peer->conn_index] = last;
  last->conn_index = peer->conn_index;
  g_ptr_array_set_size (io->conns, io->conns->len - 1);

  queue_free (io, peer->out);
  peer->out = NULL;
  g_clear_pointer (&peer->parser, ww_message_parser_free);
  g_clear_pointer (&peer->head, g_byte_array_unref);
  if (peer->extra)
    g_clear_pointer (&peer->extra->deflate, ww_deflate_free);
  WW_COUNT_SUB (io->counters, tcp_active, 1);

  g_ptr_array_add (io->graveyard, peer);
  io_wake (io);
}

/* ---- public peer API ---------------------------------------------------- */

guint64
ww_peer_get_id (WwPeer *peer)
{
  g_return_val_if_fail (peer != NULL, 0);
  return peer->extra ? peer->extra->id : 0;
}

const char *
ww_peer_get_address (WwPeer *peer)
{
  g_return_val_if_fail (peer != NULL, NULL);
  return peer->extra ? peer->extra->address : NULL;
}

const char *
ww_peer_get_origin (WwPeer *peer)
{
  g_return_val_if_fail (peer != NULL, NULL);
  return peer->extra ? peer->extra->origin : NULL;
}

const char *
ww_peer_get_user_agent (WwPeer *peer)
{
  g_return_val_if_fail (peer != NULL, NULL);
  return peer->extra ? peer->extra->user_agent : NULL;
}

const char *
ww_peer_get_path (WwPeer *peer)
{
  g_return_val_if_fail (peer != NULL, NULL);
  return peer->extra ? peer->extra->path : NULL;
}

const char *
ww_peer_get_query (WwPeer *peer)
{
  g_return_val_if_fail (peer != NULL, NULL);
  return peer->extra ? peer->extra->query : NULL;
}

void
ww_peer_send_text (WwPeer *peer, const char *text, gsize len)
{
  g_return_if_fail (peer != NULL);
  if (peer->state != WW_PEER_OPEN)
    return;
  peer_queue_frame (peer, WW_OPCODE_TEXT, (const guint8 *) text, len);
}

void
ww_peer_send_binary (WwPeer *peer, const guint8 *data, gsize len)
{
  g_return_if_fail (peer != NULL);
  if (peer->state != WW_PEER_OPEN)
    return;
  peer_queue_frame (peer, WW_OPCODE_BINARY, data, len);
}

void
ww_peer_send_message (WwPeer *peer, guint8 opcode, const guint8 *data, gsize len)
{
  if (peer->state != WW_PEER_OPEN)
    return;
  peer_queue_frame (peer, opcode, data, len);
}

void
ww_peer_send_frame (WwPeer *peer, GBytes *frame)
{
  WwOutQueue *q;
  gsize size;
  const guint8 *data;

  g_return_if_fail (peer != NULL);
  g_return_if_fail (frame != NULL);
  if (peer->state != WW_PEER_OPEN)
    return;
  data = g_bytes_get_data (frame, &size);
  if (size == 0 || !peer_check_room (peer, size))
    return;
  q = peer_queue (peer);
  if (size <= SHARED_COPY_MAX)
    {
      /* Cheaper than a reference (atomic on take and on release, a ring
       * slot, a separate piece to send) for the small frames of a feed. */
      memcpy (queue_reserve (q, size), data, size);
      q->s_len += size;
    }
  else
    queue_push_bytes (q, frame);
  peer->io->total_queued += size;
  if (peer->extra)
    {
      peer->extra->frames_out++;
      if (!WW_IS_CONTROL (data[0] & 0x0f))
        peer->extra->messages_out++;
    }
  if (!WW_IS_CONTROL (data[0] & 0x0f))
    WW_COUNT (peer->io->counters, messages_out, 1);
  peer_mark_dirty (peer);
}

void
ww_peer_close (WwPeer *peer, guint16 code, const char *reason)
{
  WwIo *io;

  g_return_if_fail (peer != NULL);
  io = peer->io;
  switch (peer->state)
    {
    case WW_PEER_OPEN:
      peer_leave_open (peer);
      peer_send_close (peer, code, reason);
      peer->state = WW_PEER_CLOSE_SENT;
      if (peer->extra)
        peer->extra->close_code = code;
      /* §7.1.1: wait a bounded time for the peer's close frame. */
      timer_set (io, peer, ticks_from_now (io, MAX (io->config->close_timeout_ms, 1)));
      break;
    case WW_PEER_HTTP:
      peer_drop (peer, reason);
      break;
    default:
      break;
    }
}

gsize
ww_peer_get_queued_bytes (WwPeer *peer)
{
  g_return_val_if_fail (peer != NULL, 0);
  return queue_size (peer->out);
}

void
ww_peer_set_data (WwPeer *peer, gpointer data, GDestroyNotify destroy)
{
  g_return_if_fail (peer != NULL && peer->extra != NULL);
  if (peer->extra->data_destroy)
    peer->extra->data_destroy (peer->extra->data);
  peer->extra->data = data;
  peer->extra->data_destroy = destroy;
}

gpointer
ww_peer_get_data (WwPeer *peer)
{
  g_return_val_if_fail (peer != NULL, NULL);
  return peer->extra ? peer->extra->data : NULL;
}

void
ww_peer_info_free (WwPeerInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->address);
  g_free (info->origin);
  g_free (info->user_agent);
  g_free (info->path);
  g_free (info);
}

void
ww_endpoint_broadcast (WwEndpoint *endpoint, GBytes *frame)
{
  g_return_if_fail (endpoint != NULL);
  g_return_if_fail (frame != NULL);

  /* Backwards: a peer closed for back-pressure leaves the array by a swap
   * with the last element, which has already been served. */
  for (guint i = endpoint->peers->len; i > 0; i--)
    ww_peer_send_frame (endpoint->peers->pdata[i - 1], frame);
}

/* A compressed text frame for peers that take @bits, made once per
 * broadcast (RFC 7692 §7.1.1.1: no context takeover lets them share). */
static GBytes *
shared_compressed_frame (WwIo *io, guint bits, const char *text, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) payload = ww_deflate_shared_compress (io->deflate_shared, bits, text, len, &error);

  WW_COUNT (io->counters, compressions_shared, 1);
  gsize plen;
  const guint8 *pdata;
  guint8 *buf;
  gsize hlen;

  if (payload == NULL)
    return NULL;
  pdata = g_bytes_get_data (payload, &plen);
  buf = g_malloc (plen + WW_FRAME_HEADER_MAX);
  hlen = ww_frame_write_header (buf, WW_OPCODE_TEXT, TRUE, TRUE, plen, NULL);
  if (plen)
    memcpy (buf + hlen, pdata, plen);
  return g_bytes_new_take (buf, hlen + plen);
}

void
ww_endpoint_broadcast_text (WwEndpoint *endpoint, const char *text, gsize len)
{
  g_autoptr(GBytes) frame = NULL;
  GBytes *by_bits[16] = { NULL };
  WwIo *io;

  g_return_if_fail (endpoint != NULL);
  if (endpoint->peers->len == 0)
    return;
  frame = ww_frame_encode (WW_ROLE_SERVER, WW_OPCODE_TEXT, text, len);
  io = ((WwPeer *) endpoint->peers->pdata[0])->io;
  if (io->deflate_shared == NULL)
    {
      ww_endpoint_broadcast (endpoint, frame);
      return;
    }

  for (guint i = endpoint->peers->len; i > 0; i--)
    {
      WwPeer *peer = endpoint->peers->pdata[i - 1];
      WwDeflate *d = peer->extra ? peer->extra->deflate : NULL;
      guint bits = d && ww_deflate_should_compress (d, len) ? ww_deflate_broadcast_window (d) : 0;

      if (bits >= 8 && bits <= 15)
        {
          if (by_bits[bits] == NULL)
            by_bits[bits] = shared_compressed_frame (io, bits, text, len);
          ww_peer_send_frame (peer, by_bits[bits] ? by_bits[bits] : frame);
        }
      else if (d && bits == 0 && ww_deflate_should_compress (d, len))
        ww_peer_send_text (peer, text, len); /* keeps context: its own stream */
      else
        ww_peer_send_frame (peer, frame);
    }
  for (guint b = 0; b < G_N_ELEMENTS (by_bits); b++)
    g_clear_pointer (&by_bits[b], g_bytes_unref);
}

guint
ww_endpoint_get_n_peers (WwEndpoint *endpoint)
{
  g_return_val_if_fail (endpoint != NULL, 0);
  return endpoint->peers->len;
}

WwServer *
ww_endpoint_get_server (WwEndpoint *endpoint)
{
  g_return_val_if_fail (endpoint != NULL, NULL);
  return endpoint->server;
}

/* ---- WebSocket input ---------------------------------------------------- */

static void
peer_arm_open_timer (WwPeer *peer)
{
  const WwServerConfig *c = peer->io->config;
  guint ms = c->heartbeat_ms ? c->heartbeat_ms : TRIM_MS;

  if (c->idle_timeout_ms)
    ms = MIN (ms, c->idle_timeout_ms);
  timer_set (peer->io, peer, ticks_from_now (peer->io, ms));
}

static void
peer_send_ping (WwPeer *peer)
{
  guint8 payload[12];
  guint32 magic = GUINT32_TO_BE (PING_MAGIC);
  guint64 now = GUINT64_TO_BE ((guint64) g_get_monotonic_time ());

  memcpy (payload, &magic, 4);
  memcpy (payload + 4, &now, 8);
  if (queue_size (peer->out) == 0 && !(peer->flags & WW_PEER_F_DIRTY))
    {
      /* Idle peers are the common case here: write at once from the stack
       * so 100,000 heartbeats do not allocate 100,000 send queues. */
      guint8 frame[WW_FRAME_HEADER_MAX + sizeof payload];
      gsize hlen = ww_frame_write_header (frame, WW_OPCODE_PING, TRUE, FALSE, sizeof payload, NULL);
      g_autoptr(GBytes) bytes = NULL;

      memcpy (frame + hlen, payload, sizeof payload);
      if (peer->extra)
        peer->extra->frames_out++;
      bytes = g_bytes_new_static (frame, hlen + sizeof payload);
      /* peer_write_direct() copies whatever it cannot write now. */
      peer_write_direct_copy (peer, bytes);
      return;
    }
  peer_queue_frame (peer, WW_OPCODE_PING, payload, sizeof payload);
}

static void
peer_on_pong (WwPeer *peer, const guint8 *data, gsize len)
{
  guint32 magic;
  guint64 sent;
  gint64 rtt;

  if (len != 12)
    return; /* unsolicited pongs are allowed (§5.5.3) and ignored */
  memcpy (&magic, data, 4);
  if (GUINT32_FROM_BE (magic) != PING_MAGIC)
    return;
  memcpy (&sent, data + 4, 8);
  rtt = g_get_monotonic_time () - (gint64) GUINT64_FROM_BE (sent);
  if (rtt < 0 || rtt > (gint64) G_USEC_PER_SEC * 3600)
    return;
  peer->missed_pongs = 0;
  if (peer->extra)
    peer->extra->last_rtt_us = rtt;
  ww_histogram_record (peer->io->latency, (guint64) rtt);
}

static gboolean
peer_rate_ok (WwPeer *peer)
{
  const WwServerConfig *c = peer->io->config;
  WwPeerExtra *x = peer->extra;
  guint32 now = (guint32) peer->io->now_ms;

  if (c->rate_limit == 0 || x == NULL)
    return TRUE;
  /* Token bucket: rate_limit tokens a second, one second of burst. */
  x->tokens = MIN ((double) c->rate_limit,
                   x->tokens + (double) (now - x->tokens_at) * c->rate_limit / 1000.0);
  x->tokens_at = now;
  if (x->tokens >= 1.0)
    {
      x->tokens -= 1.0;
      return TRUE;
    }
  return FALSE;
}

static void
peer_fail (WwPeer *peer, guint16 code, const char *message)
{
  WW_COUNT (peer->io->counters, protocol_errors, 1);
  if (code == WW_CLOSE_MESSAGE_TOO_BIG)
    REFUSE (peer->io, WW_REFUSE_MESSAGE_TOO_LARGE);
  g_debug ("Peer %" G_GUINT64_FORMAT ": protocol error %u: %s",
           peer->extra ? peer->extra->id : 0, code, message);
  if (peer->state == WW_PEER_OPEN)
    {
      peer_send_close (peer, code, NULL);
      if (peer->extra)
        peer->extra->close_code = code;
    }
  /* §7.1.7: fail the connection; no more frames are read. */
  peer_enter_linger (peer);
}

static void
ws_on_control (WwPeer *peer, const WwParseEvent *ev)
{
  switch (ev->opcode)
    {
    case WW_OPCODE_PING:
      /* §5.5.2: answer with the same application data. */
      if (peer->state == WW_PEER_OPEN)
        peer_queue_frame (peer, WW_OPCODE_PONG, ev->data, ev->len);
      break;

    case WW_OPCODE_PONG:
      peer_on_pong (peer, ev->data, ev->len);
      break;

    case WW_OPCODE_CLOSE:
      WW_COUNT (peer->io->counters, close_received[ww_close_slot (ev->close_code)], 1);
      if (peer->state == WW_PEER_OPEN)
        {
          /* §5.5.1: echo the status code; 1000 when the peer sent none. */
          peer_leave_open (peer);
          if (peer->extra)
            peer->extra->close_code = ev->close_code;
          peer_send_close (peer, ev->close_code == WW_CLOSE_NO_STATUS
                                   ? WW_CLOSE_NORMAL : ev->close_code, NULL);
        }
      peer_enter_linger (peer);
      break;

    default:
      break;
    }
}

static void
ws_consume (WwPeer *peer, guint8 *buf, gsize len)
{
  WwIo *io = peer->io;
  gboolean saw_message = FALSE;

  if (peer->parser == NULL)
    {
      WwParserLimits limits = { 0 };
      gsize max_message = peer->endpoint->max_message;

      limits.max_message = max_message;
      limits.max_frame = io->config->max_frame ? MIN (io->config->max_frame, max_message) : 0;
      limits.validate_utf8 = TRUE;
      limits.allow_rsv1 = peer->extra && peer->extra->deflate;
      peer->parser = ww_message_parser_new (WW_ROLE_SERVER, &limits);
    }

  while (peer->state == WW_PEER_OPEN || peer->state == WW_PEER_CLOSE_SENT)
    {
      g_autoptr(GError) error = NULL;
      WwParseEvent ev = { 0 };
      gsize consumed = 0;
      WwParseResult r;

      r = ww_message_parser_feed (peer->parser, buf, len, &consumed, &ev, &error);
      g_assert (consumed <= len);
      buf += consumed;
      len -= consumed;

      /* Whether the input stopped between two frames: only then may the
       * parser be given back (it keeps partial headers to itself). */
      if (r == WW_PARSE_NEED_MORE)
        {
          if (consumed > 0)
            peer->flags &= ~WW_PEER_F_BOUNDARY;
          break;
        }
      if (r == WW_PARSE_MESSAGE || r == WW_PARSE_CONTROL)
        peer->flags |= WW_PEER_F_BOUNDARY;
      if (r == WW_PARSE_MESSAGE)
        saw_message = TRUE;
      if (r == WW_PARSE_ERROR)
        {
          guint code = error && error->domain == WW_PROTOCOL_ERROR ? (guint) error->code
                                                                   : WW_CLOSE_PROTOCOL_ERROR;
          peer_fail (peer, (guint16) code, error ? error->message : "parse error");
          break;
        }

      peer->last_in = (guint32) io->now_ms;
      if (peer->extra)
        peer->extra->frames_in++;

      if (r == WW_PARSE_CONTROL)
        {
          ws_on_control (peer, &ev);
          continue;
        }

      /* A data message. After our close, data is discarded (§5.5.1). */
      if (peer->state != WW_PEER_OPEN)
        continue;
      WW_COUNT (io->counters, messages_in, 1);
      if (peer->extra)
        peer->extra->messages_in++;
      if (!peer_rate_ok (peer))
        {
          WW_COUNT (io->counters, rate_limit_closes, 1);
          REFUSE (io, WW_REFUSE_MESSAGE_RATE);
          g_info ("Peer %" G_GUINT64_FORMAT " (%s) exceeded %u messages/s: closing 1008",
                  peer->extra->id, peer->extra->address, io->config->rate_limit);
          ww_peer_close (peer, WW_CLOSE_POLICY_VIOLATION, "rate limit exceeded");
          break;
        }
      if (ev.compressed && peer->extra->deflate)
        {
          g_autoptr(GBytes) plain = NULL;
          g_autoptr(GError) inflate_error = NULL;
          gsize plen;
          const guint8 *pdata;

          plain = ww_deflate_inflate (peer->extra->deflate, ev.data, ev.len, &inflate_error);
          if (plain == NULL)
            {
              peer_fail (peer, inflate_error && inflate_error->domain == WW_PROTOCOL_ERROR
                               ? (guint16) inflate_error->code : WW_CLOSE_INVALID_PAYLOAD,
                         inflate_error ? inflate_error->message : "inflate failed");
              break;
            }
          pdata = g_bytes_get_data (plain, &plen);
          /* The parser cannot check compressed text: do it now (§8.1). */
          if (ev.opcode == WW_OPCODE_TEXT && !ww_utf8_validate (pdata, plen))
            {
              peer_fail (peer, WW_CLOSE_INVALID_PAYLOAD, "Text message is not valid UTF-8");
              break;
            }
          if (peer->endpoint->vtable.message)
            peer->endpoint->vtable.message (peer, ev.opcode, pdata ? pdata : (const guint8 *) "",
                                            plen, peer->endpoint->user_data);
          continue;
        }
      if (peer->endpoint->vtable.message)
        peer->endpoint->vtable.message (peer, ev.opcode, ev.data, ev.len,
                                        peer->endpoint->user_data);
    }

  /* A read of control frames only (a pong to our heartbeat, typically):
   * the peer is idle, so hand the parser back now rather than keep 80
   * bytes per connection until the next heartbeat. */
  if (!saw_message && peer->parser && (peer->flags & WW_PEER_F_BOUNDARY) &&
      !ww_message_parser_in_message (peer->parser))
    g_clear_pointer (&peer->parser, ww_message_parser_free);
}

/* ---- HTTP input and the upgrade ------------------------------------------ */

char *
ww_io_peer_dup_address (WwPeer *peer)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char buf[INET6_ADDRSTRLEN] = "";

  if (getpeername (peer->fd, (struct sockaddr *) &ss, &len) != 0)
    return g_strdup ("unknown");
  if (ss.ss_family == AF_INET)
    inet_ntop (AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6)
    {
      struct in6_addr *a = &((struct sockaddr_in6 *) &ss)->sin6_addr;

      if (IN6_IS_ADDR_V4MAPPED (a))
        inet_ntop (AF_INET, &a->s6_addr[12], buf, sizeof buf);
      else
        inet_ntop (AF_INET6, a, buf, sizeof buf);
    }
  return g_strdup (buf[0] ? buf : "unknown");
}

static void
http_fail (WwPeer *peer, WwHsFail reason, guint status, const char *code,
           const char *message, const char * const *extra_headers, gboolean head_only)
{
  g_autoptr(GBytes) response = NULL;

  WW_COUNT (peer->io->counters, handshake_failures, 1);
  WW_COUNT (peer->io->counters, hs_fail[reason], 1);
  switch (reason)
    {
    case WW_HS_FAIL_HEADER_TOO_LARGE: REFUSE (peer->io, WW_REFUSE_HEADER_TOO_LARGE); break;
    case WW_HS_FAIL_FORBIDDEN:        REFUSE (peer->io, WW_REFUSE_FORBIDDEN_ORIGIN); break;
    case WW_HS_FAIL_UNAUTHORIZED:     REFUSE (peer->io, WW_REFUSE_UNAUTHORIZED); break;
    case WW_HS_FAIL_RATE:             REFUSE (peer->io, WW_REFUSE_HANDSHAKE_RATE); break;
    case WW_HS_FAIL_TLS:              REFUSE (peer->io, WW_REFUSE_TLS); break;
    default: break; /* TOO_MANY: counted where the limit is known */
    }
  g_debug ("HTTP %u (%s) to a client: %s", status, code, message);
  response = ww_http_response_build_error (status, code, message, extra_headers, head_only, FALSE);
  peer_write_direct (peer, response);
  if (peer->state != WW_PEER_DEAD)
    peer_enter_linger (peer);
}

void
ww_http_exchange_send (WwHttpExchange *exchange, GBytes *response)
{
  WwPeer *peer = exchange->peer;

  exchange->responded = TRUE;
  peer_write_direct (peer, response);
  if (peer->state == WW_PEER_DEAD)
    return;
  if (!exchange->keep_alive)
    peer_enter_linger (peer);
}

/* "https://host:port" → scheme and lower-case "host:port" (default port
 * added); FALSE when it is not such an origin. */
static gboolean
origin_split (const char *origin, gboolean *secure, char **hostport)
{
  const char *rest;
  g_autofree char *host = NULL;

  if (g_ascii_strncasecmp (origin, "https://", 8) == 0)
    *secure = TRUE, rest = origin + 8;
  else if (g_ascii_strncasecmp (origin, "http://", 7) == 0)
    *secure = FALSE, rest = origin + 7;
  else
    return FALSE;
  if (*rest == '\0' || strpbrk (rest, "/?#@ ") != NULL)
    return FALSE;
  host = g_ascii_strdown (rest, -1);
  /* Without a port (after the last ':' that is not inside [v6]). */
  if (strrchr (host, ':') == NULL || (host[0] == '[' && g_str_has_suffix (host, "]")))
    *hostport = g_strdup_printf ("%s:%u", host, *secure ? 443 : 80);
  else
    *hostport = g_steal_pointer (&host);
  return TRUE;
}

/*
 * Browsers send Origin; the check protects their users (RFC 6455 §10.2).
 * Allowed: no Origin (not a browser), an origin of the allowlist ("*"
 * allows all), and the page's own origin: Origin's host:port equals the
 * Host the request was sent to, with https for wss:// and http for ws://.
 * "null" (sandboxed frames, file://) passes only when listed.
 */
static gboolean
origin_ok (WwIo *io, const WwHttpRequest *req)
{
  const WwServerConfig *c = io->config;
  const char *origin = ww_http_request_get_header (req, "Origin");
  const char *host = ww_http_request_get_header (req, "Host");
  g_autofree char *ohp = NULL;
  gboolean secure = FALSE;

  if (origin == NULL)
    return TRUE;
  for (guint i = 0; c->allowed_origins && c->allowed_origins[i]; i++)
    if (g_ascii_strcasecmp (c->allowed_origins[i], origin) == 0 ||
        g_str_equal (c->allowed_origins[i], "*"))
      return TRUE;
  if (host == NULL || !origin_split (origin, &secure, &ohp))
    return FALSE;
  if (secure != (io->tls_cert != NULL))
    return FALSE;
  {
    g_autofree char *h = g_ascii_strdown (host, -1);
    g_autofree char *hhp = strrchr (h, ':') == NULL || (h[0] == '[' && g_str_has_suffix (h, "]"))
                           ? g_strdup_printf ("%s:%u", h, secure ? 443 : 80) : g_strdup (h);

    return g_str_equal (hhp, ohp);
  }
}

/* The query as peers and logs see it: without the token. */
static char *
query_without_token (const char *query)
{
  g_auto(GStrv) parts = NULL;
  GString *out;

  if (query == NULL || strstr (query, "token") == NULL)
    return g_strdup (query);
  parts = g_strsplit (query, "&", -1);
  out = g_string_new (NULL);
  for (guint i = 0; parts[i]; i++)
    {
      if (g_str_has_prefix (parts[i], "token=") || g_str_equal (parts[i], "token"))
        continue;
      if (out->len)
        g_string_append_c (out, '&');
      g_string_append (out, parts[i]);
    }
  return g_string_free (out, FALSE);
}

static WwPeerExtra *
extra_new (const char *address, const char *origin, const char *ua,
           const char *path, const char *query)
{
  const char *src[5] = { address, origin, ua, path, query };
  gsize lens[5], total = 0;
  WwPeerExtra *x;
  char *p;
  char **dst[5];

  for (guint i = 0; i < 5; i++)
    {
      lens[i] = src[i] ? strlen (src[i]) + 1 : 0;
      total += lens[i];
    }
  x = g_malloc0 (sizeof *x + total);
  dst[0] = &x->address;
  dst[1] = &x->origin;
  dst[2] = &x->user_agent;
  dst[3] = &x->path;
  dst[4] = &x->query;
  p = x->strings;
  for (guint i = 0; i < 5; i++)
    if (src[i])
      {
        memcpy (p, src[i], lens[i]);
        *dst[i] = p;
        p += lens[i];
      }
  x->last_rtt_us = -1;
  return x;
}

static AddrEntry *
addr_entry_get (WwIo *io, const char *address)
{
  AddrEntry *entry = g_hash_table_lookup (io->per_address, address);

  if (entry == NULL)
    {
      entry = g_new0 (AddrEntry, 1);
      entry->hs_tokens = io->config->handshakes_per_second_per_address;
      entry->hs_at = (guint32) io->now_ms;
      g_hash_table_insert (io->per_address, g_strdup (address), entry);
    }
  return entry;
}

/* Token bucket per source address: rate a second, one second of burst. */
static gboolean
handshake_rate_ok (WwIo *io, WwPeer *peer)
{
  guint rate = io->config->handshakes_per_second_per_address;
  g_autofree char *address = ww_io_peer_dup_address (peer);
  AddrEntry *entry = addr_entry_get (io, address);
  guint32 now = (guint32) io->now_ms;

  entry->hs_tokens = MIN ((double) rate, entry->hs_tokens + (double) (now - entry->hs_at) * rate / 1000.0);
  entry->hs_at = now;
  if (entry->hs_tokens < 1.0)
    return FALSE;
  entry->hs_tokens -= 1.0;
  return TRUE;
}

static gboolean
addr_entry_stale (gpointer key, gpointer value, gpointer data)
{
  AddrEntry *entry = value;
  WwIo *io = data;

  return entry->count == 0 && (guint32) io->now_ms - entry->hs_at >= 1000;
}

static void
http_upgrade (WwPeer *peer, const WwHttpRequest *req, const char *path)
{
  WwIo *io = peer->io;
  const WwServerConfig *c = io->config;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autofree char *address = NULL;
  WwHandshake hs = { 0 };
  WwEndpoint *ep;
  AddrEntry *entry;
  guint per_addr;
  WwDeflateParams deflate_params = { 0 };
  g_autofree char *deflate_response = NULL;
  gboolean have_deflate = FALSE;

  ep = ww_server_lookup_endpoint (io->server, path);
  if (ep == NULL)
    {
      http_fail (peer, WW_HS_FAIL_NOT_FOUND, 404, "not_found",
                 "No WebSocket endpoint at this path", NULL, FALSE);
      return;
    }
  if (c->handshakes_per_second_per_address && !handshake_rate_ok (io, peer))
    {
      const char *retry[] = { "Retry-After: 1", NULL };

      http_fail (peer, WW_HS_FAIL_RATE, 429, "too_many_handshakes",
                 "Too many handshakes from this address; try again later", retry, FALSE);
      return;
    }
  if (!ww_handshake_validate (req, NULL, &hs, &error))
    {
      guint status = error->domain == WW_HTTP_ERROR && error->code >= 400 && error->code < 600
                     ? (guint) error->code : 400;
      const char *v13[] = { "Sec-WebSocket-Version: 13", NULL };

      http_fail (peer,
                 status == 405 ? WW_HS_FAIL_METHOD
                 : status == 426 ? WW_HS_FAIL_VERSION : WW_HS_FAIL_BAD_REQUEST,
                 status,
                 status == 405 ? "method_not_allowed"
                 : status == 426 ? "upgrade_required" : "bad_handshake",
                 error->message, status == 426 ? v13 : NULL, FALSE);
      ww_handshake_clear (&hs);
      return;
    }
  if (!ww_server_check_token (c, req))
    {
      ww_handshake_clear (&hs);
      const char *www[] = { "WWW-Authenticate: Bearer realm=\"wirewatch\"", NULL };

      http_fail (peer, WW_HS_FAIL_UNAUTHORIZED, 401, "unauthorized",
                 "A valid access token is required", www, FALSE);
      return;
    }
  if (!origin_ok (io, req))
    {
      ww_handshake_clear (&hs);
      http_fail (peer, WW_HS_FAIL_FORBIDDEN, 403, "forbidden_origin",
                 "This origin may not connect", NULL, FALSE);
      return;
    }

  address = ww_io_peer_dup_address (peer);
  entry = g_hash_table_lookup (io->per_address, address);
  per_addr = entry ? entry->count : 0;
  if (io->shutting_down ||
      (c->max_connections && io->n_ws >= c->max_connections) ||
      (c->max_per_address && per_addr >= c->max_per_address))
    {
      const char *retry[] = { "Retry-After: 1", NULL };

      ww_handshake_clear (&hs);
      if (!io->shutting_down)
        REFUSE (io, c->max_per_address && per_addr >= c->max_per_address
                    ? WW_REFUSE_PER_ADDRESS : WW_REFUSE_MAX_CONNECTIONS);
      http_fail (peer, WW_HS_FAIL_TOO_MANY, 503, "too_many_connections",
                 io->shutting_down ? "The server is shutting down"
                 : per_addr >= c->max_per_address && c->max_per_address
                   ? "Too many connections from this address"
                   : "Too many connections", retry, FALSE);
      return;
    }

  if (io->deflate_shared && hs.extensions)
    have_deflate = ww_deflate_negotiate (&io->deflate_config, hs.extensions,
                                         &deflate_params, &deflate_response);
  response = ww_handshake_build_response (&hs, deflate_response);
  ww_handshake_clear (&hs);

  {
    g_autofree char *query = query_without_token (ww_http_request_get_query (req));

    peer->extra = extra_new (address,
                             ww_http_request_get_header (req, "Origin"),
                             ww_http_request_get_header (req, "User-Agent"),
                             path, query);
  }
  peer->extra->id = ww_server_next_peer_id (io->server);
  peer->extra->connected_at = g_get_real_time ();
  peer->extra->tokens = c->rate_limit;
  if (have_deflate)
    {
      peer->extra->deflate = ww_deflate_new (WW_ROLE_SERVER, &deflate_params,
                                             &io->deflate_config, io->deflate_shared);
      ww_deflate_set_max_message (peer->extra->deflate, ep->max_message);
    }
  peer->extra->tokens_at = (guint32) io->now_ms;
  g_clear_pointer (&peer->head, g_byte_array_unref);

  if (entry == NULL)
    entry = addr_entry_get (io, address);
  entry->count++;
  io->n_ws++;
  WW_COUNT (io->counters, connections_active, 1);
  WW_COUNT (io->counters, connections_total, 1);
  WW_COUNT (io->counters, handshakes, 1);

  peer_write_direct (peer, response);
  if (peer->state == WW_PEER_DEAD)
    return;

  peer->endpoint = ep;
  peer->state = WW_PEER_OPEN;
  peer->ep_index = ep->peers->len;
  g_ptr_array_add (ep->peers, peer);
  peer->last_in = (guint32) io->now_ms;
  peer_arm_open_timer (peer);

  peer->flags |= WW_PEER_F_OPENED;
  if (ep->vtable.opened)
    ep->vtable.opened (peer, ep->user_data);
}

static void
http_request (WwPeer *peer, const char *head, gsize len)
{
  WwIo *io = peer->io;
  g_autoptr(GError) error = NULL;
  g_autoptr(WwHttpRequest) req = NULL;
  const char *path, *cl, *te;
  gboolean head_only;

  /* Pipelined requests from a client that does not read its answers
   * would grow the queue without bound: the queue limit applies here too. */
  if (io->config->max_queue_bytes && queue_size (peer->out) > io->config->max_queue_bytes)
    {
      WW_COUNT (io->counters, backpressure_closes, 1);
      REFUSE (io, WW_REFUSE_PEER_QUEUE);
      g_info ("HTTP client does not read its responses (%" G_GSIZE_FORMAT " bytes queued): dropped",
              queue_size (peer->out));
      peer_drop (peer, "HTTP responses not read");
      return;
    }
  WW_COUNT (io->counters, http_requests, 1);
  req = ww_http_request_parse (head, len, &error);
  if (req == NULL)
    {
      guint status = error->domain == WW_HTTP_ERROR && error->code >= 400 && error->code < 600
                     ? (guint) error->code : 400;

      http_fail (peer, WW_HS_FAIL_BAD_REQUEST, status, "bad_request", error->message, NULL, FALSE);
      return;
    }
  head_only = g_str_equal (ww_http_request_get_method (req), "HEAD");
  path = ww_http_request_get_path (req);
  if (path == NULL)
    {
      http_fail (peer, WW_HS_FAIL_BAD_REQUEST, 400, "bad_request",
                 "The request path does not decode", NULL, head_only);
      return;
    }

  if (ww_handshake_is_upgrade (req))
    {
      http_upgrade (peer, req, path);
      return;
    }

  {
    WwHttpExchange ex = { 0 };

    ex.server = io->server;
    ex.peer = peer;
    ex.request = req;
    ex.path = path;
    ex.head_only = head_only;
    ex.keep_alive = ww_http_request_wants_keep_alive (req) && !io->shutting_down;
    /* We read no request bodies: after one the stream cannot be trusted,
     * so answer and close. */
    cl = ww_http_request_get_header (req, "Content-Length");
    te = ww_http_request_get_header (req, "Transfer-Encoding");
    if (te || (cl && g_strcmp0 (cl, "0") != 0))
      {
        /* No route takes a body: refuse it at once rather than wait for
         * bytes that may never come (slow-body). */
        REFUSE (io, WW_REFUSE_REQUEST_BODY);
        http_fail (peer, WW_HS_FAIL_BAD_REQUEST, 413, "body_not_accepted",
                   "This server accepts no request bodies", NULL, head_only);
        return;
      }

    ww_server_handle_http (io->server, &ex);
    if (!ex.responded && peer->state == WW_PEER_HTTP)
      {
        g_autoptr(GBytes) response =
          ww_http_response_build_error (500, "internal_error", "The handler gave no answer",
                                        NULL, head_only, ex.keep_alive);

        ww_http_exchange_send (&ex, response);
      }
    g_free (ex.address);
  }

  peer->flags |= WW_PEER_F_SERVED;
  if (peer->state == WW_PEER_HTTP)
    timer_set (io, peer, ticks_from_now (io, io->config->handshake_timeout_ms));
}

/* Returns how many bytes of @buf were used; the rest belongs to the
 * WebSocket stream when the peer upgraded. */
static gsize
http_consume (WwPeer *peer, const guint8 *buf, gsize len)
{
  WwIo *io = peer->io;
  gsize max_head = io->config->max_header ? io->config->max_header : 16384;
  gsize used = 0;

  while (peer->state == WW_PEER_HTTP && used < len)
    {
      g_autoptr(GError) error = NULL;
      gssize end;

      if (peer->head && peer->head->len > 0)
        {
          /* Never gather more than the limit allows (checked before
           * allocation): at most max_head + 1 bytes are kept. */
          gsize take = MIN (len - used, max_head + 1 - MIN (peer->head->len, max_head + 1));
          gsize leftover;
          g_autoptr(GByteArray) head = NULL;

          if (take == 0)
            {
              http_fail (peer, WW_HS_FAIL_HEADER_TOO_LARGE, 431, "header_too_large",
                         "The request header block is too large", NULL, FALSE);
              return len;
            }

          g_byte_array_append (peer->head, buf + used, take);
          used += take;
          end = ww_http_find_head_end (peer->head->data, peer->head->len, max_head, &error);
          if (end < 0)
            {
              http_fail (peer, WW_HS_FAIL_HEADER_TOO_LARGE, 431, "header_too_large",
                         "The request header block is too large", NULL, FALSE);
              return len;
            }
          if (end == 0)
            continue;
          /* Bytes after the head go back to the stream. */
          leftover = peer->head->len - (gsize) end;
          used -= leftover;
          head = g_steal_pointer (&peer->head);
          http_request (peer, (const char *) head->data, (gsize) end);
          continue;
        }

      end = ww_http_find_head_end (buf + used, len - used, max_head, &error);
      if (end < 0)
        {
          http_fail (peer, WW_HS_FAIL_HEADER_TOO_LARGE, 431, "header_too_large",
                     "The request header block is too large", NULL, FALSE);
          return len;
        }
      if (end == 0)
        {
          if (peer->head == NULL)
            peer->head = g_byte_array_sized_new ((guint) MIN (len - used + 512, max_head + 1));
          g_byte_array_append (peer->head, buf + used, len - used);
          return len;
        }
      http_request (peer, (const char *) buf + used, (gsize) end);
      used += (gsize) end;
    }
  return used;
}

/* ---- readiness ------------------------------------------------------------ */

/* What one read of @n bytes into io->rbuf (or its error in errno) means. */
static void
peer_handle_read (WwPeer *peer, gssize n)
{
  WwIo *io = peer->io;

  if (n == 0)
    {
      peer_drop (peer, "end of stream");
      return;
    }
  if (n < 0)
    {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        peer_drop (peer, g_strerror (errno));
      return;
    }

  WW_COUNT (io->counters, bytes_in, (guint64) n);
  if (peer->extra)
    peer->extra->bytes_in += (guint64) n;

  switch (peer->state)
    {
    case WW_PEER_HTTP:
      {
        gsize used = http_consume (peer, io->rbuf, (gsize) n);

        if (peer->state == WW_PEER_OPEN && used < (gsize) n)
          ws_consume (peer, io->rbuf + used, (gsize) n - used);
      }
      break;
    case WW_PEER_OPEN:
    case WW_PEER_CLOSE_SENT:
      ws_consume (peer, io->rbuf, (gsize) n);
      break;
    default:
      /* LINGER: input after the close is discarded until EOF. */
      break;
    }
}

static void
peer_on_readable (WwPeer *peer)
{
  /* TLS peers drain GnuTLS's buffer too; the plain path reads once. */
  if (G_UNLIKELY (peer->transport != NULL))
    {
      tls_on_readable (peer);
      return;
    }
  peer_handle_read (peer, recv (peer->fd, peer->io->rbuf, READ_BUF_SIZE, 0));
}

/* ---- TLS (wss://) --------------------------------------------------------- */

/*
 * A TLS peer's transport: the vtable comes first so that peer->transport
 * leads back to the whole record.  The accepted fd stays in our epoll set;
 * GIO gets a dup of it (closing ours alone would leave the file open, so
 * tls_free removes it from epoll explicitly).  Only during the handshake
 * does a peer cost a GSource of its own, GIO's.
 */
typedef enum {
  TLS_WAIT_HELLO,  /* nothing read yet: a plain-HTTP client gets a 400 */
  TLS_HANDSHAKE,   /* out of epoll; GIO drives it */
  TLS_READY,
} TlsPhase;

typedef struct {
  WwTransport   vtable;
  WwIo         *io;        /* outlives every handshake: see io_finish_shutdown */
  WwPeer       *peer;      /* NULL once the peer is gone */
  GIOStream    *tls;
  GCancellable *cancel;
  char         *address;   /* while handshaking */
  gboolean      ok;        /* the handshake's result */
  GError       *error;
  TlsPhase      phase;
  gboolean      pending;   /* in io->tls_pending */
} TlsPeer;

/*
 * glib-networking's handshakes block a thread each, and both its sync and
 * async variants end up in GIO's small shared task pool, which grows only
 * slowly: forty stalled clients delayed a good handshake by 4.5 s.  One
 * source address may therefore hold only a few handshakes at a time (the
 * rest are refused); many addresses can still slow handshakes down until
 * the handshake timeout frees their threads (see the report of issue 8).
 * Our own pool makes the hand-back deterministic: finished handshakes come
 * back through an eventfd in the epoll set, and shutdown waits for them.
 */
#define TLS_HANDSHAKE_THREADS        64
#define TLS_HANDSHAKES_PER_ADDRESS   8
#define TLS_EFD_MARK                 (((guint64) G_MAXUINT32 << 1) | 1)

/* A handful of 64 KiB reads per wake-up, then the others get their turn. */
#define TLS_READS_PER_WAKE 16

static inline TlsPeer *
tls_of (WwPeer *peer)
{
  return (TlsPeer *) peer->transport;
}

static void
tls_peer_destroy (TlsPeer *t)
{
  g_free (t->address);
  g_clear_error (&t->error);
  g_clear_object (&t->cancel);
  g_clear_object (&t->tls);
  g_free (t);
}

static gssize
tls_read (WwPeer *peer, void *buf, gsize len)
{
  TlsPeer *t = tls_of (peer);
  g_autoptr(GError) error = NULL;
  gssize n;

  if (t->phase != TLS_READY)
    return recv (peer->fd, buf, len, 0);
  n = g_pollable_input_stream_read_nonblocking (
        G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (t->tls)),
        buf, len, NULL, &error);
  if (n >= 0)
    return n;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    errno = EAGAIN;
  else
    {
      g_debug ("TLS read: %s", error->message);
      errno = ECONNRESET;
    }
  return -1;
}

static gssize
tls_writev (WwPeer *peer, const struct iovec *iov, int n_iov)
{
  TlsPeer *t = tls_of (peer);
  g_autoptr(GError) error = NULL;
  GOutputVector vec[MAX_IOV];
  gsize written = 0;
  GPollableReturn r;
  int n = MIN (n_iov, MAX_IOV);

  if (t->phase != TLS_READY)
    {
      /* Only the plain refusal of a client that did not speak TLS. */
      struct msghdr msg = { 0 };

      msg.msg_iov = (struct iovec *) iov;
      msg.msg_iovlen = n_iov;
      return sendmsg (peer->fd, &msg, MSG_NOSIGNAL);
    }
  for (int i = 0; i < n; i++)
    {
      vec[i].buffer = iov[i].iov_base;
      vec[i].size = iov[i].iov_len;
    }
  r = g_pollable_output_stream_writev_nonblocking (
        G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (t->tls)),
        vec, (gsize) n, &written, NULL, &error);
  if (r == G_POLLABLE_RETURN_OK)
    return (gssize) written;
  if (r == G_POLLABLE_RETURN_WOULD_BLOCK)
    {
      errno = EAGAIN;
      return -1;
    }
  g_debug ("TLS write: %s", error ? error->message : "failed");
  errno = EPIPE;
  return -1;
}

static void
tls_free (WwPeer *peer)
{
  TlsPeer *t = tls_of (peer);
  WwIo *io = peer->io;

  epoll_ctl (io->epfd, EPOLL_CTL_DEL, peer->fd, NULL);
  if (t->pending)
    g_ptr_array_remove_fast (io->tls_pending, peer);
  t->peer = NULL;
  if (t->phase == TLS_HANDSHAKE)
    {
      /* The callback still runs and frees the record. */
      g_cancellable_cancel (t->cancel);
      return;
    }
  tls_peer_destroy (t);
}

static void
tls_accepted (WwPeer *peer)
{
  TlsPeer *t = g_new0 (TlsPeer, 1);

  t->vtable.read = tls_read;
  t->vtable.writev = tls_writev;
  t->vtable.free = tls_free;
  t->io = peer->io;
  t->peer = peer;
  t->phase = TLS_WAIT_HELLO;
  peer->transport = &t->vtable;
}

static void
tls_read_all (WwPeer *peer)
{
  WwIo *io = peer->io;

  for (guint i = 0; i < TLS_READS_PER_WAKE; i++)
    {
      gssize n = tls_read (peer, io->rbuf, READ_BUF_SIZE);

      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      peer_handle_read (peer, n);
      if (n <= 0 || peer->state == WW_PEER_DEAD)
        return;
    }
  /* GnuTLS may hold decrypted records that epoll will not report again. */
  tls_of (peer)->pending = TRUE;
  g_ptr_array_add (io->tls_pending, peer);
  io_wake (io);
}

static void
tls_resume (WwPeer *peer)
{
  tls_of (peer)->pending = FALSE;
  if (peer->state != WW_PEER_DEAD)
    tls_read_all (peer);
}

/* On a pool thread: the connection belongs to it until it is queued. */
static void
tls_handshake_thread (gpointer data, gpointer user_data)
{
  TlsPeer *t = data;
  WwIo *io = user_data;
  guint64 one = 1;

  t->ok = g_tls_connection_handshake (G_TLS_CONNECTION (t->tls), t->cancel, &t->error);
  g_async_queue_push (io->tls_done, t);
  if (write (io->tls_efd, &one, sizeof one) < 0)
    g_debug ("eventfd: %s", g_strerror (errno));
}

static void
tls_handshake_finish (WwIo *io, TlsPeer *t)
{
  struct epoll_event ev = { 0 };
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (io->tls_per_address, t->address));
  WwPeer *peer;

  io->n_tls_handshakes--;
  if (n <= 1)
    g_hash_table_remove (io->tls_per_address, t->address);
  else
    g_hash_table_insert (io->tls_per_address, g_strdup (t->address), GUINT_TO_POINTER (n - 1));
  g_clear_pointer (&t->address, g_free);
  peer = t->peer;
  if (peer == NULL)
    {
      tls_peer_destroy (t);
      return;
    }
  t->phase = TLS_READY;
  if (!t->ok)
    {
      WW_COUNT (io->counters, handshake_failures, 1);
      WW_COUNT (io->counters, hs_fail[WW_HS_FAIL_TLS], 1);
      REFUSE (io, WW_REFUSE_TLS);
      g_debug ("TLS handshake failed: %s", t->error ? t->error->message : "?");
      g_clear_error (&t->error);
      peer_drop (peer, "TLS handshake failed");
      return;
    }
  ev.events = EPOLLIN | ((peer->flags & WW_PEER_F_POLLOUT) ? EPOLLOUT : 0);
  ev.data.ptr = peer;
  epoll_ctl (io->epfd, EPOLL_CTL_MOD, peer->fd, &ev);
  /* The first request may have come with the handshake's last flight. */
  tls_read_all (peer);
}

static void
tls_collect (WwIo *io)
{
  guint64 n;
  TlsPeer *t;

  if (read (io->tls_efd, &n, sizeof n) < 0 && errno != EAGAIN)
    g_debug ("eventfd: %s", g_strerror (errno));
  while ((t = g_async_queue_try_pop (io->tls_done)) != NULL)
    tls_handshake_finish (io, t);
}

static void
tls_start_handshake (WwPeer *peer)
{
  TlsPeer *t = tls_of (peer);
  WwIo *io = peer->io;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  struct epoll_event ev = { 0 };
  int fd2 = dup (peer->fd);

  if (fd2 < 0 || (socket = g_socket_new_from_fd (fd2, &error)) == NULL)
    {
      if (fd2 >= 0)
        close (fd2);
      peer_drop (peer, "cannot set up TLS");
      return;
    }
  conn = g_socket_connection_factory_create_connection (socket);
  /* As g_tls_server_connection_new(), but with no trust database set at
   * construction: we ask for no client certificates, and otherwise
   * glib-networking parses the whole system trust store for every
   * connection (milliseconds of CPU each). */
  t->tls = g_initable_new (g_tls_backend_get_server_connection_type (g_tls_backend_get_default ()),
                           NULL, &error,
                           "base-io-stream", conn,
                           "certificate", io->tls_cert,
                           "database", NULL,
                           NULL);
  if (t->tls == NULL)
    {
      g_warning ("Cannot start TLS: %s", error->message);
      peer_drop (peer, "cannot set up TLS");
      return;
    }
  /* Many clients just close; that is not an attack on a WebSocket stream,
   * whose own close handshake says where the data ends. */
  g_tls_connection_set_require_close_notify (G_TLS_CONNECTION (t->tls), FALSE);
  t->address = ww_io_peer_dup_address (peer);
  {
    guint n = GPOINTER_TO_UINT (g_hash_table_lookup (io->tls_per_address, t->address));

    if (n >= TLS_HANDSHAKES_PER_ADDRESS)
      {
        WW_COUNT (io->counters, handshake_failures, 1);
        WW_COUNT (io->counters, hs_fail[WW_HS_FAIL_TLS], 1);
        REFUSE (io, WW_REFUSE_PER_ADDRESS);
        g_debug ("Too many TLS handshakes in progress from %s", t->address);
        g_clear_pointer (&t->address, g_free);
        peer_drop (peer, "too many TLS handshakes from this address");
        return;
      }
    g_hash_table_insert (io->tls_per_address, g_strdup (t->address), GUINT_TO_POINTER (n + 1));
  }
  ev.events = 0;
  ev.data.ptr = peer;
  epoll_ctl (io->epfd, EPOLL_CTL_MOD, peer->fd, &ev);
  t->cancel = g_cancellable_new ();
  t->phase = TLS_HANDSHAKE;
  io->n_tls_handshakes++;
  g_thread_pool_push (io->tls_pool, t, NULL);
}

static void
tls_on_readable (WwPeer *peer)
{
  TlsPeer *t = tls_of (peer);

  if (t->phase == TLS_WAIT_HELLO && peer->state == WW_PEER_HTTP)
    {
      guint8 first;
      gssize n = recv (peer->fd, &first, 1, MSG_PEEK);

      if (n == 0)
        peer_drop (peer, "end of stream");
      else if (n < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            peer_drop (peer, g_strerror (errno));
        }
      else if (first == 0x16) /* a TLS handshake record */
        tls_start_handshake (peer);
      else
        http_fail (peer, WW_HS_FAIL_TLS, 400, "tls_required",
                   "This port speaks TLS: use https:// and wss://", NULL, FALSE);
      return;
    }
  if (t->phase == TLS_HANDSHAKE)
    return;
  tls_read_all (peer);
}

static void
peer_trim (WwPeer *peer)
{
  if (peer->extra && peer->extra->deflate)
    peer->io->released += ww_deflate_release_idle (peer->extra->deflate);
  if (peer->parser && (peer->flags & WW_PEER_F_BOUNDARY) &&
      !ww_message_parser_in_message (peer->parser))
    {
      g_clear_pointer (&peer->parser, ww_message_parser_free);
      peer->io->released += sizeof (gpointer) * 8; /* the parser: 64 bytes */
    }
  /* A feed client that received anything in the period will again: its
   * queue stays (freeing and rebuilding it is churn, not savings). */
  if (peer->out && peer->out->used)
    peer->out->used = FALSE;
  else if (peer->out && queue_size (peer->out) == 0 && !(peer->flags & WW_PEER_F_DIRTY))
    {
      peer->io->released += sizeof *peer->out + peer->out->cap * sizeof (GBytes *) +
                            peer->out->s_cap;
      queue_free (peer->io, peer->out);
      peer->out = NULL;
    }
}

/*
 * Idle trims free zlib streams of 10+ KiB each, scattered between live
 * peers, where malloc keeps them: the process's RSS would not go down.
 * Hand whole free pages back once a few MiB have been released, at most
 * once a second (malloc_trim walks the heap: ~1 ms per 10 MiB).
 */
#define RETURN_RELEASED_BYTES (4 * 1024 * 1024)
#define RETURN_RELEASED_MS    1000

static void
return_released_memory (WwIo *io)
{
  if (io->released < RETURN_RELEASED_BYTES || io->now_ms < io->malloc_trim_at_ms)
    return;
#ifdef __GLIBC__
  malloc_trim (0);
#endif
  io->released = 0;
  io->malloc_trim_at_ms = io->now_ms + RETURN_RELEASED_MS;
}

static void
peer_on_timer (WwPeer *peer)
{
  WwIo *io = peer->io;
  const WwServerConfig *c = io->config;

  switch (peer->state)
    {
    case WW_PEER_HTTP:
      if (!(peer->flags & WW_PEER_F_SERVED))
        {
          WW_COUNT (io->counters, handshake_failures, 1);
          WW_COUNT (io->counters, hs_fail[WW_HS_FAIL_TIMEOUT], 1);
          REFUSE (io, WW_REFUSE_SLOW_HEADER);
          g_debug ("Handshake timeout: closing the connection");
        }
      peer_drop (peer, "handshake timeout");
      return;

    case WW_PEER_OPEN:
      if (c->idle_timeout_ms && (guint32) io->now_ms - peer->last_in >= c->idle_timeout_ms)
        {
          REFUSE (io, WW_REFUSE_IDLE);
          ww_peer_close (peer, WW_CLOSE_GOING_AWAY, "idle");
          return;
        }
      if (c->heartbeat_ms)
        {
          /* Two pings in a row unanswered: the peer is gone, and no close
           * handshake is possible (DESIGN "Heartbeat"). */
          if (peer->missed_pongs >= 2)
            {
              WW_COUNT (io->counters, heartbeat_timeouts, 1);
              g_info ("Peer %" G_GUINT64_FORMAT " (%s) missed two pings: dropped",
                      peer->extra->id, peer->extra->address);
              peer_drop (peer, "heartbeat timeout");
              return;
            }
          peer_trim (peer);
          peer->missed_pongs++;
          peer_send_ping (peer);
          if (peer->state != WW_PEER_OPEN)
            return;
        }
      else
        peer_trim (peer);
      peer_arm_open_timer (peer);
      return;

    default:
      /* CLOSE_SENT or LINGER ran out of time. */
      peer_drop (peer, "close timeout");
      return;
    }
}

static void
io_listen_enable (WwIo *io, gboolean enable)
{
  for (guint i = 0; i < io->listeners->len; i++)
    {
      int fd = g_socket_get_fd (io->listeners->pdata[i]);
      struct epoll_event ev = { 0 };

      ev.events = EPOLLIN;
      ev.data.u64 = ((guint64) i << 1) | 1;
      epoll_ctl (io->epfd, enable ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev);
    }
  io->listening = enable;
}

static void
io_accept (WwIo *io, guint index)
{
  int lfd = g_socket_get_fd (io->listeners->pdata[index]);

  for (guint k = 0; k < ACCEPT_BATCH && !io->shutting_down; k++)
    {
      struct epoll_event ev = { 0 };
      WwPeer *peer;
      int one = 1;
      int fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (fd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED)
            continue;
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            {
              /* Out of descriptors: stop accepting for a moment instead of
               * spinning on a listener that stays readable. */
              if (io->now_ms >= io->accept_warned_ms)
                {
                  /* Once a minute at most: this repeats every pause. */
                  g_message ("Cannot accept connections: %s; pausing for %u ms",
                             g_strerror (errno), ACCEPT_PAUSE_MS);
                  io->accept_warned_ms = io->now_ms + 60000;
                }
              io_listen_enable (io, FALSE);
              io->accept_paused = TRUE;
              io->accept_resume_ms = io->now_ms + ACCEPT_PAUSE_MS;
            }
          return;
        }
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

      peer = g_new0 (WwPeer, 1);
      peer->fd = fd;
      peer->io = io;
      peer->state = WW_PEER_HTTP;
      ev.events = EPOLLIN;
      ev.data.ptr = peer;
      if (epoll_ctl (io->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        {
          close (fd);
          g_free (peer);
          continue;
        }
      peer->conn_index = io->conns->len;
      g_ptr_array_add (io->conns, peer);
      WW_COUNT (io->counters, tcp_active, 1);
      WW_COUNT (io->counters, tcp_total, 1);
      /* The handshake timeout covers the TLS handshake as well. */
      timer_set (io, peer, ticks_from_now (io, io->config->handshake_timeout_ms));
      if (io->tls_cert)
        tls_accepted (peer);
    }
}

static void
flush_dirty (WwIo *io)
{
  while (io->dirty)
    {
      WwPeer *peer = io->dirty;

      io->dirty = peer->dirty_next;
      peer->dirty_next = NULL;
      peer->flags &= ~WW_PEER_F_DIRTY;
      if (peer->state != WW_PEER_DEAD)
        peer_flush (peer);
    }
}

static void
settle (WwIo *io)
{
  for (;;)
    {
      g_autoptr(GPtrArray) dead = NULL;

      flush_dirty (io);
      if (io->graveyard->len == 0)
        break;
      /* Nothing dead is on the dirty list now, and nothing dead can be put
       * back on it: the callbacks below may touch these peers safely. */
      dead = g_steal_pointer (&io->graveyard);
      io->graveyard = g_ptr_array_new ();
      for (guint i = 0; i < dead->len; i++)
        {
          WwPeer *peer = dead->pdata[i];

          if ((peer->flags & WW_PEER_F_OPENED) && peer->endpoint->vtable.closed)
            peer->endpoint->vtable.closed (peer, peer->extra->close_code,
                                           peer->endpoint->user_data);
        }
      for (guint i = 0; i < dead->len; i++)
        peer_free (dead->pdata[i]);
    }
}

static void
io_finish_shutdown (WwIo *io)
{
  while (io->conns->len > 0)
    peer_drop (io->conns->pdata[io->conns->len - 1], "server stopped");
  settle (io);
  /* Every handshake left was cancelled by its peer's drop: wait for the
   * pool to hand them back, then free them with their sockets. */
  if (io->tls_pool)
    {
      g_thread_pool_free (io->tls_pool, FALSE, TRUE);
      io->tls_pool = NULL;
      tls_collect (io);
      g_warn_if_fail (io->n_tls_handshakes == 0);
    }
  io->finished = TRUE;
}

static gboolean
io_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  WwIo *io = ((WwIoSource *) source)->io;
  struct epoll_event events[MAX_EVENTS];
  int n;

  /* See ww_io_new(): the source may recurse, but we do not. */
  if (io->in_dispatch)
    return G_SOURCE_CONTINUE;
  io->in_dispatch = TRUE;
  io_update_now (io);

  if (io->tls_pending->len > 0)
    {
      g_autoptr(GPtrArray) pending = g_steal_pointer (&io->tls_pending);

      io->tls_pending = g_ptr_array_new ();
      for (guint i = 0; i < pending->len; i++)
        tls_resume (pending->pdata[i]);
    }

  n = epoll_wait (io->epfd, events, MAX_EVENTS, 0);
  for (int i = 0; i < n; i++)
    {
      if (events[i].data.u64 & 1)
        {
          if (events[i].data.u64 == TLS_EFD_MARK)
            tls_collect (io);
          else if (io->listening)
            io_accept (io, (guint) (events[i].data.u64 >> 1));
          continue;
        }
      else
        {
          WwPeer *peer = events[i].data.ptr;

          /* A peer dropped earlier in this batch is still allocated (the
           * graveyard is emptied below), so this check is safe. */
          if (peer->state == WW_PEER_DEAD)
            continue;
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            peer_on_readable (peer);
          if (peer->state != WW_PEER_DEAD && (events[i].events & EPOLLOUT))
            peer_flush (peer);
        }
    }

  if (io->accept_paused && io->now_ms >= io->accept_resume_ms)
    {
      io->accept_paused = FALSE;
      if (!io->shutting_down)
        io_listen_enable (io, TRUE);
    }

  timers_run (io);
  return_released_memory (io);
  while (io->doomed->len > 0)
    {
      WwPeer *peer = io->doomed->pdata[io->doomed->len - 1];

      REFUSE (io, WW_REFUSE_TOTAL_QUEUE);
      WW_COUNT (io->counters, backpressure_closes, 1);
      g_info ("Peer %" G_GUINT64_FORMAT " has the biggest send queue (%" G_GSIZE_FORMAT
              " bytes) while all queues are full: dropped",
              peer->extra ? peer->extra->id : 0, queue_size (peer->out));
      if (peer->extra)
        peer->extra->close_code = WW_CLOSE_POLICY_VIOLATION;
      peer_drop (peer, "total send queue bound");
    }
  io->doomed_bytes = 0;
  settle (io);

  if (io->config->handshakes_per_second_per_address && io->now_ms >= io->sweep_at_ms)
    {
      g_hash_table_foreach_remove (io->per_address, addr_entry_stale, io);
      io->sweep_at_ms = io->now_ms + 10000;
    }

  if (io->shutting_down && !io->finished &&
      (io->conns->len == 0 || io->now_ms >= io->shutdown_deadline_ms))
    io_finish_shutdown (io);

  io->in_dispatch = FALSE;
  io_update_ready_time (io);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs io_source_funcs = {
  NULL, NULL, io_source_dispatch, NULL, NULL, NULL,
};

WwIo *
ww_io_new (WwServer *server, GMainContext *context, GPtrArray *listeners)
{
  WwIo *io = g_new0 (WwIo, 1);
  WwIoSource *source;

  io->server = server;
  io->config = ww_server_get_config (server);
  io->counters = ww_server_get_counters_priv (server);
  io->latency = ww_server_get_latency_priv (server);
  io->context = g_main_context_ref (context);
  io->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (io->epfd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));
  io->listeners = g_ptr_array_ref (listeners);
  io->conns = g_ptr_array_new ();
  io->per_address = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  io->graveyard = g_ptr_array_new ();
  io->rbuf = g_malloc (READ_BUF_SIZE);
  io->tls_pending = g_ptr_array_new ();
  io->doomed = g_ptr_array_new ();
  io->tls_cert = ww_server_get_tls_certificate_priv (server);
  io->tls_efd = -1;
  if (io->tls_cert)
    {
      struct epoll_event ev = { 0 };

      g_object_ref (io->tls_cert);
      io->tls_pool = g_thread_pool_new (tls_handshake_thread, io, TLS_HANDSHAKE_THREADS,
                                        FALSE, NULL);
      io->tls_done = g_async_queue_new ();
      io->tls_per_address = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      io->tls_efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (io->tls_efd < 0)
        g_error ("eventfd: %s", g_strerror (errno));
      ev.events = EPOLLIN;
      ev.data.u64 = TLS_EFD_MARK;
      epoll_ctl (io->epfd, EPOLL_CTL_ADD, io->tls_efd, &ev);
    }
  io->t0_us = g_get_monotonic_time ();
  io_update_now (io);
  io->wheel_tick = io->now_tick;

  ww_deflate_config_init (&io->deflate_config);
  if (io->config->deflate)
    {
      /* DESIGN: a broadcast is compressed once, so we always ask for
       * server_no_context_takeover (the config's default). */
      io->deflate_config.enabled = TRUE;
      /* Browsers, Node and Python let the server limit their window; a
       * peer that keeps context then holds ~11 KiB of inflate state here
       * instead of ~40 KiB, for a slightly worse ratio on what it sends. */
      io->deflate_config.client_max_window_bits = 12;
      io->deflate_shared = ww_deflate_shared_new (&io->deflate_config);
    }

  io_listen_enable (io, TRUE);

  source = (WwIoSource *) g_source_new (&io_source_funcs, sizeof (WwIoSource));
  source->io = io;
  io->source = (GSource *) source;
  io->ready_time = -1;
  g_source_set_static_name (io->source, "WwServer I/O");
  g_source_add_unix_fd (io->source, io->epfd, G_IO_IN);
  /* A non-recursive source is blocked around each dispatch, and blocking
   * removes and re-adds its fd to the context's poll set, which signals
   * the context's wakeup fd twice: three extra syscalls and one extra
   * loop iteration per wake-up.  Our dispatch guards itself instead. */
  g_source_set_can_recurse (io->source, TRUE);
  g_source_attach (io->source, context);
  return io;
}

void
ww_io_begin_shutdown (WwIo *io)
{
  if (io->shutting_down)
    return;
  io->shutting_down = TRUE;
  io_update_now (io);
  if (io->listening)
    io_listen_enable (io, FALSE);
  io->accept_paused = FALSE;
  io->shutdown_deadline_ms = io->now_ms + MIN (MAX (io->config->close_timeout_ms, 1), 5000);

  for (guint i = io->conns->len; i > 0; i--)
    {
      WwPeer *peer;

      if (i > io->conns->len)
        continue;
      peer = io->conns->pdata[i - 1];
      if (peer->state == WW_PEER_HTTP)
        peer_drop (peer, "server stopping");
      else if (peer->state == WW_PEER_OPEN)
        ww_peer_close (peer, WW_CLOSE_GOING_AWAY, "server shutting down");
    }
  if (!io->in_dispatch)
    io_set_ready_time (io, 0);
}

gboolean
ww_io_is_finished (WwIo *io)
{
  return io->finished;
}

void
ww_io_free (WwIo *io)
{
  if (!io->finished)
    io_finish_shutdown (io);
  g_source_destroy (io->source);
  g_source_unref (io->source);
  close (io->epfd);
  g_ptr_array_unref (io->listeners);
  g_ptr_array_unref (io->conns);
  g_ptr_array_unref (io->graveyard);
  g_ptr_array_unref (io->tls_pending);
  g_ptr_array_unref (io->doomed);
  g_clear_object (&io->tls_cert);
  if (io->tls_pool)
    g_thread_pool_free (io->tls_pool, FALSE, TRUE);
  if (io->tls_done)
    {
      TlsPeer *t;

      while ((t = g_async_queue_try_pop (io->tls_done)) != NULL)
        tls_peer_destroy (t);
      g_async_queue_unref (io->tls_done);
    }
  g_clear_pointer (&io->tls_per_address, g_hash_table_unref);
  if (io->tls_efd >= 0)
    close (io->tls_efd);
  g_hash_table_unref (io->per_address);
  g_clear_pointer (&io->deflate_shared, ww_deflate_shared_free);
  g_main_context_unref (io->context);
  g_free (io->rbuf);
  g_free (io->wbuf);
  g_free (io);
}

gsize
ww_io_get_deflate_shared_memory (WwIo *io)
{
  return io->deflate_shared ? ww_deflate_shared_memory (io->deflate_shared) : 0;
}

guint
ww_io_get_n_connections (WwIo *io)
{
  return io->n_ws;
}

GPtrArray *
ww_io_dup_peer_infos (WwIo *io)
{
  GPtrArray *infos = g_ptr_array_new_full (io->n_ws, (GDestroyNotify) ww_peer_info_free);

  for (guint i = 0; i < io->conns->len; i++)
    {
      WwPeer *peer = io->conns->pdata[i];
      WwPeerExtra *x = peer->extra;
      WwPeerInfo *info;

      if (x == NULL || peer->state == WW_PEER_DEAD)
        continue;
      info = g_new (WwPeerInfo, 1);
      info->id = x->id;
      info->address = g_strdup (x->address);
      info->origin = g_strdup (x->origin);
      info->user_agent = g_strdup (x->user_agent);
      info->path = g_strdup (x->path);
      info->connected_at = x->connected_at;
      info->frames_in = x->frames_in;
      info->frames_out = x->frames_out;
      info->messages_in = x->messages_in;
      info->messages_out = x->messages_out;
      info->bytes_in = x->bytes_in;
      info->bytes_out = x->bytes_out;
      info->queued_bytes = queue_size (peer->out);
      info->last_rtt_us = x->last_rtt_us;
      g_ptr_array_add (infos, info);
    }
  return infos;
}

void
ww_io_kick (WwIo *io, guint64 peer_id, guint16 code, const char *reason)
{
  for (guint i = 0; i < io->conns->len; i++)
    {
      WwPeer *peer = io->conns->pdata[i];

      if (peer->extra && peer->extra->id == peer_id)
        {
          ww_peer_close (peer, code ? code : WW_CLOSE_POLICY_VIOLATION, reason);
          return;
        }
    }
}
