/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed-test"

#include "config.h"

#include <string.h>

#include "feed/ww-feed-protocol.h"

#define NOW_MS G_GINT64_CONSTANT (1763800000123)

static JsonObject *
parse_object (GBytes *bytes)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr(GError) error = NULL;
  JsonNode *root;

  g_assert_true (g_utf8_validate (data, (gssize) len, NULL));
  json_parser_load_from_data (parser, data, (gssize) len, &error);
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_nonnull (root);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return json_object_ref (json_node_get_object (root));
}

static char *
bytes_to_string (GBytes *bytes)
{
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  return g_strndup (data, len);
}

/* Runs one message and returns the single reply (asserting there is one). */
static GBytes *
handle_one (WwFeedState *state,
            guint8       opcode,
            const char  *data,
            gssize       len,
            GBytes     **broadcast)
{
  WwFeedActions actions;
  GBytes *reply = NULL;

  if (len < 0)
    len = (gssize) strlen (data);
  ww_feed_actions_init (&actions);
  ww_feed_protocol_handle (state, "c7", G_MAXUINT64, opcode, (const guint8 *) data,
                           (gsize) len, NOW_MS, &actions);
  if (broadcast)
    *broadcast = g_steal_pointer (&actions.broadcast);
  else
    g_assert_null (actions.broadcast);
  g_assert_cmpuint (actions.replies->len, <=, 1);
  if (actions.replies->len == 1)
    reply = g_bytes_ref (actions.replies->pdata[0]);
  ww_feed_actions_clear (&actions);
  return reply;
}

static void
assert_error (WwFeedState *state,
              guint8       opcode,
              const char  *data,
              gssize       len,
              const char  *code)
{
  g_autoptr(GBytes) bcast = NULL;
  g_autoptr(GBytes) reply = handle_one (state, opcode, data, len, &bcast);
  g_autoptr(JsonObject) msg = NULL;
  WwFeedActions actions;

  g_assert_null (bcast);
  g_assert_nonnull (reply);
  msg = parse_object (reply);
  g_assert_cmpstr (json_object_get_string_member (msg, "type"), ==, "ERROR");
  g_assert_cmpstr (json_object_get_string_member (msg, "code"), ==, code);
  g_assert_cmpuint (strlen (json_object_get_string_member (msg, "message")), >, 0);

  /* The actions name the code too, for counting. */
  ww_feed_actions_init (&actions);
  ww_feed_protocol_handle (state, "c7", G_MAXUINT64, opcode, (const guint8 *) data,
                           len < 0 ? strlen (data) : (gsize) len, NOW_MS, &actions);
  g_assert_cmpstr (actions.error, ==, code);
  ww_feed_actions_clear (&actions);
}

static void
test_malformed (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (16);
  g_autofree char *long_id = g_strnfill (65, 'x');
  g_autofree char *long_id_msg = g_strdup_printf ("{\"type\":\"PING\",\"id\":\"%s\",\"ts\":1}",
                                                  long_id);
  g_autofree char *long_text = g_strnfill (4097, 'a');
  g_autofree char *long_chat = g_strdup_printf ("{\"type\":\"CHAT\",\"text\":\"%s\"}", long_text);
  g_autofree char *deep = NULL;
  GString *s = g_string_new ("{\"type\":\"CHAT\",\"text\":\"x\",\"deep\":");

  for (guint i = 0; i < 5000; i++)
    g_string_append_c (s, '[');
  deep = g_string_free (s, FALSE);

  assert_error (state, 0x2, "{\"type\":\"PING\",\"id\":\"a\",\"ts\":1}", -1, "binary_unsupported");
  assert_error (state, 0x2, "\x00\x01\x02", 3, "binary_unsupported");
  assert_error (state, 0x1, "", 0, "bad_json");
  assert_error (state, 0x1, "   \n ", -1, "bad_json");
  assert_error (state, 0x1, "{", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"PING\"", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":'PING'}", -1, "bad_json");
  assert_error (state, 0x1, "hello", -1, "bad_json");
  /* json-glib alone would take these; JSON (RFC 8259) does not. */
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":\"a\",\"ts\":0x10}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":\"a\",\"ts\":01}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":\"a\",\"ts\":.5}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":/*c*/\"PING\"}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"a\tb\"}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"a\\xb\"}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"a\\u12\"}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"a\",}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"CHAT\" \"text\":\"a\"}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"a\"} x", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"a\"}{}", -1, "bad_json");
  assert_error (state, 0x1, "{\"type\":tru}", -1, "bad_json");
  assert_error (state, 0x1, "{type:\"PING\"}", -1, "bad_json");
  assert_error (state, 0x1, "[1,]", -1, "bad_json");
  assert_error (state, 0x1, "\xc3\x28", 2, "bad_utf8");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"a\0b\"}", 27, "bad_json");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"a\"}\0", 29, "bad_json");
  assert_error (state, 0x1, deep, -1, "too_deep");
  assert_error (state, 0x1, "[1,2]", -1, "not_object");
  assert_error (state, 0x1, "42", -1, "not_object");
  assert_error (state, 0x1, "\"PING\"", -1, "not_object");
  assert_error (state, 0x1, "null", -1, "not_object");
  assert_error (state, 0x1, "{}", -1, "missing_type");
  assert_error (state, 0x1, "{\"Type\":\"PING\"}", -1, "missing_type");
  assert_error (state, 0x1, "{\"type\":5}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":null}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":[\"PING\"]}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":true}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":{\"a\":1}}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"NOPE\"}", -1, "unknown_type");
  assert_error (state, 0x1, "{\"type\":\"ping\"}", -1, "unknown_type");
  assert_error (state, 0x1, "{\"type\":\"UPDATE\",\"seq\":1}", -1, "unknown_type");
  assert_error (state, 0x1, "{\"type\":\"\"}", -1, "unknown_type");

  /* PING */
  assert_error (state, 0x1, "{\"type\":\"PING\"}", -1, "missing_field");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"ts\":1}", -1, "missing_field");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":\"a\"}", -1, "missing_field");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":5,\"ts\":1}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":null,\"ts\":1}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":{},\"ts\":1}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":\"a\",\"ts\":\"1\"}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":\"a\",\"ts\":true}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"PING\",\"id\":\"a\",\"ts\":[1]}", -1, "bad_field");
  assert_error (state, 0x1, long_id_msg, -1, "too_long");

  /* CHAT */
  assert_error (state, 0x1, "{\"type\":\"CHAT\"}", -1, "missing_field");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":7}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":[\"a\"]}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"\"}", -1, "bad_field");
  assert_error (state, 0x1, long_chat, -1, "too_long");

  /* RESUME */
  assert_error (state, 0x1, "{\"type\":\"RESUME\"}", -1, "missing_field");
  assert_error (state, 0x1, "{\"type\":\"RESUME\",\"seq\":-1}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"RESUME\",\"seq\":\"3\"}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"RESUME\",\"seq\":1.5}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"RESUME\",\"seq\":null}", -1, "bad_field");
  /* Beyond 64 bits (json-glib would wrap these around). */
  assert_error (state, 0x1, "{\"type\":\"RESUME\",\"seq\":18446744073709551617}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"RESUME\",\"seq\":123456789012345678901234567890}", -1, "bad_field");
  assert_error (state, 0x1, "{\"type\":\"RESUME\",\"seq\":1e2}", -1, "bad_field");
}

static void
check_pong (WwFeedState *state,
            const char  *ping,
            const char  *expect_id_json,
            const char  *expect_ts_raw)
{
  g_autoptr(GBytes) reply = handle_one (state, 0x1, ping, -1, NULL);
  g_autofree char *text = NULL;
  g_autofree char *expect = NULL;
  g_autoptr(JsonObject) msg = NULL;

  g_assert_nonnull (reply);
  text = bytes_to_string (reply);
  expect = g_strdup_printf ("{\"type\":\"PONG\",\"id\":%s,\"ts\":%s,\"serverTs\":%" G_GINT64_FORMAT "}",
                            expect_id_json, expect_ts_raw, NOW_MS);
  g_assert_cmpstr (text, ==, expect);
  msg = parse_object (reply);
  g_assert_cmpstr (json_object_get_string_member (msg, "type"), ==, "PONG");
}

static void
test_ping_pong (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (16);
  g_autofree char *id64 = NULL;
  g_autofree char *msg64 = NULL;
  GString *s = g_string_new (NULL);

  check_pong (state, "{\"type\":\"PING\",\"id\":\"p1\",\"ts\":1}", "\"p1\"", "1");
  /* ts is copied exactly as written, whatever the number looks like. */
  check_pong (state, "{\"type\":\"PING\",\"id\":\"p\",\"ts\":1.50}", "\"p\"", "1.50");
  check_pong (state, "{\"type\":\"PING\",\"id\":\"p\",\"ts\":-0}", "\"p\"", "-0");
  check_pong (state, "{\"type\":\"PING\",\"id\":\"p\",\"ts\":1e3}", "\"p\"", "1e3");
  check_pong (state, "{\"type\":\"PING\",\"id\":\"p\",\"ts\":1.0E+2}", "\"p\"", "1.0E+2");
  check_pong (state, "{\"type\":\"PING\",\"id\":\"p\",\"ts\":1763800000000.25}", "\"p\"",
              "1763800000000.25");
  check_pong (state, "{\"type\":\"PING\",\"id\":\"p\",\"ts\":9007199254740993}", "\"p\"",
              "9007199254740993");
  check_pong (state, "{\"type\":\"PING\",\"id\":\"p\",\"ts\":-12.5e-7}", "\"p\"", "-12.5e-7");
  /* Whitespace, member order, nesting, and the last of duplicate keys. */
  check_pong (state, " {\n \"ts\" :\t 42 , \"x\":{\"ts\":9,\"a\":[1,\"}\"]}, \"type\":\"PING\",\"id\":\"q\"}\n",
              "\"q\"", "42");
  check_pong (state, "{\"type\":\"PING\",\"id\":\"a\",\"ts\":1,\"ts\":2}", "\"a\"", "2");
  /* The id is re-escaped, never copied raw. */
  check_pong (state, "{\"type\":\"PING\",\"id\":\"a\\\"b\\u0041\\n\",\"ts\":3}", "\"a\\\"bA\\n\"", "3");
  check_pong (state, "{\"type\":\"PING\",\"id\":\"\",\"ts\":3}", "\"\"", "3");

  /* 64 characters is the limit, counted as characters, not bytes. */
  for (guint i = 0; i < 64; i++)
    g_string_append (s, "é");
  id64 = g_string_free (s, FALSE);
  msg64 = g_strdup_printf ("{\"type\":\"PING\",\"id\":\"%s\",\"ts\":5}", id64);
  {
    g_autofree char *quoted = g_strdup_printf ("\"%s\"", id64);

    check_pong (state, msg64, quoted, "5");
  }
}

static void
test_chat (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (16);
  const char *texts[] = {
    "hello",
    "quote \" backslash \\ newline \n tab \t bell \x07",
    "ünïcödé ✓ 😀",
  };

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonGenerator) gen = json_generator_new ();
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *in = NULL;
      g_autoptr(GBytes) bcast = NULL;
      g_autoptr(GBytes) reply = NULL;
      g_autoptr(JsonObject) msg = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "CHAT");
      json_builder_set_member_name (b, "text");
      json_builder_add_string_value (b, texts[i]);
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      in = json_generator_to_data (gen, NULL);

      reply = handle_one (state, 0x1, in, -1, &bcast);
      g_assert_null (reply);
      g_assert_nonnull (bcast);
      msg = parse_object (bcast);
      g_assert_cmpstr (json_object_get_string_member (msg, "type"), ==, "CHAT");
      g_assert_cmpstr (json_object_get_string_member (msg, "from"), ==, "c7");
      g_assert_cmpstr (json_object_get_string_member (msg, "text"), ==, texts[i]);
      g_assert_cmpint (json_object_get_int_member (msg, "ts"), ==, NOW_MS);
    }

  /* Exactly 4 KiB is allowed, counted in bytes of UTF-8 (2048 × 2). */
  {
    GString *s = g_string_new ("{\"type\":\"CHAT\",\"text\":\"");
    g_autoptr(GBytes) bcast = NULL;
    g_autoptr(GBytes) reply = NULL;
    g_autofree char *in = NULL;
    g_autofree char *over = NULL;

    for (guint i = 0; i < 2048; i++)
      g_string_append (s, "ß");
    g_string_append (s, "\"}");
    in = g_string_free (s, FALSE);
    reply = handle_one (state, 0x1, in, -1, &bcast);
    g_assert_null (reply);
    g_assert_nonnull (bcast);

    over = g_strdup (in);
    over = g_realloc (over, strlen (in) + 2);
    memmove (over + strlen ("{\"type\":\"CHAT\",\"text\":\"") + 1,
             over + strlen ("{\"type\":\"CHAT\",\"text\":\""),
             strlen (in) - strlen ("{\"type\":\"CHAT\",\"text\":\"") + 1);
    over[strlen ("{\"type\":\"CHAT\",\"text\":\"")] = 'x';
    assert_error (state, 0x1, over, -1, "too_long");
  }

  /* A lone surrogate escape is not text. */
  {
    g_autoptr(GBytes) bcast = NULL;
    g_autoptr(GBytes) reply = handle_one (state, 0x1, "{\"type\":\"CHAT\",\"text\":\"a\\ud800b\"}",
                                          -1, &bcast);

    if (reply != NULL)
      {
        g_autoptr(JsonObject) msg = parse_object (reply);

        g_assert_cmpstr (json_object_get_string_member (msg, "type"), ==, "ERROR");
        g_assert_null (bcast);
      }
    else
      {
        /* json-glib replaced it: whatever is relayed must be valid UTF-8. */
        g_autoptr(JsonObject) msg = parse_object (bcast);

        g_assert_true (g_utf8_validate (json_object_get_string_member (msg, "text"), -1, NULL));
      }
  }
}

static void
test_resume (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (10);
  g_autoptr(WwFeedSim) sim = ww_feed_sim_new (TRUE, 5, 10, 20);
  WwFeedActions actions;

  for (guint i = 0; i < 30; i++)
    g_bytes_unref (ww_feed_simulate_one (state, sim, i, NULL));

  ww_feed_actions_init (&actions);
  ww_feed_protocol_handle (state, "c1", G_MAXUINT64, 0x1,
                           (const guint8 *) "{\"type\":\"RESUME\",\"seq\":26}", 26, NOW_MS, &actions);
  g_assert_null (actions.error);
  g_assert_cmpuint (actions.replies->len, ==, 4);
  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(JsonObject) msg = parse_object (actions.replies->pdata[i]);

      g_assert_cmpstr (json_object_get_string_member (msg, "type"), ==, "UPDATE");
      g_assert_cmpint (json_object_get_int_member (msg, "seq"), ==, 27 + i);
    }
  ww_feed_actions_clear (&actions);

  /* Live since 28: only 27 and 28 were missed. */
  ww_feed_actions_init (&actions);
  ww_feed_protocol_handle (state, "c1", 28, 0x1,
                           (const guint8 *) "{\"type\":\"RESUME\",\"seq\":26}", 26, NOW_MS, &actions);
  g_assert_cmpuint (actions.replies->len, ==, 2);
  ww_feed_actions_clear (&actions);

  /* Too old and ahead: a fresh INITIAL. */
  for (guint k = 0; k < 2; k++)
    {
      const char *in = k == 0 ? "{\"type\":\"RESUME\",\"seq\":3}" : "{\"type\":\"RESUME\",\"seq\":31}";
      g_autoptr(GBytes) reply = handle_one (state, 0x1, in, -1, NULL);
      g_autoptr(JsonObject) msg = parse_object (reply);

      g_assert_cmpstr (json_object_get_string_member (msg, "type"), ==, "INITIAL");
      g_assert_cmpint (json_object_get_int_member (msg, "seq"), ==, 30);
      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (msg, "events")), ==, 5);
    }

  /* Up to date: nothing at all. */
  ww_feed_actions_init (&actions);
  ww_feed_protocol_handle (state, "c1", G_MAXUINT64, 0x1,
                           (const guint8 *) "{\"type\":\"RESUME\",\"seq\":30}", 26, NOW_MS, &actions);
  g_assert_cmpuint (actions.replies->len, ==, 0);
  g_assert_null (actions.error);
  ww_feed_actions_clear (&actions);
}

static void
test_messages (void)
{
  g_autoptr(GBytes) welcome = ww_feed_message_welcome ("c12", "Wirewatch", "0.1.0", 15000, 99);
  g_autoptr(GBytes) presence = ww_feed_message_presence (1234);
  g_autoptr(GBytes) error = ww_feed_message_error ("bad_json", "a \"quoted\" word");
  g_autoptr(JsonObject) w = parse_object (welcome);
  g_autoptr(JsonObject) p = parse_object (presence);
  g_autoptr(JsonObject) e = parse_object (error);
  JsonObject *server;

  g_assert_cmpstr (json_object_get_string_member (w, "type"), ==, "WELCOME");
  g_assert_cmpstr (json_object_get_string_member (w, "clientId"), ==, "c12");
  server = json_object_get_object_member (w, "server");
  g_assert_cmpstr (json_object_get_string_member (server, "name"), ==, "Wirewatch");
  g_assert_cmpstr (json_object_get_string_member (server, "version"), ==, "0.1.0");
  g_assert_cmpint (json_object_get_int_member (w, "heartbeatMs"), ==, 15000);
  g_assert_cmpint (json_object_get_int_member (w, "seq"), ==, 99);
  g_assert_cmpstr (json_object_get_string_member (p, "type"), ==, "PRESENCE");
  g_assert_cmpint (json_object_get_int_member (p, "clients"), ==, 1234);
  g_assert_cmpstr (json_object_get_string_member (e, "message"), ==, "a \"quoted\" word");
}

static void
test_rate_limit (void)
{
  WwTokenBucket b;
  gint64 t = 1000000;

  /* Off. */
  ww_token_bucket_init (&b, 0, t);
  for (guint i = 0; i < 10000; i++)
    g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_OK);

  /* A burst of 2 × rate, then a warning, then the close. */
  ww_token_bucket_init (&b, 10, t);
  for (guint i = 0; i < 20; i++)
    g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_OK);
  g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_WARN);
  g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_CLOSE);

  /* Refill at the rate: 100 ms buys one message. */
  ww_token_bucket_init (&b, 10, t);
  for (guint i = 0; i < 20; i++)
    ww_token_bucket_take (&b, t);
  g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_WARN);
  t += 100000;
  g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_OK);
  g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_CLOSE);

  /* A steady client at the rate is never warned. */
  ww_token_bucket_init (&b, 10, t);
  for (guint i = 0; i < 1000; i++)
    {
      t += 100000;
      g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_OK);
    }

  /* Calm for a whole burst: the warning is forgiven. */
  ww_token_bucket_init (&b, 5, t);
  for (guint i = 0; i < 10; i++)
    ww_token_bucket_take (&b, t);
  g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_WARN);
  t += 3 * G_USEC_PER_SEC;
  for (guint i = 0; i < 10; i++)
    g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_OK);
  g_assert_cmpint (ww_token_bucket_take (&b, t), ==, WW_RATE_WARN);

  /* A clock going backwards does not mint tokens. */
  ww_token_bucket_init (&b, 1, t);
  ww_token_bucket_take (&b, t);
  ww_token_bucket_take (&b, t);
  g_assert_cmpint (ww_token_bucket_take (&b, t - G_USEC_PER_SEC), ==, WW_RATE_WARN);
}

/* Random and mutated input: an ERROR reply or a proper answer,
 * every output valid JSON, never a crash (a cheap cousin of the fuzz
 * target). */
static void
test_random_input (void)
{
  g_autoptr(WwFeedState) state = ww_feed_state_new (8);
  g_autoptr(GRand) rand = g_rand_new_with_seed (1234);
  const char *seeds[] = {
    "{\"type\":\"PING\",\"id\":\"a\",\"ts\":1.5}",
    "{\"type\":\"CHAT\",\"text\":\"hi\"}",
    "{\"type\":\"RESUME\",\"seq\":0}",
    "{\"type\":\"PING\",\"id\":\"x\",\"ts\":-1e-3,\"ts\":{\"a\":[\"]\"]}}",
  };

  for (guint iter = 0; iter < 20000; iter++)
    {
      const char *seed = seeds[g_rand_int_range (rand, 0, G_N_ELEMENTS (seeds))];
      gsize len = strlen (seed);
      g_autofree guint8 *buf = g_malloc0 (len + 8);
      WwFeedActions actions;
      guint n_mut = g_rand_int_range (rand, 1, 4);

      memcpy (buf, seed, len);

      for (guint m = 0; m < n_mut; m++)
        {
          gsize at;

          if (len == 0)
            break;
          at = g_rand_int_range (rand, 0, (gint32) len);

          switch (g_rand_int_range (rand, 0, 3))
            {
            case 0: buf[at] = (guint8) g_rand_int_range (rand, 0, 256); break;
            case 1: buf[at] = "{}[]\",:\\ 0-.eE"[g_rand_int_range (rand, 0, 15)]; break;
            default: len = at; break;
            }
        }

      ww_feed_actions_init (&actions);
      ww_feed_protocol_handle (state, "c1", G_MAXUINT64, 0x1, buf, len, NOW_MS, &actions);
      /* Silence only for an up-to-date RESUME; an error is always said. */
      if (actions.replies->len == 0 && actions.broadcast == NULL)
        g_assert_null (actions.error);
      if (actions.error != NULL)
        g_assert_cmpuint (actions.replies->len, ==, 1);
      for (guint i = 0; i < actions.replies->len; i++)
        json_object_unref (parse_object (actions.replies->pdata[i]));
      if (actions.broadcast)
        json_object_unref (parse_object (actions.broadcast));
      ww_feed_actions_clear (&actions);
    }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/feed/protocol/malformed", test_malformed);
  g_test_add_func ("/feed/protocol/ping-pong", test_ping_pong);
  g_test_add_func ("/feed/protocol/chat", test_chat);
  g_test_add_func ("/feed/protocol/resume", test_resume);
  g_test_add_func ("/feed/protocol/messages", test_messages);
  g_test_add_func ("/feed/protocol/rate-limit", test_rate_limit);
  g_test_add_func ("/feed/protocol/random-input", test_random_input);
  return g_test_run ();
}
