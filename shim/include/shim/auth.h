/*
 * auth.h: the bearer token check of DESIGN §8. Pure; any thread.
 */
#ifndef SHIM_AUTH_H
#define SHIM_AUTH_H

#include <stdbool.h>

/*
 * shim_auth_bearer_ok tells whether an Authorization header value (borrowed,
 * NULL when absent) is "Bearer <token>" for token (non-empty). The scheme is
 * case-insensitive; the token is compared in time that depends only on the
 * token's length, never on where the first difference is.
 */
bool shim_auth_bearer_ok(const char *authorization, const char *token);

#endif /* SHIM_AUTH_H */
