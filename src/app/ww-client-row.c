/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <glib/gi18n.h>

#include "ww-client-row.h"

struct _WwClientRow
{
  GObject  parent_instance;

  guint64  id;
  gint64   connected_at;
  guint64  messages_in;
  guint64  messages_out;
  guint64  bytes_in;
  guint64  bytes_out;
  guint64  queued_bytes;
  gint64   rtt_us;
  char    *id_text;
  char    *address;
  char    *agent;
  char    *connected_text;
  char    *messages_in_text;
  char    *messages_out_text;
  char    *bytes_in_text;
  char    *bytes_out_text;
  char    *queued_text;
  char    *rtt_text;
  guint    generation;
  gint64   connected_s;   /* what connected_text shows */
};

G_DEFINE_FINAL_TYPE (WwClientRow, ww_client_row, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_CONNECTED_AT,
  PROP_MESSAGES_IN,
  PROP_MESSAGES_OUT,
  PROP_BYTES_IN,
  PROP_BYTES_OUT,
  PROP_QUEUED_BYTES,
  PROP_RTT_US,
  PROP_ID_TEXT,
  PROP_ADDRESS,
  PROP_AGENT,
  PROP_CONNECTED_TEXT,
  PROP_MESSAGES_IN_TEXT,
  PROP_MESSAGES_OUT_TEXT,
  PROP_BYTES_IN_TEXT,
  PROP_BYTES_OUT_TEXT,
  PROP_QUEUED_TEXT,
  PROP_RTT_TEXT,
  PROP_TARGET,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
ww_client_row_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  WwClientRow *self = WW_CLIENT_ROW (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_uint64 (value, self->id);
      break;
    case PROP_CONNECTED_AT:
      g_value_set_int64 (value, self->connected_at);
      break;
    case PROP_MESSAGES_IN:
      g_value_set_uint64 (value, self->messages_in);
      break;
    case PROP_MESSAGES_OUT:
      g_value_set_uint64 (value, self->messages_out);
      break;
    case PROP_BYTES_IN:
      g_value_set_uint64 (value, self->bytes_in);
      break;
    case PROP_BYTES_OUT:
      g_value_set_uint64 (value, self->bytes_out);
      break;
    case PROP_QUEUED_BYTES:
      g_value_set_uint64 (value, self->queued_bytes);
      break;
    case PROP_RTT_US:
      g_value_set_int64 (value, self->rtt_us);
      break;
    case PROP_ID_TEXT:
      g_value_set_string (value, self->id_text);
      break;
    case PROP_ADDRESS:
      g_value_set_string (value, self->address);
      break;
    case PROP_AGENT:
      g_value_set_string (value, self->agent);
      break;
    case PROP_CONNECTED_TEXT:
      g_value_set_string (value, self->connected_text);
      break;
    case PROP_MESSAGES_IN_TEXT:
      g_value_set_string (value, self->messages_in_text);
      break;
    case PROP_MESSAGES_OUT_TEXT:
      g_value_set_string (value, self->messages_out_text);
      break;
    case PROP_BYTES_IN_TEXT:
      g_value_set_string (value, self->bytes_in_text);
      break;
    case PROP_BYTES_OUT_TEXT:
      g_value_set_string (value, self->bytes_out_text);
      break;
    case PROP_QUEUED_TEXT:
      g_value_set_string (value, self->queued_text);
      break;
    case PROP_RTT_TEXT:
      g_value_set_string (value, self->rtt_text);
      break;
    case PROP_TARGET:
      g_value_take_variant (value, g_variant_new_uint64 (self->id));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_client_row_finalize (GObject *object)
{
  WwClientRow *self = WW_CLIENT_ROW (object);

  g_free (self->id_text);
  g_free (self->address);
  g_free (self->agent);
  g_free (self->connected_text);
  g_free (self->messages_in_text);
  g_free (self->messages_out_text);
  g_free (self->bytes_in_text);
  g_free (self->bytes_out_text);
  g_free (self->queued_text);
  g_free (self->rtt_text);

  G_OBJECT_CLASS (ww_client_row_parent_class)->finalize (object);
}

static void
ww_client_row_class_init (WwClientRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = ww_client_row_finalize;
  object_class->get_property = ww_client_row_get_property;

  properties[PROP_ID] =
    g_param_spec_uint64 ("id", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONNECTED_AT] =
    g_param_spec_int64 ("connected-at", NULL, NULL, G_MININT64, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MESSAGES_IN] =
    g_param_spec_uint64 ("messages-in", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MESSAGES_OUT] =
    g_param_spec_uint64 ("messages-out", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BYTES_IN] =
    g_param_spec_uint64 ("bytes-in", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BYTES_OUT] =
    g_param_spec_uint64 ("bytes-out", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_QUEUED_BYTES] =
    g_param_spec_uint64 ("queued-bytes", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RTT_US] =
    g_param_spec_int64 ("rtt-us", NULL, NULL, G_MININT64, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ID_TEXT] =
    g_param_spec_string ("id-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ADDRESS] =
    g_param_spec_string ("address", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_AGENT] =
    g_param_spec_string ("agent", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONNECTED_TEXT] =
    g_param_spec_string ("connected-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MESSAGES_IN_TEXT] =
    g_param_spec_string ("messages-in-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MESSAGES_OUT_TEXT] =
    g_param_spec_string ("messages-out-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BYTES_IN_TEXT] =
    g_param_spec_string ("bytes-in-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BYTES_OUT_TEXT] =
    g_param_spec_string ("bytes-out-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_QUEUED_TEXT] =
    g_param_spec_string ("queued-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RTT_TEXT] =
    g_param_spec_string ("rtt-text", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TARGET] =
    g_param_spec_variant ("target", NULL, NULL, G_VARIANT_TYPE_UINT64, NULL,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ww_client_row_init (WwClientRow *self)
{
  self->rtt_us = -1;
}

static void
set_u64 (WwClientRow *self,
         guint64     *slot,
         guint64      value,
         guint        prop)
{
  if (*slot == value)
    return;
  *slot = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_i64 (WwClientRow *self,
         gint64      *slot,
         gint64       value,
         guint        prop)
{
  if (*slot == value)
    return;
  *slot = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

/* Takes @value. */
static void
take_text (WwClientRow *self,
           char       **slot,
           char        *value,
           guint        prop)
{
  if (g_strcmp0 (*slot, value) == 0)
    {
      g_free (value);
      return;
    }
  g_free (*slot);
  *slot = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static char *
format_duration (gint64 seconds)
{
  if (seconds < 60)
    return g_strdup_printf (_("%d s"), (int) seconds);
  if (seconds < 3600)
    return g_strdup_printf (_("%d min %02d s"), (int) (seconds / 60), (int) (seconds % 60));
  return g_strdup_printf (_("%d h %02d min"), (int) (seconds / 3600),
                          (int) ((seconds % 3600) / 60));
}

static char *
format_count (guint64 value)
{
  if (value < 100000)
    return g_strdup_printf ("%" G_GUINT64_FORMAT, value);
  if (value < 100000000)
    return g_strdup_printf ("%.1fk", value / 1e3);
  return g_strdup_printf ("%.1fM", value / 1e6);
}

static char *
format_rtt (gint64 rtt_us)
{
  if (rtt_us < 0)
    return g_strdup ("—");
  if (rtt_us < 10000)
    return g_strdup_printf (_("%.2f ms"), rtt_us / 1000.0);
  return g_strdup_printf (_("%.0f ms"), rtt_us / 1000.0);
}

static char *
format_agent (const WwPeerInfo *info)
{
  const char *origin = info->origin && *info->origin ? info->origin : NULL;
  const char *agent = info->user_agent && *info->user_agent ? info->user_agent : NULL;

  if (origin && agent)
    return g_strdup_printf ("%s · %s", origin, agent);
  if (origin)
    return g_strdup (origin);
  if (agent)
    return g_strdup (agent);
  return g_strdup ("—");
}

void
ww_client_row_update (WwClientRow      *self,
                      const WwPeerInfo *info,
                      gint64            now_us)
{
  g_return_if_fail (WW_IS_CLIENT_ROW (self));
  g_return_if_fail (info != NULL);

  /* No freeze/thaw: with 10,000 rows refreshed four times a second,
   * the per-object notify queue costs more than the few notifies a row
   * really emits; most rows change nothing between two snapshots. */
  if (self->id != info->id || self->id_text == NULL)
    {
      set_u64 (self, &self->id, info->id, PROP_ID);
      take_text (self, &self->id_text, g_strdup_printf ("%" G_GUINT64_FORMAT, info->id),
                 PROP_ID_TEXT);
    }
  if (self->address == NULL || g_strcmp0 (self->address, info->address) != 0)
    take_text (self, &self->address, g_strdup (info->address ? info->address : "—"),
               PROP_ADDRESS);
  if (self->agent == NULL)
    take_text (self, &self->agent, format_agent (info), PROP_AGENT);
  set_i64 (self, &self->connected_at, info->connected_at, PROP_CONNECTED_AT);
  {
    gint64 seconds = MAX (0, now_us - info->connected_at) / G_USEC_PER_SEC;

    if (seconds != self->connected_s || self->connected_text == NULL)
      {
        self->connected_s = seconds;
        take_text (self, &self->connected_text, format_duration (seconds), PROP_CONNECTED_TEXT);
      }
  }

  if (self->messages_in != info->messages_in || self->messages_in_text == NULL)
    {
      set_u64 (self, &self->messages_in, info->messages_in, PROP_MESSAGES_IN);
      take_text (self, &self->messages_in_text, format_count (info->messages_in),
                 PROP_MESSAGES_IN_TEXT);
    }
  if (self->messages_out != info->messages_out || self->messages_out_text == NULL)
    {
      set_u64 (self, &self->messages_out, info->messages_out, PROP_MESSAGES_OUT);
      take_text (self, &self->messages_out_text, format_count (info->messages_out),
                 PROP_MESSAGES_OUT_TEXT);
    }
  if (self->bytes_in != info->bytes_in || self->bytes_in_text == NULL)
    {
      set_u64 (self, &self->bytes_in, info->bytes_in, PROP_BYTES_IN);
      take_text (self, &self->bytes_in_text, g_format_size (info->bytes_in), PROP_BYTES_IN_TEXT);
    }
  if (self->bytes_out != info->bytes_out || self->bytes_out_text == NULL)
    {
      set_u64 (self, &self->bytes_out, info->bytes_out, PROP_BYTES_OUT);
      take_text (self, &self->bytes_out_text, g_format_size (info->bytes_out),
                 PROP_BYTES_OUT_TEXT);
    }
  if (self->queued_bytes != info->queued_bytes || self->queued_text == NULL)
    {
      set_u64 (self, &self->queued_bytes, info->queued_bytes, PROP_QUEUED_BYTES);
      take_text (self, &self->queued_text,
                 info->queued_bytes ? g_format_size (info->queued_bytes) : g_strdup ("0"),
                 PROP_QUEUED_TEXT);
    }
  if (self->rtt_us != info->last_rtt_us || self->rtt_text == NULL)
    {
      set_i64 (self, &self->rtt_us, info->last_rtt_us, PROP_RTT_US);
      take_text (self, &self->rtt_text, format_rtt (info->last_rtt_us), PROP_RTT_TEXT);
    }
}

WwClientRow *
ww_client_row_new (const WwPeerInfo *info,
                   gint64            now_us)
{
  WwClientRow *self = g_object_new (WW_TYPE_CLIENT_ROW, NULL);

  ww_client_row_update (self, info, now_us);
  return self;
}

guint64
ww_client_row_get_id (WwClientRow *self)
{
  g_return_val_if_fail (WW_IS_CLIENT_ROW (self), 0);
  return self->id;
}

const char *
ww_client_row_get_address (WwClientRow *self)
{
  g_return_val_if_fail (WW_IS_CLIENT_ROW (self), NULL);
  return self->address;
}

const char *
ww_client_row_get_agent (WwClientRow *self)
{
  g_return_val_if_fail (WW_IS_CLIENT_ROW (self), NULL);
  return self->agent;
}

guint64
ww_client_row_get_messages_in (WwClientRow *self)
{
  g_return_val_if_fail (WW_IS_CLIENT_ROW (self), 0);
  return self->messages_in;
}

gint64
ww_client_row_get_connected_at (WwClientRow *self)
{
  g_return_val_if_fail (WW_IS_CLIENT_ROW (self), 0);
  return self->connected_at;
}

guint
ww_client_row_get_generation (WwClientRow *self)
{
  return self->generation;
}

void
ww_client_row_set_generation (WwClientRow *self,
                              guint        generation)
{
  self->generation = generation;
}
