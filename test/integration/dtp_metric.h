/*
 * dtp_metric.h: reading one value out of a DTP node's Metrics text, after
 * checking the whole text with the gateway's strict parser (shim/expo.h).
 * For the dtp_* integration tests that link tp_shim. Main thread.
 */
#ifndef TEST_DTP_METRIC_H
#define TEST_DTP_METRIC_H

#include "rpc/client.h"

/*
 * dtp_h_metric calls Metrics, checks the whole text strictly and returns
 * the value of the one sample called name whose labels include label
 * ("k=v", or NULL for any). Fails the test otherwise.
 */
double dtp_h_metric(rpc_client *c, const char *name, const char *label);

/*
 * dtp_h_metric_wait polls dtp_h_metric until it is want, up to timeout_ms
 * (a node counts an end just after it commits it). Fails the test
 * otherwise.
 */
void dtp_h_metric_wait(rpc_client *c, const char *name, const char *label,
    double want, int timeout_ms);

#endif /* TEST_DTP_METRIC_H */
