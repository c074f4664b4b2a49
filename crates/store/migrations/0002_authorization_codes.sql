-- Forced Authorization Codes and Client Matter Codes, entered after '#' on route patterns
-- that require them.
CREATE TABLE forced_authorization_code (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL UNIQUE,
    authorization_level BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE client_matter_code (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);
