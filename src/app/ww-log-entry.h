/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define WW_TYPE_LOG_ENTRY (ww_log_entry_get_type ())
G_DECLARE_FINAL_TYPE (WwLogEntry, ww_log_entry, WW, LOG_ENTRY, GObject)

typedef enum {
  WW_LOG_DIRECTION_IN,
  WW_LOG_DIRECTION_OUT,
  WW_LOG_DIRECTION_SERVER, /* a note from the server: client joined/left, started… */
} WwLogDirection;

typedef enum {
  WW_LOG_KIND_TEXT,
  WW_LOG_KIND_BINARY,
  WW_LOG_KIND_CONTROL,
  WW_LOG_KIND_SERVER,
} WwLogKind;

/*
 * One line of the frame inspector; immutable.  Only the first
 * WW_LOG_ENTRY_MAX_PAYLOAD bytes of a payload are kept, so the capped
 * history bounds memory too.  Properties for the cells: "time-text",
 * "direction-text", "opcode-text", "message-type", "size-text", "preview".
 */
#define WW_LOG_ENTRY_MAX_PAYLOAD 4096

WwLogEntry     *ww_log_entry_new_frame    (gint64          time_us,
                                           gboolean        outgoing,
                                           guint           opcode,
                                           GBytes         *payload);
WwLogEntry     *ww_log_entry_new_note     (gint64          time_us,
                                           const char     *text);
gint64          ww_log_entry_get_time     (WwLogEntry     *self);
WwLogDirection  ww_log_entry_get_direction (WwLogEntry    *self);
WwLogKind       ww_log_entry_get_kind     (WwLogEntry     *self);
guint           ww_log_entry_get_opcode   (WwLogEntry     *self);
gsize           ww_log_entry_get_size     (WwLogEntry     *self);
const char     *ww_log_entry_get_preview  (WwLogEntry     *self);
const char     *ww_log_entry_get_message_type (WwLogEntry *self);
/* The kept payload as text (hex dump for binary), JSON pretty-printed. */
char           *ww_log_entry_dup_details  (WwLogEntry     *self);
/* One tab-separated line for copy and export. */
char           *ww_log_entry_to_line      (WwLogEntry     *self);

G_END_DECLS
