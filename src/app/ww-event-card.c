/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <glib/gi18n.h>

#include "ww-event-card.h"

struct _WwEventCard
{
  GtkWidget  parent_instance;

  GtkWidget *box;
  GtkLabel  *id_label;
  GtkLabel  *name_label;
  GtkLabel  *home_label;
  GtkLabel  *away_label;
  GtkLabel  *home_score_label;
  GtkLabel  *away_score_label;
  GtkLabel  *seq_label;
  GtkLabel  *age_label;

  char      *event_id;
  char      *score_text;
  guint64    seq;
  gint64     version;
  gint64     updated_at_ms;
  guint      highlight_id;
};

G_DEFINE_FINAL_TYPE (WwEventCard, ww_event_card, GTK_TYPE_WIDGET)

/* How long a changed score stays lit: long enough to see, short enough
 * that five cards changing every few seconds do not all glow at once. */
#define HIGHLIGHT_MS 1000

static gboolean
end_highlight (gpointer data)
{
  WwEventCard *self = data;

  self->highlight_id = 0;
  gtk_widget_remove_css_class (self->box, "updated");
  return G_SOURCE_REMOVE;
}

static const char *
member_string (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
member_int (JsonObject *object,
            const char *name,
            gint64     *out)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
      *out = json_node_get_int (node);
      return TRUE;
    case G_TYPE_DOUBLE:
      *out = (gint64) json_node_get_double (node);
      return TRUE;
    default:
      return FALSE;
    }
}

void
ww_event_card_set_event (WwEventCard *self,
                         JsonObject  *event,
                         guint64      seq,
                         gboolean     highlight)
{
  const char *id, *name, *home, *away;
  gint64 home_score = 0, away_score = 0, version = 0, updated_at = 0;
  g_autofree char *home_text = NULL;
  g_autofree char *away_text = NULL;
  g_autofree char *seq_text = NULL;
  g_autofree char *accessible = NULL;

  g_return_if_fail (WW_IS_EVENT_CARD (self));
  g_return_if_fail (event != NULL);

  id = member_string (event, "id");
  name = member_string (event, "name");
  home = member_string (event, "home");
  away = member_string (event, "away");
  member_int (event, "homeScore", &home_score);
  member_int (event, "awayScore", &away_score);
  member_int (event, "version", &version);
  if (!member_int (event, "updatedAt", &updated_at))
    updated_at = g_get_real_time () / 1000;

  g_free (self->event_id);
  self->event_id = g_strdup (id ? id : "");
  self->seq = seq;
  self->version = version;
  self->updated_at_ms = updated_at;

  home_text = g_strdup_printf ("%" G_GINT64_FORMAT, home_score);
  away_text = g_strdup_printf ("%" G_GINT64_FORMAT, away_score);
  g_free (self->score_text);
  self->score_text = g_strdup_printf ("%s – %s", home_text, away_text);

  gtk_label_set_text (self->id_label, self->event_id);
  gtk_label_set_text (self->name_label, name ? name : self->event_id);
  gtk_label_set_text (self->home_label, home ? home : _("Home"));
  gtk_label_set_text (self->away_label, away ? away : _("Away"));
  gtk_label_set_text (self->home_score_label, home_text);
  gtk_label_set_text (self->away_score_label, away_text);
  /* Translators: the feed's sequence number of the last update */
  seq_text = g_strdup_printf (_("seq %llu"), (unsigned long long) seq);
  gtk_label_set_text (self->seq_label, seq_text);
  ww_event_card_refresh_age (self, g_get_real_time () / 1000);

  /* Translators: read by screen readers, e.g. "Harbor City 2, Northgate 1" */
  accessible = g_strdup_printf (_("%s %s, %s %s"), home ? home : "", home_text,
                                away ? away : "", away_text);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, accessible, -1);

  gtk_widget_remove_css_class (self->box, "waiting");
  if (highlight)
    {
      gtk_widget_add_css_class (self->box, "updated");
      g_clear_handle_id (&self->highlight_id, g_source_remove);
      self->highlight_id = g_timeout_add (HIGHLIGHT_MS, end_highlight, self);
    }
}

void
ww_event_card_clear (WwEventCard *self)
{
  g_return_if_fail (WW_IS_EVENT_CARD (self));

  g_clear_pointer (&self->event_id, g_free);
  g_clear_pointer (&self->score_text, g_free);
  self->seq = 0;
  self->version = 0;
  self->updated_at_ms = 0;
  g_clear_handle_id (&self->highlight_id, g_source_remove);
  gtk_widget_remove_css_class (self->box, "updated");
  gtk_widget_add_css_class (self->box, "waiting");

  gtk_label_set_text (self->id_label, "");
  gtk_label_set_text (self->name_label, _("Waiting for the feed…"));
  gtk_label_set_text (self->home_label, "");
  gtk_label_set_text (self->away_label, "");
  gtk_label_set_text (self->home_score_label, "–");
  gtk_label_set_text (self->away_score_label, "–");
  gtk_label_set_text (self->seq_label, "");
  gtk_label_set_text (self->age_label, "");
}

void
ww_event_card_refresh_age (WwEventCard *self,
                           gint64       now_ms)
{
  gint64 age_s;
  g_autofree char *text = NULL;

  g_return_if_fail (WW_IS_EVENT_CARD (self));

  if (self->event_id == NULL)
    return;

  age_s = MAX (0, now_ms - self->updated_at_ms) / 1000;
  if (age_s < 1)
    text = g_strdup (_("just now"));
  else if (age_s < 60)
    /* Translators: how long ago a score changed */
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d s ago", "%d s ago", age_s),
                            (int) age_s);
  else if (age_s < 3600)
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d min ago", "%d min ago",
                                         age_s / 60), (int) (age_s / 60));
  else
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d h ago", "%d h ago",
                                         age_s / 3600), (int) (age_s / 3600));

  if (g_strcmp0 (gtk_label_get_text (self->age_label), text) != 0)
    gtk_label_set_text (self->age_label, text);
}

const char *
ww_event_card_get_event_id (WwEventCard *self)
{
  g_return_val_if_fail (WW_IS_EVENT_CARD (self), NULL);

  return self->event_id;
}

gboolean
ww_event_card_has_event (WwEventCard *self)
{
  g_return_val_if_fail (WW_IS_EVENT_CARD (self), FALSE);

  return self->event_id != NULL;
}

guint64
ww_event_card_get_seq (WwEventCard *self)
{
  g_return_val_if_fail (WW_IS_EVENT_CARD (self), 0);

  return self->seq;
}

gint64
ww_event_card_get_version (WwEventCard *self)
{
  g_return_val_if_fail (WW_IS_EVENT_CARD (self), 0);

  return self->version;
}

gboolean
ww_event_card_is_highlighted (WwEventCard *self)
{
  g_return_val_if_fail (WW_IS_EVENT_CARD (self), FALSE);

  return gtk_widget_has_css_class (self->box, "updated");
}

const char *
ww_event_card_get_score_text (WwEventCard *self)
{
  g_return_val_if_fail (WW_IS_EVENT_CARD (self), NULL);

  return self->score_text;
}

static void
ww_event_card_dispose (GObject *object)
{
  WwEventCard *self = WW_EVENT_CARD (object);

  g_clear_handle_id (&self->highlight_id, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (self), WW_TYPE_EVENT_CARD);
  /* The root of the template is not bound, so unparent it here. */
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self)); child != NULL;
       child = gtk_widget_get_first_child (GTK_WIDGET (self)))
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (ww_event_card_parent_class)->dispose (object);
}

static void
ww_event_card_finalize (GObject *object)
{
  WwEventCard *self = WW_EVENT_CARD (object);

  g_free (self->event_id);
  g_free (self->score_text);

  G_OBJECT_CLASS (ww_event_card_parent_class)->finalize (object);
}

static void
ww_event_card_class_init (WwEventCardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ww_event_card_dispose;
  object_class->finalize = ww_event_card_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PREFIX "/ui/ww-event-card.ui");
  gtk_widget_class_bind_template_child (widget_class, WwEventCard, box);
  gtk_widget_class_bind_template_child (widget_class, WwEventCard, id_label);
  gtk_widget_class_bind_template_child (widget_class, WwEventCard, name_label);
  gtk_widget_class_bind_template_child (widget_class, WwEventCard, home_label);
  gtk_widget_class_bind_template_child (widget_class, WwEventCard, away_label);
  gtk_widget_class_bind_template_child (widget_class, WwEventCard, home_score_label);
  gtk_widget_class_bind_template_child (widget_class, WwEventCard, away_score_label);
  gtk_widget_class_bind_template_child (widget_class, WwEventCard, seq_label);
  gtk_widget_class_bind_template_child (widget_class, WwEventCard, age_label);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "wweventcard");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
ww_event_card_init (WwEventCard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  ww_event_card_clear (self);
}

GtkWidget *
ww_event_card_new (void)
{
  return g_object_new (WW_TYPE_EVENT_CARD, NULL);
}
