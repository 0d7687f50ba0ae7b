-- A refusal a statement can raise. PostgreSQL has it as a function (its
-- 0011), for a send whose facts no longer hold; SQLite checks those facts
-- in the writer's own transaction, so it needs none: this migration keeps
-- the two engines' migration numbers in step.
SELECT 1;
