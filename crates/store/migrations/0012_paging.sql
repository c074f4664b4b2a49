-- The paging server's recipient groups: phones by name and by attribute, each group answering
-- its DialCast number.
CREATE TABLE paging_group (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    dialcast_number TEXT NOT NULL,
    device_pool_id TEXT REFERENCES device_pool (id),
    model TEXT NOT NULL DEFAULT '',
    description_contains TEXT NOT NULL DEFAULT '',
    number_pattern TEXT,
    skip_busy BOOLEAN NOT NULL DEFAULT FALSE,
    skip_dnd BOOLEAN NOT NULL DEFAULT FALSE,
    emergency BOOLEAN NOT NULL DEFAULT FALSE,
    join_deadline_ms BIGINT NOT NULL DEFAULT 3000,
    volume BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE paging_group_devices (
    owner_id TEXT NOT NULL REFERENCES paging_group (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES device (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);
