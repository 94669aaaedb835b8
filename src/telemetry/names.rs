//! Every metric the service records, with its help text; the WeChat client's own
//! (`wechat_pay_calls_total`, …) live in `wechat_pay_v2::call_metrics`.

/// Requests by method, matched route template (never the raw path) and status.
pub const HTTP_REQUESTS: &str = "examdesk_http_requests_total";
/// Time to the response's head, by method and route.
pub const HTTP_DURATION: &str = "examdesk_http_request_duration_seconds";
/// Payment notifies by what became of them.
pub const NOTIFIES: &str = "examdesk_notifies_total";
/// Notifies written by one commit of the payment writer.
pub const PAYMENT_BATCH_SIZE: &str = "examdesk_payment_batch_size";
/// One batch's transaction, from its first statement to its commit.
pub const PAYMENT_BATCH_DURATION: &str = "examdesk_payment_batch_duration_seconds";
/// The commit alone: on SQLite the fsync the batch exists to share.
pub const PAYMENT_BATCH_COMMIT: &str = "examdesk_payment_batch_commit_seconds";
/// Passes of a background job, by job.
pub const JOB_RUNS: &str = "examdesk_job_runs_total";
/// Passes that stopped on an error or left an order unfinished, by job.
pub const JOB_FAILURES: &str = "examdesk_job_failures_total";
pub const JOB_DURATION: &str = "examdesk_job_duration_seconds";
/// Differences between WeChat's daily bill and our books, by kind.
pub const RECONCILIATION_DIFFERENCES: &str = "examdesk_reconciliation_differences_total";
/// Ticket PDFs asked for, by whether they were drawn or came from the cache.
pub const TICKET_RENDERS: &str = "examdesk_ticket_renders_total";
/// Drawing one ticket PDF (cache hits are not drawn).
pub const TICKET_RENDER_DURATION: &str = "examdesk_ticket_render_duration_seconds";
/// Connections and requests stopped by a client limit, by limit: `headers` (header time-out),
/// `body` (body time-out), `connections` (refused beyond the cap).
pub const CLIENT_LIMIT_HITS: &str = "examdesk_client_limit_hits_total";
/// Connections open now.
pub const CONNECTIONS_OPEN: &str = "examdesk_connections_open";

/// Seconds, for what answers a person waiting: a page, an API call, a notify.
const REQUEST_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Seconds of a commit: a fraction of a millisecond in memory, tens of milliseconds on a slow disk.
const COMMIT_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Notifies per batch, up to the writer's cap of 512.
const BATCH_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// Seconds of a job pass: milliseconds when idle, up to a minute when WeChat is slow.
const JOB_SECONDS: &[f64] = &[0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0];
/// Seconds of a ticket drawing: about 10–20 ms per ticket on one core.
const RENDER_SECONDS: &[f64] = &[0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5];

/// The counters and their help lines.
pub(super) const COUNTERS: &[(&str, &str)] = &[
    (
        HTTP_REQUESTS,
        "HTTP requests by method, route template and status",
    ),
    (NOTIFIES, "WeChat payment notifies by outcome"),
    (JOB_RUNS, "Background job passes by job"),
    (
        JOB_FAILURES,
        "Background job passes that failed or left work unfinished, by job",
    ),
    (
        RECONCILIATION_DIFFERENCES,
        "Daily bill reconciliation findings by kind",
    ),
    (
        TICKET_RENDERS,
        "Ticket PDFs served, by source (drawn or cached)",
    ),
    (
        CLIENT_LIMIT_HITS,
        "Connections or requests stopped by a client limit (headers, body, connections)",
    ),
];

/// The gauges and their help lines.
pub(super) const GAUGES: &[(&str, &str)] = &[(CONNECTIONS_OPEN, "HTTP connections open")];

/// The histograms, their help lines and bucket bounds (set explicitly, so that they are
/// exported as histograms rather than summaries and can be added up across instances).
pub(super) const HISTOGRAMS: &[(&str, &str, &[f64])] = &[
    (
        HTTP_DURATION,
        "Time from a request to its response head, by method and route template",
        REQUEST_SECONDS,
    ),
    (
        PAYMENT_BATCH_SIZE,
        "Payment notifies written per commit",
        BATCH_SIZES,
    ),
    (
        PAYMENT_BATCH_DURATION,
        "A payment batch's transaction, first statement to commit",
        COMMIT_SECONDS,
    ),
    (
        PAYMENT_BATCH_COMMIT,
        "The commit of a payment batch",
        COMMIT_SECONDS,
    ),
    (
        JOB_DURATION,
        "Background job pass duration by job",
        JOB_SECONDS,
    ),
    (
        TICKET_RENDER_DURATION,
        "Drawing one ticket PDF",
        RENDER_SECONDS,
    ),
    (
        wechat_pay_v2::call_metrics::CALL_DURATION,
        "WeChat API calls by api, retries included",
        REQUEST_SECONDS,
    ),
];
