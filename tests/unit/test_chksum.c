/*
 * Unit suite "chksum": stack/chksum.c, the Internet checksum lwIP uses (LWIP_CHKSUM).
 *
 * Pinned: rf_chksum() gives the same 16-bit sum as the plain RFC 1071 definition (16-bit
 * words in memory order, an odd last byte padded with zero, end-around carries) for every
 * length from 0 to 300 bytes at every start offset 0-7, on random bytes; it loses no carry on
 * 64 KiB of 0xff bytes; it is 0 only for all-zero data; and lwIP's inet_chksum() over a real
 * IPv4 header with its checksum in place gives 0 (lwIP calls it, and the result is right).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/inet_chksum.h"

#include "unit.h"

u16_t rf_chksum(const void *data, int len);

/* RFC 1071's definition, one 16-bit word at a time. */
static uint16_t
reference(const uint8_t *p, size_t n)
{
	uint64_t sum = 0;
	uint16_t w;

	for (; n >= 2; n -= 2, p += 2) {
		memcpy(&w, p, 2);
		sum += w;
	}
	if (n == 1) {
		w = 0;
		memcpy(&w, p, 1);
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

START_TEST(test_matches_rfc1071_at_every_length_and_offset)
{
	static uint8_t buf[300 + 8];

	srandom(7);
	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)random();
		for (size_t off = 0; off < 8; off++)
			for (size_t len = 0; len <= 300; len++)
				ck_assert_msg(rf_chksum(buf + off, (int)len) == reference(buf + off, len),
					      "offset %zu length %zu: 0x%04x, RFC 1071 gives 0x%04x", off,
					      len, rf_chksum(buf + off, (int)len),
					      reference(buf + off, len));
	}
}
END_TEST

START_TEST(test_no_carry_lost_on_64k_of_ones)
{
	static uint8_t buf[65536 + 1];

	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(rf_chksum(buf, 65536), 0xffff);
	ck_assert_uint_eq(rf_chksum(buf, 65535), reference(buf, 65535));
	ck_assert_uint_eq(rf_chksum(buf + 1, 65536), 0xffff);
}
END_TEST

START_TEST(test_zero_only_for_zero_data)
{
	static uint8_t buf[64];

	ck_assert_uint_eq(rf_chksum(buf, 0), 0);
	ck_assert_uint_eq(rf_chksum(buf, sizeof(buf)), 0);
	/* 0x0001 + 0xfffe sums to 0xffff, never to 0 */
	buf[10] = 0xff;
	buf[11] = 0xff;
	buf[40] = 0x00;
	ck_assert_uint_eq(rf_chksum(buf, sizeof(buf)), 0xffff);
}
END_TEST

START_TEST(test_lwip_inet_chksum_verifies_a_real_header)
{
	/* an IPv4 header with its correct checksum 0xb861 in bytes 10-11 */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	ck_assert_uint_eq(inet_chksum(h, sizeof(h)), 0);
	h[10] = 0;
	h[11] = 0;
	ck_assert_uint_eq(lwip_ntohs(inet_chksum(h, sizeof(h))), 0xb861);
	h[15] = 0x02; /* one bit changed: the check fails */
	h[10] = 0xb8;
	h[11] = 0x61;
	ck_assert_uint_ne(inet_chksum(h, sizeof(h)), 0);
}
END_TEST

static Suite *
chksum_suite(void)
{
	Suite *s = suite_create("chksum");
	TCase *tc = tcase_create("rf_chksum");

	tcase_add_test(tc, test_matches_rfc1071_at_every_length_and_offset);
	tcase_add_test(tc, test_no_carry_lost_on_64k_of_ones);
	tcase_add_test(tc, test_zero_only_for_zero_data);
	tcase_add_test(tc, test_lwip_inet_chksum_verifies_a_real_header);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(chksum_suite());
}
