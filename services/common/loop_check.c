/*
 * loop_check.c - a request to close a loop, checked the same way wherever
 * it comes from: POST /v1/loops (the gateway) and `hark loop close` (the
 * command line) both link this file (common/), so a 400 and
 * the CLI's refusal say the same thing about the same field.  The last word
 * is proto/events/loop.closed.json itself.
 */
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>

#include "locale_tag.h"
#include "loop_check.h"
#include "proto.h"
#include "reasons.h"
#include "schema.h"

const char *loop_check_loop_id(const char *reason, const char *title, char *out, size_t len)
{
    struct sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(reason), (const uint8_t *)reason);
    sha256_update(&ctx, 1, (const uint8_t *)"\n");
    sha256_update(&ctx, strlen(title), (const uint8_t *)title);
    sha256_digest(&ctx, sizeof d, d);
    snprintf(out, len, "%.40s-%02x%02x%02x%02x%02x%02x", reason, d[0], d[1], d[2], d[3], d[4],
             d[5]);
    return out;
}

/* s_fail - fill field and msg; -1 */
static int s_fail(char *field, size_t flen, const char *f, char *msg, size_t mlen,
                  const char *m)
{
    snprintf(field, flen, "%s", f);
    snprintf(msg, mlen, "%s", m);
    return -1;
}

/* s_blank - 1 when s has nothing but ASCII white space */
static int s_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

/* s_tag_ok - 1 when tag is a locale tag as the schemas' format "locale"
 * reads one (language[-Script][-REGION]): schema.c's rule, not a second */
static int s_tag_ok(const char *tag)
{
    char err[200], path[8], why[200];
    schema_t *s = schema_new("{\"type\": \"string\", \"format\": \"locale\"}", err, sizeof err);
    json_t *v = json_string(tag);
    int ok = s && v && schema_validate(s, v, path, sizeof path, why, sizeof why) == 0;
    json_decref(v);
    schema_destroy(&s);
    return ok;
}

int loop_check_locale(const char *tag, char *out, size_t len)
{
    char norm[LOCALE_TAG_MAX + 1];
    if (locale_tag_norm(tag, norm, sizeof norm) || !s_tag_ok(norm))
        return -1;
    if (strlen(norm) + 1 > len)
        return -1;
    memcpy(out, norm, strlen(norm) + 1);
    return 0;
}

const char *loop_check_text_for(const json_t *texts, const char *locale,
                                const char *default_locale)
{
    if (!json_is_object(texts) || json_object_size(texts) == 0)
        return NULL;
    /* no locale of their own: the mailer writes to them in its default */
    const char *tag = locale && *locale ? locale : default_locale;
    char norm[LOCALE_TAG_MAX + 1];
    if (!tag || locale_tag_norm(tag, norm, sizeof norm))
        return NULL;
    /* the key itself, not norm: the caller keeps texts, not our stack */
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)texts, k, v)
        if (strcmp(k, norm) == 0)
            return k;
    /* "ru-ru" reads the "ru" text, as the renderer's folders fall back */
    char *dash = strchr(norm, '-');
    if (!dash)
        return NULL;
    *dash = '\0';
    json_object_foreach((json_t *)texts, k, v)
        if (strcmp(k, norm) == 0)
            return k;
    return NULL;
}

/* s_texts - check texts {locale: {title, announcement}} of a request into
 * *out (keys normalised, caller decrefs); the lengths are the schema's.
 * 0, or -1 naming the field (texts.pl.announcement) */
static int s_texts(const json_t *texts, json_t **out, char *field, size_t flen, char *msg,
                   size_t mlen)
{
    *out = NULL;
    if (!json_is_object(texts))
        return s_fail(field, flen, "texts", msg, mlen,
                      "texts must be an object: {locale: {title, announcement}}");
    json_t *o = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)texts, k, v) {
        char tag[LOCALE_TAG_MAX + 1];
        if (loop_check_locale(k, tag, sizeof tag)) {
            snprintf(field, flen, "texts.%.64s", k);
            snprintf(msg, mlen, "texts: %.64s is not a locale tag (language[-Script][-REGION], "
                                "like ru, pl-PL or zh-Hans)", k);
            json_decref(o);
            return -1;
        }
        if (json_object_get(o, tag)) {
            snprintf(field, flen, "texts.%.64s", k);
            snprintf(msg, mlen, "texts: %.64s is the same locale as another one (%s): one text "
                                "per locale", k, tag);
            json_decref(o);
            return -1;
        }
        if (!json_is_object(v)) {
            snprintf(field, flen, "texts.%.64s", k);
            snprintf(msg, mlen, "texts.%.64s must be an object {title, announcement}", k);
            json_decref(o);
            return -1;
        }
        const char *sk;
        json_t *sv;
        json_object_foreach(v, sk, sv) {
            if (strcmp(sk, "title") != 0 && strcmp(sk, "announcement") != 0) {
                snprintf(field, flen, "texts.%.64s.%.64s", k, sk);
                snprintf(msg, mlen, "unknown field texts.%.64s.%.64s; known: title, "
                                    "announcement", k, sk);
                json_decref(o);
                return -1;
            }
        }
        static const char *const half[] = {"title", "announcement"};
        static const char *const what[] = {"what changed, in a few words",
                                           "the Markdown telling customers what changed"};
        for (int i = 0; i < 2; i++) {
            const json_t *t = json_object_get(v, half[i]);
            const char *why = !t                       ? "is required"
                              : !json_is_string(t)     ? "must be a string"
                              : s_blank(json_string_value(t)) ? "must not be empty"
                                                              : NULL;
            if (why) {
                snprintf(field, flen, "texts.%.64s.%s", k, half[i]);
                snprintf(msg, mlen, "texts.%.64s.%s %s: each locale has a title and an "
                                    "announcement (%s)", k, half[i], why, what[i]);
                json_decref(o);
                return -1;
            }
        }
        json_object_set(o, tag, v);
    }
    *out = o;
    return 0;
}

int loop_check_request(const json_t *req, int preview, const char *by, json_t **payload,
                   int *dry_run, char *field, size_t flen, char *msg, size_t mlen)
{
    if (payload)
        *payload = NULL;
    if (!json_is_object(req))
        return s_fail(field, flen, "", msg, mlen, "the request must be a JSON object");
    static const char *const known[] = {"reason", "title", "announcement", "texts", "since",
                                        "id", "dry_run", NULL};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)req, k, v) {
        int i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (!known[i]) {
            snprintf(field, flen, "%s", k);
            snprintf(msg, mlen, "unknown field %.64s; known: reason, title, announcement, "
                                "texts, since, id, dry_run", k);
            return -1;
        }
    }
    const json_t *dr = json_object_get(req, "dry_run");
    if (dr && !json_is_boolean(dr))
        return s_fail(field, flen, "dry_run", msg, mlen, "dry_run must be true or false");
    if (!json_is_string(json_object_get(req, "reason")))
        return s_fail(field, flen, "reason", msg, mlen,
                      "reason is required: the reason code the feedback was tagged with");
    static const char *const strs[] = {"title", "announcement", "since", "id", NULL};
    for (int i = 0; strs[i]; i++) {
        const json_t *t = json_object_get(req, strs[i]);
        if (t && !json_is_string(t)) {
            snprintf(field, flen, "%s", strs[i]);
            snprintf(msg, mlen, "%s must be a string", strs[i]);
            return -1;
        }
    }
    const char *reason = json_string_value(json_object_get(req, "reason"));
    const char *title = json_string_value(json_object_get(req, "title"));
    const char *ann = json_string_value(json_object_get(req, "announcement"));
    const char *since = json_string_value(json_object_get(req, "since"));
    const char *id = json_string_value(json_object_get(req, "id"));
    /* the schema's pattern, checked first so a bad reason is named before
     * the id derived from it */
    if (!reasons_code_ok(reason))
        return s_fail(field, flen, "reason", msg, mlen,
                      "reason must be a reason code: a-z, 0-9 and _, starting with a letter, "
                      "at most 64");
    if (!preview && (!title || s_blank(title)))
        return s_fail(field, flen, "title", msg, mlen,
                      "title is required: what changed, in a few words");
    if (!preview && (!ann || s_blank(ann)))
        return s_fail(field, flen, "announcement", msg, mlen,
                      "announcement is required: the Markdown telling customers what changed");
    if (title && s_blank(title))
        return s_fail(field, flen, "title", msg, mlen, "title must not be empty");
    if (ann && s_blank(ann))
        return s_fail(field, flen, "announcement", msg, mlen, "announcement must not be empty");
    json_t *texts = NULL;
    if (json_object_get(req, "texts") &&
        s_texts(json_object_get(req, "texts"), &texts, field, flen, msg, mlen))
        return -1;

    /* the event as it would be journaled; a preview without a title is
     * checked with a stand-in (and the id cannot be derived) */
    char lid[80] = "";
    if (id)
        snprintf(lid, sizeof lid, "%s", id);
    else if (title)
        loop_check_loop_id(reason, title, lid, sizeof lid);
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:s}", "loop", *lid ? lid : "x", "reason", reason,
                          "title", title ? title : "x", "announcement", ann ? ann : "x", "by",
                          by);
    if (!p) {
        json_decref(texts);
        return s_fail(field, flen, "", msg, mlen, "out of memory");
    }
    if (texts && json_object_size(texts) > 0)
        json_object_set(p, "texts", texts);
    json_decref(texts);
    if (since)
        json_object_set_new(p, "since", json_string(since));
    char err[256], path[128] = "", why[256] = "";
    schema_t *s = NULL;
    for (const proto_doc_t *d = proto_event_schemas; d->name && !s; d++)
        if (strcmp(d->name, EV_LOOP_CLOSED) == 0)
            s = schema_new(d->json, err, sizeof err);
    if (!s) {
        json_decref(p);
        return s_fail(field, flen, "", msg, mlen, "no schema for loop.closed");
    }
    int bad = schema_validate(s, p, path, sizeof path, why, sizeof why);
    schema_destroy(&s);
    if (bad) {
        const char *f = path[0] == '/' ? path + 1 : path;
        if (strcmp(f, "loop") == 0)
            f = "id";
        snprintf(field, flen, "%s", f);
        if (strcmp(f, "reason") == 0)
            snprintf(msg, mlen, "reason must be a reason code: a-z, 0-9 and _, starting with "
                                "a letter, at most 64");
        else if (strcmp(f, "id") == 0)
            snprintf(msg, mlen, "id must be 1-64 of A-Z, a-z, 0-9, _ and -");
        else
            snprintf(msg, mlen, "%s %s", *f ? f : "request", why);
        json_decref(p);
        return -1;
    }
    if (!title)
        json_object_del(p, "title");
    if (!ann)
        json_object_del(p, "announcement");
    if (!*lid)
        json_object_del(p, "loop");
    if (dry_run)
        *dry_run = json_is_true(dr);
    if (payload)
        *payload = p;
    else
        json_decref(p);
    return 0;
}

json_t *loop_check_preview_body(const json_t *payload, int render)
{
    json_t *b = json_object();
    static const char *const f[] = {"reason", "loop", "since", "title", "announcement", "texts",
                                    NULL};
    for (int i = 0; f[i]; i++) {
        json_t *v = json_object_get(payload, f[i]);
        if (v)
            json_object_set(b, f[i], v);
    }
    json_object_set_new(b, "render", json_boolean(render && json_object_get(b, "title") &&
                                                  json_object_get(b, "announcement")));
    return b;
}
