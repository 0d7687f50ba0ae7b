-- Pins (`/v1/sticky/*`): one row per user and pinned chat. The id is what
-- clients send back to move a pin first; clients parse it as a 32-bit int
-- (SERIAL is one).
CREATE TABLE pin (
    id         SERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    peer_id    BIGINT NOT NULL,
    sort_ms    BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (user_id, peer_id)
);
