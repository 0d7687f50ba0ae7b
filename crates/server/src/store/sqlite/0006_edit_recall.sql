-- Edits and recalls. A recall empties the message and stamps recall_ms; the
-- partial index lets a list count the recalled messages a reader has not
-- read (they count as read) without touching any member row.
ALTER TABLE message ADD COLUMN edit_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE message ADD COLUMN recall_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE message ADD COLUMN recalled_by INTEGER;
CREATE INDEX message_recalled ON message (chat_id, seq) WHERE recall_ms > 0;
-- The highest recalled seq of each chat: a reader whose position is at or
-- above it has no recalled message to discount, and a list looks no further.
ALTER TABLE chat ADD COLUMN max_recalled_seq INTEGER NOT NULL DEFAULT 0;

-- The content a message had before each edit.
CREATE TABLE edit_record (
    id           INTEGER PRIMARY KEY,
    chat_id      INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    content_type INTEGER NOT NULL,
    content      BLOB    NOT NULL,
    edit_ms      INTEGER NOT NULL
);
CREATE INDEX edit_record_by_message ON edit_record (chat_id, seq, id);

-- A member's role in a group: 0 member, 1 admin (the owner is entity.owner_id).
ALTER TABLE member ADD COLUMN role INTEGER NOT NULL DEFAULT 0;

-- Edit records are asked for by msg_id alone.
CREATE INDEX message_by_msg_id ON message (msg_id);
