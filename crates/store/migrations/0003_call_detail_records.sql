-- One row per call, written when the call ends.
CREATE TABLE call_detail_record (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    calling_number TEXT NOT NULL,
    calling_device TEXT,
    calling_trunk TEXT,
    dialled_number TEXT NOT NULL,
    called_number TEXT NOT NULL,
    called_device TEXT,
    called_trunk TEXT,
    original_called_number TEXT,
    redirect_reason TEXT,
    pattern TEXT,
    partition_name TEXT,
    authorization_code_name TEXT,
    authorization_level BIGINT,
    client_matter_code TEXT,
    started_at BIGINT NOT NULL,
    answered_at BIGINT,
    ended_at BIGINT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    cause TEXT NOT NULL,
    sip_status BIGINT NOT NULL,
    ended_by TEXT NOT NULL
);
CREATE INDEX call_detail_record_started ON call_detail_record (started_at);
