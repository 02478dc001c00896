/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "ww-protocol"

#include "config.h"

#include <string.h>

#include "ww-http.h"
#include "ww-protocol-error.h"
#include "ww-protocol-private.h"

/*
 * A strict reader of HTTP/1.1 heads (RFC 9112).  Anything the RFC lets a
 * server reject and that has been used for request smuggling or header
 * injection is rejected with 400: obs-fold, bare CR or LF, whitespace
 * between a field name and its colon, control characters in values,
 * duplicate Host or Content-Length, Content-Length next to
 * Transfer-Encoding.  The server takes no request bodies with a transfer
 * coding, so Transfer-Encoding is answered with 501 (§6.1).
 */

#define MAX_FIELDS 100

/* Names and values point into one copy of the field lines, NUL-terminated
 * in place: one allocation per head instead of two per field. */
typedef struct {
  const char *name;
  char       *value;     /* its own allocation when repeated fields were joined */
  guint       name_len;
  gboolean    value_owned;
} Field;

struct _WwHttpRequest {
  char   *method;
  char   *target;
  char   *path;    /* percent-decoded */
  char   *query;   /* raw, or NULL */
  guint   version_minor;
  guint   n_fields;
  Field  *fields;
  char   *field_lines;
};

/* RFC 9110 §5.6.2: tchar. */
static const char tchar_table[256] = {
  ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
  ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
  ['~'] = 1,
  ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

gboolean
ww_http_is_token (const char *s,
                  gsize       len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!tchar_table[(guchar) s[i]])
      return FALSE;
  return TRUE;
}

/* RFC 9110 §5.5: field-vchar / SP / HTAB (obs-text allowed, CTLs not). */
static inline gboolean
is_value_char (guchar c)
{
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline gboolean
is_ows (char c)
{
  return c == ' ' || c == '\t';
}

/**
 * ww_http_find_head_end:
 *
 * Looks for the blank line that ends a head, never past @max_head bytes,
 * so a peer that sends an endless header block costs at most @max_head
 * bytes of scanning.
 */
gssize
ww_http_find_head_end (const guint8 *buf,
                       gsize         len,
                       gsize         max_head,
                       GError      **error)
{
  gsize scanned = 0;

  return ww_http_find_head_end_from (buf, len, max_head, &scanned, error);
}

/**
 * ww_http_find_head_end_from:
 * @scanned: (inout): bytes of @buf already searched by an earlier call on
 *   the same (grown) buffer; 0 at first
 *
 * ww_http_find_head_end() for a head that is accumulated across reads:
 * each call searches only what is new (plus 3 bytes of overlap for a
 * CRLF CRLF cut between reads), so a head that arrives a byte at a time
 * costs O(n) in total instead of O(n²).
 */
gssize
ww_http_find_head_end_from (const guint8 *buf,
                            gsize         len,
                            gsize         max_head,
                            gsize        *scanned,
                            GError      **error)
{
  gsize limit = MIN (len, max_head);
  gsize i;

  g_return_val_if_fail (buf != NULL || len == 0, -1);
  g_return_val_if_fail (scanned != NULL, -1);

  i = *scanned > 3 ? *scanned - 3 : 0;
  while (i < limit)
    {
      const guint8 *nl = memchr (buf + i, '\n', limit - i);
      gsize at;

      if (nl == NULL)
        break;
      at = (gsize) (nl - buf);
      if (at >= 3 && buf[at - 1] == '\r' && buf[at - 2] == '\n' && buf[at - 3] == '\r')
        {
          *scanned = at + 1;
          return (gssize) (at + 1);
        }
      i = at + 1;
    }
  *scanned = MAX (*scanned, limit);

  if (len >= max_head)
    {
      g_set_error (error, WW_HTTP_ERROR, 431,
                   "Request head larger than %" G_GSIZE_FORMAT " bytes", max_head);
      return -1;
    }
  return 0;
}

/*
 * Finds the CRLF that ends the line starting at @p.  RFC 9112 §2.2 lets a
 * recipient accept a bare LF; we do not, nor a CR that is not followed by
 * LF, since lenient line splitting is what smuggling attacks rely on.
 */
static const char *
line_end (const char *p,
          const char *end,
          GError    **error)
{
  for (const char *q = p; q < end; q++)
    {
      if (*q == '\n')
        break;
      if (*q == '\r')
        {
          if (q + 1 < end && q[1] == '\n')
            return q;
          break;
        }
    }
  g_set_error_literal (error, WW_HTTP_ERROR, 400, "Bare CR or LF, or an unterminated line");
  return NULL;
}

static void
fields_free (Field *fields,
             guint  n)
{
  for (guint i = 0; i < n; i++)
    if (fields[i].value_owned)
      g_free (fields[i].value);
  g_free (fields);
}

/*
 * Parses header fields from @p up to and including the blank line, which
 * must end exactly at @end, into @self.  Repeated fields are joined with
 * ", " (RFC 9110 §5.3) except Host, which must be unique (RFC 9112 §3.2).
 */
static gboolean
parse_fields (const char     *p,
              const char     *end,
              WwHttpRequest  *self,
              GError        **error)
{
  /* Lines are validated on the original and cut in the copy (same offsets). */
  char *copy = g_memdup2 (p, (gsize) (end - p));
  const char *start = p;
  Field *fields = NULL;
  guint n = 0, cap = 0;
  guint lines = 0;

  for (;;)
    {
      const char *eol = line_end (p, end, error);
      const char *colon, *v, *ve;
      Field *existing;
      guint name_len;

      if (eol == NULL)
        goto fail;
      if (eol == p)
        {
          /* The blank line: the head must end right after it. */
          if (eol + 2 != end)
            {
              g_set_error_literal (error, WW_HTTP_ERROR, 400, "Bytes after the end of the head");
              goto fail;
            }
          break;
        }

      /* RFC 9112 §5.2: obs-fold is rejected. */
      if (is_ows (*p))
        {
          g_set_error_literal (error, WW_HTTP_ERROR, 400, "Folded header line (obs-fold)");
          goto fail;
        }

      colon = memchr (p, ':', (gsize) (eol - p));
      /* §5.1: no whitespace between the name and the colon; the name is a
       * token, which also catches spaces. */
      if (colon == NULL || !ww_http_is_token (p, (gsize) (colon - p)))
        {
          g_set_error_literal (error, WW_HTTP_ERROR, 400, "Malformed header field name");
          goto fail;
        }

      /* Count lines, not distinct names, so joins stay bounded too. */
      if (++lines > MAX_FIELDS)
        {
          g_set_error (error, WW_HTTP_ERROR, 431, "More than %d header fields", MAX_FIELDS);
          goto fail;
        }

      v = colon + 1;
      ve = eol;
      while (v < ve && is_ows (*v))
        v++;
      while (ve > v && is_ows (ve[-1]))
        ve--;
      for (const char *c = v; c < ve; c++)
        if (!is_value_char ((guchar) *c))
          {
            g_set_error_literal (error, WW_HTTP_ERROR, 400, "Control character in a header value");
            goto fail;
          }

      name_len = (guint) (colon - p);
      existing = NULL;
      for (guint i = 0; i < n && existing == NULL; i++)
        if (fields[i].name_len == name_len &&
            g_ascii_strncasecmp (fields[i].name, p, name_len) == 0)
          existing = &fields[i];

      if (existing != NULL)
        {
          char *joined;

          if (g_ascii_strcasecmp (existing->name, "host") == 0)
            {
              g_set_error_literal (error, WW_HTTP_ERROR, 400, "More than one Host header");
              goto fail;
            }
          joined = g_strdup_printf ("%s, %.*s", existing->value, (int) (ve - v), v);
          if (existing->value_owned)
            g_free (existing->value);
          existing->value = joined;
          existing->value_owned = TRUE;
        }
      else
        {
          char *name = copy + (p - start);
          char *value = copy + (v - start);

          if (n == cap)
            {
              cap = cap ? MIN (cap * 2, MAX_FIELDS) : 16;
              fields = g_renew (Field, fields, cap);
            }
          /* The colon and the byte after the value (OWS, CR) become NULs. */
          name[name_len] = '\0';
          value[ve - v] = '\0';
          fields[n++] = (Field) { .name = name, .value = value, .name_len = name_len };
        }

      p = eol + 2;
    }

  self->fields = fields;
  self->n_fields = n;
  self->field_lines = copy;
  return TRUE;

fail:
  fields_free (fields, n);
  g_free (copy);
  return FALSE;
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/*
 * RFC 3986 §2.1 percent-decoding.  Returns NULL for a bad escape or for
 * %00, which would cut the string short for every C consumer after us.
 */
static char *
percent_decode (const char *s,
                gsize       len,
                gboolean    plus_is_space)
{
  char *out = g_malloc (len + 1);
  gsize o = 0;

  for (gsize i = 0; i < len; i++)
    {
      if (s[i] == '%')
        {
          int hi, lo;

          if (len - i < 3)
            goto bad;
          hi = hex_value (s[i + 1]);
          lo = hex_value (s[i + 2]);
          if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            goto bad;
          out[o++] = (char) (hi << 4 | lo);
          i += 2;
        }
      else if (plus_is_space && s[i] == '+')
        {
          out[o++] = ' ';
        }
      else
        {
          out[o++] = s[i];
        }
    }
  out[o] = '\0';
  return out;

bad:
  g_free (out);
  return NULL;
}

/* RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT. */
static gboolean
parse_version (const char *p,
               gsize       len,
               guint      *minor,
               GError    **error)
{
  if (len != 8 || memcmp (p, "HTTP/", 5) != 0 || !g_ascii_isdigit (p[5]) || p[6] != '.' ||
      !g_ascii_isdigit (p[7]))
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400, "Malformed HTTP version");
      return FALSE;
    }
  if (p[5] != '1')
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 505, "Only HTTP/1.x is supported");
      return FALSE;
    }
  *minor = (guint) (p[7] - '0');
  return TRUE;
}

/*
 * RFC 9112 §3.2: origin-form ("/path?query"), absolute-form
 * ("http://host/path"), and asterisk-form for OPTIONS.  Authority-form
 * (CONNECT) is not served.  A fragment is never part of a target.
 */
static gboolean
split_target (WwHttpRequest *self,
              GError       **error)
{
  const char *t = self->target;
  const char *path, *q;

  if (strcmp (t, "*") == 0 && strcmp (self->method, "OPTIONS") == 0)
    {
      self->path = g_strdup ("*");
      return TRUE;
    }

  if (g_ascii_strncasecmp (t, "http://", 7) == 0 || g_ascii_strncasecmp (t, "https://", 8) == 0)
    {
      const char *auth = strstr (t, "://") + 3;

      path = auth + strcspn (auth, "/?");
      if (path == auth)
        goto bad;
    }
  else if (t[0] == '/')
    {
      path = t;
    }
  else
    {
      goto bad;
    }

  if (strchr (t, '#') != NULL)
    goto bad;

  q = strchr (path, '?');
  if (q != NULL)
    self->query = g_strdup (q + 1);
  else
    q = path + strlen (path);

  /* An absolute-form target may have an empty path (RFC 9112 §3.2.2). */
  if (q == path)
    self->path = g_strdup ("/");
  else
    self->path = percent_decode (path, (gsize) (q - path), FALSE);

  if (self->path == NULL)
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400, "Bad percent-encoding in the path");
      return FALSE;
    }
  return TRUE;

bad:
  g_set_error_literal (error, WW_HTTP_ERROR, 400, "Malformed request target");
  return FALSE;
}

/* Checks on framing headers that matter even for bodiless requests:
 * a request that two parsers could read differently is refused. */
static gboolean
check_framing (WwHttpRequest *self,
               GError       **error)
{
  const char *te = ww_http_request_get_header (self, "Transfer-Encoding");
  const char *cl = ww_http_request_get_header (self, "Content-Length");

  if (te != NULL && cl != NULL)
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400,
                           "Both Content-Length and Transfer-Encoding");
      return FALSE;
    }
  if (te != NULL)
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 501, "Transfer codings are not supported");
      return FALSE;
    }
  if (cl != NULL)
    {
      /* Joined duplicates contain ", " and fail here too (§6.3). */
      if (*cl == '\0' || strspn (cl, "0123456789") != strlen (cl) || strlen (cl) > 15)
        {
          g_set_error_literal (error, WW_HTTP_ERROR, 400, "Malformed Content-Length");
          return FALSE;
        }
    }
  if (self->version_minor >= 1 && ww_http_request_get_header (self, "Host") == NULL)
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400, "HTTP/1.1 request without Host");
      return FALSE;
    }
  return TRUE;
}

/**
 * ww_http_request_parse:
 * @head: a complete head, as delimited by ww_http_find_head_end()
 *
 * Parses the request line and header fields.  The whole of @head must be
 * the head: it ends with the blank line and nothing follows.
 */
WwHttpRequest *
ww_http_request_parse (const char *head,
                       gsize       len,
                       GError    **error)
{
  g_autoptr(WwHttpRequest) self = NULL;
  const char *end = head + len;
  const char *eol, *sp1, *sp2;

  g_return_val_if_fail (head != NULL || len == 0, NULL);

  eol = line_end (head, end, error);
  if (eol == NULL)
    return NULL;

  /* RFC 9112 §3: method SP request-target SP HTTP-version, single spaces. */
  sp1 = memchr (head, ' ', (gsize) (eol - head));
  sp2 = sp1 != NULL ? memchr (sp1 + 1, ' ', (gsize) (eol - sp1 - 1)) : NULL;
  if (sp1 == NULL || sp2 == NULL || !ww_http_is_token (head, (gsize) (sp1 - head)) ||
      sp2 == sp1 + 1)
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400, "Malformed request line");
      return NULL;
    }
  for (const char *c = sp1 + 1; c < sp2; c++)
    if ((guchar) *c <= 0x20 || (guchar) *c >= 0x7f)
      {
        g_set_error_literal (error, WW_HTTP_ERROR, 400, "Invalid character in request target");
        return NULL;
      }

  self = g_new0 (WwHttpRequest, 1);
  if (!parse_version (sp2 + 1, (gsize) (eol - sp2 - 1), &self->version_minor, error))
    return NULL;
  self->method = g_strndup (head, (gsize) (sp1 - head));
  self->target = g_strndup (sp1 + 1, (gsize) (sp2 - sp1 - 1));

  if (!parse_fields (eol + 2, end, self, error))
    return NULL;
  if (!check_framing (self, error))
    return NULL;
  if (!split_target (self, error))
    return NULL;

  return g_steal_pointer (&self);
}

/*
 * Parses a response head ("HTTP/1.1 101 Switching Protocols" and fields)
 * into a WwHttpRequest used only for its header accessors.
 */
WwHttpRequest *
ww_http_response_parse (const char *head,
                        gsize       len,
                        guint      *status,
                        GError    **error)
{
  g_autoptr(WwHttpRequest) self = NULL;
  const char *end = head + len;
  const char *eol;

  eol = line_end (head, end, error);
  if (eol == NULL)
    return NULL;

  self = g_new0 (WwHttpRequest, 1);
  /* RFC 9112 §4: HTTP-version SP 3DIGIT SP [reason-phrase]. */
  if (eol - head < 12 || head[8] != ' ' || !g_ascii_isdigit (head[9]) ||
      !g_ascii_isdigit (head[10]) || !g_ascii_isdigit (head[11]) ||
      (eol - head > 12 && head[12] != ' '))
    {
      g_set_error_literal (error, WW_HTTP_ERROR, 400, "Malformed status line");
      return NULL;
    }
  if (!parse_version (head, 8, &self->version_minor, error))
    return NULL;
  *status = (guint) ((head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0'));

  if (!parse_fields (eol + 2, end, self, error))
    return NULL;

  return g_steal_pointer (&self);
}

void
ww_http_request_free (WwHttpRequest *self)
{
  if (self == NULL)
    return;
  fields_free (self->fields, self->n_fields);
  g_free (self->field_lines);
  g_free (self->method);
  g_free (self->target);
  g_free (self->path);
  g_free (self->query);
  g_free (self);
}

const char *
ww_http_request_get_method (const WwHttpRequest *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->method;
}

const char *
ww_http_request_get_target (const WwHttpRequest *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->target;
}

const char *
ww_http_request_get_path (const WwHttpRequest *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->path;
}

const char *
ww_http_request_get_query (const WwHttpRequest *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->query;
}

/**
 * ww_http_request_dup_query_param:
 *
 * The value of the first @name=value pair of the query, decoded as
 * application/x-www-form-urlencoded ('+' is a space).  A name without '='
 * gives "".  NULL when absent or badly encoded.
 */
char *
ww_http_request_dup_query_param (const WwHttpRequest *self,
                                 const char          *name)
{
  const char *p;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  if (self->query == NULL)
    return NULL;

  p = self->query;
  for (;;)
    {
      gsize pair_len = strcspn (p, "&");
      const char *eq = memchr (p, '=', pair_len);
      gsize name_len = eq != NULL ? (gsize) (eq - p) : pair_len;
      g_autofree char *key = percent_decode (p, name_len, TRUE);

      if (key != NULL && strcmp (key, name) == 0)
        {
          if (eq == NULL)
            return g_strdup ("");
          return percent_decode (eq + 1, pair_len - name_len - 1, TRUE);
        }

      if (p[pair_len] == '\0')
        return NULL;
      p += pair_len + 1;
    }
}

guint
ww_http_request_get_version_minor (const WwHttpRequest *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->version_minor;
}

const char *
ww_http_request_get_header (const WwHttpRequest *self,
                            const char          *name)
{
  gsize name_len;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  name_len = strlen (name);
  for (guint i = 0; i < self->n_fields; i++)
    if (self->fields[i].name_len == name_len &&
        g_ascii_strcasecmp (self->fields[i].name, name) == 0)
      return self->fields[i].value;
  return NULL;
}

/* Whether the comma-separated list @list holds @token (case-insensitive,
 * OWS around elements ignored, RFC 9110 §5.6.1). */
gboolean
ww_http_list_has_token (const char *list,
                        const char *token)
{
  gsize tlen = strlen (token);
  const char *p = list;

  while (p != NULL && *p != '\0')
    {
      gsize elen = strcspn (p, ",");
      const char *s = p, *e = p + elen;

      while (s < e && is_ows (*s))
        s++;
      while (e > s && is_ows (e[-1]))
        e--;
      if ((gsize) (e - s) == tlen && g_ascii_strncasecmp (s, token, tlen) == 0)
        return TRUE;
      p = p[elen] == ',' ? p + elen + 1 : NULL;
    }
  return FALSE;
}

gboolean
ww_http_request_header_has_token (const WwHttpRequest *self,
                                  const char          *name,
                                  const char          *token)
{
  const char *value;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (token != NULL, FALSE);

  value = ww_http_request_get_header (self, name);
  return value != NULL && ww_http_list_has_token (value, token);
}

/* RFC 9112 §9.3: persistent by default in 1.1, opt-in in 1.0. */
gboolean
ww_http_request_wants_keep_alive (const WwHttpRequest *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (ww_http_request_header_has_token (self, "Connection", "close"))
    return FALSE;
  if (self->version_minor >= 1)
    return TRUE;
  return ww_http_request_header_has_token (self, "Connection", "keep-alive");
}

const char *
ww_http_status_phrase (guint status)
{
  switch (status)
    {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default:  return "Unknown";
    }
}

/* RFC 9110 §6.4.1: these responses never carry content. */
static gboolean
status_has_no_content (guint status)
{
  return status < 200 || status == 204 || status == 304;
}

/**
 * ww_http_response_build:
 *
 * A complete response head and body.  Header lines in @extra_headers that
 * contain CR or LF are a programmer error (header injection) and are
 * refused.
 */
GBytes *
ww_http_response_build (guint               status,
                        const char         *content_type,
                        const char * const *extra_headers,
                        const void         *body,
                        gsize               body_len,
                        gboolean            head_only,
                        gboolean            keep_alive)
{
  GString *s;

  g_return_val_if_fail (status >= 100 && status <= 999, NULL);
  g_return_val_if_fail (body != NULL || body_len == 0, NULL);
  g_return_val_if_fail (content_type == NULL || strpbrk (content_type, "\r\n") == NULL, NULL);
  for (guint i = 0; extra_headers != NULL && extra_headers[i] != NULL; i++)
    g_return_val_if_fail (strpbrk (extra_headers[i], "\r\n") == NULL, NULL);

  s = g_string_sized_new (128 + body_len);
  g_string_append_printf (s, "HTTP/1.1 %u %s\r\n", status, ww_http_status_phrase (status));
  if (content_type != NULL)
    g_string_append_printf (s, "Content-Type: %s\r\n", content_type);
  if (!status_has_no_content (status))
    g_string_append_printf (s, "Content-Length: %" G_GSIZE_FORMAT "\r\n", body_len);
  g_string_append (s, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  for (guint i = 0; extra_headers != NULL && extra_headers[i] != NULL; i++)
    g_string_append_printf (s, "%s\r\n", extra_headers[i]);
  g_string_append (s, "\r\n");
  if (!head_only && !status_has_no_content (status) && body_len > 0)
    g_string_append_len (s, body, (gssize) body_len);

  return g_string_free_to_bytes (s);
}

/* Appends @text as a JSON string (RFC 8259 §7); invalid UTF-8 becomes
 * U+FFFD so the body is always valid JSON. */
static void
append_json_string (GString    *s,
                    const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);

  g_string_append_c (s, '"');
  for (const char *p = valid; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c == '"' || c == '\\')
        {
          g_string_append_c (s, '\\');
          g_string_append_c (s, (char) c);
        }
      else if (c < 0x20)
        {
          g_string_append_printf (s, "\\u%04x", c);
        }
      else
        {
          g_string_append_c (s, (char) c);
        }
    }
  g_string_append_c (s, '"');
}

GBytes *
ww_http_response_build_error (guint               status,
                              const char         *code,
                              const char         *message,
                              const char * const *extra_headers,
                              gboolean            head_only,
                              gboolean            keep_alive)
{
  g_autoptr(GString) body = g_string_new ("{\"error\":");

  append_json_string (body, code);
  g_string_append (body, ",\"message\":");
  append_json_string (body, message != NULL ? message : ww_http_status_phrase (status));
  g_string_append_printf (body, ",\"status\":%u}", status);

  return ww_http_response_build (status, "application/json", extra_headers,
                                 body->str, body->len, head_only, keep_alive);
}
