-- An ID number belongs to the WeChat account that first registered with it: another account
-- cannot use it for any exam until staff release it. Existing data binds each number to the
-- account of its earliest registration.
CREATE TABLE id_number_owners (
    id_number     TEXT    PRIMARY KEY,
    candidate_id  INTEGER NOT NULL REFERENCES candidates (id),
    bound_at      INTEGER NOT NULL
);
INSERT INTO id_number_owners (id_number, candidate_id, bound_at)
    SELECT r.id_number, r.candidate_id, r.created_at FROM registrations r
    WHERE r.id = (SELECT MIN(e.id) FROM registrations e WHERE e.id_number = r.id_number);

-- Where each registration came from, so that unpaid holds can be limited per client address
-- across instances and restarts.
ALTER TABLE registrations ADD COLUMN client_addr TEXT;
CREATE INDEX registrations_unpaid_by_addr ON registrations (client_addr, status);
