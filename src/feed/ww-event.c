/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed"

#include "config.h"

#include "ww-event.h"

WwEvent *
ww_event_new (const char *id,
              const char *home,
              const char *away)
{
  WwEvent *event;

  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (home != NULL, NULL);
  g_return_val_if_fail (away != NULL, NULL);

  event = g_new0 (WwEvent, 1);
  event->id = g_strdup (id);
  event->home = g_strdup (home);
  event->away = g_strdup (away);
  event->name = g_strdup_printf ("%s vs %s", home, away);
  return event;
}

WwEvent *
ww_event_copy (const WwEvent *event)
{
  WwEvent *copy;

  g_return_val_if_fail (event != NULL, NULL);

  copy = g_memdup2 (event, sizeof *event);
  copy->id = g_strdup (event->id);
  copy->name = g_strdup (event->name);
  copy->home = g_strdup (event->home);
  copy->away = g_strdup (event->away);
  return copy;
}

void
ww_event_free (WwEvent *event)
{
  if (event == NULL)
    return;
  g_free (event->id);
  g_free (event->name);
  g_free (event->home);
  g_free (event->away);
  g_free (event);
}

gboolean
ww_event_equal (const WwEvent *a,
                const WwEvent *b)
{
  if (a == b)
    return TRUE;
  if (a == NULL || b == NULL)
    return FALSE;
  return g_strcmp0 (a->id, b->id) == 0 &&
         g_strcmp0 (a->name, b->name) == 0 &&
         g_strcmp0 (a->home, b->home) == 0 &&
         g_strcmp0 (a->away, b->away) == 0 &&
         a->home_score == b->home_score &&
         a->away_score == b->away_score &&
         a->version == b->version &&
         a->updated_at == b->updated_at;
}

void
ww_json_append_string (GString    *out,
                       const char *text)
{
  static const char hex[] = "0123456789abcdef";

  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '"':  g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          /* RFC 8259 §7: control characters must be escaped; the rest of
           * the (already validated) UTF-8 passes through as is. */
          if (*p < 0x20)
            {
              g_string_append (out, "\\u00");
              g_string_append_c (out, hex[*p >> 4]);
              g_string_append_c (out, hex[*p & 0xf]);
            }
          else
            g_string_append_c (out, (char) *p);
          break;
        }
    }
  g_string_append_c (out, '"');
}

void
ww_event_append_json (const WwEvent *event,
                      GString       *out)
{
  g_return_if_fail (event != NULL);

  g_string_append (out, "{\"id\":");
  ww_json_append_string (out, event->id);
  g_string_append (out, ",\"name\":");
  ww_json_append_string (out, event->name);
  g_string_append (out, ",\"home\":");
  ww_json_append_string (out, event->home);
  g_string_append (out, ",\"away\":");
  ww_json_append_string (out, event->away);
  g_string_append_printf (out,
                          ",\"homeScore\":%" G_GINT64_FORMAT
                          ",\"awayScore\":%" G_GINT64_FORMAT
                          ",\"version\":%" G_GUINT64_FORMAT
                          ",\"updatedAt\":%" G_GINT64_FORMAT "}",
                          event->home_score, event->away_score,
                          event->version, event->updated_at);
}

char *
ww_event_to_json (const WwEvent *event)
{
  GString *out = g_string_sized_new (192);

  ww_event_append_json (event, out);
  return g_string_free (out, FALSE);
}

gboolean
ww_json_get_string (JsonObject  *object,
                    const char  *member,
                    const char **out)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return FALSE;
  *out = json_node_get_string (node);
  return *out != NULL;
}

gboolean
ww_json_get_int (JsonObject *object,
                 const char *member,
                 gint64     *out)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

WwEvent *
ww_event_new_from_json (JsonObject  *object,
                        GError     **error)
{
  g_autoptr(WwEvent) event = g_new0 (WwEvent, 1);
  const char *id, *name, *home, *away;
  gint64 home_score, away_score, version, updated_at;

  g_return_val_if_fail (object != NULL, NULL);

  if (!ww_json_get_string (object, "id", &id) ||
      !ww_json_get_string (object, "name", &name) ||
      !ww_json_get_string (object, "home", &home) ||
      !ww_json_get_string (object, "away", &away))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "event needs the strings id, name, home and away");
      return NULL;
    }
  if (!ww_json_get_int (object, "homeScore", &home_score) ||
      !ww_json_get_int (object, "awayScore", &away_score) ||
      !ww_json_get_int (object, "version", &version) ||
      !ww_json_get_int (object, "updatedAt", &updated_at) ||
      home_score < 0 || away_score < 0 || version < 0 || updated_at < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "event %s needs non-negative integers homeScore, awayScore, "
                   "version and updatedAt", id);
      return NULL;
    }
  if (!g_utf8_validate (id, -1, NULL) || !g_utf8_validate (name, -1, NULL) ||
      !g_utf8_validate (home, -1, NULL) || !g_utf8_validate (away, -1, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "event strings must be valid UTF-8");
      return NULL;
    }

  event->id = g_strdup (id);
  event->name = g_strdup (name);
  event->home = g_strdup (home);
  event->away = g_strdup (away);
  event->home_score = home_score;
  event->away_score = away_score;
  event->version = (guint64) version;
  event->updated_at = updated_at;
  return g_steal_pointer (&event);
}
