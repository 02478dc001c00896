/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * `wirewatch --connect URL`: runs a WwClient without GTK on its own main
 * loop, prints one line per state change, event update, chat and RTT
 * sample (JSON objects with a "kind" field when @json) until SIGINT or
 * SIGTERM, and sends each line typed on standard input as CHAT ("/ping"
 * sends a PING).  Returns the exit status: 0 after a signal, 1 when the
 * connection failed in a way retrying can not fix (untrusted certificate,
 * refused token), 2 for a malformed URL or an unreadable certificate file.
 */
int ww_client_cli_run (const char *url, int ping_interval_s /* -1 = default */, gboolean json,
                       const char *accept_certificate_file /* or NULL */, const char *token /* or NULL */);

G_END_DECLS
