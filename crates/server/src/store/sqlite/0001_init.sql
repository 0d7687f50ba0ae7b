-- yhconv schema, version 1.
-- Cheap writes, exact reads: a message writes one `message` row, updates one
-- `chat` row and one `member` row (the sender's), plus a row per mention,
-- whatever the size of the chat.

-- Users, groups and bots share one id space.
CREATE TABLE entity (
    id                  INTEGER PRIMARY KEY,
    kind                INTEGER NOT NULL,          -- 1 user, 2 group, 3 bot
    name                TEXT    NOT NULL,
    avatar_url          TEXT    NOT NULL DEFAULT '',
    avatar_id           INTEGER NOT NULL DEFAULT 0,
    certification_level INTEGER NOT NULL DEFAULT 0,
    owner_id            INTEGER                    -- groups only
);

CREATE TABLE account (
    user_id       INTEGER PRIMARY KEY REFERENCES entity(id),
    email         TEXT UNIQUE COLLATE NOCASE,
    password_hash TEXT,
    phone         TEXT NOT NULL DEFAULT ''
);

-- Tokens are stored as sha256 hashes, never in the clear.
CREATE TABLE token (
    hash       BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES entity(id),
    device_id  TEXT NOT NULL DEFAULT '',
    platform   TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per chat: a group, a pair of users, or a user with a bot.
-- (kind, a, b): group (2, group, 0); direct (1, lower user, higher user);
-- bot (3, user, bot).
CREATE TABLE chat (
    id              INTEGER PRIMARY KEY,
    kind            INTEGER NOT NULL,
    a               INTEGER NOT NULL,
    b               INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    last_preview    TEXT    NOT NULL DEFAULT '',
    last_sender_id  INTEGER,
    last_message_ms INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, a, b)
);

-- One row per user and chat: the user's view of it. `peer_id` is the chat
-- as this user sees it (the other user, the group, the bot).
CREATE TABLE member (
    user_id    INTEGER NOT NULL,
    peer_id    INTEGER NOT NULL,
    chat_id    INTEGER NOT NULL REFERENCES chat(id),
    read_seq   INTEGER NOT NULL DEFAULT 0,
    hidden_seq INTEGER,                 -- set by remove: hidden until last_seq passes it
    sort_ms    INTEGER NOT NULL DEFAULT 0,
    dnd        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, peer_id)
) WITHOUT ROWID;
CREATE INDEX member_by_chat ON member (chat_id, user_id);

CREATE TABLE message (
    chat_id      INTEGER NOT NULL REFERENCES chat(id),
    seq          INTEGER NOT NULL,
    msg_id       TEXT    NOT NULL,
    sender_id    INTEGER NOT NULL,
    content_type INTEGER NOT NULL,
    content      BLOB    NOT NULL,
    quote_msg_id TEXT    NOT NULL DEFAULT '',
    sent_ms      INTEGER NOT NULL,
    PRIMARY KEY (chat_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX message_by_sender_msg_id ON message (sender_id, msg_id);
CREATE UNIQUE INDEX message_by_chat_msg_id ON message (chat_id, msg_id);

-- Only mentioned users get rows; `target_id` 0 means everyone (`all`).
CREATE TABLE mention (
    chat_id      INTEGER NOT NULL,
    target_id    INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    mentioner_id INTEGER NOT NULL,
    PRIMARY KEY (chat_id, target_id, seq)
) WITHOUT ROWID;

CREATE TABLE remark (
    user_id   INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    remark    TEXT    NOT NULL,
    PRIMARY KEY (user_id, target_id)
) WITHOUT ROWID;
