/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Reconnect schedule (DESIGN.md "Client"): the first retry after @base_ms,
 * then doubling per attempt, capped at @max_ms.  @jitter in [0, 1] takes a
 * random share off the delay so that clients dropped together by one
 * server restart do not all come back in the same instant; @rand01 is that
 * random number in [0, 1) (a parameter so the schedule is a pure function
 * and testable).  The result lies in [d * (1 - jitter), d] where
 * d = min (max_ms, base_ms * 2^attempt), and is never below 1 ms, so a
 * misconfigured zero base can not make the client spin.
 */
guint    ww_backoff_delay        (guint   attempt,
                                  guint   base_ms,
                                  guint   max_ms,
                                  double  jitter,
                                  double  rand01);

/*
 * The attempt number to use for the reconnect after a connection that
 * stayed open @open_ms: a stable connection (open at least @stable_ms)
 * starts the schedule again at 0; a short-lived one keeps @attempt, so
 * the schedule keeps climbing and a server that accepts and drops at once
 * is not hammered.
 */
guint    ww_backoff_after_open   (guint   attempt,
                                  gint64  open_ms,
                                  guint   stable_ms);

G_END_DECLS
