-- Do Not Disturb is a phone's setting (Unified CM keeps it per device): on a shared line the
-- other phones still ring.
ALTER TABLE device ADD COLUMN dnd BOOLEAN NOT NULL DEFAULT FALSE;
