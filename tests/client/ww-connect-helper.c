/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client-test"

#include "config.h"

#include <stdlib.h>

#include "client/ww-client-cli.h"

/*
 * Stand-in for `wirewatch --connect` while src/main.c cannot be built yet
 * (it needs the server layer): the same ww_client_cli_run() behind the
 * same options, so the CLI tests run either way.
 */
int
main (int argc, char *argv[])
{
  g_autofree char *url = NULL;
  g_autofree char *cert = NULL;
  g_autofree char *token = NULL;
  gboolean json = FALSE;
  int ping = -1;
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  const GOptionEntry entries[] = {
    { "connect", 'c', 0, G_OPTION_ARG_STRING, &url, NULL, NULL },
    { "ping-interval", 0, 0, G_OPTION_ARG_INT, &ping, NULL, NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, NULL, NULL },
    { "accept-certificate", 0, 0, G_OPTION_ARG_FILENAME, &cert, NULL, NULL },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token, NULL, NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  return ww_client_cli_run (url, ping, json, cert, token);
}
