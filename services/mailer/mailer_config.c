/*
 * mailer_config.c - hark-mailer's settings, read from the config once at
 * start into one mailer_config_t; the dispatcher and the worker pool read
 * the struct, never the config (every value was checked by the config
 * table before we run).
 */
#include <string.h>

#include "mailer.h"

/* mailer_config_load - [mailer], [smtp] and [gateway] public_url */
void mailer_config_load(const config_t *cfg, mailer_config_t *out)
{
    memset(out, 0, sizeof *out);
    out->public_url = config_get(cfg, "gateway", "public_url");
    out->shop_name = config_get(cfg, "mailer", "shop_name");
    out->lease = config_duration_ms(cfg, "mailer", "lease");
    const char *from = config_get(cfg, "mailer", "from");
    const char *at = from ? strchr(from, '@') : NULL;
    out->from_domain = at ? at + 1 : "localhost";
    const char *rd = config_get(cfg, "mailer", "reply_domain");
    out->reply_domain = rd && *rd ? rd : NULL;
    out->smtp_password_file = config_get(cfg, "smtp", "password_file");

    mailer_pool_conf_t *pc = &out->pool;
    pc->workers = (int)config_int(cfg, "mailer", "connections");
    pc->per_connection = (int)config_int(cfg, "mailer", "per_connection");
    pc->rate = (int)config_int(cfg, "mailer", "rate");
    pc->maildir = config_get(cfg, "mailer", "maildir");
    pc->templates = config_get(cfg, "mailer", "templates");
    pc->default_locale = config_get(cfg, "mailer", "default_locale");
    pc->from = from;
    pc->from_name = config_get(cfg, "mailer", "from_name");
    pc->reply_to = config_get(cfg, "mailer", "reply_to");
    const char *host = config_get(cfg, "smtp", "host");
    pc->smtp.host = host && *host ? host : NULL;
    pc->smtp.port = (int)config_int(cfg, "smtp", "port");
    const char *tls = config_get(cfg, "smtp", "starttls");
    pc->smtp.tls = tls && strcmp(tls, "required") == 0   ? MSMTP_TLS_REQUIRED
                   : tls && strcmp(tls, "optional") == 0 ? MSMTP_TLS_OPTIONAL
                                                         : MSMTP_TLS_OFF;
    pc->smtp.tls_no_verify = !config_bool(cfg, "smtp", "tls_verify");
    pc->smtp.timeout_ms = (int)config_duration_ms(cfg, "smtp", "timeout");
    const char *user = config_get(cfg, "smtp", "user");
    pc->smtp.user = user && *user ? user : NULL; /* its password: s_init reads the file */
    pc->db_path = config_get(cfg, "mailer", "db");
    pc->retry_min = config_duration_ms(cfg, "mailer", "retry_min");
    pc->retry_max = config_duration_ms(cfg, "mailer", "retry_max");
    pc->give_up = config_duration_ms(cfg, "mailer", "give_up");
}
