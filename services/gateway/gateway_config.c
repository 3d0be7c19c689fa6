/*
 * gateway_config.c - hark-gateway's settings, read from the config once at
 * start into one gateway_config_t; request handlers (on MHD's threads) read
 * the struct, never the config (every value was checked by the config table
 * before we run).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"

/* gateway_config_load - [gateway] and what the gateway uses of the other
 * sections: the owners' endpoints, [intake] and [mailer] keys */
void gateway_config_load(const config_t *cfg, gateway_config_t *out)
{
    memset(out, 0, sizeof *out);
    out->listen = config_get(cfg, "gateway", "listen");
    out->public_url = config_get(cfg, "gateway", "public_url");
    out->max_body = config_size(cfg, "gateway", "max_body");
    out->connection_timeout_ms = config_duration_ms(cfg, "gateway", "connection_timeout");
    out->max_connections = (unsigned)config_int(cfg, "gateway", "max_connections");
    out->per_ip_connections = (unsigned)config_int(cfg, "gateway", "per_ip_connections");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    out->threads = (unsigned)config_int(cfg, "gateway", "threads");
    if (out->threads == 0)
        out->threads = cpus > 0 ? (unsigned)(cpus < 64 ? cpus : 64) : 2;
    out->workers = 4 * (cpus > 0 ? (unsigned)(cpus < 64 ? cpus : 64) : 2);
    out->head_timeout_ms = config_duration_ms(cfg, "gateway", "head_timeout");
    out->body_timeout_ms = config_duration_ms(cfg, "gateway", "body_timeout");
    out->max_header = (size_t)config_size(cfg, "gateway", "max_header");
    out->journal_timeout_ms = (int)config_duration_ms(cfg, "gateway", "journal_timeout");
    out->survey_timeout_ms = (int)config_duration_ms(cfg, "gateway", "survey_timeout");
    out->milestone_timeout_ms = (int)config_duration_ms(cfg, "gateway", "milestone_timeout");
    out->loop_timeout_ms = (int)config_duration_ms(cfg, "gateway", "loop_timeout");
    out->intake_timeout_ms = (int)config_duration_ms(cfg, "intake", "timeout");
    out->journal_endpoint = config_get(cfg, "journal", "endpoint");
    out->journal_max_batch = (size_t)config_int(cfg, "journal", "max_batch");
    out->pipeline_events = (size_t)config_int(cfg, "gateway", "pipeline_events");
    for (size_t i = 0; i < GATEWAY_OWNERS; i++)
        out->owner_controls[i] = config_get(cfg, gateway_owners[i], "control");
    out->n_services = config_list(cfg, "hark", "services", out->services, GW_SERVICES_MAX);
    for (size_t i = 0; i < out->n_services; i++) {
        out->controls[i] = config_get(cfg, out->services[i], "control");
        out->intake_on |= strcmp(out->services[i], "intake") == 0;
    }
    out->form_rate = (int)config_int(cfg, "intake", "form_rate");
    out->reasons = config_get(cfg, "intake", "reasons");
    out->shop_name = config_get(cfg, "mailer", "shop_name");
    out->templates = config_get(cfg, "mailer", "templates");
    out->default_locale = config_get(cfg, "mailer", "default_locale");
    /* the table checked each is an address, at most GW_PROXIES_MAX */
    const char *px[GW_PROXIES_MAX];
    size_t n = config_list(cfg, "gateway", "trusted_proxies", px, GW_PROXIES_MAX);
    for (size_t i = 0; i < n; i++)
        if (httpd_parse_addr(px[i], &out->proxies[out->n_proxies]) == 0)
            out->n_proxies++;
}
