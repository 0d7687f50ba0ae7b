-- Emails are stored as the rules layer normalizes them (trimmed, lower
-- case) and compared exactly, as in PostgreSQL. (SQLite's lower() folds
-- ASCII only; the rules layer folds every letter for new emails.)
UPDATE account SET email = lower(trim(email)) WHERE email IS NOT NULL;
