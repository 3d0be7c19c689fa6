/*
 * reply_token.c - signed "what this replies to" tokens (see reply_token.h).
 */
#include "reply_token.h"

#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <string.h>

#define S_MAC_BYTES 8

/* s_mac - the MAC's 16 lowercase hex characters of body into hex[17] */
static void s_mac(const char *key, const char *body, size_t len, char hex[2 * S_MAC_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t mac[S_MAC_BYTES];
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
    hmac_sha256_update(&ctx, sizeof "reply", (const uint8_t *)"reply"); /* with its NUL */
    hmac_sha256_update(&ctx, len, (const uint8_t *)body);
    hmac_sha256_digest(&ctx, S_MAC_BYTES, mac);
    for (size_t i = 0; i < S_MAC_BYTES; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[2 * S_MAC_BYTES] = '\0';
}

/* s_id_ok - [A-Za-z0-9_-]{1,REPLY_TOKEN_ID_MAX} */
static int s_id_ok(const char *id, size_t n)
{
    if (n == 0 || n > REPLY_TOKEN_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* reply_token_make - "K.ID.N.MAC" */
int reply_token_make(const char *key, char kind, const char *id, int64_t n, char *out,
                     size_t len)
{
    if (!key || !id || (kind != 'c' && kind != 's' && kind != 'm') || n < 0 ||
        !s_id_ok(id, strlen(id)) || len < REPLY_TOKEN_MAX)
        return -1;
    int b = snprintf(out, len, "%c.%s.%lld", kind, id, (long long)n);
    if (b < 0 || (size_t)b + 2 * S_MAC_BYTES + 2 > len)
        return -1;
    char hex[2 * S_MAC_BYTES + 1];
    s_mac(key, out, (size_t)b, hex);
    snprintf(out + b, len - (size_t)b, ".%s", hex);
    return 0;
}

/* reply_token_read - split, check each part, compare the MAC in constant time */
int reply_token_read(const char *key, const char *tok, size_t len, reply_token_t *out)
{
    if (!key || !tok || len < 7 || len >= REPLY_TOKEN_MAX)
        return -1;
    char t[REPLY_TOKEN_MAX];
    memcpy(t, tok, len);
    t[len] = '\0';
    if (strlen(t) != len || (t[0] != 'c' && t[0] != 's' && t[0] != 'm') || t[1] != '.')
        return -1;
    char *id = t + 2, *dot1 = strchr(id, '.');
    if (!dot1 || !s_id_ok(id, (size_t)(dot1 - id)))
        return -1;
    char *num = dot1 + 1, *dot2 = strchr(num, '.');
    if (!dot2 || dot2 == num || dot2 - num > 18 || strspn(num, "0123456789") != (size_t)(dot2 - num))
        return -1;
    char *mac = dot2 + 1;
    if (strlen(mac) != 2 * S_MAC_BYTES || strspn(mac, "0123456789abcdefABCDEF") != 2 * S_MAC_BYTES)
        return -1;
    char want[2 * S_MAC_BYTES + 1], got[2 * S_MAC_BYTES + 1];
    for (size_t i = 0; i < 2 * S_MAC_BYTES; i++)
        got[i] = (char)(mac[i] >= 'A' && mac[i] <= 'F' ? mac[i] - 'A' + 'a' : mac[i]);
    got[2 * S_MAC_BYTES] = '\0';
    s_mac(key, t, (size_t)(dot2 - t), want);
    if (!memeql_sec(want, got, 2 * S_MAC_BYTES))
        return -1;
    out->kind = t[0];
    memcpy(out->id, id, (size_t)(dot1 - id));
    out->id[dot1 - id] = '\0';
    out->n = 0;
    for (char *p = num; p < dot2; p++)
        out->n = out->n * 10 + (*p - '0');
    return 0;
}

/* reply_token_from_msgid - "<hark.TOKEN@domain>" */
int reply_token_from_msgid(const char *key, const char *msgid, size_t len, reply_token_t *out)
{
    if (!msgid)
        return -1;
    if (len && msgid[0] == '<') {
        msgid++;
        len--;
    }
    if (len < 6 || strncmp(msgid, "hark.", 5) != 0)
        return -1;
    const char *at = memchr(msgid, '@', len);
    if (!at)
        return -1;
    return reply_token_read(key, msgid + 5, (size_t)(at - msgid - 5), out);
}
