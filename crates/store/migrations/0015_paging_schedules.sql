-- Scheduled pages: a tone or a WAV file sent to recipient groups at a time of day, weekly on
-- chosen days or once on a date, in a time zone.
CREATE TABLE paging_schedule (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    tone TEXT,
    file TEXT,
    days TEXT,
    date TEXT,
    time_of_day TEXT NOT NULL,
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    repeat_count BIGINT NOT NULL DEFAULT 1,
    preamble BOOLEAN NOT NULL DEFAULT TRUE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE paging_schedule_groups (
    owner_id TEXT NOT NULL REFERENCES paging_schedule (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES paging_group (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);
