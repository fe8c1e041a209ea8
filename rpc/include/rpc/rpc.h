/*
 * rpc.h: what the RPC server and client share: the TLS options for
 * tls+tcp:// URLs. Included by rpc/server.h and rpc/client.h.
 */
#ifndef RPC_RPC_H
#define RPC_RPC_H

#include <stdbool.h>

#include "common/status.h"

/*
 * rpc_tls_opts: TLS for tls+tcp:// (and wss://) URLs, read from PEM files
 * when the server starts or the client opens; the files are not read again
 * (a renewed certificate takes a restart). Plain URLs ignore it. All paths
 * are borrowed for the rpc_server_start or rpc_client_open call only.
 * rpc/README.md ("TLS") says how to make the files.
 *
 * Server: cert_file and key_file are required (the server's certificate,
 * or its chain, leaf first, and its unencrypted private key). With
 * require_client_cert, every client must present a certificate that
 * verifies against ca_file (mutual TLS); without it, clients are not asked
 * for one and ca_file, when set, is only checked for loading.
 *
 * Client: ca_file is required: the server's certificate must verify against
 * it, and its name must match server_name (NULL: the URL's host). With
 * mbedTLS (Debian's nng), a name is matched against the certificate's DNS
 * names only (or its CN when it has none): for tls+tcp://127.0.0.1 the
 * certificate needs "DNS:127.0.0.1", an "IP:" entry is not enough. cert_file
 * and key_file, both or neither, are the client's own certificate for a
 * server with require_client_cert. require_client_cert is ignored.
 */
typedef struct rpc_tls_opts {
	const char *cert_file;   /* PEM certificate (chain), leaf first */
	const char *key_file;    /* PEM private key, unencrypted */
	const char *ca_file;     /* PEM CA certificate(s) to verify the peer */
	const char *server_name; /* client: name to check; NULL: URL host */
	bool        require_client_cert; /* server: mutual TLS */
} rpc_tls_opts;

/*
 * rpc_tls_flags names the flags (and their environment variables) a program
 * fills rpc_tls_opts from, for the messages of rpc_tls_check: for a server
 * ca is its client CA flag. A NULL flag: the program has no such flag.
 */
typedef struct rpc_tls_flag {
	const char *flag; /* "tls-cert" */
	const char *env;  /* "DTP_TLS_CERT" */
} rpc_tls_flag;

typedef struct rpc_tls_flags {
	rpc_tls_flag cert;
	rpc_tls_flag key;
	rpc_tls_flag ca;
	rpc_tls_flag server_name;
} rpc_tls_flags;

/*
 * rpc_tls_check says what a set of TLS settings lacks before any file is
 * read (the files are checked when the server starts or the client opens):
 * a certificate without its key or a key without its certificate; for a
 * server, a client CA without a certificate of its own; for a client, a
 * certificate or a server name without the CA to verify the server.
 * INVALID_ARGUMENT naming the flags, or TP_OK. o NULL: no TLS, TP_OK.
 */
TP_MUST_CHECK tp_status rpc_tls_check(const rpc_tls_opts *o, bool is_server,
    const rpc_tls_flags *names, tp_err *err);


#endif /* RPC_RPC_H */
