-- The push feed catches up after reconnecting by looking up the messages
-- sent since shortly before it lost its connection.
CREATE INDEX message_by_sent_ms ON message (sent_ms);
