/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-client"

#include "config.h"

#include "ww-client-deflate.h"

#include "protocol/ww-deflate.h"

/* The same bound as the client's max-incoming-payload-size. */
static guint64 default_max_message = 16 * 1024 * 1024;

struct _WwClientDeflate
{
  SoupWebsocketExtension parent_instance;

  WwDeflate *codec;
  gboolean   in_message;  /* a compressed message continues in the next frame */
};

G_DEFINE_FINAL_TYPE (WwClientDeflate, ww_client_deflate, SOUP_TYPE_WEBSOCKET_EXTENSION)

#define RSV1   0x40
#define FIN    0x80

void
ww_client_deflate_set_default_max_message (guint64 max_message)
{
  default_max_message = max_message;
}

static WwDeflateOffer
our_offer (void)
{
  /* Offer to let the server pick our window (client_max_window_bits with
   * no value), nothing else: the server decides about its own context. */
  WwDeflateOffer offer = { 0, };

  offer.has_client_max_window_bits = TRUE;
  return offer;
}

static char *
ww_client_deflate_get_request_params (SoupWebsocketExtension *extension)
{
  WwDeflateOffer offer = our_offer ();
  g_autofree char *full = ww_deflate_offer_to_string (&offer);

  /* libsoup writes the name itself and appends what we return. */
  return g_strdup (full + strlen (WW_DEFLATE_EXTENSION_NAME));
}

static gboolean
ww_client_deflate_configure (SoupWebsocketExtension      *extension,
                             SoupWebsocketConnectionType  connection_type,
                             GHashTable                  *params,
                             GError                     **error)
{
  WwClientDeflate *self = WW_CLIENT_DEFLATE (extension);
  WwDeflateOffer offer = our_offer ();
  WwDeflateParams agreed;
  WwDeflateConfig config;
  g_autoptr(GString) response = g_string_new (WW_DEFLATE_EXTENSION_NAME);
  g_autoptr(GError) local_error = NULL;

  if (connection_type != SOUP_WEBSOCKET_CONNECTION_CLIENT)
    {
      g_set_error_literal (error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                           "permessage-deflate is only offered by the client here");
      return FALSE;
    }

  /* Check the answer with the protocol layer's rules (RFC 7692 §7.1). */
  if (params != NULL)
    {
      GHashTableIter iter;
      gpointer k, v;

      g_hash_table_iter_init (&iter, params);
      while (g_hash_table_iter_next (&iter, &k, &v))
        {
          g_string_append_printf (response, "; %s", (const char *) k);
          if (v != NULL)
            g_string_append_printf (response, "=%s", (const char *) v);
        }
    }
  if (!ww_deflate_client_check_response (&offer, response->str, &agreed, &local_error))
    {
      g_set_error (error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                   "Refused permessage-deflate answer “%s”: %s", response->str,
                   local_error ? local_error->message : "invalid");
      return FALSE;
    }

  ww_deflate_config_init (&config);
  config.enabled = TRUE;
  g_clear_pointer (&self->codec, ww_deflate_free);
  self->codec = ww_deflate_new (WW_ROLE_CLIENT, &agreed, &config, NULL);
  ww_deflate_set_max_message (self->codec, default_max_message);
  self->in_message = FALSE;
  return TRUE;
}

static GBytes *
ww_client_deflate_process_outgoing_message (SoupWebsocketExtension *extension,
                                            guint8                 *header,
                                            GBytes                 *payload,
                                            GError                **error)
{
  WwClientDeflate *self = WW_CLIENT_DEFLATE (extension);
  GBytes *compressed;
  gsize len;
  const void *data = g_bytes_get_data (payload, &len);

  /* Control frames are never compressed (§6.1). */
  if (self->codec == NULL || (header[0] & 0x08) || !ww_deflate_should_compress (self->codec, len))
    return payload;

  compressed = ww_deflate_compress (self->codec, data, len, error);
  g_bytes_unref (payload);
  if (compressed == NULL)
    return NULL;
  header[0] |= RSV1;
  return compressed;
}

static GBytes *
fail_with (GError **error,
           GError  *local)
{
  guint code = SOUP_WEBSOCKET_CLOSE_BAD_DATA;

  /* The codec's codes are close codes: 1009 past the limit, 1007 corrupt. */
  if (local != NULL && local->code >= 1000 && local->code < 5000)
    code = (guint) local->code;
  g_set_error_literal (error, SOUP_WEBSOCKET_ERROR, (int) code,
                       local ? local->message : "Invalid compressed message");
  return NULL;
}

static GBytes *
ww_client_deflate_process_incoming_message (SoupWebsocketExtension *extension,
                                            guint8                 *header,
                                            GBytes                 *payload,
                                            GError                **error)
{
  WwClientDeflate *self = WW_CLIENT_DEFLATE (extension);
  g_autoptr(GError) local = NULL;
  guint8 opcode = header[0] & 0x0f;
  gboolean fin = (header[0] & FIN) != 0;
  gsize len;
  const void *data = g_bytes_get_data (payload, &len);
  GBytes *out;

  if (self->codec == NULL || (header[0] & 0x08))
    return payload;  /* control frames: RSV1 there stays and libsoup fails it */

  if (opcode != 0)
    {
      if (!(header[0] & RSV1))
        return payload;  /* an uncompressed message */
      self->in_message = TRUE;
    }
  else if (!self->in_message || (header[0] & RSV1))
    return payload;     /* RSV1 on a continuation stays set: libsoup fails it */

  header[0] &= ~RSV1;
  if (!ww_deflate_inflate_feed (self->codec, data, len, &local))
    {
      g_bytes_unref (payload);
      self->in_message = FALSE;
      return fail_with (error, local);
    }
  g_bytes_unref (payload);
  if (!fin)
    return g_bytes_new (NULL, 0);  /* the whole message comes with its last frame */

  self->in_message = FALSE;
  out = ww_deflate_inflate_finish (self->codec, &local);
  if (out == NULL)
    return fail_with (error, local);
  return out;
}

static void
ww_client_deflate_finalize (GObject *object)
{
  WwClientDeflate *self = WW_CLIENT_DEFLATE (object);

  g_clear_pointer (&self->codec, ww_deflate_free);

  G_OBJECT_CLASS (ww_client_deflate_parent_class)->finalize (object);
}

static void
ww_client_deflate_class_init (WwClientDeflateClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  SoupWebsocketExtensionClass *ext_class = SOUP_WEBSOCKET_EXTENSION_CLASS (klass);

  object_class->finalize = ww_client_deflate_finalize;
  ext_class->name = WW_DEFLATE_EXTENSION_NAME;
  ext_class->configure = ww_client_deflate_configure;
  ext_class->get_request_params = ww_client_deflate_get_request_params;
  ext_class->process_outgoing_message = ww_client_deflate_process_outgoing_message;
  ext_class->process_incoming_message = ww_client_deflate_process_incoming_message;
}

static void
ww_client_deflate_init (WwClientDeflate *self)
{
}
