/*
 * SHA-256 (FIPS 180-4) for the flow tests: both ends of a transfer hash what they sent and
 * what they received, and the runner compares the digests.
 */
#ifndef FT_SHA256_H
#define FT_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct ft_sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed so far */
	uint8_t block[64];
	uint32_t used; /* bytes waiting in block */
};

void ft_sha256_init(struct ft_sha256 *s);
void ft_sha256_update(struct ft_sha256 *s, const void *data, size_t len);
/* Finishes the digest and writes it as 64 lowercase hex digits and a NUL into hex. */
void ft_sha256_hex(struct ft_sha256 *s, char hex[65]);

#endif /* FT_SHA256_H */
