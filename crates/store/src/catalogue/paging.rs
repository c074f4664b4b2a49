//! The paging server's nouns: recipient groups, each answering its DialCast number, and the
//! sites (device pools) whose pages take multicast addresses from ranges of their own.

use super::*;

/// A paging recipient group: the phones a call to its DialCast number pages, by name and by
/// attribute (kept current as phones are added, as InformaCast's groups built from AXL data
/// are), with what to do about busy phones and Do Not Disturb.
pub(crate) const PAGING_GROUP: Resource = Resource {
    name: "paging-groups",
    singular: "paging group",
    table: "paging_group",
    key: &["name"],
    fields: &[
        name_field("Recipient group name, e.g. Warehouse."),
        DESCRIPTION,
        Field {
            name: "dialcast_number",
            column: "dialcast_number",
            kind: Kind::Text {
                max: 50,
                rule: TextRule::Digits,
            },
            default: Default::Required,
            doc: "The DialCast number: a directory number on a CTI Route Point device; calls to it page the group.",
        },
        Field {
            name: "devices",
            column: "",
            kind: Kind::RefList {
                target: "devices",
                table: "paging_group_devices",
            },
            default: Default::EmptyList,
            doc: "Phones paged by name.",
        },
        Field {
            name: "device_pool",
            column: "device_pool_id",
            kind: Kind::Ref {
                target: "device-pools",
                owner: false,
            },
            default: Default::Null,
            doc: "Also every phone in this device pool (with the other attribute rules, if given).",
        },
        text("model", 64, TextRule::Any, "Attribute rule: the phone's model (e.g. Cisco 8841); empty: any."),
        text("description_contains", 200, TextRule::Any, "Attribute rule: text the phone's description contains; empty: any."),
        Field {
            name: "number_pattern",
            column: "number_pattern",
            kind: Kind::Text {
                max: 50,
                rule: TextRule::Pattern,
            },
            default: Default::Null,
            doc: "Attribute rule: a dial plan pattern one of the phone's directory numbers matches (e.g. 10XX); none: any.",
        },
        Field {
            name: "skip_busy",
            column: "skip_busy",
            kind: Kind::Bool,
            default: Default::Bool(false),
            doc: "Leave out phones on a call (InformaCast pages them: a Cisco phone plays the page as a whisper).",
        },
        Field {
            name: "skip_dnd",
            column: "skip_dnd",
            kind: Kind::Bool,
            default: Default::Bool(false),
            doc: "Leave out phones in Do Not Disturb (the Cisco Paging Server does not recognise DND and pages them).",
        },
        Field {
            name: "emergency",
            column: "emergency",
            kind: Kind::Bool,
            default: Default::Bool(false),
            doc: "An emergency group reaches every phone, whatever skip_busy and skip_dnd say.",
        },
        Field {
            name: "join_deadline_ms",
            column: "join_deadline_ms",
            kind: Kind::Int { min: 100, max: 30_000 },
            default: Default::Int(3000),
            doc: "How long the caller hears the stall tone at most: phones that have not joined by then are reported and the go-ahead plays.",
        },
        Field {
            name: "volume",
            column: "volume",
            kind: Kind::Int { min: 0, max: 100 },
            default: Default::Int(0),
            doc: "Speaker volume for the page, percent of maximum (RTPMRx's volume); 0: each phone's own volume.",
        },
    ],
    rules: &[],
    doc: "Paging recipient groups: the phones a call to the group's DialCast number pages over multicast.",
};

/// A paging site: a device pool whose pages take multicast addresses from a range of its own,
/// so two sites paging at once never share an address (IGMP would carry one site's page to
/// the other); pages to phones of no site take the node's range (`phones.paging_multicast_*`).
pub(crate) const PAGING_SITE: Resource = Resource {
    name: "paging-sites",
    singular: "paging site",
    table: "paging_site",
    key: &["name"],
    fields: &[
        name_field("Site name, e.g. Building 2."),
        DESCRIPTION,
        Field {
            name: "device_pool",
            column: "device_pool_id",
            kind: Kind::Ref {
                target: "device-pools",
                owner: true,
            },
            default: Default::Required,
            doc: "The device pool whose phones are this site's: a page whose phones are all in it takes an address of this site's range.",
        },
        Field {
            name: "multicast_first",
            column: "multicast_first",
            kind: Kind::Text {
                max: 15,
                rule: TextRule::MulticastIpv4,
            },
            default: Default::Required,
            doc: "The range's first multicast address, in 239.0.0.0/8 (administratively scoped).",
        },
        Field {
            name: "multicast_count",
            column: "multicast_count",
            kind: Kind::Int { min: 1, max: 65_536 },
            default: Default::Int(16),
            doc: "Addresses in the range (one per page in progress at the site); no two sites' ranges may overlap.",
        },
    ],
    rules: &[Rule::NoOverlap {
        first: "multicast_first",
        count: "multicast_count",
        one_per: "device_pool",
    }],
    doc: "Paging sites: device pools whose pages take multicast addresses from ranges of their own.",
};

/// A scheduled page: a tone or a recording sent to groups at a time of day on chosen days
/// (the school bell, the closing announcement), or once on a date, in a time zone.
pub(crate) const PAGING_SCHEDULE: Resource = Resource {
    name: "paging-schedules",
    singular: "paging schedule",
    table: "paging_schedule",
    key: &["name"],
    fields: &[
        name_field("Schedule name, e.g. Morning Bell."),
        DESCRIPTION,
        Field {
            name: "groups",
            column: "",
            kind: Kind::RefList {
                target: "paging-groups",
                table: "paging_schedule_groups",
            },
            default: Default::EmptyList,
            doc: "The recipient groups paged (a phone in several is paged once).",
        },
        Field {
            name: "tone",
            column: "tone",
            kind: Kind::Enum(&["dial", "ringback", "busy", "reorder", "stall", "go-ahead", "code-prompt"]),
            default: Default::Null,
            doc: "A tone to send (its cadence once per repeat); or give file.",
        },
        super::media::wav_file("A WAV file's absolute path on the node (PCM or float, any rate, at most 600 s), read when the page starts; or give tone."),
        Field {
            name: "days",
            column: "days",
            kind: Kind::Text {
                max: 40,
                rule: TextRule::Weekdays,
            },
            default: Default::Null,
            doc: "Weekly: the days it pages, e.g. mon,tue,wed,thu,fri, or daily; or give date.",
        },
        Field {
            name: "date",
            column: "date",
            kind: Kind::Text {
                max: 10,
                rule: TextRule::Date,
            },
            default: Default::Null,
            doc: "Once: the date it pages, YYYY-MM-DD; or give days.",
        },
        Field {
            name: "time",
            column: "time_of_day",
            kind: Kind::Text {
                max: 8,
                rule: TextRule::TimeOfDay,
            },
            default: Default::Required,
            doc: "The time of day it pages, HH:MM or HH:MM:SS (24-hour), in time_zone.",
        },
        Field {
            name: "time_zone",
            column: "time_zone",
            kind: Kind::Text {
                max: 64,
                rule: TextRule::TimeZone,
            },
            default: Default::Str("UTC"),
            doc: "The IANA time zone the time is in (e.g. Europe/Berlin): a bell follows daylight saving time.",
        },
        Field {
            name: "repeat",
            column: "repeat_count",
            kind: Kind::Int { min: 1, max: 10 },
            default: Default::Int(1),
            doc: "Times the recording plays.",
        },
        Field {
            name: "preamble",
            column: "preamble",
            kind: Kind::Bool,
            default: Default::Bool(true),
            doc: "Whether the go-ahead beeps play first.",
        },
        Field {
            name: "enabled",
            column: "enabled",
            kind: Kind::Bool,
            default: Default::Bool(true),
            doc: "A disabled schedule keeps its settings and pages nobody.",
        },
    ],
    rules: &[
        Rule::ExactlyOne(&["tone", "file"]),
        Rule::ExactlyOne(&["days", "date"]),
    ],
    doc: "Scheduled pages: a tone or a recording sent to groups at a time, weekly or once.",
};
