-- Placeholder for 0008 (groups, friends, profiles: issue 13), replaced at merge.
SELECT 1;
