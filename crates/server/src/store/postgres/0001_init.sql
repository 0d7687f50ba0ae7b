-- yhconv schema for PostgreSQL, version 1. Same model as the SQLite schema:
-- a message writes one `message` row, updates one `chat` row and the
-- sender's `member` row, plus a row per mention, whatever the chat's size.

CREATE TABLE entity (
    id                  BIGINT PRIMARY KEY,
    kind                SMALLINT NOT NULL,          -- 1 user, 2 group, 3 bot
    name                TEXT     NOT NULL,
    avatar_url          TEXT     NOT NULL DEFAULT '',
    avatar_id           BIGINT   NOT NULL DEFAULT 0,
    certification_level BIGINT   NOT NULL DEFAULT 0,
    owner_id            BIGINT
);

CREATE TABLE account (
    user_id       BIGINT PRIMARY KEY REFERENCES entity(id),
    email         TEXT,
    password_hash TEXT,
    phone         TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX account_by_email ON account (lower(email));

CREATE TABLE token (
    hash       BYTEA  PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES entity(id),
    device_id  TEXT   NOT NULL DEFAULT '',
    platform   TEXT   NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL
);

CREATE TABLE chat (
    id              BIGSERIAL PRIMARY KEY,
    kind            SMALLINT NOT NULL,
    a               BIGINT   NOT NULL,
    b               BIGINT   NOT NULL,
    last_seq        BIGINT   NOT NULL DEFAULT 0,
    last_preview    TEXT     NOT NULL DEFAULT '',
    last_sender_id  BIGINT,
    last_message_ms BIGINT   NOT NULL DEFAULT 0,
    UNIQUE (kind, a, b)
);

CREATE TABLE member (
    user_id    BIGINT NOT NULL,
    peer_id    BIGINT NOT NULL,
    chat_id    BIGINT NOT NULL REFERENCES chat(id),
    read_seq   BIGINT NOT NULL DEFAULT 0,
    hidden_seq BIGINT,
    sort_ms    BIGINT NOT NULL DEFAULT 0,
    dnd        BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, peer_id)
);
CREATE INDEX member_by_chat ON member (chat_id, user_id);

CREATE TABLE message (
    chat_id      BIGINT NOT NULL REFERENCES chat(id),
    seq          BIGINT NOT NULL,
    msg_id       TEXT   NOT NULL,
    sender_id    BIGINT NOT NULL,
    content_type BIGINT NOT NULL,
    content      BYTEA  NOT NULL,
    quote_msg_id TEXT   NOT NULL DEFAULT '',
    sent_ms      BIGINT NOT NULL,
    PRIMARY KEY (chat_id, seq)
);
CREATE UNIQUE INDEX message_by_sender_msg_id ON message (sender_id, msg_id);
CREATE UNIQUE INDEX message_by_chat_msg_id ON message (chat_id, msg_id);

CREATE TABLE mention (
    chat_id      BIGINT NOT NULL,
    target_id    BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    mentioner_id BIGINT NOT NULL,
    PRIMARY KEY (chat_id, target_id, seq)
);

CREATE TABLE remark (
    user_id   BIGINT NOT NULL,
    target_id BIGINT NOT NULL,
    remark    TEXT   NOT NULL,
    PRIMARY KEY (user_id, target_id)
);
