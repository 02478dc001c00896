/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-feed"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "ww-feed-store.h"

/* A state file larger than this is not ours. */
#define MAX_STATE_FILE (1024 * 1024)

char *
ww_feed_store_default_dir (void)
{
  return g_build_filename (g_get_user_state_dir (), "wirewatch", NULL);
}

char *
ww_feed_store_path (const char *dir)
{
  g_return_val_if_fail (dir != NULL, NULL);
  return g_build_filename (dir, WW_FEED_STATE_FILE, NULL);
}

static char *
move_aside (const char  *path,
            GError     **error)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%dT%H%M%SZ");
  g_autofree char *target = g_strdup_printf ("%s.corrupt-%s", path, stamp);

  /* Two corrupt files in the same second keep both. */
  for (guint n = 1; g_file_test (target, G_FILE_TEST_EXISTS) && n < 1000; n++)
    {
      g_free (target);
      target = g_strdup_printf ("%s.corrupt-%s-%u", path, stamp, n);
    }

  if (g_rename (path, target) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "could not rename %s aside: %s", path, g_strerror (saved));
      return NULL;
    }
  return g_steal_pointer (&target);
}

WwFeedLoad
ww_feed_store_load (const char   *dir,
                    WwFeedState  *state,
                    char        **moved_to,
                    GError      **error)
{
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize len = 0;

  g_return_val_if_fail (dir != NULL, WW_FEED_LOAD_FAILED);
  g_return_val_if_fail (state != NULL, WW_FEED_LOAD_FAILED);

  if (moved_to)
    *moved_to = NULL;
  path = ww_feed_store_path (dir);

  if (!g_file_get_contents (path, &contents, &len, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return WW_FEED_LOAD_MISSING;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return WW_FEED_LOAD_FAILED;
    }

  if (len > MAX_STATE_FILE)
    g_set_error (&local_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "the state file is %" G_GSIZE_FORMAT " bytes, larger than expected", len);
  else if (!g_utf8_validate (contents, (gssize) len, NULL))
    g_set_error_literal (&local_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         "the state file is not UTF-8 text");
  else
    ww_feed_state_restore (state, contents, (gssize) len, &local_error);

  if (local_error == NULL)
    return WW_FEED_LOAD_OK;

  {
    g_autoptr(GError) move_error = NULL;
    g_autofree char *target = move_aside (path, &move_error);

    if (target == NULL)
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s is corrupt (%s) and %s",
                     path, local_error->message, move_error->message);
        return WW_FEED_LOAD_FAILED;
      }
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is corrupt (%s)",
                 path, local_error->message);
    if (moved_to)
      *moved_to = g_steal_pointer (&target);
    return WW_FEED_LOAD_CORRUPT;
  }
}

gboolean
ww_feed_store_save (const char  *dir,
                    const char  *contents,
                    GError     **error)
{
  g_autofree char *path = NULL;

  g_return_val_if_fail (dir != NULL, FALSE);
  g_return_val_if_fail (contents != NULL, FALSE);

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "could not create %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  path = ww_feed_store_path (dir);
  /* CONSISTENT: a temporary file renamed over the old one, so readers see
   * the old or the new state and never a torn one. */
  return g_file_set_contents_full (path, contents, -1,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}
