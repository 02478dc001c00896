/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server"

#include "config.h"

#include <string.h>

#include "ww-server-private.h"

const WwHttpRequest *
ww_http_exchange_get_request (WwHttpExchange *exchange)
{
  g_return_val_if_fail (exchange != NULL, NULL);
  return exchange->request;
}

const char *
ww_http_exchange_get_path (WwHttpExchange *exchange)
{
  g_return_val_if_fail (exchange != NULL, NULL);
  return exchange->path;
}

const char *
ww_http_exchange_get_address (WwHttpExchange *exchange)
{
  g_return_val_if_fail (exchange != NULL, NULL);
  /* Looked up only when a handler asks: most requests never need it. */
  if (exchange->address == NULL)
    exchange->address = ww_io_peer_dup_address (exchange->peer);
  return exchange->address;
}

/* @extra plus "Server: …", NULL-terminated; the strings are borrowed
 * except the last one, which the caller frees from @server_line. */
static const char **
with_server_header (WwHttpExchange     *exchange,
                    const char * const *extra,
                    char              **server_line)
{
  const WwServerConfig *c = ww_server_get_config (exchange->server);
  guint n = extra ? g_strv_length ((char **) extra) : 0;
  const char **all = g_new0 (const char *, n + 2);

  for (guint i = 0; i < n; i++)
    all[i] = extra[i];
  if (c->server_name && c->server_name[0])
    {
      *server_line = g_strdup_printf ("Server: %s", c->server_name);
      all[n] = *server_line;
    }
  return all;
}

void
ww_http_exchange_respond (WwHttpExchange     *exchange,
                          guint               status,
                          const char         *content_type,
                          GBytes             *body,
                          const char * const *extra_headers)
{
  g_autofree char *server_line = NULL;
  g_autofree const char **headers = NULL;
  g_autoptr(GBytes) response = NULL;
  const void *data = NULL;
  gsize len = 0;

  g_return_if_fail (exchange != NULL);
  g_return_if_fail (!exchange->responded);

  if (body)
    data = g_bytes_get_data (body, &len);
  headers = with_server_header (exchange, extra_headers, &server_line);
  exchange->status = status;
  response = ww_http_response_build (status, content_type, headers, data, len,
                                     exchange->head_only, exchange->keep_alive);
  ww_http_exchange_send (exchange, response);
}

void
ww_http_exchange_respond_json (WwHttpExchange *exchange,
                               guint           status,
                               const char     *json)
{
  g_autoptr(GBytes) body = NULL;
  const char *no_store[] = { "Cache-Control: no-store", NULL };

  g_return_if_fail (exchange != NULL);
  g_return_if_fail (json != NULL);

  body = g_bytes_new (json, strlen (json));
  ww_http_exchange_respond (exchange, status, "application/json", body, no_store);
}

void
ww_http_exchange_respond_error (WwHttpExchange *exchange,
                                guint           status,
                                const char     *code,
                                const char     *message)
{
  ww_http_exchange_respond_error_full (exchange, status, code, message, NULL);
}

void
ww_http_exchange_respond_error_full (WwHttpExchange     *exchange,
                                     guint               status,
                                     const char         *code,
                                     const char         *message,
                                     const char * const *extra_headers)
{
  g_autofree char *server_line = NULL;
  g_autofree const char **headers = NULL;
  g_autoptr(GBytes) response = NULL;

  g_return_if_fail (exchange != NULL);
  g_return_if_fail (!exchange->responded);

  headers = with_server_header (exchange, extra_headers, &server_line);
  exchange->status = status;
  response = ww_http_response_build_error (status, code, message, headers,
                                           exchange->head_only, exchange->keep_alive);
  ww_http_exchange_send (exchange, response);
}
