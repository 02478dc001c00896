/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test-redis"

#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "redis-test-util.h"

static void
kill_with_parent (gpointer data)
{
  /* If the test process dies on a failed assertion, redis dies too. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

int
ww_test_free_port (void)
{
  g_autoptr(GSocket) sock = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (sock, addr, TRUE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (sock, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

redisContext *
ww_test_redis_connect (WwTestRedis *redis)
{
  struct timeval tv = { 0, 200 * 1000 };
  redisContext *c = redisConnectWithTimeout ("127.0.0.1", redis->port, tv);

  if (c != NULL && c->err)
    {
      redisFree (c);
      return NULL;
    }
  if (c == NULL)
    return NULL;
  redisSetTimeout (c, (struct timeval) { 2, 0 });
  if (redis->password != NULL)
    {
      redisReply *reply = redisCommand (c, "AUTH %s", redis->password);

      if (reply != NULL)
        freeReplyObject (reply);
    }
  return c;
}

/* PING answered by OUR server: another test may have taken the port
 * between ww_test_free_port() and the bind, so check its directory. */
static gboolean
redis_answers (WwTestRedis *redis)
{
  redisContext *c = ww_test_redis_connect (redis);
  g_autofree char *ours = realpath (redis->tmpdir, NULL);
  redisReply *reply;
  gboolean ok;

  if (c == NULL)
    return FALSE;
  reply = redisCommand (c, "PING");
  ok = reply != NULL && reply->type == REDIS_REPLY_STATUS && g_str_equal (reply->str, "PONG");
  if (reply != NULL)
    freeReplyObject (reply);
  if (ok)
    {
      reply = redisCommand (c, "CONFIG GET dir");
      ok = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
           reply->element[1]->type == REDIS_REPLY_STRING &&
           g_strcmp0 (reply->element[1]->str, ours) == 0;
      if (reply != NULL)
        freeReplyObject (reply);
    }
  redisFree (c);
  return ok;
}

void
ww_test_redis_start (WwTestRedis *redis)
{
  for (guint attempt = 0; attempt < 5; attempt++)
    {
      g_autoptr(GSubprocessLauncher) launcher = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *port = NULL;
      gboolean keep_port = redis->port != 0;

      if (redis->tmpdir == NULL)
        {
          redis->tmpdir = g_dir_make_tmp ("ww-redis-XXXXXX", &error);
          g_assert_no_error (error);
        }
      if (!keep_port)
        redis->port = ww_test_free_port ();
      port = g_strdup_printf ("%d", redis->port);

      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                            G_SUBPROCESS_FLAGS_STDERR_SILENCE);
      g_subprocess_launcher_set_child_setup (launcher, kill_with_parent, NULL, NULL);
      g_subprocess_launcher_set_cwd (launcher, redis->tmpdir);
      {
        const char *argv[] = { WW_TEST_REDIS_SERVER, "--bind", "127.0.0.1", "--port", port,
                               "--save", "", "--appendonly", "no", "--daemonize", "no",
                               "--dir", redis->tmpdir,
                               redis->password ? "--requirepass" : NULL, redis->password,
                               NULL };

        redis->proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
        g_assert_no_error (error);
      }

      /* At most 200 × 25 ms, less when it exits (port taken). */
      for (guint i = 0; i < 200; i++)
        {
          const char *pid = g_subprocess_get_identifier (redis->proc);

          if (redis_answers (redis))
            return;
          if (pid == NULL || kill ((pid_t) g_ascii_strtoll (pid, NULL, 10), 0) != 0)
            break;
          g_usleep (25 * 1000);
        }

      /* Port taken (or too slow): stop it and try another port. */
      ww_test_redis_kill (redis);
      if (keep_port)
        g_usleep (200 * 1000);
      else
        redis->port = 0;
    }
  g_error ("redis-server did not start");
}

void
ww_test_redis_kill (WwTestRedis *redis)
{
  if (redis->proc == NULL)
    return;
  g_subprocess_send_signal (redis->proc, SIGKILL);
  g_subprocess_wait (redis->proc, NULL, NULL);
  g_clear_object (&redis->proc);
}

redisReply *
ww_test_redis_command (WwTestRedis *redis,
                       const char  *fmt,
                       ...)
{
  redisContext *c = ww_test_redis_connect (redis);
  redisReply *reply;
  va_list ap;

  g_assert_nonnull (c);
  va_start (ap, fmt);
  reply = redisvCommand (c, fmt, ap);
  va_end (ap);
  redisFree (c);
  g_assert_nonnull (reply);
  return reply;
}

static gboolean
wake_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

void
ww_test_iterate (GMainContext *context)
{
  GSource *wake = g_timeout_source_new (10);

  g_source_set_callback (wake, wake_cb, NULL, NULL);
  g_source_attach (wake, context);
  g_main_context_iteration (context, TRUE);
  g_source_destroy (wake);
  g_source_unref (wake);
}

void
ww_test_spin (GMainContext *context,
              guint         ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  for (guint i = 0; i < 100000 && g_get_monotonic_time () < end; i++)
    ww_test_iterate (context);
}
