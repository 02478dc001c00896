/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "ww-log-entry.h"

struct _WwLogEntry
{
  GObject         parent_instance;

  gint64          time_us;
  WwLogDirection  direction;
  WwLogKind       kind;
  guint           opcode;
  gsize           size;
  GBytes         *payload;        /* at most WW_LOG_ENTRY_MAX_PAYLOAD bytes */
  char           *preview;
  char           *message_type;   /* the JSON "type" of a text message, or "" */
};

G_DEFINE_FINAL_TYPE (WwLogEntry, ww_log_entry, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_TIME_TEXT,
  PROP_DIRECTION_TEXT,
  PROP_OPCODE_TEXT,
  PROP_MESSAGE_TYPE,
  PROP_SIZE_TEXT,
  PROP_PREVIEW,
  PROP_DIRECTION_CLASSES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* Previews are one line of at most this many characters. */
#define PREVIEW_CHARS 240

static const char *
opcode_name (guint opcode)
{
  /* RFC 6455 §5.2 opcodes. */
  switch (opcode)
    {
    case 0x0: return "CONT";
    case 0x1: return "TEXT";
    case 0x2: return "BINARY";
    case 0x8: return "CLOSE";
    case 0x9: return "PING";
    case 0xA: return "PONG";
    default:  return "?";
    }
}

static char *
make_preview (const char *data,
              gsize       len,
              gboolean    binary)
{
  GString *out;

  if (binary)
    {
      out = g_string_new (NULL);
      for (gsize i = 0; i < len && i < 48; i++)
        g_string_append_printf (out, "%02x ", (guint8) data[i]);
      if (len > 48)
        g_string_append (out, "…");
      return g_string_free (out, FALSE);
    }
  else
    {
      g_autofree char *valid = g_utf8_make_valid (data, len);
      glong n_chars = 0;

      out = g_string_new (NULL);
      for (const char *p = valid; *p && n_chars < PREVIEW_CHARS;
           p = g_utf8_next_char (p), n_chars++)
        {
          gunichar c = g_utf8_get_char (p);

          g_string_append_unichar (out, g_unichar_iscntrl (c) ? ' ' : c);
        }
      if (*valid && g_utf8_strlen (valid, -1) > PREVIEW_CHARS)
        g_string_append (out, "…");
      return g_string_free (out, FALSE);
    }
}

/*
 * The feed's "type" field, found by a scan of the first bytes rather than
 * a JSON parse: the inspector sees every frame on the main thread, and a
 * busy server sends thousands a second.  Only a label, so a miss is fine.
 */
static char *
sniff_message_type (const char *data,
                    gsize       len)
{
  const char *end, *p, *value;
  gsize scan = MIN (len, 128);

  if (len == 0 || data[0] != '{')
    return g_strdup ("");
  end = data + scan;
  for (p = data; p + 6 <= end; p++)
    {
      if (memcmp (p, "\"type\"", 6) != 0)
        continue;
      p += 6;
      while (p < end && (*p == ' ' || *p == ':'))
        p++;
      if (p >= end || *p != '"')
        break;
      value = ++p;
      while (p < end && *p != '"' && *p != '\\' && p - value < 32)
        p++;
      if (p >= end || *p != '"')
        break;
      return g_utf8_make_valid (value, p - value);
    }
  return g_strdup ("");
}

WwLogEntry *
ww_log_entry_new_frame (gint64    time_us,
                        gboolean  outgoing,
                        guint     opcode,
                        GBytes   *payload)
{
  WwLogEntry *self = g_object_new (WW_TYPE_LOG_ENTRY, NULL);
  gsize len = 0;
  const char *data = payload ? g_bytes_get_data (payload, &len) : NULL;
  gsize kept = MIN (len, WW_LOG_ENTRY_MAX_PAYLOAD);

  self->time_us = time_us;
  self->direction = outgoing ? WW_LOG_DIRECTION_OUT : WW_LOG_DIRECTION_IN;
  self->opcode = opcode;
  self->size = len;
  if (opcode == 0x1)
    self->kind = WW_LOG_KIND_TEXT;
  else if (opcode == 0x2)
    self->kind = WW_LOG_KIND_BINARY;
  else
    self->kind = WW_LOG_KIND_CONTROL;

  self->payload = data ? g_bytes_new (data, kept) : g_bytes_new (NULL, 0);
  if (opcode == 0x8 && len >= 2)
    {
      /* RFC 6455 §5.5.1: a close payload is a 2-byte code and a reason. */
      guint code = ((guint8) data[0] << 8) | (guint8) data[1];
      g_autofree char *reason = make_preview (data + 2, kept - 2, FALSE);

      self->preview = g_strdup_printf ("%u %s", code, reason);
    }
  else
    self->preview = make_preview (data ? data : "", kept, self->kind == WW_LOG_KIND_BINARY);
  self->message_type = self->kind == WW_LOG_KIND_TEXT ? sniff_message_type (data, len)
                                                      : g_strdup ("");
  return self;
}

WwLogEntry *
ww_log_entry_new_note (gint64      time_us,
                       const char *text)
{
  WwLogEntry *self = g_object_new (WW_TYPE_LOG_ENTRY, NULL);
  gsize len = strlen (text);

  self->time_us = time_us;
  self->direction = WW_LOG_DIRECTION_SERVER;
  self->kind = WW_LOG_KIND_SERVER;
  self->size = 0;
  self->payload = g_bytes_new (text, MIN (len, WW_LOG_ENTRY_MAX_PAYLOAD));
  self->preview = make_preview (text, MIN (len, WW_LOG_ENTRY_MAX_PAYLOAD), FALSE);
  self->message_type = g_strdup ("");
  return self;
}

static char *
format_time (gint64 time_us)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (time_us / G_USEC_PER_SEC);

  if (dt == NULL)
    return g_strdup ("");
  return g_strdup_printf ("%02d:%02d:%02d.%03d", g_date_time_get_hour (dt),
                          g_date_time_get_minute (dt), g_date_time_get_second (dt),
                          (int) ((time_us % G_USEC_PER_SEC) / 1000));
}

static const char *
direction_text (WwLogEntry *self)
{
  switch (self->direction)
    {
    case WW_LOG_DIRECTION_IN:  return "↓";
    case WW_LOG_DIRECTION_OUT: return "↑";
    default:                   return "•";
    }
}

static char *
size_text (WwLogEntry *self)
{
  if (self->direction == WW_LOG_DIRECTION_SERVER)
    return g_strdup ("");
  if (self->size < 1000)
    /* Translators: a size in bytes */
    return g_strdup_printf (_("%u B"), (guint) self->size);
  return g_format_size (self->size);
}

static void
ww_log_entry_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  WwLogEntry *self = WW_LOG_ENTRY (object);

  switch (prop_id)
    {
    case PROP_TIME_TEXT:
      g_value_take_string (value, format_time (self->time_us));
      break;
    case PROP_DIRECTION_TEXT:
      g_value_set_string (value, direction_text (self));
      break;
    case PROP_OPCODE_TEXT:
      g_value_set_string (value, self->kind == WW_LOG_KIND_SERVER ? _("note")
                                                                 : opcode_name (self->opcode));
      break;
    case PROP_MESSAGE_TYPE:
      g_value_set_string (value, self->message_type);
      break;
    case PROP_SIZE_TEXT:
      g_value_take_string (value, size_text (self));
      break;
    case PROP_PREVIEW:
      g_value_set_string (value, self->preview);
      break;
    case PROP_DIRECTION_CLASSES:
      {
        static const char *in[] = { "dir-in", NULL };
        static const char *out[] = { "dir-out", NULL };
        static const char *server[] = { "dir-server", NULL };

        g_value_set_boxed (value, self->direction == WW_LOG_DIRECTION_IN ? in :
                                  self->direction == WW_LOG_DIRECTION_OUT ? out : server);
      }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_log_entry_finalize (GObject *object)
{
  WwLogEntry *self = WW_LOG_ENTRY (object);

  g_clear_pointer (&self->payload, g_bytes_unref);
  g_free (self->preview);
  g_free (self->message_type);

  G_OBJECT_CLASS (ww_log_entry_parent_class)->finalize (object);
}

static void
ww_log_entry_class_init (WwLogEntryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = ww_log_entry_finalize;
  object_class->get_property = ww_log_entry_get_property;

  properties[PROP_TIME_TEXT] =
    g_param_spec_string ("time-text", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_DIRECTION_TEXT] =
    g_param_spec_string ("direction-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_OPCODE_TEXT] =
    g_param_spec_string ("opcode-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_MESSAGE_TYPE] =
    g_param_spec_string ("message-type", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SIZE_TEXT] =
    g_param_spec_string ("size-text", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_PREVIEW] =
    g_param_spec_string ("preview", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* For the direction cell's css-classes: colour by direction. */
  properties[PROP_DIRECTION_CLASSES] =
    g_param_spec_boxed ("direction-classes", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ww_log_entry_init (WwLogEntry *self)
{
}

gint64
ww_log_entry_get_time (WwLogEntry *self)
{
  g_return_val_if_fail (WW_IS_LOG_ENTRY (self), 0);
  return self->time_us;
}

WwLogDirection
ww_log_entry_get_direction (WwLogEntry *self)
{
  g_return_val_if_fail (WW_IS_LOG_ENTRY (self), WW_LOG_DIRECTION_IN);
  return self->direction;
}

WwLogKind
ww_log_entry_get_kind (WwLogEntry *self)
{
  g_return_val_if_fail (WW_IS_LOG_ENTRY (self), WW_LOG_KIND_TEXT);
  return self->kind;
}

guint
ww_log_entry_get_opcode (WwLogEntry *self)
{
  g_return_val_if_fail (WW_IS_LOG_ENTRY (self), 0);
  return self->opcode;
}

gsize
ww_log_entry_get_size (WwLogEntry *self)
{
  g_return_val_if_fail (WW_IS_LOG_ENTRY (self), 0);
  return self->size;
}

const char *
ww_log_entry_get_preview (WwLogEntry *self)
{
  g_return_val_if_fail (WW_IS_LOG_ENTRY (self), NULL);
  return self->preview;
}

const char *
ww_log_entry_get_message_type (WwLogEntry *self)
{
  g_return_val_if_fail (WW_IS_LOG_ENTRY (self), NULL);
  return self->message_type;
}

char *
ww_log_entry_dup_details (WwLogEntry *self)
{
  gsize len;
  const char *data;
  GString *out;

  g_return_val_if_fail (WW_IS_LOG_ENTRY (self), NULL);

  data = g_bytes_get_data (self->payload, &len);
  if (self->kind == WW_LOG_KIND_BINARY)
    {
      out = g_string_new (NULL);
      for (gsize i = 0; i < len; i += 16)
        {
          g_string_append_printf (out, "%08zx ", i);
          for (gsize j = i; j < i + 16 && j < len; j++)
            g_string_append_printf (out, " %02x", (guint8) data[j]);
          g_string_append_c (out, '\n');
        }
    }
  else
    {
      g_autoptr(JsonParser) parser = json_parser_new_immutable ();

      if (self->kind == WW_LOG_KIND_TEXT && len > 0 && len == self->size &&
          json_parser_load_from_data (parser, data, (gssize) len, NULL) &&
          json_parser_get_root (parser) != NULL)
        {
          g_autoptr(JsonGenerator) generator = json_generator_new ();

          json_generator_set_pretty (generator, TRUE);
          json_generator_set_root (generator, json_parser_get_root (parser));
          return json_generator_to_data (generator, NULL);
        }
      out = g_string_new (NULL);
      {
        g_autofree char *valid = g_utf8_make_valid (data ? data : "", len);
        g_string_append (out, valid);
      }
    }
  if (len < self->size)
    g_string_append_printf (out, "\n… %s", _("(truncated)"));
  return g_string_free (out, FALSE);
}

char *
ww_log_entry_to_line (WwLogEntry *self)
{
  g_autofree char *time = NULL;
  g_autofree char *size = NULL;

  g_return_val_if_fail (WW_IS_LOG_ENTRY (self), NULL);

  time = format_time (self->time_us);
  size = g_strdup_printf ("%zu", self->size);
  return g_strjoin ("\t", time, direction_text (self),
                    self->kind == WW_LOG_KIND_SERVER ? "note" : opcode_name (self->opcode),
                    self->message_type, size, self->preview, NULL);
}
