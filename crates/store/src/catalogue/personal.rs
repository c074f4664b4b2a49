//! End users' personal directories (address books), offered on their phones' Directories button.

use super::*;

pub(crate) const PERSONAL_DIRECTORY_ENTRY: Resource = Resource {
    name: "personal-directory-entries",
    singular: "personal directory entry",
    table: "personal_directory_entry",
    key: &["user", "nickname"],
    fields: &[
        Field {
            name: "user",
            column: "user_id",
            kind: Kind::Ref {
                target: "users",
                owner: true,
            },
            default: Default::Required,
            doc: "The end user whose personal directory this is.",
        },
        Field {
            name: "nickname",
            column: "nickname",
            kind: Kind::Text {
                max: 50,
                rule: TextRule::Name,
            },
            default: Default::Required,
            doc: "Name the entry is listed under on the phone.",
        },
        text("first_name", 64, TextRule::Any, "First name."),
        text("last_name", 64, TextRule::Any, "Last name."),
        Field {
            name: "work_number",
            column: "work_number",
            kind: DIGITS,
            default: Default::Str(""),
            doc: "Work number, as dialled.",
        },
        Field {
            name: "home_number",
            column: "home_number",
            kind: DIGITS,
            default: Default::Str(""),
            doc: "Home number, as dialled.",
        },
        Field {
            name: "mobile_number",
            column: "mobile_number",
            kind: DIGITS,
            default: Default::Str(""),
            doc: "Mobile number, as dialled.",
        },
        text("mail", 255, TextRule::Any, "Mail address."),
    ],
    rules: &[],
    doc: "Personal directory (address book) entries of end users, offered on their phones' Directories button.",
};
