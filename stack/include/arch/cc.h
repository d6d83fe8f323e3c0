/*
 * lwIP's platform header: diagnostics, assertions and randomness for rawflow.
 * Byte order comes from the compiler (lwIP's own default), so it is not redefined here.
 */
#ifndef RF_ARCH_CC_H
#define RF_ARCH_CC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LWIP_NO_STDINT_H 0
#define LWIP_NO_INTTYPES_H 0

/* lwIP's debug text goes to stderr; LWIP_DEBUG is off in lwipopts.h, so only in debugging
 * builds. */
#define LWIP_PLATFORM_DIAG(x) \
	do { \
		printf x; \
	} while (0)

/* A broken lwIP invariant is a bug: report where and stop. */
void rf__lwip_assert(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_ASSERT(x) rf__lwip_assert((x), __FILE__, __LINE__)

uint32_t rf__lwip_rand(void);
#define LWIP_RAND() rf__lwip_rand()

#endif /* RF_ARCH_CC_H */
