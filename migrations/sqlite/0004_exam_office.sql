-- The exam office around the payment: qualification review, photo rules per exam, door check-in
-- and the exam-day sheets printed in bulk. Run with foreign keys off (see db::migrate): SQLite
-- cannot change a CHECK in place, so `registrations` is rebuilt, the way SQLite documents it.

ALTER TABLE exams ADD COLUMN review TEXT NOT NULL DEFAULT 'none' CHECK (review IN ('none', 'manual'));
-- Minutes after the start during which candidates are still let in.
ALTER TABLE exams ADD COLUMN late_minutes INTEGER NOT NULL DEFAULT 30 CHECK (late_minutes >= 0);
-- Photo rules. Defaults: a one-inch (一寸) photo at 300 dpi is 295 px wide; 390 px high lets a
-- 3:4 photo of that width through as well as the 295 x 413 one-inch and 413 x 579 two-inch sizes,
-- whose width/height (0.714) is within 5 % of 3:4.
ALTER TABLE exams ADD COLUMN photo_min_width INTEGER NOT NULL DEFAULT 295 CHECK (photo_min_width > 0);
ALTER TABLE exams ADD COLUMN photo_min_height INTEGER NOT NULL DEFAULT 390 CHECK (photo_min_height > 0);
ALTER TABLE exams ADD COLUMN photo_aspect_width INTEGER NOT NULL DEFAULT 3 CHECK (photo_aspect_width > 0);
ALTER TABLE exams ADD COLUMN photo_aspect_height INTEGER NOT NULL DEFAULT 4 CHECK (photo_aspect_height > 0);
ALTER TABLE exams ADD COLUMN photo_aspect_tolerance_pct INTEGER NOT NULL DEFAULT 5
    CHECK (photo_aspect_tolerance_pct >= 0 AND photo_aspect_tolerance_pct <= 50);
ALTER TABLE exams ADD COLUMN photo_max_bytes INTEGER NOT NULL DEFAULT 2097152
    CHECK (photo_max_bytes > 0 AND photo_max_bytes <= 2097152);

CREATE TABLE registrations_new (
    id            INTEGER PRIMARY KEY,
    exam_id       INTEGER NOT NULL REFERENCES exams (id),
    candidate_id  INTEGER NOT NULL REFERENCES candidates (id),
    name          TEXT    NOT NULL,
    id_number     TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN
                  ('under_review', 'rejected', 'pending_payment', 'paid', 'cancelled', 'expired',
                   'refunding', 'refunded')),
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
    updated_at    INTEGER NOT NULL,
    -- the reason of the last rejection, shown to the candidate
    review_note   TEXT,
    reviewed_at   INTEGER
);
INSERT INTO registrations_new (id, exam_id, candidate_id, name, id_number, phone, status, needs_refund,
    flags, room_id, seat_no, ticket_no, ticket_version, hold_expires_at, paid_at, created_at, updated_at)
SELECT id, exam_id, candidate_id, name, id_number, phone, status, needs_refund, flags, room_id, seat_no,
    ticket_no, ticket_version, hold_expires_at, paid_at, created_at, updated_at FROM registrations;
DROP TABLE registrations;
ALTER TABLE registrations_new RENAME TO registrations;
-- One live registration per candidate and exam, and per ID number and exam; one under review holds
-- its seat, so it is live.
CREATE UNIQUE INDEX registrations_live_candidate ON registrations (exam_id, candidate_id)
    WHERE status IN ('under_review', 'pending_payment', 'paid', 'refunding');
CREATE UNIQUE INDEX registrations_live_id_number ON registrations (exam_id, id_number)
    WHERE status IN ('under_review', 'pending_payment', 'paid', 'refunding');
CREATE UNIQUE INDEX registrations_ticket_no ON registrations (exam_id, ticket_no)
    WHERE status IN ('paid', 'refunding');
CREATE UNIQUE INDEX registrations_seat ON registrations (room_id, seat_no);
CREATE INDEX registrations_candidate ON registrations (candidate_id);
CREATE INDEX registrations_exam_status ON registrations (exam_id, status);

-- One check-in per registration: the primary key makes two staff scanning at once record one.
CREATE TABLE checkins (
    registration_id INTEGER PRIMARY KEY REFERENCES registrations (id),
    exam_id       INTEGER NOT NULL REFERENCES exams (id),
    room_id       INTEGER REFERENCES exam_rooms (id),
    at            INTEGER NOT NULL,
    admin_id      INTEGER REFERENCES admins (id),
    actor         TEXT    NOT NULL
);
CREATE INDEX checkins_exam ON checkins (exam_id, room_id);

-- Check-ins refused at the door, kept for the record and the attendance page.
CREATE TABLE checkin_refusals (
    id              INTEGER PRIMARY KEY,
    registration_id INTEGER NOT NULL REFERENCES registrations (id),
    exam_id         INTEGER NOT NULL REFERENCES exams (id),
    room_id         INTEGER REFERENCES exam_rooms (id),
    reason          TEXT    NOT NULL CHECK (reason IN ('void', 'other_day', 'too_late')),
    at              INTEGER NOT NULL,
    admin_id        INTEGER REFERENCES admins (id),
    actor           TEXT    NOT NULL
);
CREATE INDEX checkin_refusals_exam ON checkin_refusals (exam_id, room_id);

-- Bulk prints are tickets, door lists (考场门贴) or sign-in sheets (考生签到表).
ALTER TABLE ticket_batches ADD COLUMN kind TEXT NOT NULL DEFAULT 'tickets'
    CHECK (kind IN ('tickets', 'door_lists', 'sign_in_sheets'));
