-- examdesk schema, SQLite dialect. Times are Unix seconds (UTC); money is integer fen.

CREATE TABLE exams (
    id            INTEGER PRIMARY KEY,
    code          TEXT    NOT NULL UNIQUE,
    title         TEXT    NOT NULL,
    fee_fen       INTEGER NOT NULL CHECK (fee_fen > 0),
    capacity      INTEGER NOT NULL CHECK (capacity > 0),
    -- seats held by unpaid registrations plus seats paid for; the atomic hold updates this row
    seats_taken   INTEGER NOT NULL DEFAULT 0 CHECK (seats_taken >= 0 AND seats_taken <= capacity),
    opens_at      INTEGER NOT NULL,
    closes_at     INTEGER NOT NULL,
    starts_at     INTEGER NOT NULL,
    venue         TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    seat_seed     INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CHECK (opens_at < closes_at AND closes_at <= starts_at)
);

CREATE TABLE exam_rooms (
    id        INTEGER PRIMARY KEY,
    exam_id   INTEGER NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
    room_no   INTEGER NOT NULL CHECK (room_no > 0),
    name      TEXT    NOT NULL,
    capacity  INTEGER NOT NULL CHECK (capacity > 0),
    -- highest seat handed out in order: the next payer gets the next one without a search
    next_seat INTEGER NOT NULL DEFAULT 0,
    UNIQUE (exam_id, room_no)
);

CREATE TABLE admins (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'finance', 'viewer')),
    created_at    INTEGER NOT NULL
);

CREATE TABLE candidates (
    id            INTEGER PRIMARY KEY,
    openid        TEXT    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL
);

-- Only a hash of each bearer token is stored.
CREATE TABLE candidate_sessions (
    token_hash    TEXT    PRIMARY KEY,
    candidate_id  INTEGER NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX candidate_sessions_expiry ON candidate_sessions (expires_at);

CREATE TABLE registrations (
    id            INTEGER PRIMARY KEY,
    exam_id       INTEGER NOT NULL REFERENCES exams (id),
    candidate_id  INTEGER NOT NULL REFERENCES candidates (id),
    name          TEXT    NOT NULL,
    id_number     TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN
                  ('pending_payment', 'paid', 'cancelled', 'expired', 'refunding', 'refunded')),
    -- a payment that arrived when no seat could be given any more: waits in the refund queue
    needs_refund  INTEGER NOT NULL DEFAULT 0,
    flags         TEXT    NOT NULL DEFAULT '',
    room_id       INTEGER REFERENCES exam_rooms (id),
    seat_no       INTEGER,
    ticket_no     TEXT,
    ticket_version INTEGER NOT NULL DEFAULT 0,
    hold_expires_at INTEGER,
    paid_at       INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
-- One live registration per candidate and exam, and per ID number and exam.
CREATE UNIQUE INDEX registrations_live_candidate ON registrations (exam_id, candidate_id)
    WHERE status IN ('pending_payment', 'paid', 'refunding');
CREATE UNIQUE INDEX registrations_live_id_number ON registrations (exam_id, id_number)
    WHERE status IN ('pending_payment', 'paid', 'refunding');
-- A refunded registration keeps its ticket number for the record; the seat (and so the number)
-- may be given to someone else.
CREATE UNIQUE INDEX registrations_ticket_no ON registrations (exam_id, ticket_no)
    WHERE status IN ('paid', 'refunding');
CREATE UNIQUE INDEX registrations_seat ON registrations (room_id, seat_no);
CREATE INDEX registrations_candidate ON registrations (candidate_id);
CREATE INDEX registrations_exam_status ON registrations (exam_id, status);

CREATE TABLE photos (
    registration_id INTEGER PRIMARY KEY REFERENCES registrations (id) ON DELETE CASCADE,
    content_type  TEXT    NOT NULL,
    bytes         BLOB    NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    registration_id INTEGER NOT NULL REFERENCES registrations (id),
    out_trade_no    TEXT    NOT NULL UNIQUE,
    total_fee       INTEGER NOT NULL CHECK (total_fee > 0),
    sign_type       TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('created', 'prepaid', 'paid', 'closed')),
    prepay_id       TEXT,
    prepay_expires_at INTEGER,
    transaction_id  TEXT    UNIQUE,
    paid_fee        INTEGER,
    paid_at         INTEGER,
    closed_at       INTEGER,
    -- a background job claims a row until claim_until, so two instances never work on it at once
    claimed_by      TEXT,
    claim_until     INTEGER,
    last_queried_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- One open order per registration; a new one only once the previous one is closed.
CREATE UNIQUE INDEX orders_open_per_registration ON orders (registration_id)
    WHERE status IN ('created', 'prepaid');
CREATE INDEX orders_status_created ON orders (status, created_at);

CREATE TABLE refunds (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES orders (id),
    out_refund_no   TEXT    NOT NULL UNIQUE,
    refund_fee      INTEGER NOT NULL CHECK (refund_fee > 0),
    reason          TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('requested', 'processing', 'success', 'failed', 'closed')),
    refund_id       TEXT,
    admin_id        INTEGER REFERENCES admins (id),
    claimed_by      TEXT,
    claim_until     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id);

CREATE TABLE admin_sessions (
    token_hash    TEXT    PRIMARY KEY,
    admin_id      INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);

CREATE TABLE admin_login_failures (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL,
    address       TEXT    NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX admin_login_failures_lookup ON admin_login_failures (username, address, at);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    admin_id      INTEGER REFERENCES admins (id),
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    target        TEXT    NOT NULL DEFAULT '',
    amount_fen    INTEGER,
    reason        TEXT    NOT NULL DEFAULT '',
    detail        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Every callback WeChat sent, as received, whatever became of it.
CREATE TABLE wechat_callbacks (
    id            INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (kind IN ('pay', 'refund')),
    received_at   INTEGER NOT NULL,
    out_trade_no  TEXT,
    body          TEXT    NOT NULL,
    outcome       TEXT    NOT NULL
);
CREATE INDEX wechat_callbacks_trade ON wechat_callbacks (out_trade_no);

-- Small facts the service keeps about itself (e.g. the demo set-up).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
