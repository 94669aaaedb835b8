-- A callback refused before it proved to come from WeChat (no valid signature, not even XML, a
-- refund notify whose req_info does not decrypt) is anyone's post to a public route: it keeps a
-- short record, never its body, so that strangers cannot fill the disk through it.
CREATE TABLE refused_callbacks (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('pay', 'refund')),
    received_at  INTEGER NOT NULL,
    address      TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    size         INTEGER NOT NULL
);
CREATE INDEX refused_callbacks_received ON refused_callbacks (received_at);

-- Such rows kept so far move over, without their bodies.
INSERT INTO refused_callbacks (kind, received_at, address, reason, size)
    SELECT kind, received_at, '', outcome, length(CAST(body AS BLOB)) FROM wechat_callbacks
    WHERE outcome IN ('refused: bad signature', 'refused: malformed XML')
        OR (kind = 'refund' AND outcome IN ('refused: another merchant', 'refused: invalid notify'));
DELETE FROM wechat_callbacks
    WHERE outcome IN ('refused: bad signature', 'refused: malformed XML')
        OR (kind = 'refund' AND outcome IN ('refused: another merchant', 'refused: invalid notify'));
