-- Bulk ticket PDFs for printing: progress and the result live in the database, so any instance
-- behind the proxy can show the progress page and serve the file.
CREATE TABLE ticket_batches (
    id          INTEGER PRIMARY KEY,
    exam_id     INTEGER NOT NULL REFERENCES exams (id),
    room_no     INTEGER,
    total       INTEGER NOT NULL,
    done        INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    pdf         BLOB,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
