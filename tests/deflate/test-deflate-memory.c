/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-deflate-test"

#include "config.h"

#include <malloc.h>
#include <string.h>
#ifdef __SANITIZE_ADDRESS__
/* From the sanitizer runtime (gcc ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes (void);
#endif

#include "feed/ww-event-feed.h"
#include "server/ww-server.h"

/*
 * The server's heap per feed connection with and without
 * permessage-deflate: idle (WELCOME and INITIAL only), after traffic both
 * ways (PINGs in, PONGs and UPDATEs out), and after the idle release that
 * runs with the heartbeat.  The heap is glibc's count of bytes in use
 * (mallinfo2, or ASan's count), not RSS, which keeps freed pages.  N Node `ws` clients in
 * a child process (tests/deflate/mem-clients.mjs) print a line at each
 * phase; WW_DEFLATE_MEM_N sets N (default 200).
 */

#define CHILD_TIMEOUT_S 150

typedef struct {
  GDataInputStream *out;
  GPtrArray        *lines;
  GHashTable       *heap;     /* phase line → gsize * (bytes in use then) */
  gboolean          eof;
} Reader;

static gsize
heap_in_use (void)
{
#ifdef __SANITIZE_ADDRESS__
  /* ASan's allocator replaces glibc's: ask it instead. */
  return __sanitizer_get_current_allocated_bytes ();
#else
  struct mallinfo2 mi = mallinfo2 ();

  return mi.uordblks + mi.hblkhd;
#endif
}

static void read_next (Reader *r);

static void
on_line (GObject *source, GAsyncResult *result, gpointer data)
{
  Reader *r = data;
  g_autoptr(GError) error = NULL;
  char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                          NULL, &error);

  if (line == NULL)
    {
      r->eof = TRUE;
      return;
    }
  /* Sampled at once: the clients stay quiet for a while after each phase line. */
  if (g_str_equal (line, "idle") || g_str_equal (line, "traffic") || g_str_equal (line, "released"))
    {
      gsize *v = g_new (gsize, 1);

      *v = heap_in_use ();
      g_hash_table_insert (r->heap, g_strdup (line), v);
    }
  g_ptr_array_add (r->lines, line);
  read_next (r);
}

static void
read_next (Reader *r)
{
  g_data_input_stream_read_line_async (r->out, G_PRIORITY_DEFAULT, NULL, on_line, r);
}

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
has_line (Reader *r, const char *line)
{
  for (guint i = 0; i < r->lines->len; i++)
    if (g_str_equal (g_ptr_array_index (r->lines, i), line))
      return TRUE;
  return FALSE;
}

static void
test_memory (gconstpointer data)
{
  const char *mode = data;
  gboolean deflate = g_str_has_prefix (mode, "deflate");
  g_autoptr(WwServerConfig) config = ww_server_config_new ();
  g_autoptr(WwFeedConfig) feed_config = ww_feed_config_new ();
  g_autoptr(WwServer) server = NULL;
  g_autoptr(WwEventFeed) feed = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *base = NULL;
  g_autofree char *script = g_build_filename (DEFLATE_SRCDIR, "mem-clients.mjs", NULL);
  g_autofree char *n_arg = NULL;
  g_autofree char *release_arg = NULL;
  g_autofree char *want_negotiated = NULL;
  g_autofree char *want_pongs = NULL;
  const char *n_env = g_getenv ("WW_DEFLATE_MEM_N");
  guint n = n_env ? (guint) g_ascii_strtoull (n_env, NULL, 10) : 200;
  /* A client process busy with thousands of sockets answers pings late:
   * a longer heartbeat for more clients, so none is dropped as dead. */
  guint heartbeat_ms = MAX (1000, 3 * n);
  Reader r = { NULL, g_ptr_array_new_with_free_func (g_free),
               g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free), FALSE };
  gboolean expired = FALSE;
  gsize before, idle, traffic, released;
  guint id;

  g_assert_cmpuint (n, >, 0);
  n_arg = g_strdup_printf ("%u", n);
  release_arg = g_strdup_printf ("%u", 3 * heartbeat_ms);
  g_free (config->bind_address);
  config->bind_address = g_strdup ("127.0.0.1");
  config->port = 0;
  config->deflate = deflate;
  config->heartbeat_ms = heartbeat_ms;
  feed_config->has_seed = TRUE;
  feed_config->seed = 9;
  /* The DESIGN's 2-7 s: faster, thousands of Node clients fall behind
   * inflating the broadcasts and answer the heartbeat too late. */
  feed_config->min_interval_ms = 2000;
  feed_config->max_interval_ms = 7000;
  feed_config->persist = FALSE;

  server = ww_server_new (config);
  feed = ww_event_feed_new (feed_config);
  g_assert_true (ww_event_feed_attach (feed, server, &error));
  g_assert_no_error (error);
  g_assert_true (ww_server_start (server, &error));
  g_assert_no_error (error);
  base = g_strdup_printf ("ws://127.0.0.1:%u", ww_server_get_port (server));

  before = heap_in_use ();
  {
    const char *argv[] = { NODE_EXE, script, base, n_arg, mode, release_arg, NULL };

    proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
    g_assert_no_error (error);
  }
  r.out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  read_next (&r);
  id = g_timeout_add_seconds (CHILD_TIMEOUT_S, on_deadline, &expired);
  while (!r.eof && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (expired)
    {
      /* Stopped by its PID; then the pipe ends. */
      g_subprocess_force_exit (proc);
      while (!r.eof)
        g_main_context_iteration (NULL, TRUE);
    }
  else
    g_source_remove (id);
  g_subprocess_wait (proc, NULL, NULL);
  g_clear_object (&r.out);

  for (guint i = 0; i < r.lines->len; i++)
    g_test_message ("clients: %s", (char *) g_ptr_array_index (r.lines, i));
  g_assert_false (expired);
  g_assert_true (has_line (&r, "PASS"));
  want_negotiated = g_strdup_printf ("negotiated %u", deflate ? n : 0);
  want_pongs = g_strdup_printf ("pongs %u", 5 * n);
  g_assert_true (has_line (&r, want_negotiated));
  g_assert_true (has_line (&r, want_pongs));

  idle = *(gsize *) g_hash_table_lookup (r.heap, "idle");
  traffic = *(gsize *) g_hash_table_lookup (r.heap, "traffic");
  released = *(gsize *) g_hash_table_lookup (r.heap, "released");
  g_test_message ("%s, %u clients: heap in use %zu B before; per connection %zd B idle, "
                  "%zd B after traffic, %zd B after the idle release",
                  mode, n, before,
                  ((gssize) idle - (gssize) before) / (gssize) n,
                  ((gssize) traffic - (gssize) before) / (gssize) n,
                  ((gssize) released - (gssize) before) / (gssize) n);
  if (before == 0)
    {
      /* Some other allocator: no count to compare. */
      g_test_message ("the allocator counts nothing here: numbers not checked");
    }
  else if (g_str_equal (mode, "deflate-nct"))
    {
      /* The peers keep no context: the idle release frees their inflate
       * streams, and the server keeps no deflate stream either. */
      g_assert_cmpuint (released, <, traffic);
      g_assert_cmpuint (released, <, idle + (traffic - idle) / 2);
    }
  else if (deflate)
    {
      /* With context takeover the inflate stream (its 32 KiB window) stays
       * for as long as the peer does: bounded, not released. */
      g_assert_cmpuint ((traffic - before) / n, <, 64 * 1024);
    }
  ww_server_stop (server);
  g_ptr_array_unref (r.lines);
  g_hash_table_unref (r.heap);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/deflate/memory/deflate", "deflate", test_memory);
  g_test_add_data_func ("/deflate/memory/deflate-no-context", "deflate-nct", test_memory);
  g_test_add_data_func ("/deflate/memory/plain", "plain", test_memory);
  return g_test_run ();
}
