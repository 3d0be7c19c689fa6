/*
 * console_testsend.c - "Send me a test": a campaign's invite, a milestone's
 * mail or the template being edited, rendered by hark-mailer as it would be
 * for a customer (the saved version, on templates/samples.json's sample
 * data, in the chosen language), mailed to the signed-in account's own
 * address and nowhere else.
 *
 * It is a mail.requested of category test with an explicit address (never a
 * customer id), keyed console/test/...: no service counts it as a
 * campaign's or a milestone's send (they count their own invites and
 * sends), the mailer neither checks nor touches the customers'
 * suppressions for it, adds no unsubscribe link, and starts its subject
 * with vars.subject_prefix, the localized "[test]".  An account without an
 * address is told how to add one (/users, `hark user set NAME --email`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "log.h"
#include "proto.h"
#include "words.h"

/* s_samples - templates/samples.json's variables for name (caller
 * decrefs; an empty object when it has none) */
static json_t *s_samples(console_req_t *r, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/samples.json", r->con->conf.templates);
    json_t *all = json_load_file(path, 0, NULL);
    json_t *v = json_object_get(all, name);
    json_t *out = json_is_object(v) ? json_deep_copy(v) : json_object();
    json_decref(all);
    return out;
}

json_t *console_test_locales(console_req_t *r)
{
    json_t *list = json_array();
    for (size_t i = 0; i < words_count(r->con->words); i++) {
        const char *loc = words_name(r->con->words, i);
        const char *label = words_get(r->con->words, loc, "console.language_name");
        json_array_append_new(list, json_pack("{s:s,s:s,s:b}", "value", loc, "label",
                                              label ? label : loc, "selected",
                                              strcmp(loc, r->locale) == 0));
    }
    return list;
}

int console_test_send(console_req_t *r, const char *template_name, const char *locale,
                      const json_t *vars, json_t *ctx)
{
    console_t *con = r->con;
    char email[300];
    pthread_mutex_lock(&con->db_lock);
    int has = console_store_user_email_get(con->db, r->user.name, email, sizeof email);
    pthread_mutex_unlock(&con->db_lock);
    if (has != 1) {
        json_object_set_new(ctx, "test_note", json_string(console_word(r, "test_no_address")));
        json_object_set_new(ctx, "test_failed", json_true());
        return 1;
    }
    /* the language asked for, if the console has words in it */
    const char *loc = words_locale(con->words, locale && *locale ? locale : r->locale);
    if (!loc)
        loc = r->locale;
    json_t *v = s_samples(r, template_name);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)vars, k, x) json_object_set(v, k, x);
    const char *prefix = words_get(con->words, loc, "console.test_subject_prefix");
    json_object_set_new(v, "subject_prefix", json_string(prefix ? prefix : "[test]"));
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "address", email, "name", r->user.name,
                          "locale", loc, "template", template_name, "category", "test", "vars",
                          v);
    char key[120], tok[CONSOLE_TOKEN_HEX + 1];
    console_token(tok);
    snprintf(key, sizeof key, "console/test/%.16s", tok);
    int rc = console_journal(r, EV_MAIL_REQUESTED, key, p, "template");
    json_decref(p);
    if (rc)
        return -1;
    char text[600];
    snprintf(text, sizeof text, "%s %s", console_word(r, "test_sent"), email);
    json_object_set_new(ctx, "test_note", json_string(text));
    return 0;
}
