/*
 * locale_tag.h - the one spelling of a locale tag that the renderer's
 * template folders and the words' folders are matched by, so "pt_BR",
 * "pt-br" and "PT-BR" name the same folder in both.
 */
#ifndef HARK_LOCALE_TAG_H
#define HARK_LOCALE_TAG_H

#include <stddef.h>

#define LOCALE_TAG_MAX 35 /* characters of a BCP 47 tag we accept, as the mailer takes */

/* locale_tag_norm - tag lowercased with '_' as '-' into out (outlen bytes);
 * 0, or -1 unless tag is 1..LOCALE_TAG_MAX of [a-z0-9-] (case and '_'
 * aside) starting with a letter and fits out */
int locale_tag_norm(const char *tag, char *out, size_t outlen);

#endif
