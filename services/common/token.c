/*
 * token.c - HMAC-signed, URL-safe tokens.
 */
#include "token.h"

#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAC_LEN 16
#define TOKEN_MAX_PAYLOAD 2048

/* s_mac - HMAC-SHA256(key, purpose NUL payload), first 16 bytes */
static void s_mac(const char *key, const char *purpose, const char *payload, size_t len,
                  uint8_t out[TOKEN_MAC_LEN])
{
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
    hmac_sha256_update(&ctx, strlen(purpose) + 1, (const uint8_t *)purpose);
    hmac_sha256_update(&ctx, len, (const uint8_t *)payload);
    hmac_sha256_digest(&ctx, TOKEN_MAC_LEN, out);
}

/* s_b64 - base64url without padding into dst; returns length */
static size_t s_b64(char *dst, const uint8_t *src, size_t len)
{
    struct base64_encode_ctx ctx;
    base64url_encode_init(&ctx);
    size_t n = base64_encode_update(&ctx, dst, len, src);
    n += base64_encode_final(&ctx, dst + n);
    while (n > 0 && dst[n - 1] == '=')
        n--;
    dst[n] = '\0';
    return n;
}

/* s_unb64 - decode base64url (padding optional); -1 when invalid */
static long s_unb64(uint8_t *dst, size_t cap, const char *src, size_t len)
{
    char padded[BASE64_ENCODE_LENGTH(TOKEN_MAX_PAYLOAD) + 8];
    if (len + 3 > sizeof padded || len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) /* nettle would skip '=' and spaces: be strict */
        if (!((src[i] >= 'A' && src[i] <= 'Z') || (src[i] >= 'a' && src[i] <= 'z') ||
              (src[i] >= '0' && src[i] <= '9') || src[i] == '-' || src[i] == '_'))
            return -1;
    memcpy(padded, src, len);
    while (len % 4)
        padded[len++] = '=';
    struct base64_decode_ctx ctx;
    base64url_decode_init(&ctx);
    size_t out = cap;
    if (BASE64_DECODE_LENGTH(len) > cap ||
        !base64_decode_update(&ctx, &out, dst, len, padded) || !base64_decode_final(&ctx))
        return -1;
    return (long)out;
}

/* token_sign - payload.mac */
char *token_sign(const char *key, const char *purpose, const char *payload, size_t len)
{
    if (len > TOKEN_MAX_PAYLOAD)
        return NULL;
    uint8_t mac[TOKEN_MAC_LEN];
    s_mac(key, purpose, payload, len, mac);
    char *t = malloc(BASE64_ENCODE_LENGTH(len) + BASE64_ENCODE_LENGTH(TOKEN_MAC_LEN) + 8);
    if (!t)
        return NULL;
    size_t n = s_b64(t, (const uint8_t *)payload, len);
    t[n++] = '.';
    s_b64(t + n, mac, TOKEN_MAC_LEN);
    return t;
}

/* token_verify - check and return the payload */
char *token_verify(const char *key, const char *purpose, const char *token, size_t *len)
{
    const char *dot = token ? strchr(token, '.') : NULL;
    if (!dot || strchr(dot + 1, '.'))
        return NULL;
    uint8_t payload[TOKEN_MAX_PAYLOAD + 4], mac[TOKEN_MAC_LEN + 4], want[TOKEN_MAC_LEN];
    long pl = s_unb64(payload, sizeof payload, token, (size_t)(dot - token));
    long ml = s_unb64(mac, sizeof mac, dot + 1, strlen(dot + 1));
    if (pl < 0 || ml != TOKEN_MAC_LEN)
        return NULL;
    s_mac(key, purpose, (const char *)payload, (size_t)pl, want);
    if (!memeql_sec(mac, want, TOKEN_MAC_LEN))
        return NULL;
    char *out = malloc((size_t)pl + 1);
    if (!out)
        return NULL;
    memcpy(out, payload, (size_t)pl);
    out[pl] = '\0';
    if (len)
        *len = (size_t)pl;
    return out;
}
