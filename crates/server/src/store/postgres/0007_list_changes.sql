-- The list clock: moved by every write that can change a conversation list,
-- in the same statement as the NOTIFY that tells every instance what changed
-- (domain/list_change.rs). The row stays locked until the writer commits, so
-- clock values are taken in commit order, without gaps: an instance that
-- reads N and has been handed every change up to N knows every committed one.
CREATE TABLE list_clock (
    id    SMALLINT PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO list_clock (id, value) VALUES (1, 0);
