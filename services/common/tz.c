/*
 * tz.c - time zones: which names are zones, local time in a zone, and
 * windows of local hours on chosen weekdays.
 *
 * One validator for every zone name Hark takes (event payloads through
 * schema.c, settings, reasons.conf), so a name one part accepts no other
 * part rejects.  One way to read a zone's local time (tz_local,
 * tz_from_local), for hark-survey's send windows, hark-milestone's send
 * times, hark-intake's business hours and hark-loop's dates.
 *
 * Single-threaded only for conversions: TZ is a process-wide variable (see
 * the header).  tz_ok/tz_valid are thread-safe.
 *
 * Switching TZ makes tzset() read the zone file again (glibc keeps only the
 * last zone), which was ~30% of hark-survey's CPU when scheduling a burst
 * of purchases from customers in several zones.  So conversions go through
 * a small cache of UTC offsets per zone and 15-minute span of UTC time,
 * filled by one real localtime_r() under TZ; a span is cached only when its
 * first and last second have the same offset (no change inside), and a
 * local-to-UTC conversion uses it only when the offset is the same for
 * three hours either side (the wall time is neither skipped nor repeated).
 * Anything else takes the exact path under TZ, as before.
 */
#include "tz.h"
#include "config.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Time zones known good, so that a name is checked against its file only the
 * first time: the gateway validates every event, from many threads, and the
 * open/fstat/read/close of a zoneinfo file was a quarter of its CPU.  A
 * fixed open-addressing table of names that passed, filled lock-free (a slot
 * goes from NULL to a name once, by compare-and-swap, and never changes
 * again), so readers take no lock.  Only names whose file was TZif data go
 * in, so bad input cannot fill it, and it stops taking names at
 * S_TZ_CACHE_MAX (there are about 1,300 files and links under zoneinfo).
 * The names live as long as the process.  A zone whose file disappears
 * later (a tzdata upgrade removing it) stays accepted until a restart.
 */
#define S_TZ_ZONEINFO "/usr/share/zoneinfo/"
#define S_TZ_SLOTS 4096 /* a power of two, twice S_TZ_CACHE_MAX */
#define S_TZ_CACHE_MAX 2048

static _Atomic(char *) s_tz_slots[S_TZ_SLOTS];
static atomic_int s_tz_count;

/* s_tz_hash - FNV-1a of the name */
static size_t s_tz_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h & (S_TZ_SLOTS - 1);
}

/* s_tz_is - a table entry equals s[0..n) */
static int s_tz_is(const char *entry, const char *s, size_t n)
{
    return strncmp(entry, s, n) == 0 && entry[n] == '\0';
}

/* s_tz_known - 1 when s[0..n) is in the table */
static int s_tz_known(const char *s, size_t n)
{
    for (size_t i = s_tz_hash(s, n), probes = 0; probes < S_TZ_SLOTS;
         i = (i + 1) & (S_TZ_SLOTS - 1), probes++) {
        const char *e = atomic_load_explicit(&s_tz_slots[i], memory_order_acquire);
        if (!e)
            return 0;
        if (s_tz_is(e, s, n))
            return 1;
    }
    return 0;
}

/* s_tz_remember - put s[0..n) in the table (when there is room; a failure only costs
   the next lookup a file check) */
static void s_tz_remember(const char *s, size_t n)
{
    if (atomic_load(&s_tz_count) >= S_TZ_CACHE_MAX ||
        atomic_fetch_add(&s_tz_count, 1) >= S_TZ_CACHE_MAX)
        return;
    char *name = strndup(s, n);
    if (!name)
        return;
    for (size_t i = s_tz_hash(s, n), probes = 0; probes < S_TZ_SLOTS;
         i = (i + 1) & (S_TZ_SLOTS - 1), probes++) {
        char *e = NULL;
        if (atomic_compare_exchange_strong_explicit(&s_tz_slots[i], &e, name,
                                                    memory_order_acq_rel, memory_order_acquire))
            return;
        if (s_tz_is(e, s, n)) /* another thread put it in first */
            break;
    }
    free(name);
}

int tz_valid(const char *s, size_t n)
{
    if (n == 3 && memcmp(s, "UTC", 3) == 0)
        return 1;
    if (n == 0 || n > 200 || s[0] == '/' || s[n - 1] == '/' || memmem(s, n, "..", 2) ||
        memmem(s, n, "//", 2) || (n == 9 && memcmp(s, "localtime", 9) == 0))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '/' || c == '-'))
            return 0;
    }
    if (s_tz_known(s, n))
        return 1;
    char file[sizeof S_TZ_ZONEINFO + 200];
    snprintf(file, sizeof file, "%s%.*s", S_TZ_ZONEINFO, (int)n, s);
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return 0;
    struct stat st;
    char magic[4];
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
             read(fd, magic, sizeof magic) == (ssize_t)sizeof magic &&
             memcmp(magic, "TZif", 4) == 0;
    close(fd);
    if (ok)
        s_tz_remember(s, n);
    return ok;
}

int tz_ok(const char *name)
{
    return name && tz_valid(name, strlen(name));
}

typedef struct {
    char old[128];
    int had;
} s_tz_saved_t;

/* s_tz_set - switch the process to zone tz, remembering the old TZ */
static void s_tz_set(const char *tz, s_tz_saved_t *saved)
{
    const char *old = getenv("TZ");
    saved->had = old != NULL && strlen(old) < sizeof saved->old;
    if (saved->had)
        snprintf(saved->old, sizeof saved->old, "%s", old);
    setenv("TZ", tz && *tz ? tz : "UTC", 1);
    tzset();
}

/* s_tz_restore - back to the TZ before s_tz_set */
static void s_tz_restore(const s_tz_saved_t *saved)
{
    if (saved->had)
        setenv("TZ", saved->old, 1);
    else
        unsetenv("TZ");
    tzset();
}

/* s_local / s_mktime - conversions in the zone already set */
static int s_local(int64_t ms, struct tm *out)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    return localtime_r(&t, out) ? 0 : -1;
}

static int64_t s_mktime(const struct tm *local)
{
    struct tm tm = *local;
    tm.tm_isdst = -1; /* the zone's rules decide */
    return (int64_t)mktime(&tm) * 1000;
}

/* --- the offset cache ----------------------------------------------------- */

#define S_SPAN 900       /* seconds of UTC one entry covers */
#define S_CACHE 512      /* entries, direct-mapped */
#define S_AROUND 10800   /* seconds either side with one offset: no DST change near */

typedef struct {
    char zone[72];       /* "" when empty */
    int64_t span;        /* floor(t / S_SPAN) */
    long gmtoff;         /* seconds east of UTC */
    int isdst;
} s_entry_t;

/* one process-wide table: each process runs these on one thread only */
static s_entry_t s_cache[S_CACHE];

/* s_secs - ms to whole seconds, rounding down */
static time_t s_secs(int64_t ms)
{
    return (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
}

/* s_offset - zone's UTC offset at t: 0, or -1 when it changes within t's
 * span (the caller takes the exact path) */
static int s_offset(const char *zone, time_t t, long *gmtoff, int *isdst)
{
    int64_t span = (int64_t)(t >= 0 ? t / S_SPAN : (t - S_SPAN + 1) / S_SPAN);
    uint64_t h = 14695981039346656037ULL; /* FNV-1a of the zone, then the span */
    for (const unsigned char *p = (const unsigned char *)zone; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ (uint64_t)span) * 1099511628211ULL;
    s_entry_t *e = &s_cache[(h ^ (h >> 29)) % S_CACHE];
    if (e->span == span && strcmp(e->zone, zone) == 0) {
        *gmtoff = e->gmtoff;
        *isdst = e->isdst;
        return 0;
    }
    s_tz_saved_t saved;
    s_tz_set(zone, &saved);
    time_t a = (time_t)(span * S_SPAN), b = a + S_SPAN - 1;
    struct tm ta, tb;
    int ok = localtime_r(&a, &ta) && localtime_r(&b, &tb) && ta.tm_gmtoff == tb.tm_gmtoff &&
             ta.tm_isdst == tb.tm_isdst;
    s_tz_restore(&saved);
    if (!ok || strlen(zone) >= sizeof e->zone)
        return -1;
    snprintf(e->zone, sizeof e->zone, "%s", zone);
    e->span = span;
    e->gmtoff = *gmtoff = ta.tm_gmtoff;
    e->isdst = *isdst = ta.tm_isdst;
    return 0;
}

/* s_zone - the zone s_tz_set would use */
static const char *s_zone(const char *tz)
{
    return tz && *tz ? tz : "UTC";
}

/* s_local_cached - localtime of ms in zone from the cache; 0/-1 */
static int s_local_cached(int64_t ms, const char *zone, struct tm *out)
{
    time_t t = s_secs(ms), l;
    long off;
    int dst;
    if (s_offset(zone, t, &off, &dst))
        return -1;
    l = t + off;
    if (!gmtime_r(&l, out))
        return -1;
    out->tm_isdst = dst;
    out->tm_gmtoff = off;
    out->tm_zone = ""; /* not known here; nothing prints %Z */
    return 0;
}

/* s_mktime_cached - local wall time in zone to epoch ms from the cache;
 * 0, or -1 when the offset changes within S_AROUND of the result */
static int s_mktime_cached(const struct tm *local, const char *zone, int64_t *out)
{
    struct tm c = *local;
    time_t wall = timegm(&c); /* the wall time's fields read as UTC (normalized) */
    long o1, o2;
    int dst;
    if (wall == (time_t)-1 || s_offset(zone, wall, &o1, &dst))
        return -1;
    time_t t = wall - o1;
    if (s_offset(zone, t, &o2, &dst) || o2 != o1 || s_offset(zone, t - S_AROUND, &o2, &dst) ||
        o2 != o1 || s_offset(zone, t + S_AROUND, &o2, &dst) || o2 != o1)
        return -1;
    *out = (int64_t)t * 1000;
    return 0;
}

int tz_local(int64_t ms, const char *tz, struct tm *out)
{
    if (s_local_cached(ms, s_zone(tz), out) == 0)
        return 0;
    s_tz_saved_t saved;
    s_tz_set(tz, &saved);
    int rc = s_local(ms, out);
    s_tz_restore(&saved);
    return rc;
}

int64_t tz_from_local(const struct tm *local, const char *tz)
{
    int64_t t;
    if (s_mktime_cached(local, s_zone(tz), &t) == 0)
        return t;
    s_tz_saved_t saved;
    s_tz_set(tz, &saved);
    t = s_mktime(local);
    s_tz_restore(&saved);
    return t;
}

/* tz_window_parse - the config's hour range and weekday kinds, so a
 * campaign's window, [survey] window_hours/window_days and a team's
 * business hours read alike */
int tz_window_parse(const char *hours, const char *days, tz_window_t *w, char *err,
                    size_t errlen)
{
    int a, b;
    if (config_parse_hours(hours, &a, &b)) {
        snprintf(err, errlen, "window_hours: expected START-END hours like 9-20 (0-24: all day),"
                              " got \"%s\"", hours ? hours : "");
        return -1;
    }
    unsigned mask = 0x7f;
    if (days && config_parse_days(days, &mask)) {
        snprintf(err, errlen, "window_days: expected days like mon-sat or mon,wed,fri,"
                              " got \"%s\"", days);
        return -1;
    }
    w->start_hour = a;
    w->end_hour = b;
    w->days = mask;
    return 0;
}

/* s_search - the window search (see tz_window_next) with conversions
 * from the cache (cached 1) or under TZ already set (cached 0); 0, or -1
 * when the cache cannot answer one of them */
static int s_search(const tz_window_t *w, int64_t ms, const char *zone, int cached,
                    int64_t *at)
{
    struct tm lt;
    *at = ms;
    if (cached ? s_local_cached(ms, zone, &lt) : s_local(ms, &lt))
        return cached ? -1 : 0;
    if ((w->days & (1u << lt.tm_wday)) && lt.tm_hour >= w->start_hour &&
        lt.tm_hour < w->end_hour)
        return 0;
    /* the next opening: START:00 on today or one of the next seven days
     * that is allowed and lies ahead (mktime/timegm normalize mday) */
    for (int i = 0; i <= 7; i++) {
        struct tm c = lt, chk;
        c.tm_mday += i;
        c.tm_hour = w->start_hour;
        c.tm_min = c.tm_sec = 0;
        int64_t t;
        if (cached) {
            if (s_mktime_cached(&c, zone, &t) || (t > ms && s_local_cached(t, zone, &chk)))
                return -1;
        } else {
            t = s_mktime(&c);
            if (t > ms && s_local(t, &chk))
                continue;
        }
        if (t > ms && (w->days & (1u << chk.tm_wday))) {
            *at = t;
            break;
        }
    }
    return 0;
}

int64_t tz_window_next(const tz_window_t *w, int64_t ms, const char *tz)
{
    int64_t at;
    if (s_search(w, ms, s_zone(tz), 1, &at) == 0)
        return at;
    /* near a DST change: one switch of TZ for the whole exact search */
    s_tz_saved_t saved;
    s_tz_set(tz, &saved);
    s_search(w, ms, s_zone(tz), 0, &at);
    s_tz_restore(&saved);
    return at;
}
