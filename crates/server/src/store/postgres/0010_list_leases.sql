-- List leases (store/postgres/leases.rs): an instance holding one answers
-- list requests from its cache with no round trip to the database. A
-- transaction that moves the list clock reads the leases in force after
-- taking the clock's row and, once committed, waits until each holder has
-- handed its change on, or until that lease has run out. One row per
-- listening session of an instance; a row past its expiry holds nothing.
CREATE TABLE list_lease (
    holder     BIGINT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
