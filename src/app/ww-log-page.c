/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <glib/gi18n.h>

#include <adwaita.h>

#include "ww-log-page.h"

struct _WwLogPage
{
  GtkWidget           parent_instance;

  GtkSearchEntry     *search_entry;
  GtkDropDown        *direction_dropdown;
  GtkDropDown        *kind_dropdown;
  GtkColumnView      *view;
  GtkScrolledWindow  *scroller;
  GtkTextView        *details_view;
  GtkStack           *details_stack;
  GtkLabel           *count_label;

  GListStore         *store;
  GtkFilterListModel *filter_model;
  GtkCustomFilter    *filter;
  GtkSingleSelection *selection;
  GQueue              pending;
  guint               flush_id;
  guint               cap;
  gboolean            paused;
  guint64             dropped_while_paused;
  gboolean            follow;
  char               *filter_text;    /* casefolded */
  GtkFileChooserNative *chooser;
};

G_DEFINE_FINAL_TYPE (WwLogPage, ww_log_page, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_CAP,
  PROP_PAUSED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* Batches reach the list at most this often: a flood of frames then
 * costs two items-changed per batch instead of two per frame. */
#define FLUSH_INTERVAL_MS 100

enum { DIRECTION_ALL, DIRECTION_IN, DIRECTION_OUT };
enum { KIND_ALL, KIND_TEXT, KIND_BINARY, KIND_CONTROL, KIND_SERVER };

static void
update_count_label (WwLogPage *self)
{
  guint total = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  guint shown = g_list_model_get_n_items (G_LIST_MODEL (self->filter_model));
  g_autofree char *text = NULL;

  if (self->paused)
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                         "Paused · %llu frame skipped",
                                         "Paused · %llu frames skipped",
                                         self->dropped_while_paused),
                            (unsigned long long) self->dropped_while_paused);
  else if (shown == total)
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u entry", "%u entries", total),
                            total);
  else
    /* Translators: e.g. "12 of 5000 entries" */
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u of %u entry", "%u of %u entries",
                                         total), shown, total);
  gtk_label_set_text (self->count_label, text);
}

/* The list inside the column view, which knows how to scroll to a row
 * (GtkColumnView itself only gained that in GTK 4.12). */
static GtkWidget *
find_list_view (GtkWidget *widget)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (GTK_IS_LIST_VIEW (child))
        return child;
      found = find_list_view (child);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* Keep the newest entry in view while the user has not scrolled up. */
static void
scroll_to_newest (WwLogPage *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->filter_model));
  GtkWidget *list;

  if (!self->follow || n == 0 || !gtk_widget_get_mapped (GTK_WIDGET (self)))
    return;
  list = find_list_view (GTK_WIDGET (self->view));
  if (list != NULL)
    gtk_widget_activate_action (list, "list.scroll-to-item", "u", n - 1);
}

void
ww_log_page_flush (WwLogPage *self)
{
  g_autoptr(GPtrArray) batch = NULL;
  guint n, total, remove;

  g_return_if_fail (WW_IS_LOG_PAGE (self));

  g_clear_handle_id (&self->flush_id, g_source_remove);
  if (g_queue_is_empty (&self->pending))
    return;

  batch = g_ptr_array_new_full (self->pending.length, g_object_unref);
  while (!g_queue_is_empty (&self->pending))
    g_ptr_array_add (batch, g_queue_pop_head (&self->pending));

  n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  total = n + batch->len;
  remove = total > self->cap ? total - self->cap : 0;
  /* The queue is capped too, so remove never exceeds what the store holds
   * plus nothing from the batch; keep the guard anyway. */
  if (remove > n)
    {
      g_ptr_array_remove_range (batch, 0, remove - n);
      remove = n;
    }
  if (remove > 0)
    g_list_store_splice (self->store, 0, remove, NULL, 0);
  g_list_store_splice (self->store, n - remove, 0, batch->pdata, batch->len);

  update_count_label (self);
  scroll_to_newest (self);
}

static gboolean
flush_timeout (gpointer data)
{
  WwLogPage *self = data;

  self->flush_id = 0;
  ww_log_page_flush (self);
  return G_SOURCE_REMOVE;
}

void
ww_log_page_append (WwLogPage  *self,
                    WwLogEntry *entry)
{
  g_return_if_fail (WW_IS_LOG_PAGE (self));
  g_return_if_fail (WW_IS_LOG_ENTRY (entry));

  if (self->paused)
    {
      self->dropped_while_paused++;
      g_object_unref (entry);
      return;
    }

  g_queue_push_tail (&self->pending, entry);
  while (self->pending.length > self->cap)
    g_object_unref (g_queue_pop_head (&self->pending));

  if (self->flush_id == 0)
    self->flush_id = g_timeout_add (FLUSH_INTERVAL_MS, flush_timeout, self);
}

void
ww_log_page_clear (WwLogPage *self)
{
  g_return_if_fail (WW_IS_LOG_PAGE (self));

  g_queue_clear_full (&self->pending, g_object_unref);
  g_list_store_remove_all (self->store);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->details_view), "", -1);
  update_count_label (self);
}

GListModel *
ww_log_page_get_model (WwLogPage *self)
{
  g_return_val_if_fail (WW_IS_LOG_PAGE (self), NULL);
  return G_LIST_MODEL (self->store);
}

GListModel *
ww_log_page_get_filtered_model (WwLogPage *self)
{
  g_return_val_if_fail (WW_IS_LOG_PAGE (self), NULL);
  return G_LIST_MODEL (self->filter_model);
}

guint
ww_log_page_get_cap (WwLogPage *self)
{
  g_return_val_if_fail (WW_IS_LOG_PAGE (self), 0);
  return self->cap;
}

void
ww_log_page_set_cap (WwLogPage *self,
                     guint      cap)
{
  guint n;

  g_return_if_fail (WW_IS_LOG_PAGE (self));
  g_return_if_fail (cap > 0);

  if (self->cap == cap)
    return;
  self->cap = cap;
  while (self->pending.length > cap)
    g_object_unref (g_queue_pop_head (&self->pending));
  n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  if (n > cap)
    g_list_store_splice (self->store, 0, n - cap, NULL, 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAP]);
  update_count_label (self);
}

gboolean
ww_log_page_get_paused (WwLogPage *self)
{
  g_return_val_if_fail (WW_IS_LOG_PAGE (self), FALSE);
  return self->paused;
}

void
ww_log_page_set_paused (WwLogPage *self,
                        gboolean   paused)
{
  g_return_if_fail (WW_IS_LOG_PAGE (self));

  paused = !!paused;
  if (self->paused == paused)
    return;
  self->paused = paused;
  self->dropped_while_paused = 0;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAUSED]);
  update_count_label (self);
}

static void
apply_filter_text (WwLogPage  *self,
                   const char *text)
{
  g_free (self->filter_text);
  self->filter_text = text && *text ? g_utf8_casefold (text, -1) : NULL;
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  update_count_label (self);
}

void
ww_log_page_set_filter_text (WwLogPage  *self,
                             const char *text)
{
  g_return_if_fail (WW_IS_LOG_PAGE (self));

  if (g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (self->search_entry)), text ? text : "") != 0)
    gtk_editable_set_text (GTK_EDITABLE (self->search_entry), text ? text : "");
  /* Apply now, not after the search entry's typing delay. */
  apply_filter_text (self, text);
}

void
ww_log_page_select (WwLogPage *self,
                    guint      position)
{
  g_return_if_fail (WW_IS_LOG_PAGE (self));

  gtk_single_selection_set_selected (self->selection, position);
}

char *
ww_log_page_dup_text (WwLogPage *self)
{
  GListModel *model;
  GString *out;
  guint n;

  g_return_val_if_fail (WW_IS_LOG_PAGE (self), NULL);

  model = G_LIST_MODEL (self->filter_model);
  n = g_list_model_get_n_items (model);
  out = g_string_new (NULL);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(WwLogEntry) entry = g_list_model_get_item (model, i);
      g_autofree char *line = ww_log_entry_to_line (entry);

      g_string_append (out, line);
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

static gboolean
filter_func (gpointer item,
             gpointer user_data)
{
  WwLogPage *self = user_data;
  WwLogEntry *entry = item;
  guint direction = gtk_drop_down_get_selected (self->direction_dropdown);
  guint kind = gtk_drop_down_get_selected (self->kind_dropdown);
  WwLogDirection entry_direction = ww_log_entry_get_direction (entry);
  WwLogKind entry_kind = ww_log_entry_get_kind (entry);

  if (direction == DIRECTION_IN && entry_direction != WW_LOG_DIRECTION_IN)
    return FALSE;
  if (direction == DIRECTION_OUT && entry_direction != WW_LOG_DIRECTION_OUT)
    return FALSE;

  if ((kind == KIND_TEXT && entry_kind != WW_LOG_KIND_TEXT) ||
      (kind == KIND_BINARY && entry_kind != WW_LOG_KIND_BINARY) ||
      (kind == KIND_CONTROL && entry_kind != WW_LOG_KIND_CONTROL) ||
      (kind == KIND_SERVER && entry_kind != WW_LOG_KIND_SERVER))
    return FALSE;

  if (self->filter_text != NULL)
    {
      g_autofree char *preview = g_utf8_casefold (ww_log_entry_get_preview (entry), -1);
      g_autofree char *type = g_utf8_casefold (ww_log_entry_get_message_type (entry), -1);

      if (strstr (preview, self->filter_text) == NULL && strstr (type, self->filter_text) == NULL)
        return FALSE;
    }
  return TRUE;
}

static void
on_search_changed (WwLogPage      *self,
                   GtkSearchEntry *entry)
{
  apply_filter_text (self, gtk_editable_get_text (GTK_EDITABLE (entry)));
}

static void
on_dropdown_changed (WwLogPage *self)
{
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  update_count_label (self);
}

static void
on_selection_changed (WwLogPage *self)
{
  WwLogEntry *entry = gtk_single_selection_get_selected_item (self->selection);
  g_autofree char *details = entry ? ww_log_entry_dup_details (entry) : NULL;

  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->details_view),
                            details ? details : "", -1);
  gtk_stack_set_visible_child_name (self->details_stack, entry ? "details" : "empty");
}


static void
on_vadjustment_value_changed (WwLogPage     *self,
                              GtkAdjustment *adjustment)
{
  /* Not laid out yet: nothing to decide. */
  if (gtk_adjustment_get_page_size (adjustment) <= 0 ||
      gtk_adjustment_get_upper (adjustment) <= gtk_adjustment_get_page_size (adjustment))
    return;
  self->follow = gtk_adjustment_get_value (adjustment) >=
                 gtk_adjustment_get_upper (adjustment) -
                 gtk_adjustment_get_page_size (adjustment) - 48;
}

static void
copy_activated (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  WwLogPage *self = WW_LOG_PAGE (widget);
  WwLogEntry *entry = gtk_single_selection_get_selected_item (self->selection);
  g_autofree char *text = NULL;

  text = entry ? ww_log_entry_dup_details (entry) : ww_log_page_dup_text (self);
  gdk_clipboard_set_text (gtk_widget_get_clipboard (widget), text);
}

static void
clear_activated (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  ww_log_page_clear (WW_LOG_PAGE (widget));
}

static void
find_activated (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  gtk_widget_grab_focus (GTK_WIDGET (WW_LOG_PAGE (widget)->search_entry));
}

static void
export_replaced (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_file_replace_contents_finish (G_FILE (source), result, NULL, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
ww_log_page_export (WwLogPage           *self,
                    GFile               *file,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *text = NULL;
  g_autofree char *header = NULL;

  g_return_if_fail (WW_IS_LOG_PAGE (self));
  g_return_if_fail (G_IS_FILE (file));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ww_log_page_export);
  text = ww_log_page_dup_text (self);
  header = g_strdup_printf ("# %s\t%s\t%s\t%s\t%s\t%s\n", _("time"), _("direction"),
                            _("opcode"), _("type"), _("bytes"), _("preview"));
  bytes = g_bytes_new_take (g_strconcat (header, text, NULL), strlen (header) + strlen (text));
  g_file_replace_contents_bytes_async (file, bytes, NULL, FALSE,
                                       G_FILE_CREATE_REPLACE_DESTINATION, cancellable,
                                       export_replaced, g_steal_pointer (&task));
}

gboolean
ww_log_page_export_finish (WwLogPage     *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_exported (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  WwLogPage *self = WW_LOG_PAGE (source);
  g_autoptr(GFile) file = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_file_get_basename (file);
  g_autofree char *message = NULL;
  GtkWidget *overlay;

  if (ww_log_page_export_finish (self, result, &error))
    message = g_strdup_printf (_("Log exported to %s"), name);
  else
    message = g_strdup_printf (_("Could not export the log: %s"), error->message);

  overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (message));
  else
    g_message ("%s", message);
}

static void
on_export_response (WwLogPage            *self,
                    int                   response,
                    GtkFileChooserNative *chooser)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      GFile *file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));

      if (file != NULL)
        ww_log_page_export (self, file, NULL, on_exported, file);
    }
  g_clear_object (&self->chooser);
}

static void
export_activated (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  WwLogPage *self = WW_LOG_PAGE (widget);
  GtkRoot *root = gtk_widget_get_root (widget);

  if (self->chooser != NULL)
    return;
  self->chooser = gtk_file_chooser_native_new (_("Export Log"),
                                               GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                               GTK_FILE_CHOOSER_ACTION_SAVE,
                                               _("_Export"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (self->chooser), "wirewatch-log.tsv");
  g_signal_connect_object (self->chooser, "response", G_CALLBACK (on_export_response), self,
                           G_CONNECT_SWAPPED);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
ww_log_page_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (ww_log_page_parent_class)->map (widget);
  scroll_to_newest (WW_LOG_PAGE (widget));
}

static void
ww_log_page_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  WwLogPage *self = WW_LOG_PAGE (object);

  switch (prop_id)
    {
    case PROP_CAP:
      g_value_set_uint (value, self->cap);
      break;
    case PROP_PAUSED:
      g_value_set_boolean (value, self->paused);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_log_page_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  WwLogPage *self = WW_LOG_PAGE (object);

  switch (prop_id)
    {
    case PROP_CAP:
      ww_log_page_set_cap (self, g_value_get_uint (value));
      break;
    case PROP_PAUSED:
      ww_log_page_set_paused (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ww_log_page_dispose (GObject *object)
{
  WwLogPage *self = WW_LOG_PAGE (object);

  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_queue_clear_full (&self->pending, g_object_unref);
  if (self->chooser)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  gtk_widget_dispose_template (GTK_WIDGET (self), WW_TYPE_LOG_PAGE);
  /* The root of the template is not bound, so unparent it here. */
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self)); child != NULL;
       child = gtk_widget_get_first_child (GTK_WIDGET (self)))
    gtk_widget_unparent (child);
  g_clear_object (&self->selection);
  g_clear_object (&self->filter_model);
  g_clear_object (&self->filter);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (ww_log_page_parent_class)->dispose (object);
}

static void
ww_log_page_finalize (GObject *object)
{
  WwLogPage *self = WW_LOG_PAGE (object);

  g_free (self->filter_text);

  G_OBJECT_CLASS (ww_log_page_parent_class)->finalize (object);
}

static void
ww_log_page_class_init (WwLogPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ww_log_page_dispose;
  object_class->finalize = ww_log_page_finalize;
  object_class->get_property = ww_log_page_get_property;
  object_class->set_property = ww_log_page_set_property;
  widget_class->map = ww_log_page_map;

  properties[PROP_CAP] =
    g_param_spec_uint ("cap", NULL, NULL, 1, 1000000, WW_LOG_PAGE_DEFAULT_CAP,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PAUSED] =
    g_param_spec_boolean ("paused", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (WW_TYPE_LOG_ENTRY);

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PREFIX "/ui/ww-log-page.ui");
  gtk_widget_class_bind_template_child (widget_class, WwLogPage, search_entry);
  gtk_widget_class_bind_template_child (widget_class, WwLogPage, direction_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WwLogPage, kind_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WwLogPage, view);
  gtk_widget_class_bind_template_child (widget_class, WwLogPage, scroller);
  gtk_widget_class_bind_template_child (widget_class, WwLogPage, details_view);
  gtk_widget_class_bind_template_child (widget_class, WwLogPage, details_stack);
  gtk_widget_class_bind_template_child (widget_class, WwLogPage, count_label);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_dropdown_changed);

  gtk_widget_class_install_property_action (widget_class, "log.pause", "paused");
  gtk_widget_class_install_action (widget_class, "log.copy", NULL, copy_activated);
  gtk_widget_class_install_action (widget_class, "log.export", NULL, export_activated);
  gtk_widget_class_install_action (widget_class, "log.clear", NULL, clear_activated);
  gtk_widget_class_install_action (widget_class, "log.find", NULL, find_activated);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
ww_log_page_init (WwLogPage *self)
{
  GtkAdjustment *vadjustment;

  self->cap = WW_LOG_PAGE_DEFAULT_CAP;
  self->follow = TRUE;
  g_queue_init (&self->pending);

  gtk_widget_init_template (GTK_WIDGET (self));

  self->store = g_list_store_new (WW_TYPE_LOG_ENTRY);
  self->filter = gtk_custom_filter_new (filter_func, self, NULL);
  self->filter_model = gtk_filter_list_model_new (g_object_ref (G_LIST_MODEL (self->store)),
                                                  g_object_ref (GTK_FILTER (self->filter)));
  self->selection = gtk_single_selection_new (g_object_ref (G_LIST_MODEL (self->filter_model)));
  gtk_single_selection_set_autoselect (self->selection, FALSE);
  gtk_single_selection_set_can_unselect (self->selection, TRUE);
  gtk_column_view_set_model (self->view, GTK_SELECTION_MODEL (self->selection));
  g_signal_connect_object (self->selection, "notify::selected-item",
                           G_CALLBACK (on_selection_changed), self, G_CONNECT_SWAPPED);

  vadjustment = gtk_scrolled_window_get_vadjustment (self->scroller);
  g_signal_connect_object (vadjustment, "value-changed",
                           G_CALLBACK (on_vadjustment_value_changed), self, G_CONNECT_SWAPPED);

  update_count_label (self);
}
