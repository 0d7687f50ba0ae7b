-- Counters the database keeps about itself.
-- identity_epoch: bumped by every identity import, from any process.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('identity_epoch', 0);
