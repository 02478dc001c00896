/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app-test"

#include "config.h"

#include <signal.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "redis-test-util.h"

/*
 * The real binary in window mode, from the command line: --redis and the
 * feed flags must reach the window's server (main.c hands them to
 * WwApplication).  This program uses no GTK itself, so the window it
 * starts (on the suite's Xvfb) cannot disturb another test's windows.
 */

/* An integer reply, or a string that holds one; -1 otherwise.  Frees @reply. */
static gint64
reply_integer (redisReply *reply)
{
  gint64 value = -1;

  if (reply == NULL)
    return -1;
  if (reply->type == REDIS_REPLY_INTEGER)
    value = reply->integer;
  else if (reply->type == REDIS_REPLY_STRING)
    value = g_ascii_strtoll (reply->str, NULL, 10);
  freeReplyObject (reply);
  return value;
}

/*
 * The instance must lead in our redis-server and, with --update-interval
 * 0.2-0.4, bring the shared seq to 40 within seconds; the default 2–7 s
 * schedule would need ~35 s.
 */
static void
test_window_takes_redis_and_feed_flags (void)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) app = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  WwTestRedis redis = { 0 };
  gint64 deadline, seq = -1, leader = 0;

  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL)
    {
      g_test_skip ("no display (make test runs the suites under xvfb-run)");
      return;
    }
  ww_test_redis_start (&redis);
  url = g_strdup_printf ("redis://127.0.0.1:%d", redis.port);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  /* No session bus: a Wirewatch already running on this desktop must not
   * receive our activation instead of a new instance starting. */
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", "disabled:", TRUE);
  {
    const char *argv[] = { WW_WIREWATCH_EXE, "--port", "0", "--no-persist", "--redis", url,
                           "--update-interval", "0.2-0.4", NULL };

    app = g_subprocess_launcher_spawnv (launcher, argv, &error);
  }
  g_assert_no_error (error);

  /* At most 15 s (sanitizer builds start slowly), polled every 100 ms. */
  deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline && g_subprocess_get_identifier (app) != NULL)
    {
      leader = reply_integer (ww_test_redis_command (&redis, "EXISTS wirewatch:leader"));
      seq = reply_integer (ww_test_redis_command (&redis, "GET wirewatch:seq"));
      if (leader == 1 && seq >= 40)
        break;
      g_usleep (100 * 1000);
    }
  g_test_message ("leader %" G_GINT64_FORMAT ", seq %" G_GINT64_FORMAT, leader, seq);

  /* SIGTERM, at most 5 s to exit (GSubprocess reaps on GLib's worker
   * thread), then SIGKILL by PID. */
  g_subprocess_send_signal (app, SIGTERM);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (g_subprocess_get_identifier (app) != NULL && g_get_monotonic_time () < deadline)
    g_usleep (20 * 1000);
  g_subprocess_force_exit (app);
  g_subprocess_wait (app, NULL, NULL);
  ww_test_redis_kill (&redis);
  g_rmdir (redis.tmpdir);
  g_free (redis.tmpdir);

  g_assert_cmpint (leader, ==, 1);
  g_assert_cmpint (seq, >=, 40);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/command-line/redis-and-feed-flags", test_window_takes_redis_and_feed_flags);
  return g_test_run ();
}
