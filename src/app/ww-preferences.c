/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <glib/gi18n.h>

#include "ww-preferences.h"

struct _WwPreferences
{
  AdwPreferencesWindow  parent_instance;

  GSettings            *settings;
  GtkFileChooserNative *chooser;

  GtkSpinButton        *port_spin;
  AdwEntryRow          *bind_row;
  GtkSpinButton        *heartbeat_spin;
  GtkSwitch            *deflate_switch;
  GtkSpinButton        *max_connections_spin;
  GtkSpinButton        *rate_limit_spin;
  AdwEntryRow          *cert_row;
  AdwEntryRow          *key_row;
  AdwPasswordEntryRow  *token_row;
  AdwEntryRow          *origins_row;
  AdwEntryRow          *redis_row;
  AdwEntryRow          *url_row;
  GtkSpinButton        *update_spin;
  GtkRevealer          *exposed_revealer;
};

G_DEFINE_FINAL_TYPE (WwPreferences, ww_preferences, ADW_TYPE_PREFERENCES_WINDOW)

enum {
  PROP_0,
  PROP_SETTINGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* "a, b" in the row ↔ ['a', 'b'] in the settings. */
static gboolean
origins_get_mapping (GValue   *value,
                     GVariant *variant,
                     gpointer  user_data)
{
  g_autofree const char **origins = g_variant_get_strv (variant, NULL);

  g_value_take_string (value, g_strjoinv (", ", (char **) origins));
  return TRUE;
}

static GVariant *
origins_set_mapping (const GValue       *value,
                     const GVariantType *expected_type,
                     gpointer            user_data)
{
  g_auto(GStrv) parts = g_strsplit_set (g_value_get_string (value), ", \t", -1);
  g_autoptr(GPtrArray) kept = g_ptr_array_new ();

  for (guint i = 0; parts[i]; i++)
    if (*parts[i])
      g_ptr_array_add (kept, parts[i]);
  return g_variant_new_strv ((const char * const *) kept->pdata, kept->len);
}

static gboolean
is_loopback (const char *address)
{
  return address == NULL || *address == '\0' || g_str_has_prefix (address, "127.") ||
         g_str_equal (address, "::1") || g_str_equal (address, "localhost");
}

static void
update_exposed (WwPreferences *self)
{
  g_autofree char *bind = g_settings_get_string (self->settings, "bind-address");
  g_autofree char *token = g_settings_get_string (self->settings, "token");

  gtk_revealer_set_reveal_child (self->exposed_revealer, !is_loopback (bind) && *token == '\0');
}

static void
on_chooser_response (WwPreferences        *self,
                     int                   response,
                     GtkFileChooserNative *chooser)
{
  const char *key = g_object_get_data (G_OBJECT (chooser), "ww-key");

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;

      if (path != NULL)
        g_settings_set_string (self->settings, key, path);
    }
  g_clear_object (&self->chooser);
}

static void
choose_file (WwPreferences *self,
             const char    *title,
             const char    *key)
{
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  if (self->chooser != NULL)
    return;
  self->chooser = gtk_file_chooser_native_new (title, GTK_WINDOW (self),
                                               GTK_FILE_CHOOSER_ACTION_OPEN,
                                               _("_Select"), _("_Cancel"));
  gtk_file_filter_set_name (filter, _("PEM files"));
  gtk_file_filter_add_pattern (filter, "*.pem");
  gtk_file_filter_add_pattern (filter, "*.crt");
  gtk_file_filter_add_pattern (filter, "*.key");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), filter);
  g_object_set_data_full (G_OBJECT (self->chooser), "ww-key", g_strdup (key), g_free);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  g_signal_connect_object (self->chooser, "response", G_CALLBACK (on_chooser_response), self,
                           G_CONNECT_SWAPPED);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
on_choose_cert (WwPreferences *self)
{
  choose_file (self, _("Choose a TLS Certificate"), "tls-certificate");
}

static void
on_choose_key (WwPreferences *self)
{
  choose_file (self, _("Choose a TLS Private Key"), "tls-key");
}

static void
ww_preferences_constructed (GObject *object)
{
  WwPreferences *self = WW_PREFERENCES (object);
  GSettings *s = self->settings;

  G_OBJECT_CLASS (ww_preferences_parent_class)->constructed (object);

  g_settings_bind (s, "port", self->port_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "bind-address", self->bind_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "heartbeat-interval", self->heartbeat_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "deflate", self->deflate_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "max-connections", self->max_connections_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "rate-limit", self->rate_limit_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "tls-certificate", self->cert_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "tls-key", self->key_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "token", self->token_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (s, "allowed-origins", self->origins_row, "text",
                                G_SETTINGS_BIND_DEFAULT, origins_get_mapping,
                                origins_set_mapping, NULL, NULL);
  g_settings_bind (s, "redis-url", self->redis_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "client-url", self->url_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (s, "update-interval", self->update_spin, "value", G_SETTINGS_BIND_DEFAULT);

  g_signal_connect_object (s, "changed::bind-address", G_CALLBACK (update_exposed), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (s, "changed::token", G_CALLBACK (update_exposed), self,
                           G_CONNECT_SWAPPED);
  update_exposed (self);
}

static void
ww_preferences_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  WwPreferences *self = WW_PREFERENCES (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_preferences_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  WwPreferences *self = WW_PREFERENCES (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_preferences_dispose (GObject *object)
{
  WwPreferences *self = WW_PREFERENCES (object);

  if (self->chooser)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  gtk_widget_dispose_template (GTK_WIDGET (self), WW_TYPE_PREFERENCES);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (ww_preferences_parent_class)->dispose (object);
}

static void
ww_preferences_class_init (WwPreferencesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = ww_preferences_constructed;
  object_class->dispose = ww_preferences_dispose;
  object_class->set_property = ww_preferences_set_property;
  object_class->get_property = ww_preferences_get_property;

  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, G_TYPE_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PREFIX "/ui/ww-preferences.ui");
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, port_spin);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, bind_row);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, heartbeat_spin);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, deflate_switch);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, max_connections_spin);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, rate_limit_spin);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, cert_row);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, key_row);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, token_row);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, redis_row);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, origins_row);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, url_row);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, update_spin);
  gtk_widget_class_bind_template_child (widget_class, WwPreferences, exposed_revealer);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_cert);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_key);
}

static void
ww_preferences_init (WwPreferences *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

WwPreferences *
ww_preferences_new (GSettings *settings)
{
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  return g_object_new (WW_TYPE_PREFERENCES, "settings", settings, NULL);
}
