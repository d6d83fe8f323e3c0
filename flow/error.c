/*
 * rf_error_message(): the text for each code, generated from the same table as the codes.
 */
#include "rawflow.h"

const char *
rf_error_message(int code)
{
	switch (code) {
	case RF_OK:
		return "success";
	case RF_EOF:
		return "end of file";
#define RF__MSG(name, msg) \
	case RF_##name: \
		return msg;
		RF_ERRNO_MAP(RF__MSG)
#undef RF__MSG
	default:
		return "unknown error";
	}
}
