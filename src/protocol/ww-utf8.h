/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* State of an incremental UTF-8 validator; 0 means "between code points". */
typedef guint32 WwUtf8State;

#define WW_UTF8_ACCEPT ((WwUtf8State) 0)

gboolean ww_utf8_validate_chunk (WwUtf8State  *state,
                                 const guint8 *data,
                                 gsize         len);
gboolean ww_utf8_is_complete    (WwUtf8State   state);
gboolean ww_utf8_validate       (const guint8 *data,
                                 gsize         len);

G_END_DECLS
