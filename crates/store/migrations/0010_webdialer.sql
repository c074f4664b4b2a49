-- WebDialer: each user's preferences (kept, like any setting a user saves) and the sessions
-- a login opens (the browser's cookie and the JSON API's bearer token), stored as SHA-256 of
-- the token so a copy of the database opens no session.
CREATE TABLE webdialer_preference (
    user_id TEXT PRIMARY KEY REFERENCES end_user (id) ON DELETE CASCADE,
    use_em BIGINT NOT NULL,
    device_name TEXT,
    line_number TEXT,
    dont_auto_close BIGINT NOT NULL,
    dont_show_call_conf BIGINT NOT NULL
);

CREATE TABLE webdialer_session (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES end_user (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
