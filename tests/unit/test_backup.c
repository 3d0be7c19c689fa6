/*
 * test_backup.c - unit tests for services/common/backup.c: SHA-256 as
 * sha256sum(1) gives it, the manifest written, read back and checked (a
 * flipped byte, a short file and a missing one each found and named), a
 * manifest naming a file outside its directory refused, and an online copy
 * of a WAL database that another connection keeps writing.
 */
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "unit.h"

static char s_dir[64];

/* s_rm - nftw callback removing one entry */
static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* s_write - a file of dir with text */
static void s_write(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* s_count - collects what backup_manifest_check says */
static void s_count(const char *msg, void *arg)
{
    char *last = arg;
    snprintf(last, 512, "%s", msg);
}

static void test_sha256_is_what_sha256sum_prints(void)
{
    char hex[65], path[256];
    int64_t size = -1;
    s_write("abc", "abc");
    snprintf(path, sizeof path, "%s/abc", s_dir);
    CHECK_INT(backup_sha256_file(path, hex, &size), 0);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_INT(size, 3);
    s_write("empty", "");
    snprintf(path, sizeof path, "%s/empty", s_dir);
    CHECK_INT(backup_sha256_file(path, hex, &size), 0);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_INT(size, 0);
    snprintf(path, sizeof path, "%s/none", s_dir);
    CHECK_INT(backup_sha256_file(path, hex, &size), -1);
}

static void test_manifest_round_trip_then_a_flipped_byte_a_short_file_and_a_missing_one(void)
{
    char err[512] = "", last[512] = "";
    s_write("a.db", "first file");
    s_write("b.db", "second file");
    json_t *m = backup_manifest_new("hark/7", "cli:test");
    CHECK(m != NULL);
    CHECK_INT(backup_manifest_add(m, s_dir, "a.db", "survey.db", "service", 0, err, sizeof err), 0);
    CHECK_INT(backup_manifest_add(m, s_dir, "b.db", "journal.db", "journal", 1, err, sizeof err), 0);
    CHECK_INT(backup_manifest_add(m, s_dir, "c.db", "x.db", "service", 0, err, sizeof err), -1);
    CHECK(strstr(err, "c.db") != NULL);
    json_object_set_new(m, "journal_head", json_integer(42));
    CHECK_INT(backup_manifest_save(m, s_dir), 0);
    json_decref(m);

    m = backup_manifest_load(s_dir, err, sizeof err);
    CHECK(m != NULL);
    CHECK_INT(json_integer_value(json_object_get(m, "journal_head")), 42);
    CHECK_INT(json_array_size(json_object_get(m, "files")), 2);
    CHECK_STR(json_string_value(json_object_get(m, "by")), "cli:test");
    CHECK_INT(backup_manifest_check(m, s_dir, s_count, last), 0);

    s_write("a.db", "first filE"); /* same size, one byte flipped */
    CHECK_INT(backup_manifest_check(m, s_dir, s_count, last), 1);
    CHECK(strstr(last, "a.db") && strstr(last, "SHA-256"));
    s_write("a.db", "first");
    CHECK_INT(backup_manifest_check(m, s_dir, s_count, last), 1);
    CHECK(strstr(last, "5 bytes") != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/b.db", s_dir);
    unlink(path);
    CHECK_INT(backup_manifest_check(m, s_dir, s_count, last), 2);
    CHECK(strstr(last, "b.db") != NULL);
    json_decref(m);
}

static void test_manifest_naming_a_path_or_without_checksum_is_refused(void)
{
    char err[512];
    s_write(BACKUP_MANIFEST, "{\"format\":1,\"journal_head\":1,\"files\":[{\"name\":\"../x\","
                             "\"setting\":\"a.b\",\"role\":\"service\",\"size\":1,\"sha256\":"
                             "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}]}");
    CHECK(backup_manifest_load(s_dir, err, sizeof err) == NULL);
    CHECK(strstr(err, "plain name") != NULL);
    s_write(BACKUP_MANIFEST, "{\"format\":1,\"journal_head\":1,\"files\":[{\"name\":\"x\","
                             "\"setting\":\"a.b\",\"role\":\"service\",\"size\":1}]}");
    CHECK(backup_manifest_load(s_dir, err, sizeof err) == NULL);
    CHECK(strstr(err, "sha256") != NULL);
    s_write(BACKUP_MANIFEST, "{\"format\":2,\"journal_head\":1,\"files\":[]}");
    CHECK(backup_manifest_load(s_dir, err, sizeof err) == NULL);
    CHECK(strstr(err, "format") != NULL);
    CHECK(!backup_name_ok("..") && !backup_name_ok("a/b") && !backup_name_ok("") &&
          backup_name_ok("journal.db"));
}

static void test_online_copy_of_a_wal_database_being_written_is_one_commit(void)
{
    char src[256], dst[256], err[512] = "";
    snprintf(src, sizeof src, "%s/live.db", s_dir);
    snprintf(dst, sizeof dst, "%s/copy.db", s_dir);
    sqlite3 *w = NULL;
    CHECK(sqlite3_open(src, &w) == SQLITE_OK);
    sqlite3_exec(w, "PRAGMA journal_mode=WAL; CREATE TABLE t(n INTEGER);"
                    "INSERT INTO t VALUES(1),(2),(3);", NULL, NULL, NULL);
    /* a transaction left open by the writer: not in the copy */
    sqlite3_exec(w, "BEGIN; INSERT INTO t VALUES(4);", NULL, NULL, NULL);
    CHECK_INT(backup_sqlite_copy(src, dst, err, sizeof err), 0);
    sqlite3_exec(w, "COMMIT;", NULL, NULL, NULL);
    sqlite3_close(w);
    sqlite3 *r = NULL;
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_open(dst, &r) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(r, "SELECT count(*), sum(n) FROM t", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 3);
    CHECK_INT(sqlite3_column_int(st, 1), 6);
    sqlite3_finalize(st);
    sqlite3_close(r);
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", dst);
    CHECK(access(wal, F_OK) != 0); /* one self-contained file */
    /* a missing source is an error, not a new empty database */
    snprintf(src, sizeof src, "%s/none.db", s_dir);
    snprintf(dst, sizeof dst, "%s/none-copy.db", s_dir);
    CHECK_INT(backup_sqlite_copy(src, dst, err, sizeof err), -1);
    CHECK(access(src, F_OK) != 0);
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/hark-test-backup-XXXXXX");
    if (!mkdtemp(s_dir))
        return 1;
    UNIT_RUN(test_sha256_is_what_sha256sum_prints);
    UNIT_RUN(test_manifest_round_trip_then_a_flipped_byte_a_short_file_and_a_missing_one);
    UNIT_RUN(test_manifest_naming_a_path_or_without_checksum_is_refused);
    UNIT_RUN(test_online_copy_of_a_wal_database_being_written_is_one_commit);
    nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_END();
}
