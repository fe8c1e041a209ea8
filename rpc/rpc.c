/*
 * rpc.c: what the RPC server and client share: TLS configurations built
 * from PEM files (rpc_tls_opts). See rpc/README.md ("TLS").
 *
 * The files are read here rather than with nng_tls_config_ca_file and
 * friends so that every failure names its file and says what is wrong
 * with it: nng reports a missing file and a bad one alike as a bare error
 * number, and takes the certificate and the key in one call.
 */
#include "rpc/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"
#include "rpc_int.h"

/* A certificate chain or a CA bundle is KiBs; this is ample. */
#define RPC_TLS_MAX_FILE_BYTES ((size_t) 1 << 20)

bool
rpc_url_is_tls(const char *url)
{
	const char *end;
	size_t      n;

	if (url == NULL || (end = strstr(url, "://")) == NULL) {
		return false;
	}
	n = (size_t) (end - url);
	if (n > 4 && strncasecmp(url, "tls+", 4) == 0) {
		return true;
	}
	return (n == 3 || n == 4) && strncasecmp(url, "wss", 3) == 0;
}

tp_status
rpc_tls_check(const rpc_tls_opts *o, bool is_server, const rpc_tls_flags *names,
    tp_err *err)
{
	const rpc_tls_flag *n = NULL;

	if (o == NULL) {
		return TP_OK;
	}
	if ((o->cert_file != NULL) != (o->key_file != NULL)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "--%s (%s) and --%s (%s) go together: set both or "
		    "neither",
		    names->cert.flag, names->cert.env, names->key.flag,
		    names->key.env);
	}
	if (is_server) {
		if (o->ca_file != NULL && o->cert_file == NULL) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "--%s (%s) needs --%s (%s) and --%s (%s): a TLS "
			    "server needs a certificate of its own",
			    names->ca.flag, names->ca.env, names->cert.flag,
			    names->cert.env, names->key.flag, names->key.env);
		}
		return TP_OK;
	}
	if (o->ca_file != NULL) {
		return TP_OK;
	}
	if (o->cert_file != NULL) {
		n = &names->cert;
	} else if (o->server_name != NULL && names->server_name.flag != NULL) {
		n = &names->server_name;
	}
	if (n != NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "--%s (%s) needs --%s (%s): a TLS client verifies the "
		    "server against it",
		    n->flag, n->env, names->ca.flag, names->ca.env);
	}
	return TP_OK;
}

/*
 * read_pem reads the whole file at path into a new NUL-terminated string
 * (*out, caller frees; explicit_bzero first for a key). what names the file
 * in messages ("certificate", "key", "CA").
 */
static tp_status
read_pem(char **out, const char *what, const char *path, tp_err *err)
{
	tp_status rc  = TP_OK;
	FILE     *f   = NULL;
	char     *buf = NULL;
	size_t    len = 0;
	size_t    n;

	if ((f = fopen(path, "rb")) == NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "could not read TLS %s file \"%s\": %s", what, path,
		    strerror(errno));
	}
	buf = tp_xmalloc(RPC_TLS_MAX_FILE_BYTES + 1);
	while ((n = fread(buf + len, 1, RPC_TLS_MAX_FILE_BYTES + 1 - len, f))
	    > 0) {
		len += n;
		if (len > RPC_TLS_MAX_FILE_BYTES) {
			break;
		}
	}
	if (ferror(f)) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "could not read TLS %s file \"%s\": %s", what, path,
		    strerror(errno));
		goto out;
	}
	if (len > RPC_TLS_MAX_FILE_BYTES) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "TLS %s file \"%s\" is larger than %zu bytes", what, path,
		    RPC_TLS_MAX_FILE_BYTES);
		goto out;
	}
	buf[len] = '\0';

out:
	fclose(f);
	if (rc != TP_OK) {
		explicit_bzero(buf, len);
		free(buf);
		return rc;
	}
	*out = buf;
	return TP_OK;
}

/* free_secret wipes and frees a NUL-terminated buffer; NULL: no-op. */
static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static bool
is_set(const char *path)
{
	return path != NULL && path[0] != '\0';
}

/*
 * load_ca adds the CA certificates in o->ca_file to cfg: the ones a peer's
 * certificate must verify against.
 */
static tp_status
load_ca(nng_tls_config *cfg, const rpc_tls_opts *o, tp_err *err)
{
	tp_status rc;
	char     *pem = NULL;

	if ((rc = read_pem(&pem, "CA", o->ca_file, err)) != TP_OK) {
		return rc;
	}
	if (nng_tls_config_ca_chain(cfg, pem, NULL) != 0) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "could not load TLS CA file \"%s\": not a PEM certificate",
		    o->ca_file);
	}
	free(pem);
	return rc;
}

/*
 * load_own_cert sets cfg's own certificate (chain) and private key. nng
 * takes both in one call and says only that it failed; the certificate is
 * then parsed alone, as a CA would be, to tell which file to blame. A key
 * that parses but does not belong to the certificate is not detected here
 * (nng does not check the pair): every handshake fails instead.
 */
static tp_status
load_own_cert(nng_tls_config *cfg, const rpc_tls_opts *o, tp_err *err)
{
	tp_status       rc    = TP_OK;
	char           *cert  = NULL;
	char           *key   = NULL;
	nng_tls_config *probe = NULL;
	bool            cert_ok;

	if ((rc = read_pem(&cert, "certificate", o->cert_file, err)) != TP_OK
	    || (rc = read_pem(&key, "key", o->key_file, err)) != TP_OK) {
		goto out;
	}
	if (nng_tls_config_own_cert(cfg, cert, key, NULL) == 0) {
		goto out;
	}
	cert_ok = nng_tls_config_alloc(&probe, NNG_TLS_MODE_CLIENT) == 0
	    && nng_tls_config_ca_chain(probe, cert, NULL) == 0;
	if (!cert_ok) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "could not load TLS certificate file \"%s\": not a PEM "
		    "certificate",
		    o->cert_file);
	} else {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "could not load TLS key file \"%s\": not an unencrypted "
		    "PEM private key",
		    o->key_file);
	}

out:
	if (probe != NULL) {
		nng_tls_config_free(probe);
	}
	free(cert);
	free_secret(key);
	return rc;
}

/* check_opts says what a server or a client needs before any file is read. */
static tp_status
check_opts(const rpc_tls_opts *o, bool is_server, tp_err *err)
{
	if (is_server) {
		if (!is_set(o->cert_file) || !is_set(o->key_file)) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "a TLS server needs a certificate file and a key "
			    "file");
		}
		if (o->require_client_cert && !is_set(o->ca_file)) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "cannot require client certificates without a "
			    "TLS CA file to verify them against");
		}
		return TP_OK;
	}
	if (!is_set(o->ca_file)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "a TLS client needs a CA file to verify the server "
		    "against");
	}
	if (is_set(o->cert_file) != is_set(o->key_file)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "a TLS client certificate needs both a certificate file "
		    "and a key file");
	}
	return TP_OK;
}

/*
 * set_server_name makes a client check the server's certificate against
 * o->server_name, or else the host of url.
 */
static tp_status
set_server_name(
    nng_tls_config *cfg, const rpc_tls_opts *o, const char *url, tp_err *err)
{
	tp_status rc = TP_OK;
	nng_url  *u  = NULL;
	int       rv;

	if (is_set(o->server_name)) {
		if ((rv = nng_tls_config_server_name(cfg, o->server_name))
		    != 0) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid TLS server name \"%s\": %s",
			    o->server_name, nng_strerror(rv));
		}
		return TP_OK;
	}
	if ((rv = nng_url_parse(&u, url)) != 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid server url \"%s\": %s", url, nng_strerror(rv));
	}
	if (u->u_hostname[0] == '\0') {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "server url \"%s\" has no host to check the TLS "
		    "certificate against",
		    url);
	} else if ((rv = nng_tls_config_server_name(cfg, u->u_hostname)) != 0) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid TLS server name \"%s\": %s", u->u_hostname,
		    nng_strerror(rv));
	}
	nng_url_free(u);
	return rc;
}

tp_status
rpc_tls_config_new(nng_tls_config **out, const rpc_tls_opts *o, bool is_server,
    const char *url, tp_err *err)
{
	tp_status       rc  = TP_OK;
	nng_tls_config *cfg = NULL;
	int             rv;

	if ((rc = check_opts(o, is_server, err)) != TP_OK) {
		return rc;
	}
	rv = nng_tls_config_alloc(
	    &cfg, is_server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv != 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "cannot use TLS: %s (nng's TLS engine: %s)",
		    nng_strerror(rv), nng_tls_engine_name());
	}
	if (is_set(o->cert_file)
	    && (rc = load_own_cert(cfg, o, err)) != TP_OK) {
		goto out;
	}
	if (is_set(o->ca_file) && (rc = load_ca(cfg, o, err)) != TP_OK) {
		goto out;
	}
	if (!is_server && (rc = set_server_name(cfg, o, url, err)) != TP_OK) {
		goto out;
	}
	/*
	 * A server asks for a client certificate only when it requires one:
	 * nng's "optional" mode would let a client whose certificate fails
	 * to verify in all the same. A client always verifies the server.
	 */
	rv = nng_tls_config_auth_mode(cfg,
	    !is_server || o->require_client_cert ? NNG_TLS_AUTH_MODE_REQUIRED
	                                         : NNG_TLS_AUTH_MODE_NONE);
	if (rv != 0) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "could not set the TLS authentication mode: %s",
		    nng_strerror(rv));
		goto out;
	}

out:
	if (rc != TP_OK) {
		nng_tls_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return TP_OK;
}
