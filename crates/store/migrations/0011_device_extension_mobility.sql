-- Unified CM's "Enable Extension Mobility" on a phone: a device that does not allow it refuses
-- logins (EM API code 5, "device logon disabled"). On by default, so phones set up before keep
-- working; CTI route points and ports never allow it whatever the flag says.
ALTER TABLE device ADD COLUMN extension_mobility BOOLEAN NOT NULL DEFAULT TRUE;
