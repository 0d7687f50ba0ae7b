-- List leases. PostgreSQL keeps them in the database (its 0010): instances
-- answering lists from memory, whom writers wait for. With SQLite one
-- process writes and answers, so there is nothing to store: this migration
-- keeps the two engines' migration numbers in step.
SELECT 1;
