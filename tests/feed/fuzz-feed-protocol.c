/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-fuzz"

#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "feed/ww-feed-protocol.h"

/*
 * libFuzzer target for the feed's message handler: any bytes, as a text
 * frame (or a binary one when the first byte has its top bit set), must
 * give replies and broadcasts that are valid UTF-8 JSON objects, never a
 * crash, a CRITICAL or a leak.  Built as a libFuzzer binary with
 * -Dfuzzing=true, otherwise replayed over tests/feed/corpus.
 */

int LLVMFuzzerInitialize   (int           *argc,
                            char        ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static WwFeedState *state;

static void
abort_on_log (const char     *domain,
              GLogLevelFlags  level,
              const char     *message,
              gpointer        data)
{
  /* G_DEBUG=fatal-criticals raises SIGTRAP, which libFuzzer misses. */
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    abort ();
}

static void
check_output (GBytes *bytes)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len;
  const char *text = g_bytes_get_data (bytes, &len);
  JsonNode *root;

  if (!g_utf8_validate (text, (gssize) len, NULL) ||
      !json_parser_load_from_data (parser, text, (gssize) len, NULL))
    abort ();
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      !json_object_has_member (json_node_get_object (root), "type"))
    abort ();
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_autoptr(WwFeedSim) sim = ww_feed_sim_new (TRUE, 1, 10, 20);

  g_log_set_default_handler (abort_on_log, NULL);
  /* A history of 16 with seq at 40, so RESUME can replay, be too old or
   * be ahead. */
  state = ww_feed_state_new (16);
  for (guint i = 0; i < 40; i++)
    g_bytes_unref (ww_feed_simulate_one (state, sim, i, NULL));
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  WwFeedActions actions;
  guint8 opcode = size > 0 && (data[0] & 0x80) ? 0x2 : 0x1;

  ww_feed_actions_init (&actions);
  ww_feed_protocol_handle (state, "c1", 30, opcode, data, size, 1763800000000, &actions);
  for (guint i = 0; i < actions.replies->len; i++)
    check_output (actions.replies->pdata[i]);
  if (actions.broadcast != NULL)
    check_output (actions.broadcast);
  /* An ERROR is always the one reply. */
  if (actions.error != NULL && (actions.replies->len != 1 || actions.broadcast != NULL))
    abort ();
  ww_feed_actions_clear (&actions);
  return 0;
}
