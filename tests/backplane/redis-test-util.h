/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <hiredis/hiredis.h>

G_BEGIN_DECLS

/*
 * A real redis-server for one test: 127.0.0.1, an ephemeral port, no
 * persistence, killed with the test process if that dies first.
 */
typedef struct {
  char        *tmpdir;
  int          port;      /* 0: pick one; kept across restarts */
  const char  *password;  /* --requirepass, or NULL */
  GSubprocess *proc;
} WwTestRedis;

#define WW_TEST_REDIS_SERVER "/usr/bin/redis-server"

int           ww_test_free_port     (void);
/* Starts it and waits (bounded) until it answers PING. */
void          ww_test_redis_start   (WwTestRedis *redis);
/* SIGKILL by PID and reap. */
void          ww_test_redis_kill    (WwTestRedis *redis);
/* A blocking connection, already authenticated; NULL when refused. */
redisContext *ww_test_redis_connect (WwTestRedis *redis);
redisReply   *ww_test_redis_command (WwTestRedis *redis,
                                     const char  *fmt,
                                     ...);

/* One bounded main-loop turn: returns within ~10 ms when idle. */
void          ww_test_iterate       (GMainContext *context);
void          ww_test_spin          (GMainContext *context,
                                     guint         ms);

/* Bounded in time (and in turns, at most ~10 ms each). */
#define WW_TEST_WAIT_UNTIL(ctx, cond, ms) G_STMT_START {                      \
    gint64 wait_end_ = g_get_monotonic_time () + (gint64) (ms) * 1000;       \
    guint wait_turns_ = 0;                                                   \
    while (!(cond))                                                          \
      {                                                                      \
        if (g_get_monotonic_time () > wait_end_ || ++wait_turns_ > 100000)   \
          g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond); \
        ww_test_iterate (ctx);                                               \
      }                                                                      \
  } G_STMT_END

G_END_DECLS
