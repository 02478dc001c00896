/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <unistd.h>

#include "ww-proc-stats.h"

gboolean
ww_proc_stats_read (WwProcStats *out,
                    gboolean     count_fds)
{
  g_autofree char *stat = NULL;
  g_autofree char *statm = NULL;
  g_auto(GStrv) fields = NULL;
  g_autoptr(GDir) fds = NULL;
  const char *after_comm;
  long ticks = sysconf (_SC_CLK_TCK);
  long page = sysconf (_SC_PAGESIZE);

  g_return_val_if_fail (out != NULL, FALSE);

  memset (out, 0, sizeof *out);
  if (!g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL))
    return FALSE;

  /* proc(5): the command name may hold spaces and parentheses, so parse
   * from the last ')'; then state is field 3, utime 14, stime 15,
   * num_threads 20. */
  after_comm = strrchr (stat, ')');
  if (after_comm == NULL)
    return FALSE;
  fields = g_strsplit (after_comm + 2, " ", 0);
  if (g_strv_length (fields) < 18)
    return FALSE;
  out->cpu_seconds = (g_ascii_strtod (fields[11], NULL) + g_ascii_strtod (fields[12], NULL)) /
                     (double) (ticks > 0 ? ticks : 100);
  out->n_threads = (guint) g_ascii_strtoull (fields[17], NULL, 10);

  if (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL))
    {
      g_auto(GStrv) pages = g_strsplit (statm, " ", 3);

      if (g_strv_length (pages) >= 2)
        out->rss_bytes = g_ascii_strtoull (pages[1], NULL, 10) * (guint64) (page > 0 ? page : 4096);
    }

  if (!count_fds)
    return TRUE;
  fds = g_dir_open ("/proc/self/fd", 0, NULL);
  if (fds != NULL)
    while (g_dir_read_name (fds) != NULL)
      out->n_fds++;

  return TRUE;
}
