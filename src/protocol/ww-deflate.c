/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-protocol"

#include "config.h"

#include <string.h>
#include <zlib.h>

#include "ww-deflate.h"
#include "ww-protocol-error.h"

/* §7.2.1: what Z_SYNC_FLUSH ends with, removed by the sender and put
 * back by the receiver (§7.2.2). */
static const guint8 sync_tail[4] = { 0x00, 0x00, 0xff, 0xff };

#define DEFAULT_MAX_MESSAGE (16 * 1024 * 1024)
/* zlib counts in uInt; hand it at most this much per call. */
#define ZLIB_CHUNK_MAX      (1u << 30)
/* The first inflate output buffer; it then doubles up to the limit. */
#define INFLATE_BUF_MIN     1024

void
ww_deflate_config_init (WwDeflateConfig *config)
{
  g_return_if_fail (config != NULL);

  memset (config, 0, sizeof *config);
  config->enabled = FALSE;
  config->force_server_no_context_takeover = TRUE;
  config->force_client_no_context_takeover = FALSE;
  config->max_window_bits = 15;
  config->compress_threshold = 64;
  config->level = 6;
  config->mem_level = 4;
}

gsize
ww_deflate_stream_memory (guint window_bits,
                          int   mem_level)
{
  /* windowBits 8 is run as 9, see init_deflate(). */
  window_bits = CLAMP (window_bits, 9, 15);
  mem_level = CLAMP (mem_level, 1, 9);
  return ((gsize) 1 << (window_bits + 2)) + ((gsize) 1 << (mem_level + 9));
}

/* ------------------------------------------------------------------ */
/* Sec-WebSocket-Extensions parsing (RFC 6455 §9.1)                    */

typedef struct {
  char *name;
  char *value; /* NULL: no "=" */
} ExtParam;

typedef struct {
  char   *name;
  GArray *params; /* ExtParam */
  gboolean valid; /* FALSE: a syntax error somewhere in this element */
} ExtElement;

static void
ext_param_clear (gpointer data)
{
  ExtParam *param = data;

  g_free (param->name);
  g_free (param->value);
}

static void
ext_element_free (ExtElement *el)
{
  g_free (el->name);
  g_array_unref (el->params);
  g_free (el);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExtElement, ext_element_free)

/* RFC 9110 §5.6.2 tchar. */
static gboolean
is_tchar (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

static void
skip_ows (const char **p)
{
  while (**p == ' ' || **p == '\t')
    (*p)++;
}

static char *
parse_token (const char **p)
{
  const char *start = *p;

  while (is_tchar (**p))
    (*p)++;
  return *p > start ? g_strndup (start, *p - start) : NULL;
}

/* A quoted-string; RFC 6455 §9.1 wants its unescaped value to be a token. */
static char *
parse_quoted (const char **p)
{
  g_autoptr(GString) value = g_string_new (NULL);
  const char *s = *p;

  g_assert (*s == '"');
  s++;
  for (;;)
    {
      if (*s == '\0')
        return NULL;
      if (*s == '"')
        break;
      if (*s == '\\')
        {
          s++;
          if (*s == '\0')
            return NULL;
        }
      g_string_append_c (value, *s);
      s++;
    }
  *p = s + 1;

  if (value->len == 0)
    return NULL;
  for (gsize i = 0; i < value->len; i++)
    if (!is_tchar (value->str[i]))
      return NULL;
  return g_string_free (g_steal_pointer (&value), FALSE);
}

/* Moves past the rest of a broken element: to the next comma that is not
 * inside a quoted string. */
static void
skip_element (const char **p)
{
  gboolean quoted = FALSE;

  for (; **p != '\0'; (*p)++)
    {
      if (quoted && **p == '\\' && (*p)[1] != '\0')
        (*p)++;
      else if (**p == '"')
        quoted = !quoted;
      else if (!quoted && **p == ',')
        return;
    }
}

/* Parses one element of the list; NULL at the end of the header. */
static ExtElement *
parse_element (const char **p)
{
  ExtElement *el;

  /* RFC 9110 §5.6.1: empty list elements are allowed and ignored. */
  for (;;)
    {
      skip_ows (p);
      if (**p != ',')
        break;
      (*p)++;
    }
  if (**p == '\0')
    return NULL;

  el = g_new0 (ExtElement, 1);
  el->params = g_array_new (FALSE, TRUE, sizeof (ExtParam));
  g_array_set_clear_func (el->params, ext_param_clear);
  el->valid = TRUE;
  el->name = parse_token (p);
  if (el->name == NULL)
    goto broken;

  for (;;)
    {
      ExtParam param = { NULL, NULL };

      skip_ows (p);
      if (**p == '\0')
        return el;
      if (**p == ',')
        {
          (*p)++;
          return el;
        }
      if (**p != ';')
        goto broken;
      (*p)++;
      skip_ows (p);
      param.name = parse_token (p);
      if (param.name == NULL)
        goto broken;
      skip_ows (p);
      if (**p == '=')
        {
          (*p)++;
          skip_ows (p);
          param.value = **p == '"' ? parse_quoted (p) : parse_token (p);
          if (param.value == NULL)
            {
              g_free (param.name);
              goto broken;
            }
        }
      g_array_append_val (el->params, param);
    }

broken:
  el->valid = FALSE;
  skip_element (p);
  if (**p == ',')
    (*p)++;
  return el;
}

/* §7.1.2: "a decimal integer value without leading zeroes between 8 to
 * 15, inclusive". */
static guint8
parse_window_bits (const char *value)
{
  if (value == NULL)
    return 0;
  if (value[0] == '8' || value[0] == '9')
    return value[1] == '\0' ? (guint8) (value[0] - '0') : 0;
  if (value[0] == '1' && value[1] >= '0' && value[1] <= '5' && value[2] == '\0')
    return (guint8) (10 + value[1] - '0');
  return 0;
}

/*
 * Reads the parameters of a permessage-deflate element into @offer.
 * @is_response: a server's answer, where client_max_window_bits must have
 * a value (§7.1.2.2).  FALSE for an unknown, duplicate or invalid
 * parameter (§7.1: decline the offer / fail the connection).
 */
static gboolean
element_to_offer (const ExtElement *el,
                  gboolean          is_response,
                  WwDeflateOffer   *offer,
                  char            **why)
{
  gboolean seen_snct = FALSE, seen_cnct = FALSE, seen_smwb = FALSE, seen_cmwb = FALSE;

  memset (offer, 0, sizeof *offer);
  if (!el->valid)
    {
      *why = g_strdup ("malformed extension syntax");
      return FALSE;
    }

  for (guint i = 0; i < el->params->len; i++)
    {
      const ExtParam *param = &g_array_index (el->params, ExtParam, i);
      gboolean *seen;

      if (g_str_equal (param->name, "server_no_context_takeover"))
        seen = &seen_snct;
      else if (g_str_equal (param->name, "client_no_context_takeover"))
        seen = &seen_cnct;
      else if (g_str_equal (param->name, "server_max_window_bits"))
        seen = &seen_smwb;
      else if (g_str_equal (param->name, "client_max_window_bits"))
        seen = &seen_cmwb;
      else
        {
          *why = g_strdup_printf ("unknown parameter %s", param->name);
          return FALSE;
        }

      if (*seen)
        {
          *why = g_strdup_printf ("duplicate parameter %s", param->name);
          return FALSE;
        }
      *seen = TRUE;

      if (seen == &seen_snct || seen == &seen_cnct)
        {
          /* §7.1.1: these two take no value. */
          if (param->value != NULL)
            {
              *why = g_strdup_printf ("%s takes no value", param->name);
              return FALSE;
            }
          if (seen == &seen_snct)
            offer->server_no_context_takeover = TRUE;
          else
            offer->client_no_context_takeover = TRUE;
        }
      else if (seen == &seen_smwb)
        {
          offer->server_max_window_bits = parse_window_bits (param->value);
          if (offer->server_max_window_bits == 0)
            {
              *why = g_strdup ("invalid server_max_window_bits");
              return FALSE;
            }
        }
      else
        {
          offer->has_client_max_window_bits = TRUE;
          if (param->value != NULL || is_response)
            {
              offer->client_max_window_bits = parse_window_bits (param->value);
              if (offer->client_max_window_bits == 0)
                {
                  *why = g_strdup ("invalid client_max_window_bits");
                  return FALSE;
                }
            }
        }
    }

  return TRUE;
}

gboolean
ww_deflate_parse_offer (const char     *header,
                        WwDeflateOffer *offer)
{
  const char *p = header;

  g_return_val_if_fail (offer != NULL, FALSE);

  memset (offer, 0, sizeof *offer);
  if (header == NULL)
    return FALSE;

  for (;;)
    {
      g_autoptr(ExtElement) el = parse_element (&p);

      if (el == NULL)
        break;
      if (el->name != NULL && g_str_equal (el->name, WW_DEFLATE_EXTENSION_NAME))
        {
          g_autofree char *why = NULL;

          return element_to_offer (el, FALSE, offer, &why);
        }
    }
  return FALSE;
}

static void
append_params (GString               *s,
               const WwDeflateParams *params,
               gboolean               with_smwb,
               gboolean               with_cmwb)
{
  if (params->server_no_context_takeover)
    g_string_append (s, "; server_no_context_takeover");
  if (params->client_no_context_takeover)
    g_string_append (s, "; client_no_context_takeover");
  if (with_smwb)
    g_string_append_printf (s, "; server_max_window_bits=%u", params->server_max_window_bits);
  if (with_cmwb)
    g_string_append_printf (s, "; client_max_window_bits=%u", params->client_max_window_bits);
}

gboolean
ww_deflate_negotiate (const WwDeflateConfig *config,
                      const char            *header,
                      WwDeflateParams       *params,
                      char                 **response)
{
  const char *p = header;
  guint max_bits;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (params != NULL, FALSE);

  if (response != NULL)
    *response = NULL;
  if (!config->enabled || header == NULL)
    return FALSE;

  max_bits = CLAMP (config->max_window_bits, 8, 15);

  for (;;)
    {
      g_autoptr(ExtElement) el = parse_element (&p);
      g_autofree char *why = NULL;
      WwDeflateOffer offer;
      gboolean with_smwb, with_cmwb;

      if (el == NULL)
        break;
      /* Other extensions (x-webkit-deflate-frame, ...) are passed over. */
      if (el->name == NULL || !g_str_equal (el->name, WW_DEFLATE_EXTENSION_NAME))
        continue;
      if (!element_to_offer (el, FALSE, &offer, &why))
        {
          g_debug ("declining a permessage-deflate offer: %s", why);
          continue;
        }

      /* §7.1.1: we may add either no_context_takeover on our own. */
      params->server_no_context_takeover =
        offer.server_no_context_takeover || config->force_server_no_context_takeover;
      params->client_no_context_takeover =
        offer.client_no_context_takeover || config->force_client_no_context_takeover;

      /* §7.1.2.1: the same or a smaller value than offered; and we may
       * announce a smaller window than 15 on our own. */
      params->server_max_window_bits = max_bits;
      if (offer.server_max_window_bits != 0)
        params->server_max_window_bits = MIN (max_bits, offer.server_max_window_bits);
      with_smwb = offer.server_max_window_bits != 0 || params->server_max_window_bits < 15;

      /* §7.1.2.2: we may limit the client's window only if it said so.
       * An offered value is the most the client will use anyway; answering
       * it makes the agreement explicit. */
      params->client_max_window_bits = 15;
      with_cmwb = FALSE;
      if (offer.has_client_max_window_bits)
        {
          guint client_bits = config->client_max_window_bits
                              ? CLAMP (config->client_max_window_bits, 8, 15)
                              : max_bits;

          params->client_max_window_bits = client_bits;
          if (offer.client_max_window_bits != 0)
            params->client_max_window_bits = MIN (client_bits, offer.client_max_window_bits);
          with_cmwb = params->client_max_window_bits < 15 || offer.client_max_window_bits != 0;
        }

      if (response != NULL)
        {
          GString *s = g_string_new (WW_DEFLATE_EXTENSION_NAME);

          append_params (s, params, with_smwb, with_cmwb);
          *response = g_string_free (s, FALSE);
        }
      return TRUE;
    }

  return FALSE;
}

char *
ww_deflate_offer_to_string (const WwDeflateOffer *offer)
{
  GString *s;

  g_return_val_if_fail (offer != NULL, NULL);

  s = g_string_new (WW_DEFLATE_EXTENSION_NAME);
  if (offer->server_no_context_takeover)
    g_string_append (s, "; server_no_context_takeover");
  if (offer->client_no_context_takeover)
    g_string_append (s, "; client_no_context_takeover");
  if (offer->server_max_window_bits != 0)
    g_string_append_printf (s, "; server_max_window_bits=%u", offer->server_max_window_bits);
  if (offer->has_client_max_window_bits)
    {
      g_string_append (s, "; client_max_window_bits");
      if (offer->client_max_window_bits != 0)
        g_string_append_printf (s, "=%u", offer->client_max_window_bits);
    }
  return g_string_free (s, FALSE);
}

static gboolean
refuse (GError    **error,
        const char *format,
        ...) G_GNUC_PRINTF (2, 3);

static gboolean
refuse (GError    **error,
        const char *format,
        ...)
{
  g_autofree char *msg = NULL;
  va_list args;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_PROTOCOL_ERROR,
               "Unacceptable Sec-WebSocket-Extensions response: %s", msg);
  return FALSE;
}

gboolean
ww_deflate_client_check_response (const WwDeflateOffer *offer,
                                  const char           *response,
                                  WwDeflateParams      *params,
                                  GError              **error)
{
  g_autoptr(ExtElement) el = NULL;
  g_autofree char *why = NULL;
  WwDeflateOffer got;
  const char *p = response;

  g_return_val_if_fail (offer != NULL, FALSE);
  g_return_val_if_fail (params != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (response == NULL)
    return FALSE;
  el = parse_element (&p);
  if (el == NULL)
    return FALSE;

  /* RFC 6455 §9.1: a server may only answer with extensions the client
   * offered, and we offered this one alone, once. */
  if (el->name == NULL || !g_str_equal (el->name, WW_DEFLATE_EXTENSION_NAME))
    return refuse (error, "extension %s was not offered", el->name ? el->name : "(malformed)");
  if (!element_to_offer (el, TRUE, &got, &why))
    return refuse (error, "%s", why);
  {
    g_autoptr(ExtElement) next = parse_element (&p);

    if (next != NULL)
      return refuse (error, "more than one extension accepted");
  }

  if (offer->server_max_window_bits != 0 &&
      got.server_max_window_bits > offer->server_max_window_bits)
    return refuse (error, "server_max_window_bits=%u is larger than offered (%u)",
                   got.server_max_window_bits, offer->server_max_window_bits);
  if (got.has_client_max_window_bits)
    {
      if (!offer->has_client_max_window_bits)
        return refuse (error, "client_max_window_bits was not offered");
      if (offer->client_max_window_bits != 0 &&
          got.client_max_window_bits > offer->client_max_window_bits)
        return refuse (error, "client_max_window_bits=%u is larger than offered (%u)",
                       got.client_max_window_bits, offer->client_max_window_bits);
    }

  /* Parameters the server left out are its choice and safe for us: we
   * inflate with the window it announced (15 if none) and keep context
   * unless it promised not to. */
  params->server_no_context_takeover = got.server_no_context_takeover;
  params->client_no_context_takeover =
    got.client_no_context_takeover || offer->client_no_context_takeover;
  params->server_max_window_bits = got.server_max_window_bits ? got.server_max_window_bits : 15;
  if (got.has_client_max_window_bits)
    params->client_max_window_bits = got.client_max_window_bits;
  else if (offer->client_max_window_bits != 0)
    params->client_max_window_bits = offer->client_max_window_bits;
  else
    params->client_max_window_bits = 15;

  return TRUE;
}

/* ------------------------------------------------------------------ */
/* zlib with counted allocations                                      */

typedef struct {
  gsize now;
  gsize peak;
} Account;

/* Every block carries its size in front so that zfree can count it. */
#define ZHEADER 16

static voidpf
counted_zalloc (voidpf opaque,
                uInt   items,
                uInt   size)
{
  Account *account = opaque;
  gsize n;
  guint8 *block;

  if (!g_size_checked_mul (&n, items, size) || n > G_MAXSIZE - ZHEADER)
    return Z_NULL;
  block = g_try_malloc (n + ZHEADER);
  if (block == NULL)
    return Z_NULL;
  memcpy (block, &n, sizeof n);
  account->now += n;
  account->peak = MAX (account->peak, account->now);
  return block + ZHEADER;
}

static void
counted_zfree (voidpf opaque,
               voidpf address)
{
  Account *account = opaque;
  guint8 *block = (guint8 *) address - ZHEADER;
  gsize n;

  memcpy (&n, block, sizeof n);
  account->now -= n;
  g_free (block);
}

/*
 * zlib refuses windowBits 8 for raw deflate, so a peer that asked for 8
 * gets 9.  That is still valid for a strict 256-byte window: zlib never
 * emits a distance above (1 << w) - 262 (MAX_DIST in deflate.c), which is
 * 250 for w = 9.  /deflate/codec/window-bits checks it with stock zlib.
 */
static gboolean
init_deflate (z_stream *strm,
              Account  *account,
              guint     window_bits,
              int       level,
              int       mem_level)
{
  memset (strm, 0, sizeof *strm);
  strm->zalloc = counted_zalloc;
  strm->zfree = counted_zfree;
  strm->opaque = account;
  return deflateInit2 (strm, CLAMP (level, -1, 9), Z_DEFLATED,
                       -(int) CLAMP (window_bits, 9, 15),
                       CLAMP (mem_level, 1, 9), Z_DEFAULT_STRATEGY) == Z_OK;
}

/* Inflating with a window larger than the peer's is always safe, and 9
 * also forgives peers that said 8 but compress with zlib's 9. */
static gboolean
init_inflate (z_stream *strm,
              Account  *account,
              guint     window_bits)
{
  memset (strm, 0, sizeof *strm);
  strm->zalloc = counted_zalloc;
  strm->zfree = counted_zfree;
  strm->opaque = account;
  return inflateInit2 (strm, -(int) CLAMP (window_bits, 9, 15)) == Z_OK;
}

/* One whole message through @strm, Z_SYNC_FLUSH at the end, tail cut. */
static GBytes *
compress_message (z_stream   *strm,
                  const void *data,
                  gsize       len,
                  GError    **error)
{
  const guint8 *in = data;
  gsize remaining = len;
  gsize cap, produced = 0;
  guint8 *out;

  /* §7.2.3.6: an empty message is the single byte 0x00 (an empty stored
   * block without its tail).  zlib emits nothing for a second sync flush
   * without input, so do not ask it. */
  if (len == 0)
    return g_bytes_new ("", 1);

  /* deflateBound() covers a finished stream; a sync flush adds at most an
   * empty stored block (5 bytes) on top. */
  cap = (gsize) deflateBound (strm, (uLong) MIN (len, (gsize) G_MAXULONG)) + 16;
  out = g_malloc (cap);

  for (;;)
    {
      uInt chunk = (uInt) MIN (remaining, (gsize) ZLIB_CHUNK_MAX);
      int flush = chunk == remaining ? Z_SYNC_FLUSH : Z_NO_FLUSH;

      strm->next_in = (Bytef *) in;
      strm->avail_in = chunk;
      do
        {
          uInt room;
          int ret;

          if (produced == cap)
            {
              cap += MAX (cap / 2, 64);
              out = g_realloc (out, cap);
            }
          room = (uInt) MIN (cap - produced, (gsize) ZLIB_CHUNK_MAX);
          strm->next_out = out + produced;
          strm->avail_out = room;
          ret = deflate (strm, flush);
          produced += room - strm->avail_out;
          if (ret != Z_OK && ret != Z_BUF_ERROR)
            {
              g_free (out);
              g_set_error (error, WW_PROTOCOL_ERROR, WW_CLOSE_INTERNAL_ERROR,
                           "Compression failed: %s", strm->msg ? strm->msg : "zlib error");
              return NULL;
            }
        }
      while (strm->avail_out == 0);

      in += chunk;
      remaining -= chunk;
      if (flush == Z_SYNC_FLUSH)
        break;
    }

  if (produced < 4 || memcmp (out + produced - 4, sync_tail, 4) != 0)
    {
      g_free (out);
      g_set_error_literal (error, WW_PROTOCOL_ERROR, WW_CLOSE_INTERNAL_ERROR,
                           "Compression failed: no sync flush marker");
      return NULL;
    }
  produced -= 4;
  return g_bytes_new_take (g_realloc (out, MAX (produced, 1)), produced);
}

/* ------------------------------------------------------------------ */
/* Shared one-shot compressor                                         */

struct _WwDeflateShared {
  int      level;
  int      mem_level;
  Account  account;
  z_stream streams[8]; /* window bits 8..15 */
  gboolean live[8];
};

WwDeflateShared *
ww_deflate_shared_new (const WwDeflateConfig *config)
{
  WwDeflateShared *self;
  WwDeflateConfig defaults;

  if (config == NULL)
    {
      ww_deflate_config_init (&defaults);
      config = &defaults;
    }
  self = g_new0 (WwDeflateShared, 1);
  self->level = config->level;
  self->mem_level = config->mem_level;
  return self;
}

void
ww_deflate_shared_free (WwDeflateShared *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (self->streams); i++)
    if (self->live[i])
      deflateEnd (&self->streams[i]);
  g_assert (self->account.now == 0);
  g_free (self);
}

GBytes *
ww_deflate_shared_compress (WwDeflateShared *self,
                            guint            window_bits,
                            const void      *data,
                            gsize            len,
                            GError         **error)
{
  z_stream *strm;
  GBytes *out;
  guint i;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (window_bits >= 8 && window_bits <= 15, NULL);
  g_return_val_if_fail (data != NULL || len == 0, NULL);

  i = window_bits - 8;
  strm = &self->streams[i];
  if (!self->live[i])
    {
      if (!init_deflate (strm, &self->account, window_bits, self->level, self->mem_level))
        {
          g_set_error_literal (error, WW_PROTOCOL_ERROR, WW_CLOSE_INTERNAL_ERROR,
                               "Out of memory for a deflate stream");
          return NULL;
        }
      self->live[i] = TRUE;
    }

  out = compress_message (strm, data, len, error);
  /* Every message alone: no reference into an earlier one (§7.1.1.1). */
  deflateReset (strm);
  return out;
}

gsize
ww_deflate_shared_memory (WwDeflateShared *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->account.now;
}

/* ------------------------------------------------------------------ */
/* Per-connection codec                                               */

struct _WwDeflate {
  WwDeflateConfig  config;
  WwDeflateShared *shared;
  guint64          max_message;
  Account          account;

  guint            own_bits;   /* window we compress with */
  guint            peer_bits;  /* window the peer compresses with */
  gboolean         own_no_context;
  gboolean         peer_no_context;

  z_stream         dstrm;
  gboolean         deflate_live;
  z_stream         istrm;
  gboolean         inflate_live;
  gboolean         inflate_dirty; /* holds history the peer may refer to */

  /* The message being inflated. */
  guint8          *out;
  gsize            out_len;
  gsize            out_cap;
  gsize            out_peak;
  gboolean         fed;           /* a non-empty payload arrived */
  gboolean         stream_end;    /* the peer set BFINAL */

  guint            failed_code;   /* 0 or the close code of an earlier error */
};

WwDeflate *
ww_deflate_new (WwRole                 role,
                const WwDeflateParams *params,
                const WwDeflateConfig *config,
                WwDeflateShared       *shared)
{
  WwDeflate *self;

  g_return_val_if_fail (params != NULL, NULL);
  g_return_val_if_fail (params->server_max_window_bits >= 8 &&
                        params->server_max_window_bits <= 15, NULL);
  g_return_val_if_fail (params->client_max_window_bits >= 8 &&
                        params->client_max_window_bits <= 15, NULL);

  self = g_new0 (WwDeflate, 1);
  if (config != NULL)
    self->config = *config;
  else
    ww_deflate_config_init (&self->config);
  self->shared = shared;
  self->max_message = DEFAULT_MAX_MESSAGE;

  if (role == WW_ROLE_SERVER)
    {
      self->own_bits = params->server_max_window_bits;
      self->peer_bits = params->client_max_window_bits;
      self->own_no_context = params->server_no_context_takeover;
      self->peer_no_context = params->client_no_context_takeover;
    }
  else
    {
      self->own_bits = params->client_max_window_bits;
      self->peer_bits = params->server_max_window_bits;
      self->own_no_context = params->client_no_context_takeover;
      self->peer_no_context = params->server_no_context_takeover;
    }

  return self;
}

static void
drop_message (WwDeflate *self)
{
  g_clear_pointer (&self->out, g_free);
  self->out_len = 0;
  self->out_cap = 0;
  self->fed = FALSE;
}

void
ww_deflate_free (WwDeflate *self)
{
  if (self == NULL)
    return;
  if (self->deflate_live)
    deflateEnd (&self->dstrm);
  if (self->inflate_live)
    inflateEnd (&self->istrm);
  drop_message (self);
  g_assert (self->account.now == 0);
  g_free (self);
}

void
ww_deflate_set_max_message (WwDeflate *self,
                            guint64    max_message)
{
  g_return_if_fail (self != NULL);

  /* One more byte than the limit must fit in a gsize (see grow_output). */
  self->max_message = MIN (max_message, (guint64) G_MAXSIZE - 1);
}

gboolean
ww_deflate_should_compress (WwDeflate *self,
                            gsize      len)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return len >= self->config.compress_threshold;
}

gboolean
ww_deflate_can_skip (WwDeflate *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->own_no_context;
}

guint
ww_deflate_broadcast_window (WwDeflate *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->own_no_context ? self->own_bits : 0;
}

GBytes *
ww_deflate_compress (WwDeflate  *self,
                     const void *data,
                     gsize       len,
                     GError    **error)
{
  GBytes *out;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (self->own_no_context && self->shared != NULL)
    return ww_deflate_shared_compress (self->shared, self->own_bits, data, len, error);

  if (!self->deflate_live)
    {
      if (!init_deflate (&self->dstrm, &self->account, self->own_bits,
                         self->config.level, self->config.mem_level))
        {
          g_set_error_literal (error, WW_PROTOCOL_ERROR, WW_CLOSE_INTERNAL_ERROR,
                               "Out of memory for a deflate stream");
          return NULL;
        }
      self->deflate_live = TRUE;
    }

  out = compress_message (&self->dstrm, data, len, error);
  if (out == NULL)
    {
      /* The stream is in an unknown state; the next message starts anew,
       * which a peer's inflater accepts whatever its window holds. */
      deflateEnd (&self->dstrm);
      self->deflate_live = FALSE;
    }
  else if (self->own_no_context)
    deflateReset (&self->dstrm);
  return out;
}

static gboolean
fail (WwDeflate  *self,
      GError    **error,
      guint       code,
      const char *format,
      ...) G_GNUC_PRINTF (4, 5);

static gboolean
fail (WwDeflate  *self,
      GError    **error,
      guint       code,
      const char *format,
      ...)
{
  g_autofree char *msg = NULL;
  va_list args;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);

  self->failed_code = code;
  drop_message (self);
  g_set_error_literal (error, WW_PROTOCOL_ERROR, (int) code, msg);
  return FALSE;
}

/* Room for more output, never more than the limit plus one byte: that
 * byte is how we learn that the message is too big without holding it. */
static gboolean
grow_output (WwDeflate *self,
             gsize      hint)
{
  gsize hard = (gsize) self->max_message + 1;
  gsize cap;
  guint8 *out;

  if (self->out_cap >= hard)
    return FALSE;
  cap = self->out_cap == 0 ? MAX (hint, INFLATE_BUF_MIN) : self->out_cap * 2;
  if (cap < self->out_cap)
    cap = hard;
  cap = MIN (cap, hard);
  out = g_try_realloc (self->out, cap);
  if (out == NULL)
    return FALSE;
  self->out = out;
  self->out_cap = cap;
  self->out_peak = MAX (self->out_peak, cap);
  return TRUE;
}

static gboolean
inflate_bytes (WwDeflate    *self,
               const guint8 *in,
               gsize         len,
               GError      **error)
{
  z_stream *strm = &self->istrm;

  while (len > 0)
    {
      uInt chunk = (uInt) MIN (len, (gsize) ZLIB_CHUNK_MAX);

      strm->next_in = (Bytef *) in;
      strm->avail_in = chunk;

      for (;;)
        {
          uInt room;
          int ret;

          /* §7.2.3.4 allows BFINAL; the payload must end with that block. */
          if (self->stream_end)
            {
              if (strm->avail_in > 0)
                return fail (self, error, WW_CLOSE_INVALID_PAYLOAD,
                             "Compressed data after the final block");
              break;
            }

          if (self->out_len == self->out_cap)
            {
              gboolean ok;

              if (self->out_cap > self->max_message)
                return fail (self, error, WW_CLOSE_MESSAGE_TOO_BIG,
                             "Inflated message exceeds %" G_GUINT64_FORMAT " bytes",
                             self->max_message);
              ok = grow_output (self, MIN (len, (gsize) G_MAXSIZE / 4) * 4);
              if (!ok)
                return fail (self, error, WW_CLOSE_INTERNAL_ERROR,
                             "Out of memory inflating a message");
            }

          room = (uInt) MIN (self->out_cap - self->out_len, (gsize) ZLIB_CHUNK_MAX);
          strm->next_out = self->out + self->out_len;
          strm->avail_out = room;
          ret = inflate (strm, Z_SYNC_FLUSH);
          self->out_len += room - strm->avail_out;
          self->inflate_dirty = TRUE;

          if (self->out_len > self->max_message)
            return fail (self, error, WW_CLOSE_MESSAGE_TOO_BIG,
                         "Inflated message exceeds %" G_GUINT64_FORMAT " bytes",
                         self->max_message);

          if (ret == Z_STREAM_END)
            {
              self->stream_end = TRUE;
              continue;
            }
          if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT || ret == Z_STREAM_ERROR)
            return fail (self, error, WW_CLOSE_INVALID_PAYLOAD,
                         "Invalid compressed data: %s", strm->msg ? strm->msg : "zlib error");
          if (ret == Z_MEM_ERROR)
            return fail (self, error, WW_CLOSE_INTERNAL_ERROR,
                         "Out of memory inflating a message");

          /* Z_OK or Z_BUF_ERROR.  A full output buffer may hide more
           * output still pending inside zlib, so go round again. */
          if (strm->avail_out == 0)
            continue;
          if (strm->avail_in == 0)
            break;
          if (ret == Z_BUF_ERROR)
            return fail (self, error, WW_CLOSE_INTERNAL_ERROR, "Inflate made no progress");
        }

      in += chunk;
      len -= chunk;
    }

  return TRUE;
}

gboolean
ww_deflate_inflate_feed (WwDeflate  *self,
                         const void *data,
                         gsize       len,
                         GError    **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->failed_code != 0)
    return fail (self, error, self->failed_code, "Decompression failed earlier");
  if (len == 0)
    return TRUE;

  if (!self->inflate_live)
    {
      if (!init_inflate (&self->istrm, &self->account, self->peer_bits))
        return fail (self, error, WW_CLOSE_INTERNAL_ERROR, "Out of memory for an inflate stream");
      self->inflate_live = TRUE;
      self->inflate_dirty = FALSE;
    }

  self->fed = TRUE;
  return inflate_bytes (self, data, len, error);
}

/* zlib forgets the window when a stream ends; the peer may still refer to
 * it in the next message when it keeps context, so carry it over. */
static gboolean
restart_keeping_window (WwDeflate *self)
{
  g_autofree guint8 *window = g_malloc ((gsize) 1 << 15);
  uInt n = 0;

  if (inflateGetDictionary (&self->istrm, window, &n) != Z_OK)
    return FALSE;
  if (inflateReset (&self->istrm) != Z_OK)
    return FALSE;
  return n == 0 || inflateSetDictionary (&self->istrm, window, n) == Z_OK;
}

GBytes *
ww_deflate_inflate_finish (WwDeflate *self,
                           GError   **error)
{
  GBytes *message;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (self->failed_code != 0)
    {
      fail (self, error, self->failed_code, "Decompression failed earlier");
      return NULL;
    }

  /* An empty payload with RSV1 is not a valid DEFLATE block, but it can
   * only mean an empty message (RFC 7692 §7.2.3.6 sends 0x00); leave the
   * stream alone. */
  if (!self->fed)
    return g_bytes_new (NULL, 0);

  if (!self->stream_end && !inflate_bytes (self, sync_tail, sizeof sync_tail, error))
    return NULL;

  if (self->stream_end)
    {
      gboolean ok;

      ok = self->peer_no_context ? inflateReset (&self->istrm) == Z_OK
                                 : restart_keeping_window (self);
      self->stream_end = FALSE;
      self->inflate_dirty = !self->peer_no_context;
      if (!ok)
        {
          fail (self, error, WW_CLOSE_INTERNAL_ERROR, "Could not restart the inflate stream");
          return NULL;
        }
    }
  else if (self->peer_no_context)
    {
      /* §7.1.1.2: the peer starts each message afresh. */
      inflateReset (&self->istrm);
      self->inflate_dirty = FALSE;
    }

  if (self->out_len == 0)
    {
      message = g_bytes_new (NULL, 0);
    }
  else
    {
      message = g_bytes_new_take (g_realloc (self->out, self->out_len), self->out_len);
      self->out = NULL;
    }
  drop_message (self);
  return message;
}

GBytes *
ww_deflate_inflate (WwDeflate  *self,
                    const void *data,
                    gsize       len,
                    GError    **error)
{
  if (!ww_deflate_inflate_feed (self, data, len, error))
    return NULL;
  return ww_deflate_inflate_finish (self, error);
}

gsize
ww_deflate_release_idle (WwDeflate *self)
{
  gsize before;

  g_return_val_if_fail (self != NULL, 0);

  before = self->account.now + self->out_cap;
  if (self->deflate_live)
    {
      deflateEnd (&self->dstrm);
      self->deflate_live = FALSE;
    }
  /* Mid-message, or with history the peer may refer to, the inflate
   * stream has to stay. */
  if (self->inflate_live && !self->fed && (self->peer_no_context || !self->inflate_dirty))
    {
      inflateEnd (&self->istrm);
      self->inflate_live = FALSE;
    }
  if (!self->fed)
    drop_message (self);
  return before - (self->account.now + self->out_cap);
}

void
ww_deflate_get_memory (WwDeflate       *self,
                       WwDeflateMemory *memory)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (memory != NULL);

  memory->zlib_bytes = self->account.now;
  memory->zlib_peak = self->account.peak;
  memory->buffer_bytes = self->out_cap;
  memory->buffer_peak = self->out_peak;
}
