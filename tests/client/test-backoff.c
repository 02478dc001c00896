/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client-test"

#include "config.h"

#include "client/ww-backoff.h"

static void
test_first_delay_is_base (void)
{
  g_assert_cmpuint (ww_backoff_delay (0, 3000, 30000, 0.0, 0.5), ==, 3000);
  g_assert_cmpuint (ww_backoff_delay (0, 3000, 30000, 0.2, 0.0), ==, 3000);
}

static void
test_growth_and_cap (void)
{
  guint expect[] = { 3000, 6000, 12000, 24000, 30000, 30000, 30000 };

  for (guint a = 0; a < G_N_ELEMENTS (expect); a++)
    g_assert_cmpuint (ww_backoff_delay (a, 3000, 30000, 0.0, 0.0), ==, expect[a]);

  /* Huge attempt numbers neither overflow nor exceed the cap. */
  g_assert_cmpuint (ww_backoff_delay (1000, 3000, 30000, 0.0, 0.0), ==, 30000);
  g_assert_cmpuint (ww_backoff_delay (G_MAXUINT, 3000, 30000, 0.0, 0.0), ==, 30000);
  g_assert_cmpuint (ww_backoff_delay (40, 1u << 30, G_MAXUINT, 0.0, 0.0), ==, G_MAXUINT);
}

static void
test_monotonic_without_jitter (void)
{
  guint prev = 0;

  for (guint a = 0; a < 64; a++)
    {
      guint d = ww_backoff_delay (a, 100, 30000, 0.0, 0.0);

      g_assert_cmpuint (d, >=, prev);
      prev = d;
    }
}

static void
test_jitter_bounds (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  guint lo = G_MAXUINT, hi = 0;

  for (guint i = 0; i < 10000; i++)
    {
      guint a = g_rand_int_range (rand, 0, 10);
      guint full = ww_backoff_delay (a, 3000, 30000, 0.0, 0.0);
      guint d = ww_backoff_delay (a, 3000, 30000, 0.2, g_rand_double (rand));

      g_assert_cmpuint (d, <=, full);
      g_assert_cmpuint (d, >=, full - full / 5);
      g_assert_cmpuint (d, <=, 30000);
      if (a == 0)
        {
          lo = MIN (lo, d);
          hi = MAX (hi, d);
        }
    }
  /* Jitter actually spreads the first retry (a herd does not stay together). */
  g_assert_cmpuint (hi - lo, >, 300);

  /* Out-of-range inputs are clamped, never a wild delay. */
  g_assert_cmpuint (ww_backoff_delay (0, 3000, 30000, 5.0, 0.999), >=, 1);
  g_assert_cmpuint (ww_backoff_delay (0, 3000, 30000, -1.0, 0.5), ==, 3000);
  g_assert_cmpuint (ww_backoff_delay (0, 3000, 30000, 0.2, 7.0), ==, 2400);
  g_assert_cmpuint (ww_backoff_delay (0, 3000, 30000, 0.2, -3.0), ==, 3000);
}

static void
test_never_spins (void)
{
  /* A zero base or a cap below the base still waits. */
  g_assert_cmpuint (ww_backoff_delay (0, 0, 0, 0.0, 0.0), ==, 1);
  g_assert_cmpuint (ww_backoff_delay (5, 0, 0, 1.0, 0.99), >=, 1);
  g_assert_cmpuint (ww_backoff_delay (0, 5000, 10, 0.0, 0.0), ==, 5000);
}

static void
test_reset_after_stable (void)
{
  g_assert_cmpuint (ww_backoff_after_open (4, 10000, 10000), ==, 0);
  g_assert_cmpuint (ww_backoff_after_open (4, 60000, 10000), ==, 0);
  g_assert_cmpuint (ww_backoff_after_open (4, 9999, 10000), ==, 4);
  g_assert_cmpuint (ww_backoff_after_open (4, 0, 10000), ==, 4);
  g_assert_cmpuint (ww_backoff_after_open (0, 5, 10000), ==, 0);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/client/backoff/first-is-base", test_first_delay_is_base);
  g_test_add_func ("/client/backoff/growth-and-cap", test_growth_and_cap);
  g_test_add_func ("/client/backoff/monotonic", test_monotonic_without_jitter);
  g_test_add_func ("/client/backoff/jitter-bounds", test_jitter_bounds);
  g_test_add_func ("/client/backoff/never-spins", test_never_spins);
  g_test_add_func ("/client/backoff/reset-after-stable", test_reset_after_stable);
  return g_test_run ();
}
