/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-test"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <glib-unix.h>

#include "protocol/ww-deflate.h"
#include "protocol/ww-protocol-error.h"

/* ------------------------------------------------------------------ */
/* helpers                                                            */

static WwDeflateConfig
enabled_config (void)
{
  WwDeflateConfig config;

  ww_deflate_config_init (&config);
  config.enabled = TRUE;
  /* The tests of the offers want to see what the client asked for alone. */
  config.force_server_no_context_takeover = FALSE;
  return config;
}

static WwDeflateParams
default_params (void)
{
  WwDeflateParams params = { FALSE, FALSE, 15, 15 };

  return params;
}

/* Negotiates @header with @config and checks the response text (NULL:
 * declined). */
static void
assert_negotiation (const WwDeflateConfig *config,
                    const char            *header,
                    const char            *expected)
{
  WwDeflateParams params;
  g_autofree char *response = NULL;
  gboolean ok;

  ok = ww_deflate_negotiate (config, header, &params, &response);
  if (expected == NULL)
    {
      if (ok)
        g_error ("offer \"%s\" should be declined, got \"%s\"", header, response);
      g_assert_null (response);
    }
  else
    {
      if (!ok)
        g_error ("offer \"%s\" should be accepted", header);
      g_assert_cmpstr (response, ==, expected);
    }
}

static guint8 *
random_bytes (GRand *rand,
              gsize  len)
{
  guint8 *buf = g_malloc (MAX (len, 1));

  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) g_rand_int (rand);
  return buf;
}

/* Feed-like JSON text: compresses well, but not trivially. */
static guint8 *
compressible_bytes (GRand *rand,
                    gsize  len)
{
  static const char *const words[] = {
    "{\"type\":\"UPDATE\",", "\"seq\":", "\"event\":{\"id\":\"EVENT#0", "\"name\":\"",
    "Harbor City", " vs ", "Northgate", "\"homeScore\":", "\"awayScore\":", "},",
    "\"version\":", "\"updatedAt\":1763800", "\"ts\":", ",",
  };
  GString *s = g_string_sized_new (len + 64);

  while (s->len < len)
    {
      g_string_append (s, words[g_rand_int_range (rand, 0, G_N_ELEMENTS (words))]);
      if (g_rand_boolean (rand))
        g_string_append_printf (s, "%u", g_rand_int_range (rand, 0, 100000));
    }
  g_string_truncate (s, len);
  return (guint8 *) g_string_free (s, FALSE);
}

static void
assert_bytes_equal (GBytes       *bytes,
                    const guint8 *data,
                    gsize         len)
{
  gsize got_len;
  const guint8 *got = g_bytes_get_data (bytes, &got_len);

  g_assert_cmpuint (got_len, ==, len);
  if (len > 0)
    g_assert_true (memcmp (got, data, len) == 0);
}

/* Compress with @sender, inflate with @receiver in one piece. */
static void
round_trip (WwDeflate    *sender,
            WwDeflate    *receiver,
            const guint8 *data,
            gsize         len,
            gsize        *compressed_len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) packed = NULL;
  g_autoptr(GBytes) unpacked = NULL;

  packed = ww_deflate_compress (sender, data, len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (packed);
  if (compressed_len != NULL)
    *compressed_len = g_bytes_get_size (packed);

  unpacked = ww_deflate_inflate (receiver, g_bytes_get_data (packed, NULL),
                                 g_bytes_get_size (packed), &error);
  g_assert_no_error (error);
  assert_bytes_equal (unpacked, data, len);
}

/* A raw deflate stream of @len zero bytes, sync-flushed, tail cut. */
static GBytes *
zeros_compressed (gsize len)
{
  g_autoptr(WwDeflateShared) shared = ww_deflate_shared_new (NULL);
  g_autofree guint8 *zeros = g_malloc0 (len);
  g_autoptr(GError) error = NULL;
  GBytes *out;

  out = ww_deflate_shared_compress (shared, 15, zeros, len, &error);
  g_assert_no_error (error);
  return out;
}

/* ------------------------------------------------------------------ */
/* negotiation, server side                                           */

static void
test_negotiate_basic (void)
{
  WwDeflateConfig config = enabled_config ();
  WwDeflateParams params;
  g_autofree char *response = NULL;

  g_assert_true (ww_deflate_negotiate (&config, "permessage-deflate", &params, &response));
  g_assert_cmpstr (response, ==, "permessage-deflate");
  g_assert_false (params.server_no_context_takeover);
  g_assert_false (params.client_no_context_takeover);
  g_assert_cmpuint (params.server_max_window_bits, ==, 15);
  g_assert_cmpuint (params.client_max_window_bits, ==, 15);

  /* Whitespace and empty list elements are allowed (RFC 9110 §5.6.1). */
  assert_negotiation (&config, " ,  permessage-deflate ;  server_no_context_takeover  , ",
                      "permessage-deflate; server_no_context_takeover");

  /* Off by default (DESIGN: --deflate). */
  g_clear_pointer (&response, g_free);
  ww_deflate_config_init (&config);
  g_assert_false (config.enabled);
  g_assert_false (ww_deflate_negotiate (&config, "permessage-deflate", &params, &response));
  g_assert_null (response);

  config.enabled = TRUE;
  g_assert_false (ww_deflate_negotiate (&config, NULL, &params, NULL));
}

static void
test_negotiate_context_takeover (void)
{
  WwDeflateConfig config = enabled_config ();
  WwDeflateParams params;

  g_assert_true (ww_deflate_negotiate (&config,
                                       "permessage-deflate; client_no_context_takeover",
                                       &params, NULL));
  g_assert_true (params.client_no_context_takeover);
  g_assert_false (params.server_no_context_takeover);

  assert_negotiation (&config, "permessage-deflate; server_no_context_takeover",
                      "permessage-deflate; server_no_context_takeover");
  assert_negotiation (&config, "permessage-deflate; client_no_context_takeover",
                      "permessage-deflate; client_no_context_takeover");
  assert_negotiation (&config,
                      "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
                      "permessage-deflate; server_no_context_takeover; "
                      "client_no_context_takeover");

  /* §7.1.1: no value allowed, not even an empty or quoted one. */
  assert_negotiation (&config, "permessage-deflate; server_no_context_takeover=1", NULL);
  assert_negotiation (&config, "permessage-deflate; client_no_context_takeover=true", NULL);
  assert_negotiation (&config, "permessage-deflate; server_no_context_takeover=", NULL);
  assert_negotiation (&config, "permessage-deflate; client_no_context_takeover=\"x\"", NULL);

  /* Policy: broadcast sharing adds server_no_context_takeover on its own. */
  config.force_server_no_context_takeover = TRUE;
  assert_negotiation (&config, "permessage-deflate",
                      "permessage-deflate; server_no_context_takeover");
  config.force_client_no_context_takeover = TRUE;
  assert_negotiation (&config, "permessage-deflate",
                      "permessage-deflate; server_no_context_takeover; "
                      "client_no_context_takeover");
}

static void
test_negotiate_server_window (void)
{
  WwDeflateConfig config = enabled_config ();
  WwDeflateParams params;
  char value[64];

  for (guint bits = 8; bits <= 15; bits++)
    {
      g_autofree char *expected = NULL;

      g_snprintf (value, sizeof value, "permessage-deflate; server_max_window_bits=%u", bits);
      expected = g_strdup (value);
      assert_negotiation (&config, value, expected);
      g_assert_true (ww_deflate_negotiate (&config, value, &params, NULL));
      g_assert_cmpuint (params.server_max_window_bits, ==, bits);
    }

  /* §7.1.2.1: a value is required, 8..15, decimal without leading zeroes. */
  {
    static const char *const bad[] = {
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_max_window_bits=0",
      "permessage-deflate; server_max_window_bits=010",
      "permessage-deflate; server_max_window_bits=08",
      "permessage-deflate; server_max_window_bits=+9",
      "permessage-deflate; server_max_window_bits=-9",
      "permessage-deflate; server_max_window_bits=1O",
      "permessage-deflate; server_max_window_bits=15x",
      "permessage-deflate; server_max_window_bits=99999999999999999999",
      "permessage-deflate; server_max_window_bits=\"\"",
    };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      assert_negotiation (&config, bad[i], NULL);
  }

  /* Our limit wins when smaller; we may announce it unasked. */
  config.max_window_bits = 10;
  assert_negotiation (&config, "permessage-deflate",
                      "permessage-deflate; server_max_window_bits=10");
  assert_negotiation (&config, "permessage-deflate; server_max_window_bits=12",
                      "permessage-deflate; server_max_window_bits=10");
  assert_negotiation (&config, "permessage-deflate; server_max_window_bits=9",
                      "permessage-deflate; server_max_window_bits=9");
}

static void
test_negotiate_client_window (void)
{
  WwDeflateConfig config = enabled_config ();
  WwDeflateParams params;

  /* Without a value: the client lets us limit it; at 15 there is nothing
   * to say. */
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits", "permessage-deflate");
  g_assert_true (ww_deflate_negotiate (&config, "permessage-deflate; client_max_window_bits",
                                       &params, NULL));
  g_assert_cmpuint (params.client_max_window_bits, ==, 15);

  /* With a value: it is the most the client uses; we answer it. */
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits=10",
                      "permessage-deflate; client_max_window_bits=10");
  g_assert_true (ww_deflate_negotiate (&config, "permessage-deflate; client_max_window_bits=10",
                                       &params, NULL));
  g_assert_cmpuint (params.client_max_window_bits, ==, 10);
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits=8",
                      "permessage-deflate; client_max_window_bits=8");

  assert_negotiation (&config, "permessage-deflate; client_max_window_bits=16", NULL);
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits=7", NULL);
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits=", NULL);
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits=ten", NULL);

  /* Our policy limits the client only when it allowed it (§7.1.2.2). */
  config.max_window_bits = 11;
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits",
                      "permessage-deflate; server_max_window_bits=11; client_max_window_bits=11");
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits=9",
                      "permessage-deflate; server_max_window_bits=11; client_max_window_bits=9");
  g_assert_true (ww_deflate_negotiate (&config, "permessage-deflate", &params, NULL));
  g_assert_cmpuint (params.client_max_window_bits, ==, 15);

  /* A separate limit for the client's window leaves ours alone. */
  config.max_window_bits = 15;
  config.client_max_window_bits = 12;
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits",
                      "permessage-deflate; client_max_window_bits=12");
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits=10",
                      "permessage-deflate; client_max_window_bits=10");
  g_assert_true (ww_deflate_negotiate (&config, "permessage-deflate", &params, NULL));
  g_assert_cmpuint (params.client_max_window_bits, ==, 15);
  g_assert_cmpuint (params.server_max_window_bits, ==, 15);
}

static void
test_negotiate_declines (void)
{
  WwDeflateConfig config = enabled_config ();

  /* §7.1: unknown or duplicate parameters decline that offer only. */
  assert_negotiation (&config, "permessage-deflate; foo", NULL);
  assert_negotiation (&config, "permessage-deflate; foo=bar", NULL);
  assert_negotiation (&config, "permessage-deflate; server_no_context_takeover; "
                      "server_no_context_takeover", NULL);
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits; "
                      "client_max_window_bits=10", NULL);
  assert_negotiation (&config, "permessage-deflate; server_max_window_bits=10; "
                      "server_max_window_bits=10", NULL);

  /* The next acceptable offer is taken. */
  assert_negotiation (&config,
                      "permessage-deflate; foo, permessage-deflate; server_max_window_bits=9",
                      "permessage-deflate; server_max_window_bits=9");
  assert_negotiation (&config,
                      "permessage-deflate; server_max_window_bits=20, "
                      "permessage-deflate; client_max_window_bits=16, "
                      "permessage-deflate; client_no_context_takeover",
                      "permessage-deflate; client_no_context_takeover");

  /* Unknown extensions are passed over. */
  assert_negotiation (&config,
                      "x-webkit-deflate-frame, foo; bar=baz; qux, "
                      "permessage-deflate; client_max_window_bits",
                      "permessage-deflate");
  assert_negotiation (&config, "x-webkit-deflate-frame", NULL);
  assert_negotiation (&config, "permessage-deflatex, deflate-frame", NULL);

  /* Garbage never fails the handshake, it just declines. */
  {
    static const char *const junk[] = {
      "", " ", ",,,", ";;;", "=", "permessage-deflate;", "permessage-deflate;;",
      "permessage-deflate; =10", "permessage-deflate server_no_context_takeover",
      "permessage-deflate; server_max_window_bits=\"10", "\"permessage-deflate\"",
      "permessage-deflate; server_max_window_bits=10 11",
      "permessage-deflate\x01", "permessage-deflate; a\"b",
    };

    for (guint i = 0; i < G_N_ELEMENTS (junk); i++)
      assert_negotiation (&config, junk[i], NULL);
  }
}

static void
test_negotiate_quoted (void)
{
  WwDeflateConfig config = enabled_config ();
  WwDeflateParams params;

  /* RFC 6455 §9.1: quoted-string values, unescaped, must be tokens. */
  assert_negotiation (&config, "permessage-deflate; server_max_window_bits=\"10\"",
                      "permessage-deflate; server_max_window_bits=10");
  assert_negotiation (&config, "permessage-deflate; client_max_window_bits=\"1\\2\"",
                      "permessage-deflate; client_max_window_bits=12");
  g_assert_true (ww_deflate_negotiate (&config, "permessage-deflate; client_max_window_bits=\"9\"",
                                       &params, NULL));
  g_assert_cmpuint (params.client_max_window_bits, ==, 9);

  assert_negotiation (&config, "permessage-deflate; server_max_window_bits=\"1 0\"", NULL);
  assert_negotiation (&config, "permessage-deflate; server_max_window_bits=\"\"", NULL);

  /* A comma inside quotes does not end the element: the whole first
   * offer is declined and the second one read correctly. */
  assert_negotiation (&config,
                      "permessage-deflate; x=\"a, permessage-deflate\", "
                      "permessage-deflate; server_max_window_bits=\"11\"",
                      "permessage-deflate; server_max_window_bits=11");
  assert_negotiation (&config,
                      "foo; bar=\"a,b\\\",c\", permessage-deflate",
                      "permessage-deflate");
  /* Unterminated quote swallows the rest. */
  assert_negotiation (&config, "foo; bar=\"a, permessage-deflate", NULL);
}

/* ------------------------------------------------------------------ */
/* negotiation, client side                                           */

static void
assert_refused (const WwDeflateOffer *offer,
                const char           *response)
{
  g_autoptr(GError) error = NULL;
  WwDeflateParams params;

  if (ww_deflate_client_check_response (offer, response, &params, &error))
    g_error ("response \"%s\" should be refused", response);
  g_assert_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_PROTOCOL_ERROR);
}

static void
test_client_offer (void)
{
  WwDeflateOffer offer = { 0 };
  WwDeflateOffer parsed;
  g_autofree char *plain = NULL;
  g_autofree char *full = NULL;

  plain = ww_deflate_offer_to_string (&offer);
  g_assert_cmpstr (plain, ==, "permessage-deflate");

  offer.server_no_context_takeover = TRUE;
  offer.client_no_context_takeover = TRUE;
  offer.server_max_window_bits = 12;
  offer.has_client_max_window_bits = TRUE;
  full = ww_deflate_offer_to_string (&offer);
  g_assert_cmpstr (full, ==, "permessage-deflate; server_no_context_takeover; "
                   "client_no_context_takeover; server_max_window_bits=12; "
                   "client_max_window_bits");

  g_assert_true (ww_deflate_parse_offer (full, &parsed));
  g_assert_true (memcmp (&parsed, &offer, sizeof offer) == 0);

  offer.client_max_window_bits = 9;
  g_clear_pointer (&full, g_free);
  full = ww_deflate_offer_to_string (&offer);
  g_assert_true (g_str_has_suffix (full, "; client_max_window_bits=9"));
  g_assert_true (ww_deflate_parse_offer (full, &parsed));
  g_assert_cmpuint (parsed.client_max_window_bits, ==, 9);

  g_assert_false (ww_deflate_parse_offer ("foo, bar", &parsed));
  g_assert_false (ww_deflate_parse_offer ("permessage-deflate; bogus", &parsed));
}

static void
test_client_response (void)
{
  WwDeflateOffer offer = { 0 };
  WwDeflateParams params;
  g_autoptr(GError) error = NULL;

  /* No extension in the response: plain connection, no error. */
  g_assert_false (ww_deflate_client_check_response (&offer, NULL, &params, &error));
  g_assert_no_error (error);
  g_assert_false (ww_deflate_client_check_response (&offer, "", &params, &error));
  g_assert_no_error (error);

  g_assert_true (ww_deflate_client_check_response (&offer, "permessage-deflate", &params, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (params.server_max_window_bits, ==, 15);
  g_assert_cmpuint (params.client_max_window_bits, ==, 15);

  /* The server may add these on its own (§7.1.1, §7.1.2.1). */
  g_assert_true (ww_deflate_client_check_response (&offer,
                                                   "permessage-deflate; "
                                                   "server_no_context_takeover; "
                                                   "client_no_context_takeover; "
                                                   "server_max_window_bits=10",
                                                   &params, &error));
  g_assert_no_error (error);
  g_assert_true (params.server_no_context_takeover);
  g_assert_true (params.client_no_context_takeover);
  g_assert_cmpuint (params.server_max_window_bits, ==, 10);

  /* client_max_window_bits only if we offered it, with a value. */
  assert_refused (&offer, "permessage-deflate; client_max_window_bits=10");
  offer.has_client_max_window_bits = TRUE;
  g_assert_true (ww_deflate_client_check_response (&offer,
                                                   "permessage-deflate; client_max_window_bits=10",
                                                   &params, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (params.client_max_window_bits, ==, 10);
  assert_refused (&offer, "permessage-deflate; client_max_window_bits");
  offer.client_max_window_bits = 9;
  assert_refused (&offer, "permessage-deflate; client_max_window_bits=10");
  /* Our own promise holds when the server does not answer it. */
  g_assert_true (ww_deflate_client_check_response (&offer, "permessage-deflate", &params, &error));
  g_assert_cmpuint (params.client_max_window_bits, ==, 9);

  /* Never larger than we asked. */
  offer.server_max_window_bits = 10;
  assert_refused (&offer, "permessage-deflate; server_max_window_bits=11");
  g_assert_true (ww_deflate_client_check_response (&offer,
                                                   "permessage-deflate; server_max_window_bits=9",
                                                   &params, &error));
  g_assert_cmpuint (params.server_max_window_bits, ==, 9);

  assert_refused (&offer, "permessage-deflate; server_max_window_bits=7");
  assert_refused (&offer, "permessage-deflate; server_max_window_bits");
  assert_refused (&offer, "permessage-deflate; foo");
  assert_refused (&offer, "permessage-deflate; server_no_context_takeover; "
                  "server_no_context_takeover");
  assert_refused (&offer, "permessage-deflate; client_no_context_takeover=1");
  assert_refused (&offer, "x-webkit-deflate-frame");
  assert_refused (&offer, "permessage-deflate, permessage-deflate");
  assert_refused (&offer, "permessage-deflate; =");
}

static void
test_negotiate_agreement (void)
{
  /* What the server answers, our client accepts, and both sides agree. */
  static const char *const offers[] = {
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_max_window_bits=9; server_max_window_bits=8",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
  };
  WwDeflateConfig config = enabled_config ();

  for (guint policy = 0; policy < 2; policy++)
    {
      config.max_window_bits = policy ? 12 : 15;
      config.force_server_no_context_takeover = policy;
      for (guint i = 0; i < G_N_ELEMENTS (offers); i++)
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *response = NULL;
          WwDeflateOffer offer;
          WwDeflateParams server, client;

          g_assert_true (ww_deflate_parse_offer (offers[i], &offer));
          g_assert_true (ww_deflate_negotiate (&config, offers[i], &server, &response));
          g_assert_true (ww_deflate_client_check_response (&offer, response, &client, &error));
          g_assert_no_error (error);
          g_assert_cmpint (server.server_no_context_takeover, ==,
                           client.server_no_context_takeover);
          g_assert_cmpint (server.client_no_context_takeover, ==,
                           client.client_no_context_takeover);
          g_assert_cmpuint (server.server_max_window_bits, ==, client.server_max_window_bits);
          /* The client may use less than the server allows, never more. */
          g_assert_cmpuint (client.client_max_window_bits, <=, server.client_max_window_bits);
        }
    }
}

/* ------------------------------------------------------------------ */
/* codec                                                              */

static void
run_round_trips (gboolean no_context)
{
  static const gsize sizes[] = {
    0, 1, 2, 63, 64, 65, 200, 1000, 4096, 65535, 65536, 70000, 1 << 20,
  };
  WwDeflateParams params = default_params ();
  g_autoptr(WwDeflate) server = NULL;
  g_autoptr(WwDeflate) client = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (7692);

  params.server_no_context_takeover = no_context;
  params.client_no_context_takeover = no_context;
  server = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
  client = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autofree guint8 *noise = random_bytes (rand, sizes[i]);
      g_autofree guint8 *text = compressible_bytes (rand, sizes[i]);
      gsize packed;

      round_trip (server, client, noise, sizes[i], NULL);
      round_trip (client, server, noise, sizes[i], NULL);
      round_trip (server, client, text, sizes[i], &packed);
      if (sizes[i] >= 1000)
        g_assert_cmpuint (packed, <, sizes[i] / 2);
      round_trip (client, server, text, sizes[i], NULL);
    }
}

static void
test_round_trip_context (void)
{
  run_round_trips (FALSE);
}

static void
test_round_trip_no_context (void)
{
  run_round_trips (TRUE);
}

static void
test_round_trip_16mib (void)
{
  const gsize len = 16 * 1024 * 1024;
  WwDeflateParams params = default_params ();
  WwDeflateConfig fast;
  g_autoptr(WwDeflate) server = NULL;
  g_autoptr(WwDeflate) client = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (16);
  g_autofree guint8 *text = compressible_bytes (rand, len);
  g_autofree guint8 *noise = random_bytes (rand, len);
  WwDeflateMemory memory;

  /* The server side runs level 1: zlib's other code path (deflate_fast),
   * and seconds less on 16 MiB of noise. */
  ww_deflate_config_init (&fast);
  fast.level = 1;
  server = ww_deflate_new (WW_ROLE_SERVER, &params, &fast, NULL);

  /* Exactly at the default limit (16 MiB) is allowed. */
  round_trip (client, server, text, len, NULL);
  round_trip (server, client, noise, len, NULL);

  ww_deflate_get_memory (server, &memory);
  g_assert_cmpuint (memory.buffer_peak, <=, len + 1);
  g_assert_cmpuint (memory.buffer_bytes, ==, 0);
}

static void
test_context_takeover_effect (void)
{
  WwDeflateParams params = default_params ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (2);
  g_autofree guint8 *msg = random_bytes (rand, 2000);

  for (guint no_context = 0; no_context < 2; no_context++)
    {
      g_autoptr(WwDeflate) server = NULL;
      g_autoptr(WwDeflate) client = NULL;
      gsize first, second;

      params.server_no_context_takeover = no_context;
      server = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
      client = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);
      round_trip (server, client, msg, 2000, &first);
      round_trip (server, client, msg, 2000, &second);
      g_assert_cmpuint (first, >, 2000);
      if (no_context)
        g_assert_cmpuint (second, ==, first);
      else
        g_assert_cmpuint (second, <, 100); /* one back reference to the first */
      g_assert_cmpint (ww_deflate_can_skip (server), ==, no_context);
    }
}

/* Inflate @packed in pieces cut at the given points. */
static GBytes *
inflate_split (WwDeflate    *receiver,
               GBytes       *packed,
               GRand        *rand,
               gboolean      bytewise)
{
  g_autoptr(GError) error = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (packed, &len);
  gsize at = 0;
  GBytes *out;

  while (at < len)
    {
      gsize piece = 1;

      if (!bytewise)
        piece = (gsize) g_rand_int_range (rand, 0, (gint32) MIN (len - at, 5000) + 1);

      g_assert_true (ww_deflate_inflate_feed (receiver, data + at, piece, &error));
      g_assert_no_error (error);
      at += piece;
    }
  out = ww_deflate_inflate_finish (receiver, &error);
  g_assert_no_error (error);
  return out;
}

static void
test_inflate_fragmented (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (1234);

  for (guint no_context = 0; no_context < 2; no_context++)
    for (guint bytewise = 0; bytewise < 2; bytewise++)
      {
        WwDeflateParams params = default_params ();
        g_autoptr(WwDeflate) server = NULL;
        g_autoptr(WwDeflate) client = NULL;

        params.server_no_context_takeover = no_context;
        params.client_no_context_takeover = no_context;
        server = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
        client = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);

        for (guint round = 0; round < 12; round++)
          {
            gsize len = bytewise ? (gsize) g_rand_int_range (rand, 0, 3000)
                                 : (gsize) g_rand_int_range (rand, 0, 200000);
            g_autofree guint8 *msg = round % 3 == 0 ? random_bytes (rand, len)
                                                    : compressible_bytes (rand, len);
            g_autoptr(GError) error = NULL;
            g_autoptr(GBytes) packed = ww_deflate_compress (client, msg, len, &error);
            g_autoptr(GBytes) out = NULL;

            g_assert_no_error (error);
            out = inflate_split (server, packed, rand, bytewise);
            assert_bytes_equal (out, msg, len);
          }
      }
}

static void
test_threshold (void)
{
  WwDeflateConfig config;
  WwDeflateParams params = default_params ();
  g_autoptr(WwDeflate) codec = NULL;
  g_autoptr(WwDeflate) eager = NULL;

  ww_deflate_config_init (&config);
  g_assert_cmpuint (config.compress_threshold, ==, 64);
  g_assert_cmpuint (config.max_window_bits, ==, 15);
  g_assert_cmpint (config.mem_level, ==, 4);
  g_assert_false (config.enabled);
  /* DESIGN: one compressed broadcast frame shared by every feed client. */
  g_assert_true (config.force_server_no_context_takeover);
  g_assert_false (config.force_client_no_context_takeover);
  codec = ww_deflate_new (WW_ROLE_SERVER, &params, &config, NULL);
  g_assert_false (ww_deflate_should_compress (codec, 0));
  g_assert_false (ww_deflate_should_compress (codec, 63));
  g_assert_true (ww_deflate_should_compress (codec, 64));
  g_assert_true (ww_deflate_should_compress (codec, 1 << 20));

  config.compress_threshold = 0;
  eager = ww_deflate_new (WW_ROLE_SERVER, &params, &config, NULL);
  g_assert_true (ww_deflate_should_compress (eager, 0));
}

static void
test_zip_bomb (void)
{
  const gsize limit = 1024 * 1024;
  WwDeflateParams params = default_params ();
  g_autoptr(GBytes) bomb = zeros_compressed (64 * 1024 * 1024);
  gsize bomb_len;
  const guint8 *bomb_data = g_bytes_get_data (bomb, &bomb_len);

  /* ~1000:1; what arrives on the wire is small. */
  g_assert_cmpuint (bomb_len, <, 128 * 1024);

  for (guint pieces = 0; pieces < 2; pieces++)
    {
      g_autoptr(WwDeflate) server = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
      g_autoptr(GError) error = NULL;
      WwDeflateMemory memory;
      gboolean ok = TRUE;

      ww_deflate_set_max_message (server, limit);
      if (pieces)
        {
          for (gsize at = 0; ok && at < bomb_len; at += 100)
            ok = ww_deflate_inflate_feed (server, bomb_data + at, MIN (100, bomb_len - at),
                                          &error);
          g_assert_false (ok);
        }
      else
        g_assert_null (ww_deflate_inflate (server, bomb_data, bomb_len, &error));
      g_assert_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_MESSAGE_TOO_BIG);

      /* Never held more than the limit plus one byte; zlib itself stays
       * at its state plus one 32 KiB window. */
      ww_deflate_get_memory (server, &memory);
      g_assert_cmpuint (memory.buffer_peak, <=, limit + 1);
      g_assert_cmpuint (memory.buffer_bytes, ==, 0);
      g_assert_cmpuint (memory.zlib_peak, <, 64 * 1024);

      /* The codec stays failed. */
      g_clear_error (&error);
      g_assert_false (ww_deflate_inflate_feed (server, "\x00", 1, &error));
      g_assert_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_MESSAGE_TOO_BIG);
      g_clear_error (&error);
      g_assert_null (ww_deflate_inflate_finish (server, &error));
      g_assert_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_MESSAGE_TOO_BIG);
    }

  /* One byte over the limit is too big; exactly the limit is fine. */
  {
    g_autoptr(GBytes) exact = zeros_compressed (limit);
    g_autoptr(GBytes) over = zeros_compressed (limit + 1);
    g_autoptr(WwDeflate) server = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
    g_autoptr(WwDeflate) other = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
    g_autoptr(GBytes) out = NULL;
    g_autoptr(GError) error = NULL;

    ww_deflate_set_max_message (server, limit);
    ww_deflate_set_max_message (other, limit);
    out = ww_deflate_inflate (server, g_bytes_get_data (exact, NULL), g_bytes_get_size (exact),
                              &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (out), ==, limit);
    g_assert_null (ww_deflate_inflate (other, g_bytes_get_data (over, NULL),
                                       g_bytes_get_size (over), &error));
    g_assert_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_MESSAGE_TOO_BIG);
  }
}

static GBytes *compress_final (const void *dict,
                               gsize       dict_len,
                               const void *msg,
                               gsize       len);

static void
assert_corrupt (const guint8 *data,
                gsize         len)
{
  WwDeflateParams params = default_params ();
  g_autoptr(WwDeflate) server = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_null (ww_deflate_inflate (server, data, len, &error));
  g_assert_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_INVALID_PAYLOAD);
}

static void
test_corrupt (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (99);
  WwDeflateParams params = default_params ();

  /* BTYPE 11 is reserved (RFC 1951 §3.2.3). */
  assert_corrupt ((const guint8 *) "\xff\xff\xff\xff", 4);
  assert_corrupt ((const guint8 *) "\x07", 1);
  /* A stored block whose NLEN is not the complement of LEN. */
  assert_corrupt ((const guint8 *) "\x00\x05\x00\x00\x00hello", 10);
  /* A back reference before the start of the stream: compressed against
   * a dictionary the receiver never saw. */
  {
    static const char dict[] = "Harbor City vs Northgate, Harbor City vs Northgate";
    g_autoptr(GBytes) packed = compress_final (dict, sizeof dict - 1, dict, sizeof dict - 1);

    assert_corrupt (g_bytes_get_data (packed, NULL), g_bytes_get_size (packed));
  }

  /* Random damage to real streams: an error or some message, never a
   * crash, a hang or a leak (ASan). */
  for (guint round = 0; round < 300; round++)
    {
      g_autoptr(WwDeflate) sender = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);
      g_autoptr(WwDeflate) receiver = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
      gsize len = (gsize) g_rand_int_range (rand, 1, 5000);
      g_autofree guint8 *msg = compressible_bytes (rand, len);
      g_autoptr(GBytes) packed = ww_deflate_compress (sender, msg, len, NULL);
      g_autoptr(GBytes) out = NULL;
      g_autoptr(GError) error = NULL;
      gsize packed_len = g_bytes_get_size (packed);
      g_autofree guint8 *bad = g_memdup2 (g_bytes_get_data (packed, NULL), packed_len);

      for (guint flips = g_rand_int_range (rand, 1, 4); flips > 0; flips--)
        {
          gint32 at = g_rand_int_range (rand, 0, (gint32) packed_len);

          bad[at] ^= (guint8) (1u << g_rand_int_range (rand, 0, 8));
        }
      if (round % 2)
        packed_len = (gsize) g_rand_int_range (rand, 1, (gint32) packed_len + 1);

      ww_deflate_set_max_message (receiver, 64 * 1024);
      out = ww_deflate_inflate (receiver, bad, packed_len, &error);
      if (out == NULL)
        g_assert_true (error->code == WW_CLOSE_INVALID_PAYLOAD ||
                       error->code == WW_CLOSE_MESSAGE_TOO_BIG);
      else
        g_assert_no_error (error);
    }
}

/* Compresses @msg as a complete raw stream (BFINAL set), as §7.2.3.4
 * allows, with @dict preset. */
static GBytes *
compress_final (const void *dict,
                gsize       dict_len,
                const void *msg,
                gsize       len)
{
  z_stream strm = { 0 };
  guint8 *out = g_malloc (len + 1024);

  g_assert_cmpint (deflateInit2 (&strm, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
  if (dict_len > 0)
    g_assert_cmpint (deflateSetDictionary (&strm, dict, (uInt) dict_len), ==, Z_OK);
  strm.next_in = (Bytef *) msg;
  strm.avail_in = (uInt) len;
  strm.next_out = out;
  strm.avail_out = (uInt) len + 1024;
  g_assert_cmpint (deflate (&strm, Z_FINISH), ==, Z_STREAM_END);
  len = strm.total_out;
  deflateEnd (&strm);
  return g_bytes_new_take (out, len);
}

static void
test_final_block (void)
{
  WwDeflateParams params = default_params ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (5);
  g_autofree guint8 *first = random_bytes (rand, 3000);
  g_autoptr(GBytes) first_packed = compress_final (NULL, 0, first, 3000);
  g_autoptr(GBytes) second_packed = compress_final (first, 3000, first, 3000);
  g_autoptr(WwDeflate) server = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out1 = NULL;
  g_autoptr(GBytes) out2 = NULL;

  /* With context takeover the second message refers back into the first
   * even though the first ended its stream. */
  g_assert_cmpuint (g_bytes_get_size (second_packed), <, 100);
  out1 = ww_deflate_inflate (server, g_bytes_get_data (first_packed, NULL),
                             g_bytes_get_size (first_packed), &error);
  g_assert_no_error (error);
  assert_bytes_equal (out1, first, 3000);
  out2 = ww_deflate_inflate (server, g_bytes_get_data (second_packed, NULL),
                             g_bytes_get_size (second_packed), &error);
  g_assert_no_error (error);
  assert_bytes_equal (out2, first, 3000);

  /* Bytes after the final block are an error. */
  {
    g_autoptr(WwDeflate) other = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
    gsize len = g_bytes_get_size (first_packed);
    g_autofree guint8 *trailing = g_malloc (len + 3);

    memcpy (trailing, g_bytes_get_data (first_packed, NULL), len);
    memcpy (trailing + len, "abc", 3);
    g_assert_null (ww_deflate_inflate (other, trailing, len + 3, &error));
    g_assert_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_INVALID_PAYLOAD);
  }
}

static void
test_empty_message (void)
{
  WwDeflateParams params = default_params ();
  g_autoptr(WwDeflate) server = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
  g_autoptr(WwDeflate) client = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) packed = ww_deflate_compress (server, NULL, 0, &error);
  g_autoptr(GBytes) none = NULL;
  g_autoptr(GBytes) single = NULL;

  /* §7.2.3.6: an empty message compresses to the single byte 0x00. */
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (packed), ==, 1);
  g_assert_cmpuint (((const guint8 *) g_bytes_get_data (packed, NULL))[0], ==, 0);

  single = ww_deflate_inflate (client, "\x00", 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (single), ==, 0);
  /* An empty payload with RSV1 is read as an empty message too. */
  none = ww_deflate_inflate (client, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (none), ==, 0);
  /* ... and leaves the stream usable. */
  round_trip (server, client, (const guint8 *) "after", 5, NULL);
}

/* Inflates with stock zlib at exactly @bits, as a strict peer would. */
static void
assert_inflates_with_window (GBytes       *packed,
                             guint         bits,
                             const guint8 *expected,
                             gsize         len)
{
  z_stream strm = { 0 };
  g_autofree guint8 *in = NULL;
  g_autofree guint8 *out = g_malloc (len + 1);
  gsize in_len = g_bytes_get_size (packed);
  int ret;

  in = g_malloc (in_len + 4);
  memcpy (in, g_bytes_get_data (packed, NULL), in_len);
  memcpy (in + in_len, "\x00\x00\xff\xff", 4);
  g_assert_cmpint (inflateInit2 (&strm, -(int) bits), ==, Z_OK);
  strm.next_in = in;
  strm.avail_in = (uInt) in_len + 4;
  strm.next_out = out;
  strm.avail_out = (uInt) len + 1;
  ret = inflate (&strm, Z_SYNC_FLUSH);
  g_assert_cmpint (ret, ==, Z_OK);
  g_assert_cmpuint (strm.total_out, ==, len);
  g_assert_true (memcmp (out, expected, len) == 0);
  inflateEnd (&strm);
}

static void
test_window_bits (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (8);
  g_autofree guint8 *unit = random_bytes (rand, 240);
  const gsize len = 240 * 20;
  g_autofree guint8 *msg = g_malloc (len);
  WwDeflateConfig config = enabled_config ();
  WwDeflateParams params;
  g_autoptr(WwDeflate) server = NULL;
  g_autoptr(WwDeflate) client = NULL;

  /* Random 240-byte unit repeated: compressible only by back references
   * that fit an 8-bit window. */
  for (guint i = 0; i < 20; i++)
    memcpy (msg + 240 * i, unit, 240);

  g_assert_true (ww_deflate_negotiate (&config,
                                       "permessage-deflate; server_max_window_bits=8; "
                                       "client_max_window_bits=8",
                                       &params, NULL));
  g_assert_cmpuint (params.server_max_window_bits, ==, 8);
  /* A strict 256-byte window peer can read what we send (zlib runs it
   * with 9 bits), and it still compresses. */
  {
    g_autoptr(WwDeflate) s = ww_deflate_new (WW_ROLE_SERVER, &params, &config, NULL);
    g_autoptr(WwDeflate) c = ww_deflate_new (WW_ROLE_CLIENT, &params, &config, NULL);
    g_autoptr(GBytes) packed = ww_deflate_compress (s, msg, len, NULL);
    g_autoptr(GBytes) from_client = ww_deflate_compress (c, msg, len, NULL);

    g_assert_cmpuint (g_bytes_get_size (packed), <, len / 4);
    assert_inflates_with_window (packed, 8, msg, len);
    assert_inflates_with_window (from_client, 8, msg, len);
  }

  server = ww_deflate_new (WW_ROLE_SERVER, &params, &config, NULL);
  client = ww_deflate_new (WW_ROLE_CLIENT, &params, &config, NULL);
  for (guint round = 0; round < 3; round++)
    {
      round_trip (server, client, msg, len, NULL);
      round_trip (client, server, msg, len, NULL);
    }

  /* Each window from 9 to 15 is honoured as negotiated. */
  for (guint bits = 9; bits <= 15; bits++)
    {
      WwDeflateParams p = { FALSE, TRUE, bits, bits };
      g_autoptr(WwDeflate) s = ww_deflate_new (WW_ROLE_SERVER, &p, NULL, NULL);
      g_autoptr(GBytes) packed = ww_deflate_compress (s, msg, len, NULL);

      assert_inflates_with_window (packed, bits, msg, len);
    }
}

static void
test_shared (void)
{
  WwDeflateConfig config = enabled_config ();
  WwDeflateParams params;
  g_autoptr(WwDeflateShared) shared = ww_deflate_shared_new (&config);
  g_autoptr(WwDeflate) peer_a = NULL;
  g_autoptr(WwDeflate) peer_b = NULL;
  g_autoptr(WwDeflate) reader_a = NULL;
  g_autoptr(WwDeflate) reader_b = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (3);
  WwDeflateMemory memory;

  config.force_server_no_context_takeover = TRUE;
  g_assert_true (ww_deflate_negotiate (&config, "permessage-deflate", &params, NULL));
  g_assert_true (params.server_no_context_takeover);

  peer_a = ww_deflate_new (WW_ROLE_SERVER, &params, &config, shared);
  peer_b = ww_deflate_new (WW_ROLE_SERVER, &params, &config, shared);
  g_assert_cmpuint (ww_deflate_broadcast_window (peer_a), ==, 15);
  {
    WwDeflateParams keeps = { FALSE, FALSE, 15, 15 };
    WwDeflateParams small = { TRUE, FALSE, 10, 15 };
    g_autoptr(WwDeflate) own = ww_deflate_new (WW_ROLE_SERVER, &keeps, &config, shared);
    g_autoptr(WwDeflate) ten = ww_deflate_new (WW_ROLE_SERVER, &small, &config, shared);
    g_autoptr(WwDeflate) as_client = ww_deflate_new (WW_ROLE_CLIENT, &small, &config, shared);

    g_assert_cmpuint (ww_deflate_broadcast_window (own), ==, 0);
    g_assert_cmpuint (ww_deflate_broadcast_window (ten), ==, 10);
    /* A client keeps context unless client_no_context_takeover. */
    g_assert_cmpuint (ww_deflate_broadcast_window (as_client), ==, 0);
  }
  reader_a = ww_deflate_new (WW_ROLE_CLIENT, &params, &config, NULL);
  reader_b = ww_deflate_new (WW_ROLE_CLIENT, &params, &config, NULL);

  for (guint round = 0; round < 10; round++)
    {
      gsize len = (gsize) g_rand_int_range (rand, 64, 20000);
      g_autofree guint8 *msg = compressible_bytes (rand, len);
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) once = ww_deflate_shared_compress (shared, 15, msg, len, &error);
      g_autoptr(GBytes) via_a = ww_deflate_compress (peer_a, msg, len, &error);
      g_autoptr(GBytes) out_a = NULL;
      g_autoptr(GBytes) out_b = NULL;

      g_assert_no_error (error);
      /* Stateless: the same input gives the same frame every time, so one
       * buffer can go to every peer. */
      g_assert_true (g_bytes_equal (once, via_a));
      out_a = ww_deflate_inflate (reader_a, g_bytes_get_data (once, NULL),
                                  g_bytes_get_size (once), &error);
      g_assert_no_error (error);
      assert_bytes_equal (out_a, msg, len);
      out_b = ww_deflate_inflate (reader_b, g_bytes_get_data (once, NULL),
                                  g_bytes_get_size (once), &error);
      g_assert_no_error (error);
      assert_bytes_equal (out_b, msg, len);
    }

  /* The peers own no deflate stream; the shared one holds one window. */
  ww_deflate_get_memory (peer_a, &memory);
  g_assert_cmpuint (memory.zlib_peak, ==, 0);
  g_assert_cmpuint (ww_deflate_shared_memory (shared), >=,
                    ww_deflate_stream_memory (15, config.mem_level));
  g_assert_cmpuint (ww_deflate_shared_memory (shared), <=,
                    ww_deflate_stream_memory (15, config.mem_level) + 8 * 1024);

  /* A smaller window gets its own stream, and a valid frame for it. */
  {
    g_autofree guint8 *msg = compressible_bytes (rand, 5000);
    g_autoptr(GBytes) small = ww_deflate_shared_compress (shared, 10, msg, 5000, NULL);

    assert_inflates_with_window (small, 10, msg, 5000);
  }
}

static void
test_memory_release (void)
{
  WwDeflateConfig config = enabled_config ();
  WwDeflateParams params = default_params ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (11);
  g_autofree guint8 *msg = compressible_bytes (rand, 4000);
  WwDeflateMemory memory;

  for (guint mem_level = 1; mem_level <= 9; mem_level += 4)
    for (guint bits = 9; bits <= 15; bits += 3)
      {
        WwDeflateParams p = { FALSE, FALSE, bits, bits };
        g_autoptr(WwDeflate) codec = NULL;
        g_autoptr(GBytes) packed = NULL;
        gsize expected = ww_deflate_stream_memory (bits, (int) mem_level);

        config.mem_level = (int) mem_level;
        codec = ww_deflate_new (WW_ROLE_SERVER, &p, &config, NULL);
        ww_deflate_get_memory (codec, &memory);
        g_assert_cmpuint (memory.zlib_bytes, ==, 0); /* lazy */
        packed = ww_deflate_compress (codec, msg, 4000, NULL);
        ww_deflate_get_memory (codec, &memory);
        g_test_message ("deflate w=%u m=%u: %" G_GSIZE_FORMAT " bytes (formula %"
                        G_GSIZE_FORMAT ")",
                        bits, mem_level, memory.zlib_bytes, expected);
        g_assert_cmpuint (memory.zlib_bytes, >=, expected);
        g_assert_cmpuint (memory.zlib_bytes, <=, expected + 8 * 1024);
        g_assert_cmpuint (ww_deflate_release_idle (codec), ==, memory.zlib_bytes);
        ww_deflate_get_memory (codec, &memory);
        g_assert_cmpuint (memory.zlib_bytes, ==, 0);
      }

  /* The peer keeps context: after a message the inflate stream holds
   * history it may refer to, so it stays; the deflate stream goes. */
  {
    g_autoptr(WwDeflate) server = ww_deflate_new (WW_ROLE_SERVER, &params, NULL, NULL);
    g_autoptr(WwDeflate) client = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);

    round_trip (client, server, msg, 4000, NULL);
    round_trip (server, client, msg, 4000, NULL);
    ww_deflate_get_memory (server, &memory);
    g_assert_cmpuint (ww_deflate_release_idle (server), >, 0);
    ww_deflate_get_memory (server, &memory);
    g_assert_cmpuint (memory.zlib_bytes, >=, 1 << 15);       /* window */
    g_assert_cmpuint (memory.zlib_bytes, <=, (1 << 15) + 12 * 1024);
    g_assert_cmpuint (ww_deflate_release_idle (server), ==, 0);
    /* Both still work, and the client's context is still understood. */
    round_trip (client, server, msg, 4000, NULL);
    round_trip (server, client, msg, 4000, NULL);
  }

  /* The peer keeps no context: everything goes between messages. */
  {
    WwDeflateParams nc = { TRUE, TRUE, 15, 15 };
    g_autoptr(WwDeflate) server = ww_deflate_new (WW_ROLE_SERVER, &nc, NULL, NULL);
    g_autoptr(WwDeflate) client = ww_deflate_new (WW_ROLE_CLIENT, &nc, NULL, NULL);

    round_trip (client, server, msg, 4000, NULL);
    round_trip (server, client, msg, 4000, NULL);
    ww_deflate_release_idle (server);
    ww_deflate_get_memory (server, &memory);
    g_assert_cmpuint (memory.zlib_bytes, ==, 0);
    round_trip (client, server, msg, 4000, NULL);

    /* Mid-message nothing is taken away. */
    {
      g_autoptr(GBytes) packed = ww_deflate_compress (client, msg, 4000, NULL);
      g_autoptr(GBytes) out = NULL;
      gsize half = g_bytes_get_size (packed) / 2;
      const guint8 *data = g_bytes_get_data (packed, NULL);

      g_assert_true (ww_deflate_inflate_feed (server, data, half, NULL));
      ww_deflate_release_idle (server);
      g_assert_true (ww_deflate_inflate_feed (server, data + half,
                                              g_bytes_get_size (packed) - half, NULL));
      out = ww_deflate_inflate_finish (server, NULL);
      assert_bytes_equal (out, msg, 4000);
    }
  }
}

/* ------------------------------------------------------------------ */
/* interop with Node's ws (tests/protocol/deflate-interop.js)          */

#define NODE_DEADLINE_US (30 * G_USEC_PER_SEC)

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

static char *
interop_script (void)
{
  const char *root = g_getenv ("WW_SOURCE_ROOT");
  g_autofree char *ws = NULL;
  g_autofree char *node = g_find_program_in_path ("node");

  if (root == NULL || node == NULL)
    return NULL;
  ws = g_build_filename (root, "tests", "node_modules", "ws", "lib", "permessage-deflate.js",
                         NULL);
  if (!g_file_test (ws, G_FILE_TEST_EXISTS))
    return NULL;
  return g_build_filename (root, "tests", "protocol", "deflate-interop.js", NULL);
}

/* Runs node with @input on stdin and returns its stdout; the child is
 * killed by its PID if it outlives the deadline.  Fails the test on a
 * non-zero exit. */
static char *
run_node (const char *script,
          const char *mode,
          const char *arg,
          const char *input)
{
  const char *argv[] = { "node", script, mode, arg, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + NODE_DEADLINE_US;
  gsize in_len = input ? strlen (input) : 0, in_done = 0;
  int in_fd = -1, out_fd = -1, status = 0;
  GPid pid;

  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL,
                                           G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &pid, &in_fd, &out_fd, NULL, &error));
  g_assert_no_error (error);
  g_unix_set_fd_nonblocking (in_fd, TRUE, NULL);
  g_unix_set_fd_nonblocking (out_fd, TRUE, NULL);
  if (in_done == in_len)
    close_fd (&in_fd);

  while (out_fd >= 0)
    {
      struct pollfd fds[2] = { { out_fd, POLLIN, 0 }, { in_fd, POLLOUT, 0 } };
      gint64 left = deadline - g_get_monotonic_time ();
      char buf[4096];
      ssize_t n;

      if (left <= 0)
        {
          kill (pid, SIGKILL);
          waitpid (pid, NULL, 0);
          g_error ("node %s did not finish in time", mode);
        }
      if (poll (fds, in_fd >= 0 ? 2 : 1, (int) (left / 1000) + 1) < 0 && errno != EINTR)
        g_error ("poll: %s", g_strerror (errno));

      if (in_fd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)))
        {
          n = write (in_fd, input + in_done, in_len - in_done);
          if (n > 0)
            in_done += (gsize) n;
          if ((n < 0 && errno != EAGAIN && errno != EINTR) || in_done == in_len)
            close_fd (&in_fd);
        }
      if (fds[0].revents & (POLLIN | POLLERR | POLLHUP))
        {
          n = read (out_fd, buf, sizeof buf);
          if (n > 0)
            g_string_append_len (out, buf, n);
          else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            close_fd (&out_fd);
        }
    }
  close_fd (&in_fd);

  /* stdout closed: the child is exiting; still bounded by the deadline. */
  while (waitpid (pid, &status, WNOHANG) == 0)
    {
      if (g_get_monotonic_time () > deadline)
        {
          kill (pid, SIGKILL);
          waitpid (pid, NULL, 0);
          g_error ("node %s did not exit in time", mode);
        }
      g_usleep (10 * 1000);
    }
  g_spawn_close_pid (pid);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_error ("node %s failed (status %d)", mode, status);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The values of the lines of @output that start with "@key ". */
static GPtrArray *
output_values (const char *output,
               const char *key)
{
  g_auto(GStrv) lines = g_strsplit (output, "\n", -1);
  g_autofree char *prefix = g_strconcat (key, " ", NULL);
  GPtrArray *values = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      g_ptr_array_add (values, g_strdup (lines[i] + strlen (prefix)));
  return values;
}

static GPtrArray *
interop_messages (void)
{
  static const gsize sizes[] = { 1, 64, 300, 5000, 20000, 200, 7000 };
  g_autoptr(GRand) rand = g_rand_new_with_seed (6455);
  GPtrArray *messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      guint8 *data = i % 3 == 2 ? random_bytes (rand, sizes[i])
                                : compressible_bytes (rand, sizes[i]);

      g_ptr_array_add (messages, g_bytes_new_take (data, sizes[i]));
    }
  return messages;
}

/* Sends every message through @ours to ws and back: ws inflates what we
 * compressed, and we inflate what ws compressed. */
static void
exchange_with_ws (const char *script,
                  const char *role,
                  const char *options,
                  const char *header,
                  WwDeflate  *ours)
{
  g_autoptr(GPtrArray) messages = interop_messages ();
  g_autoptr(GString) request = g_string_new (NULL);
  g_autofree char *output = NULL;
  g_autoptr(GPtrArray) inflated = NULL;
  g_autoptr(GPtrArray) deflated = NULL;

  g_string_append_printf (request, "role %s\noptions %s\nheader %s\n", role, options, header);
  for (guint i = 0; i < messages->len; i++)
    {
      GBytes *msg = g_ptr_array_index (messages, i);
      g_autoptr(GBytes) packed = ww_deflate_compress (ours, g_bytes_get_data (msg, NULL),
                                                      g_bytes_get_size (msg), NULL);
      g_autofree char *b64 = g_base64_encode (g_bytes_get_data (packed, NULL),
                                              g_bytes_get_size (packed));

      g_string_append_printf (request, "inflate %s\n", b64);
    }
  for (guint i = 0; i < messages->len; i++)
    {
      GBytes *msg = g_ptr_array_index (messages, i);
      g_autofree char *b64 = g_base64_encode (g_bytes_get_data (msg, NULL),
                                              g_bytes_get_size (msg));

      g_string_append_printf (request, "deflate %s\n", b64);
    }

  output = run_node (script, "run", NULL, request->str);
  inflated = output_values (output, "inflated");
  deflated = output_values (output, "deflated");
  g_assert_cmpuint (inflated->len, ==, messages->len);
  g_assert_cmpuint (deflated->len, ==, messages->len);

  for (guint i = 0; i < messages->len; i++)
    {
      GBytes *msg = g_ptr_array_index (messages, i);
      gsize theirs_len, packed_len;
      g_autofree guint8 *theirs = g_base64_decode (g_ptr_array_index (inflated, i), &theirs_len);
      g_autofree guint8 *packed = g_base64_decode (g_ptr_array_index (deflated, i), &packed_len);
      g_autoptr(GBytes) back = NULL;
      g_autoptr(GError) error = NULL;

      assert_bytes_equal (msg, theirs, theirs_len);

      back = ww_deflate_inflate (ours, packed, packed_len, &error);
      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (back, msg));
    }
}

static void
test_interop_ws_client (void)
{
  static const struct {
    const char *ws_options;
    gboolean    force_server_no_context;
    guint       max_window_bits;
  } cases[] = {
    { "{}", FALSE, 15 },
    { "{}", TRUE, 15 },
    { "{}", FALSE, 10 },
    { "{\"serverNoContextTakeover\":true,\"clientNoContextTakeover\":true}", FALSE, 15 },
    { "{\"serverMaxWindowBits\":9,\"clientMaxWindowBits\":11}", FALSE, 15 },
    { "{\"serverMaxWindowBits\":8,\"clientMaxWindowBits\":8}", FALSE, 15 },
  };
  g_autofree char *script = interop_script ();

  if (script == NULL)
    {
      g_test_skip ("node or tests/node_modules/ws not available");
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      WwDeflateConfig config = enabled_config ();
      WwDeflateParams params;
      g_autofree char *offer = run_node (script, "offer", cases[i].ws_options, NULL);
      g_autofree char *response = NULL;
      g_autoptr(WwDeflate) server = NULL;

      config.force_server_no_context_takeover = cases[i].force_server_no_context;
      config.max_window_bits = cases[i].max_window_bits;
      g_test_message ("ws offers \"%s\"", offer);
      g_assert_true (ww_deflate_negotiate (&config, offer, &params, &response));
      g_test_message ("we answer \"%s\"", response);
      server = ww_deflate_new (WW_ROLE_SERVER, &params, &config, NULL);
      exchange_with_ws (script, "client", cases[i].ws_options, response, server);
    }
}

static void
test_interop_ws_server (void)
{
  static const struct {
    WwDeflateOffer offer;
    const char    *ws_options;
  } cases[] = {
    { { FALSE, FALSE, 0, TRUE, 0 }, "{}" },
    { { FALSE, FALSE, 0, FALSE, 0 }, "{\"serverNoContextTakeover\":true}" },
    { { TRUE, TRUE, 10, TRUE, 12 }, "{}" },
    { { FALSE, FALSE, 0, TRUE, 0 }, "{\"serverMaxWindowBits\":10,\"clientMaxWindowBits\":9}" },
  };
  g_autofree char *script = interop_script ();

  if (script == NULL)
    {
      g_test_skip ("node or tests/node_modules/ws not available");
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *offer = ww_deflate_offer_to_string (&cases[i].offer);
      g_autofree char *request = g_strdup_printf ("role server\noptions %s\nheader %s\n",
                                                  cases[i].ws_options, offer);
      g_autofree char *output = run_node (script, "run", NULL, request);
      g_autoptr(GPtrArray) response = output_values (output, "response");
      g_autoptr(GError) error = NULL;
      g_autoptr(WwDeflate) client = NULL;
      WwDeflateParams params;

      g_assert_cmpuint (response->len, ==, 1);
      g_test_message ("we offer \"%s\", ws answers \"%s\"", offer,
                      (char *) g_ptr_array_index (response, 0));
      g_assert_true (ww_deflate_client_check_response (&cases[i].offer,
                                                       g_ptr_array_index (response, 0),
                                                       &params, &error));
      g_assert_no_error (error);
      client = ww_deflate_new (WW_ROLE_CLIENT, &params, NULL, NULL);
      exchange_with_ws (script, "server", cases[i].ws_options, offer, client);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  /* A peer process that dies must fail a test, not kill the runner. */
  signal (SIGPIPE, SIG_IGN);

  g_test_add_func ("/deflate/negotiate/basic", test_negotiate_basic);
  g_test_add_func ("/deflate/negotiate/context-takeover", test_negotiate_context_takeover);
  g_test_add_func ("/deflate/negotiate/server-window", test_negotiate_server_window);
  g_test_add_func ("/deflate/negotiate/client-window", test_negotiate_client_window);
  g_test_add_func ("/deflate/negotiate/declines", test_negotiate_declines);
  g_test_add_func ("/deflate/negotiate/quoted", test_negotiate_quoted);
  g_test_add_func ("/deflate/negotiate/agreement", test_negotiate_agreement);
  g_test_add_func ("/deflate/client/offer", test_client_offer);
  g_test_add_func ("/deflate/client/response", test_client_response);
  g_test_add_func ("/deflate/codec/round-trip-context", test_round_trip_context);
  g_test_add_func ("/deflate/codec/round-trip-no-context", test_round_trip_no_context);
  g_test_add_func ("/deflate/codec/round-trip-16mib", test_round_trip_16mib);
  g_test_add_func ("/deflate/codec/context-takeover", test_context_takeover_effect);
  g_test_add_func ("/deflate/codec/fragmented", test_inflate_fragmented);
  g_test_add_func ("/deflate/codec/threshold", test_threshold);
  g_test_add_func ("/deflate/codec/zip-bomb", test_zip_bomb);
  g_test_add_func ("/deflate/codec/corrupt", test_corrupt);
  g_test_add_func ("/deflate/codec/final-block", test_final_block);
  g_test_add_func ("/deflate/codec/empty", test_empty_message);
  g_test_add_func ("/deflate/codec/window-bits", test_window_bits);
  g_test_add_func ("/deflate/codec/shared", test_shared);
  g_test_add_func ("/deflate/codec/memory", test_memory_release);
  g_test_add_func ("/deflate/interop/ws-client", test_interop_ws_client);
  g_test_add_func ("/deflate/interop/ws-server", test_interop_ws_server);

  return g_test_run ();
}
