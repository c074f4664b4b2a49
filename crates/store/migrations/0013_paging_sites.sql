-- Paging sites: device pools whose pages take multicast addresses from ranges of their own.
CREATE TABLE paging_site (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    device_pool_id TEXT NOT NULL REFERENCES device_pool (id) ON DELETE CASCADE,
    multicast_first TEXT NOT NULL,
    multicast_count BIGINT NOT NULL DEFAULT 16
);
