-- Wrong Extension Mobility PINs per user and, once past Failed Logon, until when the user is
-- locked out: kept in the store so a restart does not forgive a lockout.
CREATE TABLE em_pin_lockout (
    user_id TEXT PRIMARY KEY REFERENCES end_user (id) ON DELETE CASCADE,
    failures BIGINT NOT NULL,
    locked_until_ms BIGINT
);
