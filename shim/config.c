/* config.c: tpgateway's flag table and its cross-field checks (config.h). */
#include "shim/config.h"

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define KIB 1024LL
#define MIB (1024LL * 1024LL)

static const tp_cfg_opt opts[] = {
	{ "dtp-listen", "SHIM_DTP_LISTEN", NULL, TP_CFG_STR, "127.0.0.1:8080",
	    0, 0, offsetof(shim_config, dtp_listen),
	    "HTTP listen address (HOST:PORT) of the DTP routes (/tasks)" },
	{ "pilot-listen", "SHIM_PILOT_LISTEN", NULL, TP_CFG_STR,
	    "127.0.0.1:8081", 0, 0, offsetof(shim_config, pilot_listen),
	    "HTTP listen address (HOST:PORT) of the TaskPilot routes "
	    "(/api/tasks)" },
	{ "dtp-url", "SHIM_DTP_URL", NULL, TP_CFG_STR, "tcp://127.0.0.1:9090",
	    0, 0, offsetof(shim_config, dtp_url),
	    "DTP node RPC URLs, comma-separated" },
	{ "pilot-url", "SHIM_PILOT_URL", NULL, TP_CFG_STR,
	    "tcp://127.0.0.1:9091", 0, 0, offsetof(shim_config, pilot_url),
	    "TaskPilot RPC URLs, comma-separated" },
	{ "rpc-timeout-ms", "SHIM_RPC_TIMEOUT_MS", NULL, TP_CFG_INT, "5000", 10,
	    600000, offsetof(shim_config, rpc_timeout_ms),
	    "deadline of one RPC, retries included" },
	{ "threads", "SHIM_THREADS", NULL, TP_CFG_INT, "0", 0, 256,
	    offsetof(shim_config, threads),
	    "HTTP threads per listener (0: one per core)" },
	{ "max-connections", "SHIM_MAX_CONNECTIONS", NULL, TP_CFG_INT, "1024",
	    1, 65536, offsetof(shim_config, max_connections),
	    "open HTTP connections per listener" },
	{ "connection-timeout-s", "SHIM_CONNECTION_TIMEOUT_S", NULL, TP_CFG_INT,
	    "30", 1, 86400, offsetof(shim_config, connection_timeout_s),
	    "idle seconds before an HTTP connection is closed" },
	/*
	 * libmicrohttpd zeroes the whole pool after each request, so every
	 * open keep-alive connection keeps this much resident, plus 1-3
	 * KiB: 8 KiB keeps 1,000 connections under 32 MiB (shim/README.md,
	 * "Memory").
	 */
	{ "memory-limit-bytes", "SHIM_MEMORY_LIMIT_BYTES", NULL, TP_CFG_INT,
	    "8192", 8 * KIB, 16 * MIB,
	    offsetof(shim_config, memory_limit_bytes),
	    "memory per HTTP connection for its request line, headers and "
	    "read buffer: the request line and headers must fit in it "
	    "(larger is 431, or 414 for the URL); bodies are kept apart" },
	{ "max-body-bytes", "SHIM_MAX_BODY_BYTES", NULL, TP_CFG_INT, "266240",
	    1, 64 * MIB, offsetof(shim_config, max_body_bytes),
	    "largest request body (default: a 256 KiB payload plus 4 KiB); "
	    "larger is 413" },
	{ "json-max-depth", "SHIM_JSON_MAX_DEPTH", NULL, TP_CFG_INT, "32", 1,
	    1024, offsetof(shim_config, json_max_depth),
	    "deepest nesting of a JSON request body" },
	{ "max-msg-bytes", "SHIM_MAX_MSG_BYTES", NULL, TP_CFG_INT, "4194304",
	    8 * KIB, 4 * MIB, offsetof(shim_config, max_msg_bytes),
	    "largest RPC reply accepted" },
	{ "log-level", "TP_LOG_LEVEL", NULL, TP_CFG_STR, "info", 0, 0,
	    offsetof(shim_config, log_level), "error, warn, info or debug" },
	{ "api-token", "TP_API_TOKEN", NULL, TP_CFG_SECRET, NULL, 0, 0,
	    offsetof(shim_config, api_token),
	    "TP_API_TOKEN: when set, every route but /healthz needs "
	    "\"Authorization: Bearer <token>\"" },
	/* TLS, as rpc/README.md ("Flags for the binaries") names them. */
	{ "tls-ca", "SHIM_TLS_CA", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(shim_config, tls_ca),
	    "tls+tcp:// upstream URLs: PEM CA the services' certificates "
	    "must verify against (their names: each URL's host)" },
	{ "tls-cert", "SHIM_TLS_CERT", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(shim_config, tls_cert),
	    "PEM client certificate, for services that require one (with "
	    "--tls-key)" },
	{ "tls-key", "SHIM_TLS_KEY", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(shim_config, tls_key),
	    "PEM private key of --tls-cert, unencrypted (mode 0600)" },
};

const tp_cfg_spec shim_config_spec = {
	.prog    = "tpgateway",
	.summary = "tpgateway: the HTTP gateway. Maps the REST routes onto the "
	           "DTP and TaskPilot RPCs; holds no state.",
	.usage   = "[flags]",
	.opts    = opts,
	.n_opts  = sizeof(opts) / sizeof(opts[0]),
	.positional = false,
};

tp_status
shim_listen_parse(struct sockaddr_storage *out, socklen_t *out_len,
    const char *s, tp_err *err)
{
	char             host[256];
	const char      *port;
	const char      *colon;
	size_t           host_len;
	struct addrinfo  hints = { 0 };
	struct addrinfo *res   = NULL;
	long long        p;

	if (s == NULL || *s == '\0') {
		return tp_err_set(
		    err, TP_INVALID_ARGUMENT, "expected HOST:PORT");
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			return tp_err_set(
			    err, TP_INVALID_ARGUMENT, "expected [HOST]:PORT");
		}
		host_len = (size_t) (close - s - 1);
		memcpy(host, s + 1, host_len < sizeof(host) ? host_len : 0);
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon) {
			return tp_err_set(
			    err, TP_INVALID_ARGUMENT, "expected HOST:PORT");
		}
		host_len = (size_t) (colon - s);
		memcpy(host, s, host_len < sizeof(host) ? host_len : 0);
		port = colon + 1;
	}
	if (host_len == 0 || host_len >= sizeof(host)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "expected a numeric host before the port");
	}
	host[host_len] = '\0';
	if (port[0] < '0' || port[0] > '9'
	    || tp_cfg_parse_int(&p, port, 0, 65535, NULL) != TP_OK) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "expected a port from 0 to 65535");
	}
	hints.ai_flags    = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "expected a numeric IPv4 or IPv6 host");
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*out_len = res->ai_addrlen;
	freeaddrinfo(res);
	return TP_OK;
}

/* is_set: an empty flag or variable counts as unset. */
static bool
is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static tp_status
check_listen(const char *flag, const char *env, const char *value, tp_err *err)
{
	struct sockaddr_storage ss;
	socklen_t               len;
	tp_err                  e;

	if (shim_listen_parse(&ss, &len, value, &e) != TP_OK) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid value for --%s (%s): \"%s\": %s", flag, env,
		    value != NULL ? value : "", e.msg);
	}
	return TP_OK;
}

tp_status
shim_config_check(const shim_config *cfg, tp_err *err)
{
	static const rpc_tls_flags tls_flags = {
		.cert = { "tls-cert", "SHIM_TLS_CERT" },
		.key  = { "tls-key", "SHIM_TLS_KEY" },
		.ca   = { "tls-ca", "SHIM_TLS_CA" },
	};
	tp_log_level level;
	rpc_tls_opts tls;
	tp_status    rc;

	if ((rc = check_listen(
	         "dtp-listen", "SHIM_DTP_LISTEN", cfg->dtp_listen, err))
	    != TP_OK) {
		return rc;
	}
	if ((rc = check_listen(
	         "pilot-listen", "SHIM_PILOT_LISTEN", cfg->pilot_listen, err))
	    != TP_OK) {
		return rc;
	}
	if (cfg->log_level == NULL
	    || !tp_log_parse_level(&level, cfg->log_level)) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid value for --log-level (TP_LOG_LEVEL): \"%s\": "
		    "expected error, warn, info or debug",
		    cfg->log_level != NULL ? cfg->log_level : "");
	}
	if (cfg->dtp_url == NULL || cfg->dtp_url[0] == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid value for --dtp-url (SHIM_DTP_URL): \"\": "
		    "expected an nng URL");
	}
	if (cfg->pilot_url == NULL || cfg->pilot_url[0] == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid value for --pilot-url (SHIM_PILOT_URL): \"\": "
		    "expected an nng URL");
	}
	return rpc_tls_check(shim_config_tls(&tls, cfg), false, &tls_flags, err);
}

const rpc_tls_opts *
shim_config_tls(rpc_tls_opts *out, const shim_config *cfg)
{
	if (!is_set(cfg->tls_ca) && !is_set(cfg->tls_cert)
	    && !is_set(cfg->tls_key)) {
		return NULL;
	}
	memset(out, 0, sizeof(*out));
	out->ca_file   = is_set(cfg->tls_ca) ? cfg->tls_ca : NULL;
	out->cert_file = is_set(cfg->tls_cert) ? cfg->tls_cert : NULL;
	out->key_file  = is_set(cfg->tls_key) ? cfg->tls_key : NULL;
	return out;
}

int
shim_config_threads(const shim_config *cfg)
{
	long n;

	if (cfg->threads > 0) {
		return (int) cfg->threads;
	}
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int) n : 1;
}
