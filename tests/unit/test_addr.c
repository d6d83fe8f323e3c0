/*
 * Unit suite "addr": the public address and error helpers of flow/rawflow.h, through the
 * public header only.
 *
 * Pinned:
 *   - rf_addr_parse() takes a bare IPv4 or IPv6 address and nothing else: no prefix length,
 *     no short forms ("1.2.3"), no octet above 255, no trailing text, no NULL; it tags the
 *     family and stores the bytes in network order;
 *   - rf_addr_format() writes the text back: canonical input comes back unchanged, and any
 *     parsed address survives parse -> format -> parse, including the longest IPv6 form in
 *     the 46 bytes the header promises to be enough;
 *   - rf_error_message() has a message for RF_OK, RF_EOF and every code of RF_ERRNO_MAP
 *     (the table's own text, all distinct), and a generic, non-NULL message for codes it
 *     does not know.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "rawflow.h"
#include "unit.h"

#define FORMAT_LEN 46 /* rawflow.h: "at least 46 bytes for any address" */

static const char *const good_v4[] = {"198.18.0.1", "0.0.0.0", "255.255.255.255"};
static const char *const good_v6[] = {"2001:2::1", "::1", "fe80::1", "::",
				      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"};
static const char *const bad[] = {
	"",	      "abc",	      "300.1.2.3",   "1.2.3",	   "1.2.3.4.5",
	"1.2.3.4/24", "2001:2::1/64", "198.18.0.1x", " 198.18.0.1", "198.18.0.1 ",
	"1.2.3.-4",   "2001:2::1::2", ":::1",	     "12345::1",    "g::1",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_parse_accepts_ipv4)
{
	struct rf_addr a;
	const char *s = good_v4[_i];

	memset(&a, 0xa5, sizeof(a));
	ck_assert_msg(rf_addr_parse(s, &a) == 0, "\"%s\" rejected", s);
	ck_assert_uint_eq(a.family, RF_AF_INET);
}
END_TEST

START_TEST(test_parse_accepts_ipv6)
{
	struct rf_addr a;
	const char *s = good_v6[_i];

	memset(&a, 0xa5, sizeof(a));
	ck_assert_msg(rf_addr_parse(s, &a) == 0, "\"%s\" rejected", s);
	ck_assert_uint_eq(a.family, RF_AF_INET6);
}
END_TEST

START_TEST(test_parse_rejects_anything_but_a_bare_address)
{
	struct rf_addr a;
	const char *s = bad[_i];

	ck_assert_msg(rf_addr_parse(s, &a) == RF_EINVAL, "\"%s\" not rejected with RF_EINVAL",
		      s);
}
END_TEST

START_TEST(test_parse_rejects_null)
{
	struct rf_addr a;

	ck_assert_int_eq(rf_addr_parse(NULL, &a), RF_EINVAL);
}
END_TEST

START_TEST(test_parse_stores_bytes_in_network_order)
{
	static const uint8_t v6[16] = {0x20, 0x01, 0x00, 0x02, [15] = 0x01};
	static const uint8_t v4[4] = {198, 18, 0, 1};
	struct rf_addr a;

	ck_assert_int_eq(rf_addr_parse("198.18.0.1", &a), 0);
	ck_assert_uint_eq(a.family, RF_AF_INET);
	ck_assert_mem_eq(a.bytes, v4, sizeof(v4));

	ck_assert_int_eq(rf_addr_parse("2001:2::1", &a), 0);
	ck_assert_uint_eq(a.family, RF_AF_INET6);
	ck_assert_mem_eq(a.bytes, v6, sizeof(v6));
}
END_TEST

static void
check_round_trip(const char *s, unsigned int family)
{
	struct rf_addr a, b;
	char text[FORMAT_LEN];

	ck_assert_int_eq(rf_addr_parse(s, &a), 0);
	memset(text, 'x', sizeof(text));
	ck_assert_ptr_eq(rf_addr_format(&a, text, sizeof(text)), text);
	ck_assert_msg(memchr(text, '\0', sizeof(text)) != NULL, "\"%s\": unterminated", s);
	/* Every input here is already in canonical form (RFC 5952 for IPv6). */
	ck_assert_str_eq(text, s);

	ck_assert_int_eq(rf_addr_parse(text, &b), 0);
	ck_assert_uint_eq(b.family, family);
	ck_assert_mem_eq(b.bytes, a.bytes, family == RF_AF_INET ? 4 : 16);
}

START_TEST(test_format_round_trips_ipv4)
{
	check_round_trip(good_v4[_i], RF_AF_INET);
}
END_TEST

START_TEST(test_format_round_trips_ipv6)
{
	check_round_trip(good_v6[_i], RF_AF_INET6);
}
END_TEST

START_TEST(test_format_round_trips_ipv4_mapped_ipv6)
{
	/* ::ffff:255.255.255.255, which text forms may write with a dotted tail: whatever the
	 * form, it parses back to the same bytes. */
	struct rf_addr a = {.family = RF_AF_INET6}, b;
	char text[FORMAT_LEN];

	memset(a.bytes + 10, 0xff, 6);
	ck_assert_ptr_eq(rf_addr_format(&a, text, sizeof(text)), text);
	ck_assert_int_eq(rf_addr_parse(text, &b), 0);
	ck_assert_uint_eq(b.family, RF_AF_INET6);
	ck_assert_mem_eq(b.bytes, a.bytes, 16);
}
END_TEST

/* ---- error messages ---------------------------------------------------------------------- */

struct known_error {
	int code;
	const char *name;
	const char *msg; /* the table's text; NULL for RF_OK and RF_EOF */
};

static const struct known_error known[] = {
	{RF_OK, "RF_OK", NULL},
	{RF_EOF, "RF_EOF", NULL},
#define KNOWN(name, msg) {RF_##name, "RF_" #name, msg},
	RF_ERRNO_MAP(KNOWN)
#undef KNOWN
};

START_TEST(test_error_message_for_every_known_code_is_the_tables_text)
{
	for (unsigned int i = 0; i < N(known); i++) {
		const char *m = rf_error_message(known[i].code);

		ck_assert_msg(m != NULL, "%s: NULL message", known[i].name);
		ck_assert_msg(m[0] != '\0', "%s: empty message", known[i].name);
		if (known[i].msg != NULL)
			ck_assert_msg(strcmp(m, known[i].msg) == 0, "%s: \"%s\", table says \"%s\"",
				      known[i].name, m, known[i].msg);
	}
}
END_TEST

START_TEST(test_error_messages_are_distinct)
{
	for (unsigned int i = 0; i < N(known); i++)
		for (unsigned int j = i + 1; j < N(known); j++)
			ck_assert_msg(strcmp(rf_error_message(known[i].code),
					     rf_error_message(known[j].code)) != 0,
				      "%s and %s share the message \"%s\"", known[i].name,
				      known[j].name, rf_error_message(known[i].code));
}
END_TEST

START_TEST(test_error_message_for_unknown_code_is_generic_not_null)
{
	/* Far outside the table, at the extremes of int (no table indexed by -code), an errno
	 * value the table lacks, and the first positive code after RF_EOF. */
	static const int unknown[] = {-9999, 9999, INT_MIN, INT_MAX, -EIO, 2};

	for (unsigned int u = 0; u < N(unknown); u++) {
		const char *m = rf_error_message(unknown[u]);

		ck_assert_msg(m != NULL, "code %d: NULL message", unknown[u]);
		ck_assert_msg(m[0] != '\0', "code %d: empty message", unknown[u]);
		for (unsigned int i = 0; i < N(known); i++)
			ck_assert_msg(strcmp(m, rf_error_message(known[i].code)) != 0,
				      "unknown code %d reads as %s (\"%s\")", unknown[u],
				      known[i].name, m);
	}
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *parse = tcase_create("parse");
	TCase *format = tcase_create("format");
	TCase *errors = tcase_create("errors");

	tcase_add_loop_test(parse, test_parse_accepts_ipv4, 0, N(good_v4));
	tcase_add_loop_test(parse, test_parse_accepts_ipv6, 0, N(good_v6));
	tcase_add_loop_test(parse, test_parse_rejects_anything_but_a_bare_address, 0, N(bad));
	tcase_add_test(parse, test_parse_rejects_null);
	tcase_add_test(parse, test_parse_stores_bytes_in_network_order);
	suite_add_tcase(s, parse);

	tcase_add_loop_test(format, test_format_round_trips_ipv4, 0, N(good_v4));
	tcase_add_loop_test(format, test_format_round_trips_ipv6, 0, N(good_v6));
	tcase_add_test(format, test_format_round_trips_ipv4_mapped_ipv6);
	suite_add_tcase(s, format);

	tcase_add_test(errors, test_error_message_for_every_known_code_is_the_tables_text);
	tcase_add_test(errors, test_error_messages_are_distinct);
	tcase_add_test(errors, test_error_message_for_unknown_code_is_generic_not_null);
	suite_add_tcase(s, errors);
	return s;
}

int
main(void)
{
	return unit_run(addr_suite());
}
