-- Drafts (`inputInfo` / `draft_input`): what a user last typed in a chat,
-- one row per (user, chat as they see it), replaced by the next draft and
-- deleted by an empty one or by the user's send in that chat.
CREATE TABLE draft (
    user_id    INTEGER NOT NULL,
    peer_id    INTEGER NOT NULL,
    input      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, peer_id)
);
