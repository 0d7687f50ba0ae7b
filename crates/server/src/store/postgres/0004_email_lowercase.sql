-- Emails are stored as the rules layer normalizes them (trimmed, lower
-- case) and compared exactly.
UPDATE account SET email = lower(trim(email)) WHERE email IS NOT NULL;
