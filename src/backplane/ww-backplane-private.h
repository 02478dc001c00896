/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "ww-backplane.h"

G_BEGIN_DECLS

/*
 * Tests only: behave like a crashed process — drop both links without
 * releasing the lease or the presence entry and never reconnect.  The
 * other instances must notice through expiry alone.
 */
void ww_backplane_abandon (WwBackplane *self);

G_END_DECLS
