-- Counters the database keeps about itself.
-- identity_epoch: bumped by every identity import, from any process (a
-- server, `yhconv admin`, `yhconv import`). A server keeps encoded lists in
-- memory only while it stays the same.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('identity_epoch', 0);
