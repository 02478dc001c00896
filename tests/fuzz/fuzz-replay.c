/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-fuzz"

#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include <glib.h>

/*
 * Replays a fuzz target's corpus without libFuzzer, so that the normal
 * (gcc) build runs every committed input — seeds and past crashes — as a
 * regression test in suite "fuzz".  Arguments are files or directories.
 */

int LLVMFuzzerInitialize (int    *argc,
                          char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static guint
run_path (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len;

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, &error);
      g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      const char *name;
      guint n = 0;

      if (dir == NULL)
        g_error ("%s", error->message);
      while ((name = g_dir_read_name (dir)) != NULL)
        g_ptr_array_add (names, g_build_filename (path, name, NULL));
      /* A stable order makes a failure easy to reproduce. */
      g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
      for (guint i = 0; i < names->len; i++)
        n += run_path (g_ptr_array_index (names, i));
      return n;
    }

  if (!g_file_get_contents (path, &contents, &len, &error))
    g_error ("%s", error->message);
  g_print ("# %s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
  /* A private heap copy of exactly len bytes, so ASan catches any read
   * past the input. */
  {
    g_autofree guint8 *copy = g_memdup2 (contents, len);

    LLVMFuzzerTestOneInput (copy, len);
  }
  return 1;
}

int
main (int   argc,
      char *argv[])
{
  guint n = 0;

  LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++)
    n += run_path (argv[i]);

  g_print ("# replayed %u inputs\n", n);
  if (n == 0)
    {
      g_printerr ("No corpus inputs found\n");
      return 1;
    }
  return 0;
}
