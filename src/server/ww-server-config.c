/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-server"

#include "config.h"

#include "ww-server-config.h"

/**
 * ww_server_config_new:
 *
 * The defaults of DESIGN.md "Limits".  max_connections (100,000) is the
 * scale the design is held to; max_per_address (10,000) leaves a single
 * host most of it, since load generators and NAT gateways legitimately
 * open thousands, while one address still cannot take every slot.
 */
WwServerConfig *
ww_server_config_new (void)
{
  WwServerConfig *c = g_new0 (WwServerConfig, 1);

  c->bind_address = g_strdup ("127.0.0.1");
  c->port = 8080;
  c->port_attempts = 1;
  c->own_thread = FALSE;
  c->max_header = 16 * 1024;
  c->handshake_timeout_ms = 10 * 1000;
  c->heartbeat_ms = 15 * 1000;
  c->idle_timeout_ms = 0;
  c->close_timeout_ms = 1000;
  c->max_connections = 100000;
  c->max_per_address = 10000;
  c->handshakes_per_second_per_address = 0;
  c->rate_limit = 0;
  c->max_frame = 0;
  c->max_echo_message = 16 * 1024 * 1024;
  c->max_feed_message = 64 * 1024;
  c->max_queue_bytes = 4 * 1024 * 1024;
  c->max_total_queue_bytes = (gsize) 1024 * 1024 * 1024;
  c->server_name = g_strdup (PACKAGE_NAME "/" PACKAGE_VERSION);
  return c;
}

WwServerConfig *
ww_server_config_copy (const WwServerConfig *config)
{
  WwServerConfig *c;

  g_return_val_if_fail (config != NULL, NULL);

  c = g_memdup2 (config, sizeof *config);
  c->bind_address = g_strdup (config->bind_address);
  c->tls_cert_file = g_strdup (config->tls_cert_file);
  c->tls_key_file = g_strdup (config->tls_key_file);
  c->token = g_strdup (config->token);
  c->allowed_origins = g_strdupv (config->allowed_origins);
  c->server_name = g_strdup (config->server_name);
  return c;
}

void
ww_server_config_free (WwServerConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->bind_address);
  g_free (config->tls_cert_file);
  g_free (config->tls_key_file);
  /* The token is a secret: do not leave it in freed memory. */
  if (config->token)
    {
      volatile char *p = config->token;

      while (*p)
        *p++ = 0;
      g_free (config->token);
    }
  g_strfreev (config->allowed_origins);
  g_free (config->server_name);
  g_free (config);
}

/**
 * ww_server_config_is_exposed:
 *
 * TRUE when the server listens on an address other machines can reach and
 * no access token is set: the GUI shows a banner and the headless binary
 * logs a warning.
 */
gboolean
ww_server_config_is_exposed (const WwServerConfig *config)
{
  const char *bind;

  g_return_val_if_fail (config != NULL, FALSE);

  if (config->token && config->token[0])
    return FALSE;
  bind = config->bind_address && config->bind_address[0] ? config->bind_address : "127.0.0.1";
  if (g_str_equal (bind, "localhost") || g_str_equal (bind, "::1") ||
      g_str_has_prefix (bind, "127."))
    return FALSE;
  return TRUE;
}
