/*
 * http_parse.h: an incremental HTTP/1.x request-head parser for rf-httpd.
 *
 * The parser is fed the bytes of a connection in whatever pieces they arrive (received
 * segments) and keeps its whole state in struct http_req: a request line or a header may be
 * split anywhere, even inside a CRLF, and nothing is copied or buffered. It reads each byte
 * once and remembers only what the server acts on (method, the target's class and number,
 * version, Host / Connection / Content-Length / Transfer-Encoding); every other header is
 * checked for syntax and skipped.
 *
 * Use:
 *   http_req_init(&r, max_head);
 *   n = http_parse(&r, p, len);   consumes n <= len bytes, then r.state says:
 *     HTTP_S_MORE   every byte was consumed, the head is not complete yet
 *     HTTP_S_HEAD   a whole head was read (the bytes after it are not consumed): answer it
 *                   from r's results, then call http_req_next()
 *     HTTP_S_ERROR  malformed (r.error 400) or head larger than max_head (r.error 431); the
 *                   connection cannot be resynchronised: answer and close
 *   http_req_next(&r) skips the request's body (Content-Length bytes, fed through
 *   http_parse() as usual) and prepares for the next request.
 *
 * Syntax accepted (RFC 9112): optional empty lines before the request line; "METHOD SP target
 * SP HTTP/1.d"; header lines "name: value" with optional whitespace around the value; lines
 * end in CRLF or a bare LF. Rejected with 400: a method that is not a token, a target with
 * control characters or spaces, a version other than HTTP/1.x, whitespace before a header's
 * colon, obs-fold (a header line starting with whitespace), a CR not followed by LF, control
 * characters in a value, an HTTP/1.1 request without exactly one Host, a Content-Length that is
 * not a number or repeats with another value, Content-Length together with Transfer-Encoding.
 */
#ifndef RF_APPS_HTTP_PARSE_H
#define RF_APPS_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_state {
	HTTP_S_MORE,
	HTTP_S_HEAD,
	HTTP_S_ERROR,
};

enum http_method {
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_OTHER, /* any other well-formed method token */
};

enum http_target {
	HTTP_T_ROOT,  /* "/" (a query string is ignored) */
	HTTP_T_SIZE,  /* "/N": decimal digits only, N in size (a query string is ignored) */
	HTTP_T_OTHER, /* anything else, including "/N" with N past UINT64_MAX / 16 */
};

struct http_req {
	/* Results, valid when state is HTTP_S_HEAD. */
	uint8_t state;       /* enum http_state */
	uint8_t method;      /* enum http_method */
	uint8_t target;      /* enum http_target */
	uint8_t minor;       /* HTTP/1.<minor> */
	bool conn_close;     /* Connection: close */
	bool conn_keepalive; /* Connection: keep-alive */
	bool has_te;         /* Transfer-Encoding present: the body's end is unknown here */
	uint16_t error;      /* with HTTP_S_ERROR: 400 or 431 */
	uint64_t size;       /* with HTTP_T_SIZE */
	uint64_t content_length;

	/* private */
	uint8_t ps;          /* the position in the grammar */
	uint8_t match;       /* method / header-name candidates still matching (bit set) */
	uint8_t hdr;         /* the header whose value is being read */
	uint8_t pos;         /* index in the word being matched */
	uint8_t hosts;       /* Host headers seen */
	bool has_cl;
	bool cl_digits;      /* the current Content-Length value has digits */
	bool started;        /* a byte of this request (other than leading empty lines) seen */
	char tok[12];        /* the current Connection token, lower case (longer: ignored) */
	uint8_t toklen;
	uint32_t head_bytes; /* bytes of the head so far */
	uint32_t max_head;
	uint64_t cl_value;   /* the current Content-Length value */
	uint64_t body_left;  /* body bytes still to skip */
};

/* Prepares r for a connection's first request; heads over max_head bytes fail with 431. */
void http_req_init(struct http_req *r, uint32_t max_head);
/* Consumes bytes of p[0..n) and returns how many; see the top for the states. Does nothing
 * (returns 0) in HTTP_S_HEAD or HTTP_S_ERROR. */
size_t http_parse(struct http_req *r, const uint8_t *p, size_t n);
/* After HTTP_S_HEAD: skip the request's body, then parse the next request. */
void http_req_next(struct http_req *r);
/* True when part of a request (or of its body) has been consumed but not all of it: a
 * connection that ends now ends mid-request. */
bool http_req_partial(const struct http_req *r);

#endif /* RF_APPS_HTTP_PARSE_H */
