/*
 * rpc.h: what the RPC server and client share: the TLS options for
 * tls+tcp:// URLs. Included by rpc/server.h and rpc/client.h.
 */
#ifndef RPC_RPC_H
#define RPC_RPC_H

#include <stdbool.h>

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


#endif /* RPC_RPC_H */
