-- List changes. PostgreSQL keeps a list clock in the database (its 0007),
-- since several instances write there. With SQLite one process writes
-- conversations and hands each write's list facts to its list cache right
-- after the commit (service/list_cache.rs), so there is nothing to store:
-- this migration keeps the two engines' migration numbers in step.
SELECT 1;
