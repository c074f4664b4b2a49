-- Each end user's personal address book, shown on the phone's Directories button.
CREATE TABLE personal_directory_entry (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES end_user (id) ON DELETE CASCADE,
    nickname TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    work_number TEXT NOT NULL DEFAULT '',
    home_number TEXT NOT NULL DEFAULT '',
    mobile_number TEXT NOT NULL DEFAULT '',
    mail TEXT NOT NULL DEFAULT '',
    UNIQUE (user_id, nickname)
);
