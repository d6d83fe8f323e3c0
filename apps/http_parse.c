/*
 * http_parse.c: rf-httpd's request-head parser (see http_parse.h for the contract).
 *
 * Why hand-written rather than a library parser: requests reach the server as a chain of
 * received segments (struct rf_buf views of packet memory) and a head may be split anywhere
 * between them. A parser that wants the whole head contiguous would force a copy of every
 * split head into a side buffer, and a general one (picohttpparser, llhttp) re-scans or keeps
 * more than this server needs. This one is a byte-at-a-time state machine over a 256-entry
 * character-class table: it reads every byte once, in place, wherever the segment boundaries
 * fall, and keeps only the few fields the server answers from. The whole state is struct
 * http_req (80 bytes per connection); nothing of the head is ever copied, except a
 * Connection token of at most 12 bytes while it is being compared.
 *
 * Shape: ps is the position in the grammar (request line, header name, header value, ...).
 * Method and header names are recognised while they stream past: `match` holds one bit per
 * known word still agreeing with the bytes seen so far, `pos` counts those bytes, and at the
 * delimiter the word whose length equals pos (and whose bit survived) is the one read. Every
 * byte of a head counts against max_head (431 beyond it), so no input makes the parser work or
 * wait without bound.
 */
#include <string.h>

#include "http_parse.h"

/* Positions in the grammar. */
enum {
	P_START,       /* before the request line (empty lines allowed) */
	P_START_CR,    /* CR of such an empty line */
	P_METHOD,
	P_TARGET0,     /* the target's first byte */
	P_TARGET_SLASH, /* after "/" */
	P_TARGET_NUM,  /* "/" followed by digits */
	P_TARGET_REST, /* the rest of a target whose class is known (query, other) */
	P_VERSION,     /* "HTTP/1.d", pos bytes of it seen */
	P_RL_CR,       /* CR ending the request line */
	P_HDR_START,   /* first byte of a header line, or of the empty line ending the head */
	P_HDR_NAME,
	P_HDR_OWS,     /* whitespace after the colon */
	P_HDR_VALUE,
	P_HDR_CR,      /* CR ending a header line */
	P_END_CR,      /* CR of the empty line ending the head */
	P_BODY,        /* skipping the previous request's body */
};

/* Character classes (RFC 9110 §5.6.2 token, §5.5 field values, RFC 3986 for targets). */
#define C_TCHAR 0x01  /* token character */
#define C_VCHAR 0x02  /* visible ASCII 0x21..0x7e */
#define C_VALUE 0x04  /* allowed in a field value: VCHAR, SP, HT, obs-text 0x80..0xff */
#define C_DIGIT 0x08
#define C_OWS 0x10    /* SP or HT */

#define C_FIELD (C_VCHAR | C_VALUE)
#define C_TOKEN (C_TCHAR | C_FIELD)

/* GNU range designators (the build is gnu11): a constant table, no start-up code. The
 * visible characters that are not token characters are "(),/:;<=>?@[\]{} and the quote. */
static const uint8_t cls[256] = {
	['\t'] = C_VALUE | C_OWS,
	[' '] = C_VALUE | C_OWS,
	['!'] = C_TOKEN,
	['"'] = C_FIELD,
	['#' ... '\''] = C_TOKEN,
	['(' ... ')'] = C_FIELD,
	['*' ... '+'] = C_TOKEN,
	[','] = C_FIELD,
	['-' ... '.'] = C_TOKEN,
	['/'] = C_FIELD,
	['0' ... '9'] = C_TOKEN | C_DIGIT,
	[':' ... '@'] = C_FIELD,
	['A' ... 'Z'] = C_TOKEN,
	['[' ... ']'] = C_FIELD,
	['^' ... 'z'] = C_TOKEN,
	['{'] = C_FIELD,
	['|'] = C_TOKEN,
	['}'] = C_FIELD,
	['~'] = C_TOKEN,
	[0x80 ... 0xff] = C_VALUE,
};

/* Methods the server knows (case-sensitive, RFC 9110 §9.1). */
static const char *const methods[] = {"GET", "HEAD"};
#define NMETHODS 2

/* Headers the server reads (names case-insensitive, listed lower case). */
enum { H_HOST, H_CONNECTION, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, NHEADERS, H_NONE = NHEADERS };
static const char *const headers[NHEADERS] = {"host", "connection", "content-length",
					       "transfer-encoding"};

/* A Content-Length this large is refused rather than skipped for ever. */
#define MAX_CONTENT_LENGTH (1ull << 62)
/* "/N" past this is HTTP_T_OTHER: N * 10 + 9 still fits in 64 bits. */
#define MAX_SIZE_BEFORE_DIGIT ((UINT64_MAX - 9) / 10)

static void
request_reset(struct http_req *r)
{
	uint32_t max_head = r->max_head;

	memset(r, 0, sizeof(*r));
	r->max_head = max_head;
	r->ps = P_START;
	r->state = HTTP_S_MORE;
}

void
http_req_init(struct http_req *r, uint32_t max_head)
{
	r->max_head = max_head;
	request_reset(r);
}

void
http_req_next(struct http_req *r)
{
	uint64_t body = r->content_length;

	request_reset(r);
	if (body > 0) {
		r->body_left = body;
		r->ps = P_BODY;
	}
}

bool
http_req_partial(const struct http_req *r)
{
	return r->state == HTTP_S_MORE && (r->ps == P_BODY || r->started);
}

static uint8_t
lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Narrows the candidates in r->match by byte c at index r->pos of the word. */
static void
match_byte(struct http_req *r, const char *const *words, unsigned int nwords, uint8_t c)
{
	for (unsigned int k = 0; k < nwords; k++) {
		if ((r->match & (1u << k)) &&
		    (r->pos >= strlen(words[k]) || (uint8_t)words[k][r->pos] != c))
			r->match &= (uint8_t)~(1u << k);
	}
	if (r->pos < UINT8_MAX)
		r->pos++;
}

/* The word of length r->pos still matching, or nwords for none. */
static unsigned int
matched(const struct http_req *r, const char *const *words, unsigned int nwords)
{
	for (unsigned int k = 0; k < nwords; k++)
		if ((r->match & (1u << k)) && strlen(words[k]) == r->pos)
			return k;
	return nwords;
}

static void
conn_token_end(struct http_req *r)
{
	if (r->toklen == 5 && memcmp(r->tok, "close", 5) == 0)
		r->conn_close = true;
	else if (r->toklen == 10 && memcmp(r->tok, "keep-alive", 10) == 0)
		r->conn_keepalive = true;
	r->toklen = 0;
}

/* The header line's value ended; false if the value is unacceptable. */
static bool
value_end(struct http_req *r)
{
	switch (r->hdr) {
	case H_CONNECTION:
		conn_token_end(r);
		break;
	case H_CONTENT_LENGTH:
		/* RFC 9112 §6.3: a repeated Content-Length must agree, else the message is
		 * invalid (and a request-smuggling vector). */
		if (!r->cl_digits || (r->has_cl && r->cl_value != r->content_length))
			return false;
		r->content_length = r->cl_value;
		r->has_cl = true;
		break;
	default:
		break;
	}
	r->hdr = H_NONE;
	return true;
}

/* The head is complete; checks that need all of it (RFC 9112 §3.2, §6.3). */
static bool
head_end(struct http_req *r)
{
	if (r->hosts > 1 || (r->minor >= 1 && r->hosts == 0))
		return false;
	if (r->has_cl && r->has_te)
		return false;
	return true;
}

/* One byte of a header value (hdr says which header; pos is 1 once a Content-Length value's
 * trailing whitespace began). */
static bool
value_byte(struct http_req *r, uint8_t c)
{
	uint8_t k = cls[c];

	if (!(k & C_VALUE))
		return false;
	switch (r->hdr) {
	case H_CONTENT_LENGTH:
		if ((k & C_DIGIT) && r->pos == 0) {
			r->cl_value = r->cl_value * 10 + (uint64_t)(c - '0');
			r->cl_digits = true;
			return r->cl_value <= MAX_CONTENT_LENGTH;
		}
		if (k & C_OWS) {
			r->pos = 1;
			return true;
		}
		return false;
	case H_CONNECTION:
		if (c == ',' || (k & C_OWS)) {
			conn_token_end(r);
		} else if (r->toklen < sizeof(r->tok)) {
			r->tok[r->toklen++] = (char)lower(c);
		} else {
			r->toklen = UINT8_MAX; /* too long to be a token we know; stays unmatched */
		}
		return true;
	default:
		return true;
	}
}

static size_t
fail(struct http_req *r, uint16_t code, size_t consumed)
{
	r->state = HTTP_S_ERROR;
	r->error = code;
	return consumed;
}

size_t
http_parse(struct http_req *r, const uint8_t *p, size_t n)
{
	size_t i = 0;

	if (r->state != HTTP_S_MORE)
		return 0;
	if (r->ps == P_BODY) {
		i = n < r->body_left ? n : (size_t)r->body_left;
		r->body_left -= i;
		if (r->body_left > 0)
			return i;
		request_reset(r);
	}
	for (; i < n; i++) {
		uint8_t c = p[i], k = cls[c];

		if (++r->head_bytes > r->max_head)
			return fail(r, 431, i);
		switch (r->ps) {
		case P_START:
			if (c == '\r') {
				r->ps = P_START_CR;
				break;
			}
			if (c == '\n')
				break;
			if (!(k & C_TCHAR))
				return fail(r, 400, i);
			r->started = true;
			r->match = (1u << NMETHODS) - 1;
			r->pos = 0;
			r->ps = P_METHOD;
			match_byte(r, methods, NMETHODS, c);
			break;
		case P_START_CR:
			if (c != '\n')
				return fail(r, 400, i);
			r->ps = P_START;
			break;
		case P_METHOD:
			if (k & C_TCHAR) {
				match_byte(r, methods, NMETHODS, c);
				break;
			}
			if (c != ' ')
				return fail(r, 400, i);
			switch (matched(r, methods, NMETHODS)) {
			case 0:
				r->method = HTTP_M_GET;
				break;
			case 1:
				r->method = HTTP_M_HEAD;
				break;
			default:
				r->method = HTTP_M_OTHER;
				break;
			}
			r->ps = P_TARGET0;
			break;
		case P_TARGET0:
			if (c == '/') {
				r->target = HTTP_T_ROOT;
				r->ps = P_TARGET_SLASH;
			} else if (k & C_VCHAR) {
				r->target = HTTP_T_OTHER; /* "*", absolute-form: not served here */
				r->ps = P_TARGET_REST;
			} else {
				return fail(r, 400, i);
			}
			break;
		case P_TARGET_SLASH:
		case P_TARGET_NUM:
			if (k & C_DIGIT) {
				if (r->size > MAX_SIZE_BEFORE_DIGIT) {
					r->target = HTTP_T_OTHER;
					r->ps = P_TARGET_REST;
					break;
				}
				r->target = HTTP_T_SIZE;
				r->size = r->size * 10 + (uint64_t)(c - '0');
				r->ps = P_TARGET_NUM;
				break;
			}
			if (c == ' ') {
				r->ps = P_VERSION;
				r->pos = 0;
			} else if (c == '?') {
				r->ps = P_TARGET_REST; /* the query: ignored */
			} else if (k & C_VCHAR) {
				r->target = HTTP_T_OTHER;
				r->ps = P_TARGET_REST;
			} else {
				return fail(r, 400, i);
			}
			break;
		case P_TARGET_REST:
			if (c == ' ') {
				r->ps = P_VERSION;
				r->pos = 0;
			} else if (!(k & C_VCHAR)) {
				return fail(r, 400, i);
			}
			break;
		case P_VERSION:
			if (r->pos < 7) {
				if (c != (uint8_t)"HTTP/1."[r->pos])
					return fail(r, 400, i);
			} else if (r->pos == 7) {
				if (!(k & C_DIGIT))
					return fail(r, 400, i);
				r->minor = (uint8_t)(c - '0');
			} else if (c == '\r') {
				r->ps = P_RL_CR;
			} else if (c == '\n') {
				r->ps = P_HDR_START;
			} else {
				return fail(r, 400, i);
			}
			r->pos++;
			break;
		case P_RL_CR:
		case P_HDR_CR:
			if (c != '\n' || (r->ps == P_HDR_CR && !value_end(r)))
				return fail(r, 400, i);
			r->ps = P_HDR_START;
			break;
		case P_HDR_START:
			if (c == '\r') {
				r->ps = P_END_CR;
				break;
			}
			if (c == '\n')
				goto head_done;
			/* Whitespace here is obs-fold (or junk after the request line): RFC 9112
			 * §5.2 lets a server reject it with 400. */
			if (!(k & C_TCHAR))
				return fail(r, 400, i);
			r->match = (1u << NHEADERS) - 1;
			r->pos = 0;
			r->ps = P_HDR_NAME;
			match_byte(r, headers, NHEADERS, lower(c));
			break;
		case P_HDR_NAME:
			if (k & C_TCHAR) {
				match_byte(r, headers, NHEADERS, lower(c));
				break;
			}
			/* No whitespace between name and colon (RFC 9112 §5.1: 400). */
			if (c != ':')
				return fail(r, 400, i);
			r->hdr = (uint8_t)matched(r, headers, NHEADERS);
			r->pos = 0;
			switch (r->hdr) {
			case H_HOST:
				if (r->hosts < UINT8_MAX)
					r->hosts++;
				break;
			case H_CONTENT_LENGTH:
				r->cl_value = 0;
				r->cl_digits = false;
				break;
			case H_CONNECTION:
				r->toklen = 0;
				break;
			case H_TRANSFER_ENCODING:
				r->has_te = true;
				break;
			default:
				break;
			}
			r->ps = P_HDR_OWS;
			break;
		case P_HDR_OWS:
			if (k & C_OWS)
				break;
			r->ps = P_HDR_VALUE;
			__attribute__((fallthrough)); /* this byte is the value's first */
		case P_HDR_VALUE:
			if (c == '\r') {
				r->ps = P_HDR_CR;
			} else if (c == '\n') {
				if (!value_end(r))
					return fail(r, 400, i);
				r->ps = P_HDR_START;
			} else if (!value_byte(r, c)) {
				return fail(r, 400, i);
			}
			break;
		case P_END_CR:
			if (c != '\n')
				return fail(r, 400, i);
			goto head_done;
		default:
			return fail(r, 400, i); /* P_BODY is handled above */
		}
	}
	return n;

head_done:
	if (!head_end(r))
		return fail(r, 400, i);
	r->state = HTTP_S_HEAD;
	return i + 1;
}
