/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test"

#include "config.h"

#include <string.h>

#include <libsoup/soup.h>

#include "protocol/ww-deflate.h"
#include "protocol/ww-frame.h"

/*
 * Our permessage-deflate against libsoup's, in process: libsoup is the
 * engine of WwClient, so the desktop app's client view and any libsoup
 * server meet this codec for real.  The extension is driven through its
 * public SoupWebsocketExtension API, the way SoupWebsocketConnection
 * does: parameters as a hash table, messages with their frame header.
 */

/* "permessage-deflate; a; b=1" -> { a: NULL, b: "1" }, as libsoup reads
 * Sec-WebSocket-Extensions. */
static GHashTable *
soup_params (const char *header)
{
  const char *semi = strchr (header, ';');
  g_autofree char *name = g_strstrip (g_strndup (header, semi ? (gsize) (semi - header)
                                                              : strlen (header)));
  GHashTable *params;

  g_assert_cmpstr (name, ==, WW_DEFLATE_EXTENSION_NAME);
  params = soup_header_parse_semi_param_list_strict (semi ? semi + 1 : "");
  g_assert_nonnull (params);
  return params;
}

static GPtrArray *
messages (void)
{
  static const char *const texts[] = {
    "{\"type\":\"PING\",\"id\":\"p1\",\"ts\":1763800000000}",
    "{\"type\":\"UPDATE\",\"seq\":1,\"event\":{\"id\":\"EVENT#00\",\"name\":\"Harbor City vs "
    "Northgate\",\"home\":\"Harbor City\",\"away\":\"Northgate\",\"homeScore\":2}}",
    "{\"type\":\"UPDATE\",\"seq\":2,\"event\":{\"id\":\"EVENT#00\",\"name\":\"Harbor City vs "
    "Northgate\",\"home\":\"Harbor City\",\"away\":\"Northgate\",\"homeScore\":3}}",
    "x",
  };
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GRand) rand = g_rand_new_with_seed (3);
  GString *big = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    g_ptr_array_add (all, g_bytes_new_static (texts[i], strlen (texts[i])));
  while (big->len < 300000)
    g_string_append_printf (big, "{\"seq\":%u,\"score\":%u},", g_rand_int_range (rand, 0, 1000),
                            g_rand_int_range (rand, 0, 9));
  g_ptr_array_add (all, g_string_free_to_bytes (big));
  return all;
}

/* Both directions between a configured libsoup extension and our codec. */
static void
exchange (SoupWebsocketExtension *soup,
          WwDeflate              *ours)
{
  g_autoptr(GPtrArray) all = messages ();

  for (guint round = 0; round < 2; round++)
    for (guint i = 0; i < all->len; i++)
      {
        GBytes *msg = g_ptr_array_index (all, i);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) from_soup = NULL;
        g_autoptr(GBytes) inflated = NULL;
        g_autoptr(GBytes) from_us = NULL;
        g_autoptr(GBytes) soup_read = NULL;
        guint8 header[2] = { 0x80 | WW_OPCODE_TEXT, 0 };

        /* libsoup -> us: it sets RSV1 when it compressed. */
        from_soup = soup_websocket_extension_process_outgoing_message (soup, header,
                                                                       g_bytes_ref (msg),
                                                                       &error);
        g_assert_no_error (error);
        g_assert_true (header[0] & 0x40);
        inflated = ww_deflate_inflate (ours, g_bytes_get_data (from_soup, NULL),
                                       g_bytes_get_size (from_soup), &error);
        g_assert_no_error (error);
        g_assert_true (g_bytes_equal (inflated, msg));

        /* us -> libsoup, with RSV1 on the (only) frame. */
        from_us = ww_deflate_compress (ours, g_bytes_get_data (msg, NULL),
                                       g_bytes_get_size (msg), &error);
        g_assert_no_error (error);
        header[0] = 0x80 | 0x40 | WW_OPCODE_TEXT;
        soup_read = soup_websocket_extension_process_incoming_message (soup, header,
                                                                       g_bytes_ref (from_us),
                                                                       &error);
        g_assert_no_error (error);
        g_assert_true (g_bytes_equal (soup_read, msg));
      }
}

/* WwClient (libsoup) against our server. */
static void
test_soup_client (void)
{
  static const struct {
    gboolean force_server_no_context;
    gboolean force_client_no_context;
    guint    max_window_bits;
  } policies[] = {
    { TRUE, FALSE, 15 },
    { FALSE, FALSE, 15 },
    { FALSE, TRUE, 11 },
    { TRUE, TRUE, 8 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (policies); i++)
    {
      g_autoptr(SoupWebsocketExtension) soup = g_object_new (SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE,
                                                             NULL);
      g_autofree char *request = soup_websocket_extension_get_request_params (soup);
      g_autofree char *offer = g_strconcat (WW_DEFLATE_EXTENSION_NAME, request, NULL);
      g_autofree char *response = NULL;
      g_autoptr(GHashTable) params = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(WwDeflate) server = NULL;
      WwDeflateConfig config;
      WwDeflateParams agreed;

      ww_deflate_config_init (&config);
      config.enabled = TRUE;
      config.force_server_no_context_takeover = policies[i].force_server_no_context;
      config.force_client_no_context_takeover = policies[i].force_client_no_context;
      config.max_window_bits = policies[i].max_window_bits;
      g_assert_true (ww_deflate_negotiate (&config, offer, &agreed, &response));
      g_test_message ("libsoup offers \"%s\", we answer \"%s\"", offer, response);

      params = soup_params (response);
      g_assert_true (soup_websocket_extension_configure (soup, SOUP_WEBSOCKET_CONNECTION_CLIENT,
                                                         params, &error));
      g_assert_no_error (error);
      server = ww_deflate_new (WW_ROLE_SERVER, &agreed, &config, NULL);
      exchange (soup, server);
    }
}

/* Our client (bench/, tools) against a libsoup server. */
static void
test_soup_server (void)
{
  static const WwDeflateOffer offers[] = {
    { FALSE, FALSE, 0, TRUE, 0 },
    { TRUE, FALSE, 0, FALSE, 0 },
    { TRUE, TRUE, 10, TRUE, 9 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (offers); i++)
    {
      g_autoptr(SoupWebsocketExtension) soup = g_object_new (SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE,
                                                             NULL);
      g_autofree char *offer = ww_deflate_offer_to_string (&offers[i]);
      g_autoptr(GHashTable) params = soup_params (offer);
      g_autofree char *answer = NULL;
      g_autofree char *response = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(WwDeflate) client = NULL;
      WwDeflateParams agreed;

      g_assert_true (soup_websocket_extension_configure (soup, SOUP_WEBSOCKET_CONNECTION_SERVER,
                                                         params, &error));
      g_assert_no_error (error);
      answer = soup_websocket_extension_get_response_params (soup);
      response = g_strconcat (WW_DEFLATE_EXTENSION_NAME, answer, NULL);
      g_test_message ("we offer \"%s\", libsoup answers \"%s\"", offer, response);
      g_assert_true (ww_deflate_client_check_response (&offers[i], response, &agreed, &error));
      g_assert_no_error (error);
      client = ww_deflate_new (WW_ROLE_CLIENT, &agreed, NULL, NULL);
      exchange (soup, client);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/deflate/soup/client", test_soup_client);
  g_test_add_func ("/deflate/soup/server", test_soup_server);

  return g_test_run ();
}
