/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The process's own CPU time and resident memory, from /proc/self (the
 * embedded server runs in this process, so this is its cost).
 */
typedef struct {
  double  cpu_seconds;    /* user + system */
  guint64 rss_bytes;
  guint   n_threads;
  guint   n_fds;
} WwProcStats;

/* @count_fds: also count open files (a directory walk: costly with
 * thousands of sockets open, so callers ask for it sparingly). */
gboolean ww_proc_stats_read (WwProcStats *out,
                             gboolean     count_fds);

G_END_DECLS
