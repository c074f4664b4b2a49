-- Who is logged in where with Extension Mobility. Durable state, kept apart from the
-- configuration: a login does not change what administrators configured (and does not count
-- as a configuration change).
CREATE TABLE em_login (
    device_id TEXT PRIMARY KEY REFERENCES device (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES end_user (id) ON DELETE CASCADE,
    device_profile_id TEXT NOT NULL REFERENCES device_profile (id) ON DELETE CASCADE,
    login_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT
);
CREATE INDEX em_login_user ON em_login (user_id);
