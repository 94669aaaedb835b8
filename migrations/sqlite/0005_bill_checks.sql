-- Daily reconciliation against WeChat's bill: one row a day (Beijing time), claimed by one instance
-- at a time, with both sides' totals, the raw bill as WeChat sent it, and every difference found.
CREATE TABLE bill_checks (
    bill_date     TEXT    PRIMARY KEY,
    state         TEXT    NOT NULL CHECK (state IN ('running', 'agreed', 'differences', 'no_bill', 'failed')),
    claimed_by    TEXT,
    claim_until   INTEGER,
    bill          TEXT,
    our_count     INTEGER NOT NULL DEFAULT 0,
    our_paid_fen  INTEGER NOT NULL DEFAULT 0,
    our_refund_fen INTEGER NOT NULL DEFAULT 0,
    bill_count    INTEGER NOT NULL DEFAULT 0,
    bill_paid_fen INTEGER NOT NULL DEFAULT 0,
    bill_refund_fen INTEGER NOT NULL DEFAULT 0,
    bill_charge_milli_fen INTEGER NOT NULL DEFAULT 0,
    differences   INTEGER NOT NULL DEFAULT 0,
    recorded_late INTEGER NOT NULL DEFAULT 0,
    error         TEXT    NOT NULL DEFAULT '',
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER
);

CREATE TABLE bill_differences (
    id              INTEGER PRIMARY KEY,
    bill_date       TEXT    NOT NULL REFERENCES bill_checks (bill_date) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('recorded_late', 'unknown_here', 'missing_in_bill',
                    'amount_differs', 'transaction_differs', 'refund_missing_in_bill', 'refund_unknown_here',
                    'refund_amount_differs', 'totals_differ')),
    out_trade_no    TEXT    NOT NULL DEFAULT '',
    out_refund_no   TEXT    NOT NULL DEFAULT '',
    registration_id INTEGER,
    ours_fen        INTEGER,
    bill_fen        INTEGER,
    detail          TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX bill_differences_day ON bill_differences (bill_date);
