-- Unified CM's administrator model. Portable SQL: the same file runs on SQLite and PostgreSQL.
-- Every row has a text id (a UUID, like Unified CM's pkid) and a natural key the administrator
-- knows (a name, or a pattern in a partition). Join tables are named <owner>_<list> with
-- (owner_id, target_id | value, position).

CREATE TABLE partition (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE calling_search_space (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE calling_search_space_partitions (
    owner_id TEXT NOT NULL REFERENCES calling_search_space (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES partition (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);

CREATE TABLE node (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE node_services (
    owner_id TEXT NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, value)
);

CREATE TABLE node_group (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE node_group_nodes (
    owner_id TEXT NOT NULL REFERENCES node_group (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES node (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);

CREATE TABLE sip_trunk (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    destination_host TEXT NOT NULL,
    destination_port BIGINT NOT NULL,
    transport TEXT NOT NULL,
    css_id TEXT REFERENCES calling_search_space (id)
);

CREATE TABLE route_group (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    distribution TEXT NOT NULL,
    is_local BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE route_group_trunks (
    owner_id TEXT NOT NULL REFERENCES route_group (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES sip_trunk (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);

-- The Standard Local Route Group is a placeholder that a route list names; each call resolves it
-- from the calling device's device pool.
INSERT INTO route_group (id, name, description, distribution, is_local)
VALUES ('00000000-0000-0000-0000-00000000017c', 'Standard Local Route Group',
        'Resolved per call from the calling device''s device pool', 'Top Down', TRUE);

CREATE TABLE route_list (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE route_list_route_groups (
    owner_id TEXT NOT NULL REFERENCES route_list (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES route_group (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);

CREATE TABLE device_pool (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    node_group_id TEXT REFERENCES node_group (id),
    region TEXT NOT NULL DEFAULT 'Default',
    location TEXT NOT NULL DEFAULT 'Hub_None',
    local_route_group_id TEXT REFERENCES route_group (id),
    adjunct_css_id TEXT REFERENCES calling_search_space (id)
);

CREATE TABLE route_pattern (
    id TEXT PRIMARY KEY,
    pattern TEXT NOT NULL,
    partition_id TEXT REFERENCES partition (id),
    description TEXT NOT NULL DEFAULT '',
    route_list_id TEXT REFERENCES route_list (id),
    sip_trunk_id TEXT REFERENCES sip_trunk (id),
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    urgent BOOLEAN NOT NULL DEFAULT FALSE,
    discard_digits TEXT NOT NULL DEFAULT 'None',
    prefix_digits TEXT NOT NULL DEFAULT '',
    called_party_mask TEXT NOT NULL DEFAULT '',
    calling_party_mask TEXT NOT NULL DEFAULT '',
    use_external_mask BOOLEAN NOT NULL DEFAULT FALSE,
    require_fac BOOLEAN NOT NULL DEFAULT FALSE,
    authorization_level BIGINT NOT NULL DEFAULT 0,
    require_cmc BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX route_pattern_key ON route_pattern (pattern, COALESCE(partition_id, ''));

CREATE TABLE translation_pattern (
    id TEXT PRIMARY KEY,
    pattern TEXT NOT NULL,
    partition_id TEXT REFERENCES partition (id),
    description TEXT NOT NULL DEFAULT '',
    css_id TEXT REFERENCES calling_search_space (id),
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    urgent BOOLEAN NOT NULL DEFAULT FALSE,
    discard_digits TEXT NOT NULL DEFAULT 'None',
    prefix_digits TEXT NOT NULL DEFAULT '',
    called_party_mask TEXT NOT NULL DEFAULT '',
    calling_party_mask TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX translation_pattern_key ON translation_pattern (pattern, COALESCE(partition_id, ''));

CREATE TABLE directory_number (
    id TEXT PRIMARY KEY,
    pattern TEXT NOT NULL,
    partition_id TEXT REFERENCES partition (id),
    description TEXT NOT NULL DEFAULT '',
    alerting_name TEXT NOT NULL DEFAULT '',
    css_id TEXT REFERENCES calling_search_space (id),
    cfa_destination TEXT NOT NULL DEFAULT '',
    cfa_css_id TEXT REFERENCES calling_search_space (id),
    cfb_destination TEXT NOT NULL DEFAULT '',
    cfb_css_id TEXT REFERENCES calling_search_space (id),
    cfna_destination TEXT NOT NULL DEFAULT '',
    cfna_css_id TEXT REFERENCES calling_search_space (id),
    cfur_destination TEXT NOT NULL DEFAULT '',
    cfur_css_id TEXT REFERENCES calling_search_space (id),
    cf_cti_failure_destination TEXT NOT NULL DEFAULT '',
    cf_cti_failure_css_id TEXT REFERENCES calling_search_space (id),
    no_answer_timer BIGINT NOT NULL DEFAULT 12,
    dnd BOOLEAN NOT NULL DEFAULT FALSE,
    max_calls BIGINT NOT NULL DEFAULT 4,
    busy_trigger BIGINT NOT NULL DEFAULT 2
);
CREATE UNIQUE INDEX directory_number_key ON directory_number (pattern, COALESCE(partition_id, ''));

CREATE TABLE ip_phone_service (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL,
    secure_url TEXT NOT NULL DEFAULT '',
    service_type TEXT NOT NULL,
    category TEXT NOT NULL,
    enterprise_subscription BOOLEAN NOT NULL DEFAULT FALSE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE ip_phone_service_parameter (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES ip_phone_service (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    default_value TEXT NOT NULL DEFAULT '',
    required BOOLEAN NOT NULL DEFAULT FALSE,
    description TEXT NOT NULL DEFAULT '',
    UNIQUE (service_id, name)
);

CREATE TABLE device_profile (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE device_profile_services (
    owner_id TEXT NOT NULL REFERENCES device_profile (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES ip_phone_service (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);

CREATE TABLE end_user (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL,
    mail TEXT NOT NULL DEFAULT '',
    department TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    pin_hash TEXT,
    primary_extension_id TEXT REFERENCES directory_number (id),
    em_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    home_cluster BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE device (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    protocol TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    device_pool_id TEXT NOT NULL REFERENCES device_pool (id),
    css_id TEXT REFERENCES calling_search_space (id),
    owner_id TEXT REFERENCES end_user (id),
    digest_user TEXT,
    digest_ha1_md5 TEXT,
    digest_ha1_sha256 TEXT,
    logout_profile_id TEXT REFERENCES device_profile (id)
);

CREATE TABLE device_services (
    owner_id TEXT NOT NULL REFERENCES device (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES ip_phone_service (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);

CREATE TABLE end_user_devices (
    owner_id TEXT NOT NULL REFERENCES end_user (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES device (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);

CREATE TABLE end_user_device_profiles (
    owner_id TEXT NOT NULL REFERENCES end_user (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES device_profile (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);

CREATE TABLE line_appearance (
    id TEXT PRIMARY KEY,
    device_id TEXT REFERENCES device (id) ON DELETE CASCADE,
    device_profile_id TEXT REFERENCES device_profile (id) ON DELETE CASCADE,
    directory_number_id TEXT NOT NULL REFERENCES directory_number (id),
    line_index BIGINT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    external_mask TEXT NOT NULL DEFAULT '',
    UNIQUE (device_id, line_index),
    UNIQUE (device_profile_id, line_index)
);

CREATE TABLE speed_dial (
    id TEXT PRIMARY KEY,
    device_id TEXT REFERENCES device (id) ON DELETE CASCADE,
    device_profile_id TEXT REFERENCES device_profile (id) ON DELETE CASCADE,
    speed_index BIGINT NOT NULL,
    number TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    UNIQUE (device_id, speed_index),
    UNIQUE (device_profile_id, speed_index)
);

CREATE TABLE application_user (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    password_hash TEXT
);

CREATE TABLE application_user_roles (
    owner_id TEXT NOT NULL REFERENCES application_user (id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, value)
);

CREATE TABLE application_user_devices (
    owner_id TEXT NOT NULL REFERENCES application_user (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES device (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (owner_id, target_id)
);

-- Enterprise parameters (scope 'enterprise') and service parameters (scope = service name).
-- Only values an administrator changed are stored; defaults live in the parameter catalogue.
CREATE TABLE parameter (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, name)
);

-- Bearer tokens for the APIs, stored as SHA-256 of the token.
CREATE TABLE api_token (
    token_hash TEXT PRIMARY KEY,
    application_user_id TEXT NOT NULL REFERENCES application_user (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Unified CM ships a device pool named Default; devices land in it unless told otherwise.
INSERT INTO device_pool (id, name, description, region, location)
VALUES ('00000000-0000-0000-0000-0000000000d0', 'Default', 'Built in', 'Default', 'Hub_None');
