/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>

#include "ww-application.h"
#include "ww-preferences.h"
#include "ww-window.h"

struct _WwApplication
{
  AdwApplication  parent_instance;

  WwServerConfig *config;
  WwFeedConfig   *feed_config;
  char           *redis_url;
  gboolean        port_given;
  GSettings      *settings;
  guint           sigint_id;
  guint           sigterm_id;
};

G_DEFINE_FINAL_TYPE (WwApplication, ww_application, ADW_TYPE_APPLICATION)

/* Every accelerator of the app, in one place (STYLE.md "UI"). */
static const struct {
  const char *action;
  const char *accels[3];
} accelerators[] = {
  { "app.quit",                { "<Control>q", NULL } },
  { "app.preferences",         { "<Control>comma", NULL } },
  { "win.ping",                { "<Control>p", NULL } },
  { "win.toggle-running",      { "<Control>r", NULL } },
  { "win.focus-address",       { "<Control>l", NULL } },
  { "win.copy-url",            { "<Control><Shift>c", NULL } },
  { "win.open-browser",        { "<Control><Shift>o", NULL } },
  { "win.mode('server')",      { "<Alt>s", NULL } },
  { "win.mode('client')",      { "<Alt>c", NULL } },
  { "win.page('events')",      { "<Control>1", NULL } },
  { "win.page('clients')",     { "<Control>2", NULL } },
  { "win.page('traffic')",     { "<Control>3", NULL } },
  { "win.page('log')",         { "<Control>4", NULL } },
  { "log.pause",               { "<Control>space", NULL } },
  { "win.find",                { "<Control>f", NULL } },
  { "window.close",            { "<Control>w", NULL } },
};

static GSettings *
load_settings (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APPLICATION_ID, TRUE);

#ifdef WW_BUILD_DATA_DIR
  /* Running from the build tree (`make run`): the schema is compiled there. */
  if (schema == NULL)
    {
      g_autoptr(GSettingsSchemaSource) build_source = NULL;

      build_source = g_settings_schema_source_new_from_directory (WW_BUILD_DATA_DIR, source,
                                                                  FALSE, NULL);
      if (build_source != NULL)
        schema = g_settings_schema_source_lookup (build_source, APPLICATION_ID, FALSE);
    }
#endif

  if (schema == NULL)
    {
      g_printerr ("wirewatch: %s\n",
                  _("The settings schema io.github.wirewatch.Wirewatch is not installed; "
                    "settings will not be kept"));
      return NULL;
    }

  return g_settings_new_full (schema, NULL, NULL);
}

static void
ww_application_activate (GApplication *app)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (window == NULL)
    window = GTK_WINDOW (ww_window_new (WW_APPLICATION (app)));
  gtk_window_present (window);
}

static void
quit_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  GtkApplication *app = user_data;
  GList *windows = gtk_application_get_windows (app);

  /* Close the windows first so each stops its server cleanly (1001 to peers). */
  for (GList *l = windows; l != NULL; )
    {
      GList *next = l->next;

      gtk_window_destroy (l->data);
      l = next;
    }
  g_application_quit (G_APPLICATION (app));
}

static void
preferences_activated (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  WwApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  WwPreferences *prefs;

  if (self->settings == NULL)
    return;

  prefs = ww_preferences_new (self->settings);
  gtk_window_set_transient_for (GTK_WINDOW (prefs), parent);
  gtk_window_set_modal (GTK_WINDOW (prefs), TRUE);
  gtk_window_set_destroy_with_parent (GTK_WINDOW (prefs), TRUE);
  gtk_window_present (GTK_WINDOW (prefs));
}

static void
about_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  GtkApplication *app = user_data;
  const char *developers[] = { "The Wirewatch developers", NULL };
  GtkWidget *about;

  about = g_object_new (ADW_TYPE_ABOUT_WINDOW,
                        "transient-for", gtk_application_get_active_window (app),
                        "destroy-with-parent", TRUE,
                        "modal", TRUE,
                        "application-name", _("Wirewatch"),
                        "application-icon", APPLICATION_ID,
                        "developer-name", _("The Wirewatch developers"),
                        "version", PACKAGE_VERSION,
                        "website", "https://github.com/wirewatch/wirewatch",
                        "issue-url", "https://github.com/wirewatch/wirewatch/issues",
                        "comments",
                        _("Watch a WebSocket server live, serve one, or connect to one."),
                        "developers", developers,
                        /* Translators: your name(s), one per line, to credit yourself */
                        "translator-credits", _("translator-credits"),
                        "copyright", "© 2026 The Wirewatch developers",
                        "license-type", GTK_LICENSE_GPL_3_0,
                        NULL);
  gtk_window_present (GTK_WINDOW (about));
}

/* Ctrl+C in the terminal of `make run`, or a service manager's SIGTERM:
 * quit like the menu does, so peers get their 1001 close. */
static gboolean
on_quit_signal (gpointer data)
{
  g_action_group_activate_action (G_ACTION_GROUP (data), "quit", NULL);
  return G_SOURCE_CONTINUE;
}

static void
ww_application_shutdown (GApplication *app)
{
  WwApplication *self = WW_APPLICATION (app);

  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  ww_window_wait_for_stopped_servers ();

  G_APPLICATION_CLASS (ww_application_parent_class)->shutdown (app);
}

static void
ww_application_startup (GApplication *app)
{
  WwApplication *self = WW_APPLICATION (app);
  const GActionEntry entries[] = {
    { "quit", quit_activated },
    { "preferences", preferences_activated },
    { "about", about_activated },
  };

  G_APPLICATION_CLASS (ww_application_parent_class)->startup (app);

  /* Dark style follows the system: AdwStyleManager's default scheme. */
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (),
                                      ADW_COLOR_SCHEME_DEFAULT);

  g_action_map_add_action_entries (G_ACTION_MAP (app), entries, G_N_ELEMENTS (entries), self);
  g_simple_action_set_enabled (G_SIMPLE_ACTION (g_action_map_lookup_action (G_ACTION_MAP (app),
                                                                            "preferences")),
                               self->settings != NULL);

  self->sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, self);
  self->sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, self);

  for (guint i = 0; i < G_N_ELEMENTS (accelerators); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accelerators[i].action,
                                           accelerators[i].accels);
}

static void
ww_application_finalize (GObject *object)
{
  WwApplication *self = WW_APPLICATION (object);

  g_clear_pointer (&self->config, ww_server_config_free);
  g_clear_pointer (&self->feed_config, ww_feed_config_free);
  g_free (self->redis_url);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (ww_application_parent_class)->finalize (object);
}

static void
ww_application_class_init (WwApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = ww_application_finalize;
  app_class->activate = ww_application_activate;
  app_class->startup = ww_application_startup;
  app_class->shutdown = ww_application_shutdown;
}

static void
ww_application_init (WwApplication *self)
{
}

WwApplication *
ww_application_new (const WwServerConfig *config,
                    gboolean              port_given)
{
  WwApplication *self;

  self = g_object_new (WW_TYPE_APPLICATION,
                       "application-id", APPLICATION_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", RESOURCE_PREFIX,
                       NULL);
  self->config = config ? ww_server_config_copy (config) : ww_server_config_new ();
  self->port_given = port_given;
  self->settings = load_settings ();
  return self;
}

const WwServerConfig *
ww_application_get_config (WwApplication *self)
{
  g_return_val_if_fail (WW_IS_APPLICATION (self), NULL);

  return self->config;
}

gboolean
ww_application_get_port_given (WwApplication *self)
{
  g_return_val_if_fail (WW_IS_APPLICATION (self), FALSE);

  return self->port_given;
}

void
ww_application_set_feed_config (WwApplication      *self,
                                const WwFeedConfig *feed_config)
{
  g_return_if_fail (WW_IS_APPLICATION (self));

  g_clear_pointer (&self->feed_config, ww_feed_config_free);
  if (feed_config == NULL)
    return;
  self->feed_config = ww_feed_config_copy (feed_config);
}

const WwFeedConfig *
ww_application_get_feed_config (WwApplication *self)
{
  g_return_val_if_fail (WW_IS_APPLICATION (self), NULL);

  return self->feed_config;
}

void
ww_application_set_redis_url (WwApplication *self,
                              const char    *url)
{
  g_return_if_fail (WW_IS_APPLICATION (self));

  g_free (self->redis_url);
  self->redis_url = g_strdup (url);
}

const char *
ww_application_get_redis_url (WwApplication *self)
{
  g_return_val_if_fail (WW_IS_APPLICATION (self), NULL);

  return self->redis_url;
}

GSettings *
ww_application_get_settings (WwApplication *self)
{
  g_return_val_if_fail (WW_IS_APPLICATION (self), NULL);

  return self->settings;
}
