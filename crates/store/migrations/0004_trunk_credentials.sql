-- Credentials Dialtone answers a trunk's digest challenge with: stored as HA1 for the realm
-- the far end uses, never as the password.
ALTER TABLE sip_trunk ADD COLUMN digest_user TEXT;
ALTER TABLE sip_trunk ADD COLUMN digest_realm TEXT;
ALTER TABLE sip_trunk ADD COLUMN digest_ha1_md5 TEXT;
ALTER TABLE sip_trunk ADD COLUMN digest_ha1_sha256 TEXT;
