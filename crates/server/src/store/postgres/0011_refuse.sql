-- A statement that must not go on refuses with `yhconv_refuse(reason)`:
-- it fails with SQLSTATE YH001, so the transaction it runs in rolls back
-- even when its COMMIT was sent in the same pipeline. A send whose facts
-- no longer hold (its sender left or was gagged or renamed) refuses so
-- (store/postgres/chats.rs, `STORE_MESSAGE`).
CREATE FUNCTION yhconv_refuse(reason TEXT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'YH001', MESSAGE = reason;
END
$$;
