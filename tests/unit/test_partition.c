/*
 * test_partition.c - unit tests for services/common/partition.c: the
 * partition of a customer (FNV-1a mod n, fixed values so a change of hash
 * cannot pass unnoticed), a partition's file and endpoint names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "partition.h"
#include "unit.h"

static void test_partition__the_hash_is_fnv1a_and_stable(void)
{
    /* FNV-1a 32 of "" is its offset basis 2166136261, of "a" 0xe40c292c */
    CHECK_INT(partition_of("", 1000000007u), 2166136261u % 1000000007u);
    CHECK_INT(partition_of("a", 1000u), 0xe40c292cu % 1000u);
    CHECK_INT(partition_of("c42", 3), partition_of("c42", 3));
    CHECK_INT(partition_of("c42", 1), 0);
    CHECK_INT(partition_of(NULL, 3), 0);
}

static void test_partition__customers_spread_over_every_partition(void)
{
    unsigned seen[3] = {0, 0, 0};
    char id[16];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "c%d", i);
        seen[partition_of(id, 3)]++;
    }
    for (int k = 0; k < 3; k++)
        CHECK(seen[k] > 60);
}

static void test_partition__a_partitions_file_has_its_number_before_the_extension(void)
{
    char out[64];
    CHECK_INT(partition_path("/var/hark/mailer.db", 2, out, sizeof out), 0);
    CHECK_STR(out, "/var/hark/mailer-2.db");
    CHECK_INT(partition_path("/var/h.d/mailer", 1, out, sizeof out), 0);
    CHECK_STR(out, "/var/h.d/mailer-1");
    CHECK_INT(partition_path("/var/hark/mailer.db", 2, out, 12), -1);
}

static void test_partition__endpoints_ipc_by_name_tcp_by_port_and_zero_unchanged(void)
{
    char out[64];
    CHECK_INT(partition_endpoint("ipc:///s/mailer.ctl", 0, out, sizeof out), 0);
    CHECK_STR(out, "ipc:///s/mailer.ctl");
    CHECK_INT(partition_endpoint("ipc:///s/mailer.ctl", 2, out, sizeof out), 0);
    CHECK_STR(out, "ipc:///s/mailer-2.ctl");
    CHECK_INT(partition_endpoint("tcp://127.0.0.4:7000", 2, out, sizeof out), 0);
    CHECK_STR(out, "tcp://127.0.0.4:7002");
    CHECK_INT(partition_endpoint("tcp://127.0.0.4:65535", 1, out, sizeof out), -1);
    CHECK_INT(partition_endpoint("tcp://127.0.0.4:*", 1, out, sizeof out), -1);
}

static void test_partition__an_instance_name_splits_into_service_and_number(void)
{
    char sec[16];
    int k = -1;
    CHECK_INT(partition_split("mailer-2", sec, sizeof sec, &k), 0);
    CHECK_STR(sec, "mailer");
    CHECK_INT(k, 2);
    CHECK_INT(partition_split("mailer", sec, sizeof sec, &k), -1);
    CHECK_INT(partition_split("mailer-", sec, sizeof sec, &k), -1);
    CHECK_INT(partition_split("mailer-x", sec, sizeof sec, &k), -1);
    CHECK_INT(partition_split("-1", sec, sizeof sec, &k), -1);
}

static void test_partition__a_customers_control_socket_is_their_partitions(void)
{
    char dir[] = "/tmp/hark-partition-XXXXXX", path[128], ep[256], want[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/hark.conf", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "[hark]\nstate_dir = %s\n[mailer]\npartitions = 3\n"
               "control = ipc://%s/mailer.ctl\n", dir, dir);
    fclose(f);
    config_t *cfg = config_load(path);
    CHECK(cfg != NULL);
    CHECK_INT(partition_count(cfg, "mailer"), 3);
    CHECK_INT(partition_count(cfg, "survey"), 1); /* no such setting: one process */
    unsigned k = partition_of("c42", 3);
    CHECK_INT(partition_control(cfg, "mailer", "c42", ep, sizeof ep), 0);
    if (k)
        snprintf(want, sizeof want, "ipc://%s/mailer-%u.ctl", dir, k);
    else
        snprintf(want, sizeof want, "ipc://%s/mailer.ctl", dir);
    CHECK_STR(ep, want);
    CHECK_INT(partition_control(cfg, "mailer", NULL, ep, sizeof ep), 0); /* partition 0 */
    snprintf(want, sizeof want, "ipc://%s/mailer.ctl", dir);
    CHECK_STR(ep, want);
    config_destroy(&cfg);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    UNIT_RUN(test_partition__the_hash_is_fnv1a_and_stable);
    UNIT_RUN(test_partition__customers_spread_over_every_partition);
    UNIT_RUN(test_partition__a_partitions_file_has_its_number_before_the_extension);
    UNIT_RUN(test_partition__endpoints_ipc_by_name_tcp_by_port_and_zero_unchanged);
    UNIT_RUN(test_partition__an_instance_name_splits_into_service_and_number);
    UNIT_RUN(test_partition__a_customers_control_socket_is_their_partitions);
    return UNIT_END();
}
