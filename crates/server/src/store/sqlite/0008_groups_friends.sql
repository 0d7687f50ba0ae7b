-- Groups, friends and profiles.
-- A profile's text and dates; a dismissed group keeps its entity (old
-- messages name it) and is nobody's any more: reads skip its member rows
-- and pins at once, and they are purged in batches afterwards.
ALTER TABLE entity ADD COLUMN introduction TEXT NOT NULL DEFAULT '';
ALTER TABLE entity ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entity ADD COLUMN dismissed_ms INTEGER NOT NULL DEFAULT 0;

-- A member's gag: 0 none, else until then (ms; the largest integer: until lifted).
ALTER TABLE member ADD COLUMN gag_until_ms INTEGER NOT NULL DEFAULT 0;

-- What save-user-remarks stores beside the name (an empty name shows no remark).
ALTER TABLE remark ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE remark ADD COLUMN extra TEXT NOT NULL DEFAULT '';

-- The address book: a friendship is two rows (one each way); a bot the
-- user added is one.
CREATE TABLE contact (
    user_id    INTEGER NOT NULL,
    peer_id    INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, peer_id)
) WITHOUT ROWID;
CREATE INDEX contact_by_peer ON contact (peer_id, user_id);

-- Friend requests. The id is what clients send back (a 32-bit int).
CREATE TABLE friend_request (
    id         INTEGER PRIMARY KEY,
    from_id    INTEGER NOT NULL,
    to_id      INTEGER NOT NULL,
    note       TEXT    NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    state      INTEGER NOT NULL DEFAULT 0,  -- 0 pending, 1 agreed, 2 rejected, 3 ignored
    settled_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX friend_request_by_to ON friend_request (to_id, id);
CREATE INDEX friend_request_by_from ON friend_request (from_id, id);

-- Bots added to groups.
CREATE TABLE group_bot (
    group_id INTEGER NOT NULL,
    bot_id   INTEGER NOT NULL,
    added_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, bot_id)
) WITHOUT ROWID;
