/*
 * privacy.c - run a service's erase and retention SQL (privacy.h).
 */
#include "privacy.h"

#include <string.h>

#include "db.h"
#include "log.h"
#include "proto.h"

/* s_run - every statement of list for customer; 0/-1 */
static int s_run(sqlite3 *db, const char *const *list, const char *customer)
{
    for (; list && *list; list++) {
        sqlite3_stmt *st = db_prepare(db, *list);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, customer, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        db_finish(st);
        if (rc != SQLITE_DONE) {
            log_error("event=privacy_sql_failed error=\"%s\"", sqlite3_errmsg(db));
            return -1;
        }
    }
    return 0;
}

int privacy_apply(sqlite3 *db, const hark_event_t *ev, const privacy_sql_t *sql)
{
    const json_t *p = ev->payload;
    if (strcmp(ev->type, EV_CUSTOMER_ERASED) == 0) {
        const char *id = json_string_value(json_object_get(p, "customer_id"));
        if (!id)
            return -1;
        return s_run(db, sql->erase, id);
    }
    if (strcmp(ev->type, EV_PRIVACY_RETENTION) != 0)
        return 0;
    const char *class = json_string_value(json_object_get(p, "class"));
    const char *const *list = class && strcmp(class, "free_text") == 0 ? sql->free_text
                              : class && strcmp(class, "contact") == 0 ? sql->contact
                                                                       : NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(p, "customers"), i, c) {
        if (json_is_string(c) && s_run(db, list, json_string_value(c)))
            return -1;
    }
    return 0;
}
