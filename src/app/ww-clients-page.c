/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-app"

#include "config.h"

#include <glib/gi18n.h>

#include "ww-client-row.h"
#include "ww-clients-page.h"

struct _WwClientsPage
{
  GtkWidget         parent_instance;

  GtkStack         *stack;
  GtkColumnView    *view;
  GtkColumnViewColumn *kick_column;
  GtkLabel         *summary_label;
  GtkWidget        *server_only_page;
  GtkWidget        *empty_page;
  GtkWidget        *stopped_page;
  gboolean          server_mode;
  GtkWidget        *list_page;

  WwServer         *server;
  GListStore       *store;
  GtkSortListModel *sort_model;
  GHashTable       *rows;        /* id (guint64 *) → WwClientRow (borrowed from store) */
  guint             generation;
};

G_DEFINE_FINAL_TYPE (WwClientsPage, ww_clients_page, GTK_TYPE_WIDGET)

static void
update_visible_child (WwClientsPage *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  g_autofree char *summary = NULL;

  if (self->server == NULL)
    gtk_stack_set_visible_child (self->stack, self->server_mode ? self->stopped_page
                                                                : self->server_only_page);
  else if (n == 0)
    gtk_stack_set_visible_child (self->stack, self->empty_page);
  else
    gtk_stack_set_visible_child (self->stack, self->list_page);

  summary = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u client connected",
                                          "%u clients connected", n), n);
  gtk_label_set_text (self->summary_label, summary);
}

void
ww_clients_page_set_server (WwClientsPage *self,
                            WwServer      *server)
{
  g_return_if_fail (WW_IS_CLIENTS_PAGE (self));

  if (self->server == server)
    return;
  g_set_object (&self->server, server);
  ww_clients_page_clear (self);
}

void
ww_clients_page_set_server_mode (WwClientsPage *self,
                                 gboolean       server_mode)
{
  g_return_if_fail (WW_IS_CLIENTS_PAGE (self));

  self->server_mode = server_mode;
  update_visible_child (self);
}

void
ww_clients_page_clear (WwClientsPage *self)
{
  g_return_if_fail (WW_IS_CLIENTS_PAGE (self));

  g_hash_table_remove_all (self->rows);
  g_list_store_remove_all (self->store);
  update_visible_child (self);
}

GListModel *
ww_clients_page_get_model (WwClientsPage *self)
{
  g_return_val_if_fail (WW_IS_CLIENTS_PAGE (self), NULL);

  return G_LIST_MODEL (self->store);
}

static char *
describe_left (WwClientRow *row,
               gint64       now_us)
{
  gint64 seconds = MAX (0, now_us - ww_client_row_get_connected_at (row)) / G_USEC_PER_SEC;

  return g_strdup_printf (_("Client %llu (%s) left after %d s"),
                          (unsigned long long) ww_client_row_get_id (row),
                          ww_client_row_get_address (row), (int) seconds);
}

void
ww_clients_page_update (WwClientsPage *self,
                        GPtrArray     *infos,
                        gint64         now_us,
                        GPtrArray     *joined,
                        GPtrArray     *left)
{
  g_autoptr(GPtrArray) added = NULL;
  guint n, end, seen = 0;

  g_return_if_fail (WW_IS_CLIENTS_PAGE (self));
  g_return_if_fail (infos != NULL);

  self->generation++;
  added = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < infos->len; i++)
    {
      const WwPeerInfo *info = g_ptr_array_index (infos, i);
      WwClientRow *row = g_hash_table_lookup (self->rows, &info->id);

      if (row != NULL)
        {
          ww_client_row_update (row, info, now_us);
          seen++;
        }
      else
        {
          row = ww_client_row_new (info, now_us);
          g_ptr_array_add (added, row);
          g_hash_table_insert (self->rows, g_memdup2 (&info->id, sizeof info->id), row);
          if (joined)
            g_ptr_array_add (joined,
                             g_strdup_printf (_("Client %llu connected from %s (%s)"),
                                              (unsigned long long) info->id,
                                              ww_client_row_get_address (row),
                                              ww_client_row_get_agent (row)));
        }
      ww_client_row_set_generation (row, self->generation);
    }

  /* Remove rows not in this snapshot, one splice per contiguous run,
   * walking backwards so positions stay valid. */
  n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  /* Every row still there: nothing to remove, skip the walk. */
  end = seen == n ? 0 : n;
  while (end > 0)
    {
      guint start = end;

      while (start > 0)
        {
          g_autoptr(WwClientRow) row = g_list_model_get_item (G_LIST_MODEL (self->store),
                                                              start - 1);

          if (ww_client_row_get_generation (row) == self->generation)
            break;
          if (left)
            g_ptr_array_add (left, describe_left (row, now_us));
          g_hash_table_remove (self->rows, &(guint64) { ww_client_row_get_id (row) });
          start--;
        }
      if (start < end)
        g_list_store_splice (self->store, start, end - start, NULL, 0);
      /* Skip the run of rows that stay. */
      end = start;
      while (end > 0)
        {
          g_autoptr(WwClientRow) row = g_list_model_get_item (G_LIST_MODEL (self->store), end - 1);

          if (ww_client_row_get_generation (row) != self->generation)
            break;
          end--;
        }
    }

  if (added->len > 0)
    g_list_store_splice (self->store, g_list_model_get_n_items (G_LIST_MODEL (self->store)), 0,
                         added->pdata, added->len);

  update_visible_child (self);
}

void
ww_clients_page_kick (WwClientsPage *self,
                      guint64        id)
{
  g_return_if_fail (WW_IS_CLIENTS_PAGE (self));

  if (self->server == NULL)
    return;
  /* 1000: a deliberate, normal closure chosen by the operator. */
  ww_server_kick (self->server, id, 1000, "Disconnected by the server operator");
}

static void
on_kick_clicked (GtkButton   *button,
                 GtkListItem *item)
{
  WwClientRow *row = gtk_list_item_get_item (item);
  GtkWidget *page = gtk_widget_get_ancestor (GTK_WIDGET (button), WW_TYPE_CLIENTS_PAGE);

  if (row != NULL && page != NULL)
    ww_clients_page_kick (WW_CLIENTS_PAGE (page), ww_client_row_get_id (row));
}

/* The button column is the one cell that acts, so it is built here:
 * a template cell cannot carry the row id as an action target without
 * warnings while the cell is still empty. */
static void
kick_setup (GtkSignalListItemFactory *factory,
            GtkListItem              *item)
{
  GtkWidget *button = gtk_button_new_from_icon_name ("window-close-symbolic");

  gtk_widget_set_tooltip_text (button, _("Disconnect this client"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Disconnect this client"), -1);
  gtk_widget_add_css_class (button, "flat");
  gtk_widget_add_css_class (button, "circular");
  gtk_widget_set_halign (button, GTK_ALIGN_CENTER);
  g_signal_connect (button, "clicked", G_CALLBACK (on_kick_clicked), item);
  gtk_list_item_set_activatable (item, FALSE);
  gtk_list_item_set_child (item, button);
}

static void
ww_clients_page_dispose (GObject *object)
{
  WwClientsPage *self = WW_CLIENTS_PAGE (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), WW_TYPE_CLIENTS_PAGE);
  /* The root of the template is not bound, so unparent it here. */
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self)); child != NULL;
       child = gtk_widget_get_first_child (GTK_WIDGET (self)))
    gtk_widget_unparent (child);
  g_clear_pointer (&self->rows, g_hash_table_unref);
  g_clear_object (&self->sort_model);
  g_clear_object (&self->store);
  g_clear_object (&self->server);

  G_OBJECT_CLASS (ww_clients_page_parent_class)->dispose (object);
}

static void
ww_clients_page_class_init (WwClientsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ww_clients_page_dispose;

  g_type_ensure (WW_TYPE_CLIENT_ROW);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PREFIX "/ui/ww-clients-page.ui");
  gtk_widget_class_bind_template_child (widget_class, WwClientsPage, stack);
  gtk_widget_class_bind_template_child (widget_class, WwClientsPage, view);
  gtk_widget_class_bind_template_child (widget_class, WwClientsPage, summary_label);
  gtk_widget_class_bind_template_child (widget_class, WwClientsPage, server_only_page);
  gtk_widget_class_bind_template_child (widget_class, WwClientsPage, empty_page);
  gtk_widget_class_bind_template_child (widget_class, WwClientsPage, stopped_page);
  gtk_widget_class_bind_template_child (widget_class, WwClientsPage, list_page);

  gtk_widget_class_bind_template_child (widget_class, WwClientsPage, kick_column);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
ww_clients_page_init (WwClientsPage *self)
{
  g_autoptr(GtkNoSelection) selection = NULL;
  g_autoptr(GtkListItemFactory) kick_factory = gtk_signal_list_item_factory_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
  self->server_mode = TRUE;

  g_signal_connect (kick_factory, "setup", G_CALLBACK (kick_setup), NULL);
  gtk_column_view_column_set_factory (self->kick_column, kick_factory);

  self->rows = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  self->store = g_list_store_new (WW_TYPE_CLIENT_ROW);
  self->sort_model =
    gtk_sort_list_model_new (g_object_ref (G_LIST_MODEL (self->store)),
                             g_object_ref (gtk_column_view_get_sorter (self->view)));
  /* Sorting 10,000 rows in steps keeps the frame clock ticking. */
  gtk_sort_list_model_set_incremental (self->sort_model, TRUE);
  selection = gtk_no_selection_new (g_object_ref (G_LIST_MODEL (self->sort_model)));
  gtk_column_view_set_model (self->view, GTK_SELECTION_MODEL (selection));

  update_visible_child (self);
}
