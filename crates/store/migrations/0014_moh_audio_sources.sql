-- Music on hold audio sources, chosen per line and per device pool (Unified CM's User Hold
-- MOH Audio Source); without one a held party hears the node's phones.hold_music.
CREATE TABLE moh_audio_source (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    audio TEXT NOT NULL DEFAULT 'melody',
    file TEXT
);
ALTER TABLE device_pool ADD COLUMN hold_audio_source_id TEXT REFERENCES moh_audio_source (id);
ALTER TABLE directory_number ADD COLUMN hold_audio_source_id TEXT REFERENCES moh_audio_source (id);
