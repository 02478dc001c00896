/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test-e2e"

#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "client/ww-client.h"
#include "redis-test-util.h"

static void dump_state (gpointer f);

/* WW_TEST_WAIT_UNTIL, but the instances' logs and the clients' seqs go
 * to the test log before a timeout fails the test. */
#define WAIT_UNTIL(ctx, cond, ms) G_STMT_START {                              \
    gint64 wait_end_ = g_get_monotonic_time () + (gint64) (ms) * 1000;       \
    guint wait_turns_ = 0;                                                   \
    while (!(cond))                                                          \
      {                                                                      \
        if (g_get_monotonic_time () > wait_end_ || ++wait_turns_ > 100000)   \
          {                                                                  \
            dump_state (f);                                                  \
            g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond); \
          }                                                                  \
        ww_test_iterate (ctx);                                               \
      }                                                                      \
  } G_STMT_END

/*
 * Three real `wirewatch --headless --redis …` processes behind one real
 * redis-server, two WwClients on each.  Every process is started here,
 * stopped here by its PID (and dies with this process if an assertion
 * fails: PR_SET_PDEATHSIG), and every wait is bounded.
 *
 *  1. all clients see the same UPDATEs under the same consecutive seqs,
 *     PRESENCE counts all six clients, a CHAT sent on one instance
 *     reaches the clients of the others;
 *  2. SIGKILL the leading process: another leads within about a lease,
 *     and the surviving clients' seqs go on without a gap or a duplicate;
 *  3. SIGKILL redis-server: both instances keep serving their clients
 *     (UPDATEs keep coming) and /healthz says "degraded"; restart it: they
 *     rejoin, /healthz says "ok", no client ever sees a seq twice, and
 *     both sides agree again on what each new seq is.
 */

#define N_PROCS       3
#define N_PER_PROC    2
#define N_CLIENTS     (N_PROCS * N_PER_PROC)
#define LEASE_MS      3000  /* the default: the command line has no option */
#define WAIT_MS       20000

static const char *wirewatch_path;

typedef struct {
  GSubprocess      *proc;
  GDataInputStream *out;
  GString          *log;
  int               port;
  gboolean          eof;
  gboolean          exited;
  gboolean          killed;
} Proc;

typedef struct {
  WwClient   *client;
  guint       proc;
  GArray     *seqs;      /* guint64, in the order the client saw them */
  GHashTable *by_seq;    /* seq → "id home-away vN" */
  GPtrArray  *chats;     /* texts */
  guint       presence;  /* last PRESENCE */
} Cli;

typedef struct {
  WwTestRedis   redis;
  GMainContext *context;
  SoupSession  *http;
  Proc          procs[N_PROCS];
  Cli           clients[N_CLIENTS];
} Fixture;

static void
kill_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
on_line (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  Proc *p = data;
  static const char marker[] = "Listening on ws://127.0.0.1:";
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  const char *at;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL,
                                               &error);
  if (line == NULL)
    {
      p->eof = TRUE;
      return;
    }
  g_string_append_printf (p->log, "%s\n", line);
  at = strstr (line, marker);
  if (at != NULL && p->port == 0)
    p->port = atoi (at + strlen (marker));
  g_data_input_stream_read_line_async (p->out, G_PRIORITY_DEFAULT, NULL, on_line, p);
}

static void
on_exited (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  Proc *p = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  p->exited = TRUE;
}

static void
proc_start (Fixture *f,
            Proc    *p)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *redis_url = g_strdup_printf ("redis://127.0.0.1:%d", f->redis.port);
  const char *argv[] = { wirewatch_path, "--headless", "--port", "0", "--no-persist",
                         "--update-interval", "0.1-0.2", "--redis", redis_url, NULL };

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup (launcher, kill_with_parent, NULL, NULL);
  if (g_getenv ("WW_E2E_DEBUG") != NULL)
    g_subprocess_launcher_setenv (launcher, "G_MESSAGES_DEBUG", g_getenv ("WW_E2E_DEBUG"), TRUE);
  p->proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  p->log = g_string_new (NULL);
  p->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p->proc));
  g_data_input_stream_read_line_async (p->out, G_PRIORITY_DEFAULT, NULL, on_line, p);
  g_subprocess_wait_async (p->proc, NULL, on_exited, p);
}

/* SIGTERM (or SIGKILL), bounded; SIGKILL when it does not go in time. */
static void
proc_stop (Fixture *f,
           Proc    *p,
           int      signum)
{
  gint64 end;

  if (p->proc == NULL)
    return;
  if (!p->exited)
    {
      g_subprocess_send_signal (p->proc, signum);
      p->killed = signum == SIGKILL;
      end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
      for (guint i = 0; i < 100000 && !p->exited && g_get_monotonic_time () < end; i++)
        ww_test_iterate (f->context);
      if (!p->exited)
        {
          g_test_message ("process %s ignored signal %d; killing it",
                          g_subprocess_get_identifier (p->proc), signum);
          g_subprocess_send_signal (p->proc, SIGKILL);
          p->killed = TRUE;
          WAIT_UNTIL (f->context, p->exited, 10000);
        }
    }
  WAIT_UNTIL (f->context, p->eof, 10000);
}

static void
proc_clear (Proc *p)
{
  g_clear_object (&p->out);
  g_clear_object (&p->proc);
  if (p->log != NULL)
    g_string_free (p->log, TRUE);
  p->log = NULL;
}

/* GET http://127.0.0.1:PORT/path; the body, or NULL on a failure. */
static char *
http_get (Fixture    *f,
          Proc       *p,
          const char *path)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%d%s", p->port, path);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;

  body = soup_session_send_and_read (f->http, msg, NULL, &error);
  if (body == NULL || soup_message_get_status (msg) != SOUP_STATUS_OK)
    return NULL;
  return g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

static gboolean
is_leader (Fixture *f,
           Proc    *p)
{
  g_autofree char *metrics = http_get (f, p, "/metrics");

  return metrics != NULL && strstr (metrics, "\nwirewatch_backplane_leader 1\n") != NULL;
}

static int
find_leader (Fixture *f)
{
  int found = -1;

  for (guint i = 0; i < N_PROCS; i++)
    if (f->procs[i].proc != NULL && !f->procs[i].exited && is_leader (f, &f->procs[i]))
      {
        if (found >= 0)
          return -2;  /* two leaders */
        found = (int) i;
      }
  return found;
}

static gboolean
health_is (Fixture    *f,
           Proc       *p,
           const char *prefix)
{
  g_autofree char *body = http_get (f, p, "/healthz");

  return body != NULL && g_str_has_prefix (body, prefix);
}

static gboolean
all_health_is (Fixture    *f,
               const char *prefix)
{
  for (guint i = 0; i < N_PROCS; i++)
    if (f->procs[i].proc != NULL && !f->procs[i].exited && !health_is (f, &f->procs[i], prefix))
      return FALSE;
  return TRUE;
}

static void
on_update (WwClient   *client,
           guint64     seq,
           JsonObject *event,
           gint64      ts,
           Cli        *c)
{
  g_autofree char *text = g_strdup_printf ("%s %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT
                                           " v%" G_GINT64_FORMAT,
                                           json_object_get_string_member (event, "id"),
                                           json_object_get_int_member (event, "homeScore"),
                                           json_object_get_int_member (event, "awayScore"),
                                           json_object_get_int_member (event, "version"));

  g_array_append_val (c->seqs, seq);
  g_hash_table_insert (c->by_seq, g_memdup2 (&seq, sizeof seq), g_steal_pointer (&text));
}

static void
on_chat (WwClient   *client,
         const char *from,
         const char *text,
         gint64      ts,
         Cli        *c)
{
  g_ptr_array_add (c->chats, g_strdup (text));
}

static void
on_presence (WwClient *client,
             guint     clients,
             Cli      *c)
{
  c->presence = clients;
}

static gboolean
live (Fixture *f,
      Cli     *c)
{
  return c->client != NULL && !f->procs[c->proc].exited;
}

static guint
min_updates (Fixture *f)
{
  guint n = G_MAXUINT;

  for (guint i = 0; i < N_CLIENTS; i++)
    if (live (f, &f->clients[i]))
      n = MIN (n, f->clients[i].seqs->len);
  return n;
}

static gboolean
all_presence (Fixture *f,
              guint    count)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    if (live (f, &f->clients[i]) && f->clients[i].presence != count)
      return FALSE;
  return TRUE;
}

static gboolean
all_got_chat (Fixture    *f,
              const char *text)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      Cli *c = &f->clients[i];
      gboolean found = FALSE;

      if (!live (f, c))
        continue;
      for (guint k = 0; k < c->chats->len && !found; k++)
        found = g_str_equal (c->chats->pdata[k], text);
      if (!found)
        return FALSE;
    }
  return TRUE;
}

static guint64
max_last_seq (Fixture *f)
{
  guint64 seq = 0;

  for (guint i = 0; i < N_CLIENTS; i++)
    if (live (f, &f->clients[i]) && f->clients[i].seqs->len > 0)
      seq = MAX (seq, g_array_index (f->clients[i].seqs, guint64, f->clients[i].seqs->len - 1));
  return seq;
}

static gboolean
all_past (Fixture *f,
          guint64  seq)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      Cli *c = &f->clients[i];

      if (live (f, c) && (c->seqs->len == 0 ||
                          g_array_index (c->seqs, guint64, c->seqs->len - 1) <= seq))
        return FALSE;
    }
  return TRUE;
}

/*
 * Every live client: seqs strictly increasing (no duplicate ever), and
 * consecutive from index @from_index on when @consecutive; any two
 * clients agree on the UPDATE of every seq above @agree_above that both
 * saw (at least @min_common of them).
 */
static void
check_clients (Fixture  *f,
               gboolean  consecutive,
               guint64   agree_above,
               guint     min_common)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      Cli *a = &f->clients[i];
      WwClientCounters counters;

      if (!live (f, a))
        continue;
      for (guint k = 1; k < a->seqs->len; k++)
        {
          guint64 prev = g_array_index (a->seqs, guint64, k - 1);
          guint64 seq = g_array_index (a->seqs, guint64, k);

          g_assert_cmpuint (seq, >, prev);
          if (consecutive)
            g_assert_cmpuint (seq, ==, prev + 1);
        }
      ww_client_get_counters (a->client, &counters);
      g_assert_cmpuint (counters.duplicates_dropped, ==, 0);
      if (consecutive)
        g_assert_cmpuint (counters.gaps_detected, ==, 0);

      for (guint j = i + 1; j < N_CLIENTS; j++)
        {
          Cli *b = &f->clients[j];
          GHashTableIter iter;
          gpointer key, value;
          guint common = 0;

          if (!live (f, b))
            continue;
          g_hash_table_iter_init (&iter, a->by_seq);
          while (g_hash_table_iter_next (&iter, &key, &value))
            {
              const char *other;

              if (*(guint64 *) key <= agree_above)
                continue;
              other = g_hash_table_lookup (b->by_seq, key);
              if (other == NULL)
                continue;
              g_assert_cmpstr (value, ==, other);
              common++;
            }
          g_assert_cmpuint (common, >=, min_common);
        }
    }
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->context = g_main_context_new ();
  g_main_context_push_thread_default (f->context);
  ww_test_redis_start (&f->redis);
  f->http = soup_session_new_with_options ("timeout", 5, "idle-timeout", 5, NULL);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      Cli *c = &f->clients[i];

      if (c->client != NULL)
        ww_client_disconnect (c->client);
      g_clear_object (&c->client);
      g_clear_pointer (&c->seqs, g_array_unref);
      g_clear_pointer (&c->by_seq, g_hash_table_unref);
      g_clear_pointer (&c->chats, g_ptr_array_unref);
    }
  for (guint i = 0; i < N_PROCS; i++)
    {
      proc_stop (f, &f->procs[i], SIGTERM);
      proc_clear (&f->procs[i]);
    }
  ww_test_redis_kill (&f->redis);
  g_clear_object (&f->http);
  ww_test_spin (f->context, 50);
  g_main_context_pop_thread_default (f->context);
  g_main_context_unref (f->context);
  g_rmdir (f->redis.tmpdir);
  g_free (f->redis.tmpdir);
}

static void
dump_logs (Fixture *f)
{
  for (guint i = 0; i < N_PROCS; i++)
    if (f->procs[i].log != NULL)
      g_test_message ("--- instance %u (port %d) ---\n%s", i, f->procs[i].port,
                      f->procs[i].log->str);
}

static guint
count_lines (const char *log,
             const char *needle)
{
  guint n = 0;

  for (const char *at = strstr (log, needle); at != NULL; at = strstr (at + 1, needle))
    n++;
  return n;
}

static void
dump_state (gpointer data)
{
  Fixture *f = data;

  dump_logs (f);
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      Cli *c = &f->clients[i];
      g_autoptr(GString) seqs = g_string_new (NULL);

      if (c->seqs == NULL)
        continue;
      for (guint k = c->seqs->len > 30 ? c->seqs->len - 30 : 0; k < c->seqs->len; k++)
        g_string_append_printf (seqs, " %" G_GUINT64_FORMAT, g_array_index (c->seqs, guint64, k));
      g_test_message ("client %u on instance %u%s: %u UPDATEs, presence %u, state %d, "
                      "last seq %" G_GUINT64_FORMAT ", last:%s", i, c->proc,
                      live (f, c) ? "" : " (gone)", c->seqs->len, c->presence,
                      c->client ? (int) ww_client_get_state (c->client) : -1,
                      c->client ? ww_client_get_last_seq (c->client) : 0, seqs->str);
    }
  for (guint i = 0; i < N_PROCS; i++)
    if (f->procs[i].proc != NULL && !f->procs[i].exited)
      {
        g_autofree char *metrics = http_get (f, &f->procs[i], "/metrics");
        g_auto(GStrv) lines = g_strsplit (metrics ? metrics : "", "\n", -1);

        for (guint k = 0; lines[k] != NULL; k++)
          if (g_str_has_prefix (lines[k], "wirewatch_backplane"))
            g_test_message ("instance %u: %s", i, lines[k]);
      }
}

static void
test_three_processes (Fixture       *f,
                      gconstpointer  data)
{
  g_autofree char *chat_text = g_strdup_printf ("hello from 0, %08x", g_random_int ());
  guint64 seq_at_kill, seq_at_outage, seq_at_rejoin;
  guint n_at_outage[N_CLIENTS];
  int leader, next;
  gint64 t0, takeover_ms, rejoin_ms;

  for (guint i = 0; i < N_PROCS; i++)
    proc_start (f, &f->procs[i]);
  for (guint i = 0; i < N_PROCS; i++)
    WAIT_UNTIL (f->context, f->procs[i].port > 0 || f->procs[i].exited, WAIT_MS);
  for (guint i = 0; i < N_PROCS; i++)
    if (f->procs[i].exited)
      {
        dump_logs (f);
        g_error ("instance %u exited at start", i);
      }

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      Cli *c = &f->clients[i];
      g_autofree char *url = NULL;

      c->proc = i % N_PROCS;
      c->seqs = g_array_new (FALSE, FALSE, sizeof (guint64));
      c->by_seq = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
      c->chats = g_ptr_array_new_with_free_func (g_free);
      c->client = ww_client_new ();
      g_signal_connect (c->client, "update", G_CALLBACK (on_update), c);
      g_signal_connect (c->client, "chat", G_CALLBACK (on_chat), c);
      g_signal_connect (c->client, "presence", G_CALLBACK (on_presence), c);
      url = g_strdup_printf ("ws://127.0.0.1:%d/ws", f->procs[c->proc].port);
      ww_client_connect (c->client, url);
    }

  /* 1. One leader, one story, one head count, CHAT across instances. */
  WAIT_UNTIL (f->context, find_leader (f) >= 0, WAIT_MS);
  WAIT_UNTIL (f->context, min_updates (f) >= 20, WAIT_MS);
  WAIT_UNTIL (f->context, all_presence (f, N_CLIENTS), WAIT_MS);
  g_assert_true (all_health_is (f, "ok"));
  check_clients (f, TRUE, 0, 10);

  g_assert_true (ww_client_send_chat (f->clients[0].client, chat_text));
  WAIT_UNTIL (f->context, all_got_chat (f, chat_text), WAIT_MS);
  for (guint i = 0; i < N_CLIENTS; i++)
    g_assert_cmpuint (f->clients[i].chats->len, ==, 1);

  /* 2. SIGKILL the leader: no goodbye, its lease has to run out. */
  leader = find_leader (f);
  g_assert_cmpint (leader, >=, 0);
  for (guint i = 0; i < N_CLIENTS; i++)
    if (f->clients[i].proc == (guint) leader)
      {
        ww_client_disconnect (f->clients[i].client);
        g_signal_handlers_disconnect_by_data (f->clients[i].client, &f->clients[i]);
      }
  seq_at_kill = max_last_seq (f);
  t0 = g_get_monotonic_time ();
  proc_stop (f, &f->procs[leader], SIGKILL);
  WAIT_UNTIL (f->context, (next = find_leader (f)) >= 0, WAIT_MS);
  takeover_ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("new leader after %" G_GINT64_FORMAT " ms (lease %d ms); seq %"
                  G_GUINT64_FORMAT " at the kill", takeover_ms, LEASE_MS, seq_at_kill);
  g_assert_cmpint (next, !=, leader);
  g_assert_cmpint (takeover_ms, <, 2 * LEASE_MS);

  WAIT_UNTIL (f->context, all_past (f, seq_at_kill + 20), WAIT_MS);
  /* The dead instance's presence entry expires: four clients left. */
  WAIT_UNTIL (f->context, all_presence (f, N_CLIENTS - N_PER_PROC), WAIT_MS);
  check_clients (f, TRUE, 0, 10);

  /* 3. Redis goes away: each instance serves its own clients alone. */
  seq_at_outage = max_last_seq (f);
  for (guint i = 0; i < N_CLIENTS; i++)
    n_at_outage[i] = f->clients[i].seqs ? f->clients[i].seqs->len : 0;
  ww_test_redis_kill (&f->redis);
  WAIT_UNTIL (f->context, all_health_is (f, "degraded"), WAIT_MS);
  for (guint i = 0; i < N_CLIENTS; i++)
    if (live (f, &f->clients[i]))
      WAIT_UNTIL (f->context, f->clients[i].seqs->len >= n_at_outage[i] + 10, WAIT_MS);
  {
    g_autofree char *metrics = http_get (f, &f->procs[next], "/metrics");

    g_assert_nonnull (metrics);
    g_assert_nonnull (strstr (metrics, "\nwirewatch_backplane_connected 0\n"));
  }
  g_test_message ("seq %" G_GUINT64_FORMAT " when Redis went away, %" G_GUINT64_FORMAT
                  " before it came back", seq_at_outage, max_last_seq (f));

  /* Back: they rejoin and agree again, and no seq is seen twice. */
  t0 = g_get_monotonic_time ();
  ww_test_redis_start (&f->redis);
  WAIT_UNTIL (f->context, all_health_is (f, "ok"), WAIT_MS);
  WAIT_UNTIL (f->context, find_leader (f) >= 0, WAIT_MS);
  rejoin_ms = (g_get_monotonic_time () - t0) / 1000;
  /* Settle: what was in flight while they met again is not compared. */
  ww_test_spin (f->context, 1000);
  seq_at_rejoin = max_last_seq (f);
  g_test_message ("rejoined after %" G_GINT64_FORMAT " ms at seq %" G_GUINT64_FORMAT,
                  rejoin_ms, seq_at_rejoin);
  WAIT_UNTIL (f->context, all_past (f, seq_at_rejoin + 20), WAIT_MS);
  check_clients (f, FALSE, seq_at_rejoin, 10);
  /* The outage is said once, however many reconnects it took. */
  for (guint i = 0; i < N_PROCS; i++)
    if (!f->procs[i].exited)
      {
        g_assert_cmpuint (count_lines (f->procs[i].log->str, "Lost Redis"), ==, 1);
        g_assert_cmpuint (count_lines (f->procs[i].log->str, "is back"), ==, 1);
      }

  /* A graceful stop gives the lease up and exits cleanly. */
  for (guint i = 0; i < N_PROCS; i++)
    if (!f->procs[i].exited)
      {
        proc_stop (f, &f->procs[i], SIGTERM);
        g_assert_false (f->procs[i].killed);
        g_assert_true (g_subprocess_get_if_exited (f->procs[i].proc));
        if (g_subprocess_get_exit_status (f->procs[i].proc) != 0)
          dump_logs (f);
        g_assert_cmpint (g_subprocess_get_exit_status (f->procs[i].proc), ==, 0);
      }
}

/* A malformed --redis is refused before anything starts, in words. */
static void
test_bad_url (void)
{
  const char *urls[] = { "http://127.0.0.1:6379", "redis://", "redis://127.0.0.1:99999",
                         "redis://127.0.0.1:6379/notadb" };

  for (guint i = 0; i < G_N_ELEMENTS (urls); i++)
    {
      const char *argv[] = { wirewatch_path, "--headless", "--port", "0", "--no-persist",
                             "--redis", urls[i], NULL };
      g_autoptr(GSubprocess) proc = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *out = NULL;

      proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                      G_SUBPROCESS_FLAGS_STDERR_MERGE, &error);
      g_assert_no_error (error);
      /* It exits at once; the pipe's end is bounded by that. */
      g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
      g_assert_no_error (error);
      g_test_message ("--redis %s: %s", urls[i], out);
      g_assert_true (g_subprocess_get_if_exited (proc));
      g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 2);
      g_assert_nonnull (strstr (out, "wirewatch: "));
      g_assert_null (strstr (out, "Listening on"));
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  wirewatch_path = argc > 1 ? argv[1] : g_getenv ("WW_WIREWATCH");
  if (!g_file_test (WW_TEST_REDIS_SERVER, G_FILE_TEST_IS_EXECUTABLE))
    g_test_skip ("no " WW_TEST_REDIS_SERVER);
  else if (wirewatch_path == NULL || !g_file_test (wirewatch_path, G_FILE_TEST_IS_EXECUTABLE))
    g_test_skip ("no wirewatch executable given (argument or WW_WIREWATCH)");
  else
    {
      g_test_add_func ("/backplane/e2e/bad-redis-url", test_bad_url);
      g_test_add ("/backplane/e2e/three-processes", Fixture, NULL,
                  fixture_setup, test_three_processes, fixture_teardown);
    }
  return g_test_run ();
}
