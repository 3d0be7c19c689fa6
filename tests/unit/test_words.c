/*
 * test_words.c - the words people read, per locale folder (services/common/
 * words.c): which folder serves a tag, the fallback for a missing word,
 * escaping, and that every language in templates/ has every word English
 * has.  Run from the repository root (or with HARK_ROOT set).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "words.h"

static char s_dir[4096];
static words_t *s_w;

/* s_keys_present - every word under en exists in locale too (missing ones
 * would show in English on that language's pages) */
static void s_keys_present(const json_t *en, const char *locale, char *path, size_t plen)
{
    const char *k;
    json_t *v;
    size_t at = strlen(path);
    json_object_foreach((json_t *)en, k, v) {
        snprintf(path + at, plen - at, "%s%s", at ? "." : "", k);
        if (json_is_object(v)) {
            s_keys_present(v, locale, path, plen);
            continue;
        }
        int list = json_is_array(v);
        const char *en_word = list ? words_list(s_w, "en", path, 0) : words_get(s_w, "en", path);
        const char *got = list ? words_list(s_w, locale, path, 0) : words_get(s_w, locale, path);
        /* words_get falls back to en: a word missing in locale is en's */
        if (strcmp(locale, "en") != 0 && got == en_word) {
            fprintf(stderr, "%s: %s is missing\n", locale, path);
            CHECK(!"a word is missing");
        }
    }
    path[at] = '\0';
}

static void test_every_locale_has_every_word_of_english(void)
{
    char file[4200];
    snprintf(file, sizeof file, "%s/en/words.json", s_dir);
    json_t *en = json_load_file(file, 0, NULL);
    CHECK(en != NULL);
    CHECK(words_count(s_w) >= 5);
    for (size_t i = 0; en && i < words_count(s_w); i++) {
        char path[512] = "";
        s_keys_present(en, words_name(s_w, i), path, sizeof path);
    }
    json_decref(en);
}

static void test_a_tag_finds_its_folder_then_its_language_then_english(void)
{
    CHECK_STR(words_locale(s_w, "pl-PL"), "pl");
    CHECK_STR(words_locale(s_w, "ru_RU"), "ru");
    CHECK_STR(words_locale(s_w, "ZH-Hans"), "zh");
    CHECK_STR(words_locale(s_w, "be"), "be");
    CHECK_STR(words_locale(s_w, "xx-YY"), "en");
    CHECK_STR(words_locale(s_w, "pol"), "en");
    CHECK_STR(words_locale(s_w, "../en"), "en");
    CHECK_STR(words_locale(s_w, ""), "en");
    CHECK_STR(words_locale(s_w, NULL), "en");
}

static void test_accept_language_takes_the_best_language_with_a_folder(void)
{
    CHECK_STR(words_accept(s_w, "de-DE, pl;q=0.8, en;q=0.5"), "pl");
    CHECK_STR(words_accept(s_w, "en;q=0.4, ru-RU;q=0.9"), "ru");
    CHECK_STR(words_accept(s_w, "zh-CN"), "zh");
    CHECK(words_accept(s_w, "de, fr;q=0.5") == NULL);
    CHECK(words_accept(s_w, "ru;q=0") == NULL);
    CHECK(words_accept(s_w, "") == NULL);
    CHECK(words_accept(s_w, NULL) == NULL);
}

static void test_plain_words_are_escaped_whole_and_html_words_only_their_values(void)
{
    json_t *v = json_pack("{s:s,s:i}", "shop", "Tea <House> & 'Co'", "score", 7);
    buf_t b = BUF_INIT;
    CHECK_INT(words_html(&b, s_w, "en", "survey.question", v), 0);
    CHECK_STR(b.data, "How likely are you to recommend Tea &lt;House&gt; &amp; &#39;Co&#39; to"
                      " a friend?");
    buf_reset(&b);
    CHECK_INT(words_html(&b, s_w, "pl", "survey.saved_html", v), 0);
    CHECK_STR(b.data, "Zapisaliśmy Twoją odpowiedź: <b>7</b> na 10.");
    buf_reset(&b);
    json_t *a = json_pack("{s:s}", "address", "a\"<b>@x.org");
    CHECK_INT(words_html(&b, s_w, "en", "unsubscribe.ask_html", a), 0);
    CHECK(strstr(b.data, "<b>a&quot;&lt;b&gt;@x.org</b>") != NULL);
    char *t = words_text(s_w, "ru", "survey.question", v);
    CHECK(t && strstr(t, "«Tea <House> & 'Co'»") != NULL);
    free(t);
    buf_free(&b);
    json_decref(a);
    json_decref(v);
}

static void test_a_missing_word_falls_back_to_english_then_to_its_key(void)
{
    CHECK_STR(words_get(s_w, "ru", "no.such.word"), "no.such.word");
    CHECK_STR(words_get(s_w, "pl", "survey.send"), "Wyślij");
    CHECK_STR(words_get(s_w, "xx", "survey.send"), "Send");
    CHECK_STR(words_list(s_w, "pl", "date.months", 10), "listopada");
    CHECK(words_list(s_w, "pl", "date.months", 12) == NULL);
    json_t *v = json_pack("{s:i,s:i}", "hours", 2, "minutes", 5);
    char *t = words_text(s_w, "en", "intake.overdue_hours", v);
    CHECK_STR(t, "2h 5m");
    free(t);
    json_decref(v);
}

/* s_write - a file under the private directory */
static void s_write(const char *dir, const char *rel, const char *text)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    mkdir(p, 0700);
    *slash = '/';
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static void test_a_new_folder_is_a_new_language_and_broken_files_refuse_to_load(void)
{
    char dir[] = "/tmp/hark-words-XXXXXX", err[600] = "";
    CHECK(mkdtemp(dir) != NULL);
    s_write(dir, "en/words.json", "{\"a\": {\"b\": \"Hello {{name}}\", \"c\": \"only en\"}}");
    s_write(dir, "uk/words.json", "{\"a\": {\"b\": \"Привіт {{name}}\"}}");
    s_write(dir, "uk/extra.md", "not words");
    s_write(dir, "pages/x.html", "<p>no words.json: not a language</p>");
    words_t *w = words_load(dir, "en", err, sizeof err);
    CHECK(w != NULL);
    if (w) {
        CHECK_INT(words_count(w), 2);
        CHECK_STR(words_locale(w, "uk-UA"), "uk");
        CHECK_STR(words_locale(w, "pages"), "en");
        json_t *v = json_pack("{s:s}", "name", "Ганна");
        char *t = words_text(w, "uk", "a.b", v);
        CHECK_STR(t, "Привіт Ганна");
        free(t);
        json_decref(v);
        CHECK_STR(words_get(w, "uk", "a.c"), "only en");
        words_destroy(&w);
        words_destroy(&w); /* safe twice */
    }
    CHECK(words_load(dir, "de", err, sizeof err) == NULL);
    CHECK(strstr(err, "de/words.json") != NULL);
    s_write(dir, "uk/words.json", "{\"a\": {\"b\": \"Привіт {{#name}}\"}}");
    CHECK(words_load(dir, "en", err, sizeof err) == NULL);
    CHECK(strstr(err, "uk/words.json: a.b:") != NULL);
    s_write(dir, "uk/words.json", "{\"a\": {\"b\": 1}}");
    CHECK(words_load(dir, "en", err, sizeof err) == NULL);
    s_write(dir, "uk/words.json", "{\"a\": ");
    CHECK(words_load(dir, "en", err, sizeof err) == NULL);
    CHECK(strstr(err, "uk/words.json:1:") != NULL);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    const char *root = getenv("HARK_ROOT");
    if (access("templates/en/words.json", R_OK) == 0 || !root || !*root)
        snprintf(s_dir, sizeof s_dir, "templates");
    else
        snprintf(s_dir, sizeof s_dir, "%s/templates", root);
    char err[600];
    s_w = words_load(s_dir, "en", err, sizeof err);
    if (!s_w) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    UNIT_RUN(test_every_locale_has_every_word_of_english);
    UNIT_RUN(test_a_tag_finds_its_folder_then_its_language_then_english);
    UNIT_RUN(test_accept_language_takes_the_best_language_with_a_folder);
    UNIT_RUN(test_plain_words_are_escaped_whole_and_html_words_only_their_values);
    UNIT_RUN(test_a_missing_word_falls_back_to_english_then_to_its_key);
    UNIT_RUN(test_a_new_folder_is_a_new_language_and_broken_files_refuse_to_load);
    words_destroy(&s_w);
    return UNIT_END();
}
