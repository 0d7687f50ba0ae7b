-- Pins (`/v1/sticky/*`): one row per user and pinned chat. The id is what
-- clients send back to move a pin first; clients parse it as a 32-bit int.
CREATE TABLE pin (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    peer_id    INTEGER NOT NULL,
    sort_ms    INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (user_id, peer_id)
);
