/* auth.c: the constant-time bearer token check (see auth.h). */
#include "shim/auth.h"

#include <string.h>
#include <strings.h>

bool
shim_auth_bearer_ok(const char *authorization, const char *token)
{
	const char *given;
	size_t      given_len, token_len;
	unsigned    diff;

	if (authorization == NULL || token == NULL || *token == '\0'
	    || strncasecmp(authorization, "Bearer ", 7) != 0) {
		return false;
	}
	given     = authorization + 7;
	given_len = strlen(given);
	token_len = strlen(token);
	/*
	 * Walk the whole token whatever the input: every byte is read, and
	 * differences are OR-ed together, so the time taken tells nothing
	 * about how much of the token was right.
	 */
	diff = given_len != token_len;
	for (size_t i = 0; i < token_len; i++) {
		unsigned char g = i < given_len ? (unsigned char) given[i] : 0;
		diff |= (unsigned) (g ^ (unsigned char) token[i]);
	}
	return diff == 0;
}
