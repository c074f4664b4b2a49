//! The administrator's nouns, described once.
//!
//! Every resource the admin API, the bulk CSV tool and the OpenAPI document expose is a
//! [`Resource`] in [`RESOURCES`]. The generic record code in `records.rs` validates, stores,
//! resolves references and refuses in-use deletes from this description alone, so adding a
//! field is one line here plus a migration (a test checks the two agree).

mod kinds;
pub use kinds::*;

pub fn resource(name: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.name == name)
}

/// Services a node can run (Unified CM's "Service Activation").
pub const NODE_SERVICES: &[&str] = &[
    "CallManager",
    "CTIManager",
    "TFTP",
    "IP Phone Services",
    "Extension Mobility",
    "WebDialer",
    "Manager Assistant",
    "Attendant Console",
    "Paging",
];

/// Roles an application user can hold.
pub const ROLES: &[&str] = &[
    "Standard CCM Super Users",
    "Standard EM Authentication Proxy Rights",
    "Standard CTI Enabled",
    "Standard CTI Allow Control of All Devices",
    "Standard CTI Allow Call Monitoring",
    "Standard CTI Allow Call Park Monitoring",
    "Standard AXL API Access",
    "Standard WebDialer Proxy Rights",
    "Standard Phone Push Rights",
];

/// The role that makes an application user an administrator.
pub const ADMIN_ROLE: &str = "Standard CCM Super Users";

const DISCARD: &[&str] = dialtone_dialplan::Discard::NAMES;
const NAME: Kind = Kind::Text {
    max: 50,
    rule: TextRule::Identifier,
};
const DESCRIPTION: Field = Field {
    name: "description",
    column: "description",
    kind: Kind::Text {
        max: 200,
        rule: TextRule::Any,
    },
    default: Default::Str(""),
    doc: "Free text for administrators.",
};
/// The digits of a Forced Authorization Code or Client Matter Code.
const CODE: Field = Field {
    name: "code",
    column: "code",
    kind: Kind::Text {
        max: 16,
        rule: TextRule::Digits,
    },
    default: Default::Required,
    doc: "The code users enter after '#'.",
};
const PATTERN: Kind = Kind::Text {
    max: 50,
    rule: TextRule::Pattern,
};
const MASK: Kind = Kind::Text {
    max: 50,
    rule: TextRule::Mask,
};
const DIGITS: Kind = Kind::Text {
    max: 50,
    rule: TextRule::Digits,
};
const fn css(name: &'static str, column: &'static str, doc: &'static str) -> Field {
    Field {
        name,
        column,
        kind: Kind::Ref {
            target: "calling-search-spaces",
            owner: false,
        },
        default: Default::Null,
        doc,
    }
}
const fn partition(doc: &'static str) -> Field {
    Field {
        name: "partition",
        column: "partition_id",
        kind: Kind::Ref {
            target: "partitions",
            owner: false,
        },
        default: Default::Null,
        doc,
    }
}
const fn text(name: &'static str, max: usize, rule: TextRule, doc: &'static str) -> Field {
    Field {
        name,
        column: name,
        kind: Kind::Text { max, rule },
        default: Default::Str(""),
        doc,
    }
}
const fn flag(name: &'static str, default: bool, doc: &'static str) -> Field {
    Field {
        name,
        column: name,
        kind: Kind::Bool,
        default: Default::Bool(default),
        doc,
    }
}
const fn name_field(doc: &'static str) -> Field {
    Field {
        name: "name",
        column: "name",
        kind: NAME,
        default: Default::Required,
        doc,
    }
}
const fn forward(
    name: &'static str,
    css_name: &'static str,
    css_column: &'static str,
    doc: &'static str,
) -> [Field; 2] {
    [
        Field {
            name,
            column: name,
            kind: DIGITS,
            default: Default::Str(""),
            doc,
        },
        css(
            css_name,
            css_column,
            "Calling search space used to reach the forward destination.",
        ),
    ]
}

/// A digest user name (devices authenticate with it; trunks answer challenges with it).
const fn digest_user(doc: &'static str) -> Field {
    Field {
        name: "digest_user",
        column: "digest_user",
        kind: Kind::Text {
            max: 128,
            rule: TextRule::Name,
        },
        default: Default::Null,
        doc,
    }
}

const CFA: [Field; 2] = forward(
    "cfa_destination",
    "cfa_css",
    "cfa_css_id",
    "Call Forward All destination; empty when not forwarded.",
);
const CFB: [Field; 2] = forward(
    "cfb_destination",
    "cfb_css",
    "cfb_css_id",
    "Call Forward Busy destination.",
);
const CFNA: [Field; 2] = forward(
    "cfna_destination",
    "cfna_css",
    "cfna_css_id",
    "Call Forward No Answer destination, used after no_answer_timer seconds.",
);
const CFUR: [Field; 2] = forward(
    "cfur_destination",
    "cfur_css",
    "cfur_css_id",
    "Call Forward Unregistered destination, used when no device carrying the line is registered.",
);
const CFCTI: [Field; 2] = forward(
    "cf_cti_failure_destination",
    "cf_cti_failure_css",
    "cf_cti_failure_css_id",
    "Call Forward on CTI Failure destination (route points whose application is lost).",
);

pub static RESOURCES: &[Resource] = &[
    Resource {
        name: "partitions",
        singular: "partition",
        table: "partition",
        key: &["name"],
        fields: &[name_field("Route partition name, e.g. Internal_PT."), DESCRIPTION],
        rules: &[],
        doc: "Route partitions: named groups of directory numbers and patterns.",
    },
    Resource {
        name: "calling-search-spaces",
        singular: "calling search space",
        table: "calling_search_space",
        key: &["name"],
        fields: &[
            name_field("Calling search space name, e.g. Internal_CSS."),
            DESCRIPTION,
            Field {
                name: "partitions",
                column: "",
                kind: Kind::RefList {
                    target: "partitions",
                    table: "calling_search_space_partitions",
                },
                default: Default::EmptyList,
                doc: "Partitions searched, in order.",
            },
        ],
        rules: &[],
        doc: "Calling search spaces: ordered lists of partitions a caller may reach.",
    },
    Resource {
        name: "nodes",
        singular: "node",
        table: "node",
        key: &["name"],
        fields: &[
            name_field("Node name."),
            Field {
                name: "host",
                column: "host",
                kind: Kind::Text {
                    max: 255,
                    rule: TextRule::Name,
                },
                default: Default::Required,
                doc: "Host name or address phones and peers use to reach the node.",
            },
            DESCRIPTION,
            Field {
                name: "services",
                column: "",
                kind: Kind::EnumList {
                    values: NODE_SERVICES,
                    table: "node_services",
                },
                default: Default::EmptyList,
                doc: "Services activated on the node.",
            },
        ],
        rules: &[],
        doc: "Cluster nodes (Unified CM servers) and the services activated on each.",
    },
    Resource {
        name: "node-groups",
        singular: "node group",
        table: "node_group",
        key: &["name"],
        fields: &[
            name_field("Unified CM group name."),
            DESCRIPTION,
            Field {
                name: "nodes",
                column: "",
                kind: Kind::RefList {
                    target: "nodes",
                    table: "node_group_nodes",
                },
                default: Default::EmptyList,
                doc: "Nodes in order of preference: a phone registers to the first reachable one.",
            },
        ],
        rules: &[],
        doc: "Node groups (Unified CM groups): ordered nodes for device registration.",
    },
    Resource {
        name: "sip-trunks",
        singular: "SIP trunk",
        table: "sip_trunk",
        key: &["name"],
        fields: &[
            name_field("Trunk name."),
            DESCRIPTION,
            Field {
                name: "destination_host",
                column: "destination_host",
                kind: Kind::Text {
                    max: 255,
                    rule: TextRule::Name,
                },
                default: Default::Required,
                doc: "Host name or address of the far end.",
            },
            Field {
                name: "destination_port",
                column: "destination_port",
                kind: Kind::Int { min: 1, max: 65535 },
                default: Default::Int(5060),
                doc: "Port of the far end.",
            },
            Field {
                name: "transport",
                column: "transport",
                kind: Kind::Enum(&["udp", "tcp", "tls"]),
                default: Default::Str("udp"),
                doc: "SIP transport towards the far end.",
            },
            css(
                "css",
                "css_id",
                "Calling search space for calls arriving on this trunk.",
            ),
            digest_user(
                "User name Dialtone answers the far end's digest challenge with; the trunk name when left out.",
            ),
            Field {
                name: "digest_realm",
                column: "digest_realm",
                kind: Kind::Text {
                    max: 128,
                    rule: TextRule::Any,
                },
                default: Default::Null,
                doc: "The realm the far end challenges with (the stored digest is for this realm only).",
            },
            Field {
                name: "digest_password",
                column: "",
                kind: Kind::Secret(SecretKind::Digest),
                default: Default::Null,
                doc: "Password for the far end's challenge (write-only; stored as HA1 for MD5 and SHA-256 with digest_realm).",
            },
        ],
        rules: &[],
        doc: "SIP trunks to other systems (PSTN gateways, other clusters).",
    },
    Resource {
        name: "route-groups",
        singular: "route group",
        table: "route_group",
        key: &["name"],
        fields: &[
            name_field("Route group name."),
            DESCRIPTION,
            Field {
                name: "distribution",
                column: "distribution",
                kind: Kind::Enum(&["Top Down", "Circular"]),
                default: Default::Str("Top Down"),
                doc: "How calls are spread over the trunks.",
            },
            Field {
                name: "trunks",
                column: "",
                kind: Kind::RefList {
                    target: "sip-trunks",
                    table: "route_group_trunks",
                },
                default: Default::EmptyList,
                doc: "Trunks in order.",
            },
        ],
        rules: &[],
        doc: "Route groups: ordered trunks. 'Standard Local Route Group' is built in and resolved per call from the caller's device pool.",
    },
    Resource {
        name: "route-lists",
        singular: "route list",
        table: "route_list",
        key: &["name"],
        fields: &[
            name_field("Route list name."),
            DESCRIPTION,
            Field {
                name: "route_groups",
                column: "",
                kind: Kind::RefList {
                    target: "route-groups",
                    table: "route_list_route_groups",
                },
                default: Default::EmptyList,
                doc: "Route groups tried in order (may name 'Standard Local Route Group').",
            },
        ],
        rules: &[],
        doc: "Route lists: ordered route groups a route pattern sends calls to.",
    },
    Resource {
        name: "device-pools",
        singular: "device pool",
        table: "device_pool",
        key: &["name"],
        fields: &[
            name_field("Device pool name."),
            DESCRIPTION,
            Field {
                name: "node_group",
                column: "node_group_id",
                kind: Kind::Ref {
                    target: "node-groups",
                    owner: false,
                },
                default: Default::Null,
                doc: "Node group the pool's devices register to.",
            },
            Field {
                name: "region",
                column: "region",
                kind: NAME,
                default: Default::Str("Default"),
                doc: "Region (codec choice between regions).",
            },
            Field {
                name: "location",
                column: "location",
                kind: NAME,
                default: Default::Str("Hub_None"),
                doc: "Location (call admission control).",
            },
            Field {
                name: "local_route_group",
                column: "local_route_group_id",
                kind: Kind::Ref {
                    target: "route-groups",
                    owner: false,
                },
                default: Default::Null,
                doc: "Route group that 'Standard Local Route Group' means for devices in this pool.",
            },
            css(
                "adjunct_css",
                "adjunct_css_id",
                "Adjunct calling search space for Extension Mobility Cross Cluster (emergency numbers).",
            ),
        ],
        rules: &[],
        doc: "Device pools: settings shared by a group of devices.",
    },
    Resource {
        name: "route-patterns",
        singular: "route pattern",
        table: "route_pattern",
        key: &["pattern", "partition"],
        fields: &[
            Field {
                name: "pattern",
                column: "pattern",
                kind: PATTERN,
                default: Default::Required,
                doc: "Pattern in Cisco's syntax, e.g. 9.!",
            },
            partition("Partition the pattern lives in; null for none."),
            DESCRIPTION,
            Field {
                name: "route_list",
                column: "route_list_id",
                kind: Kind::Ref {
                    target: "route-lists",
                    owner: false,
                },
                default: Default::Null,
                doc: "Route list the calls go to (or give sip_trunk).",
            },
            Field {
                name: "sip_trunk",
                column: "sip_trunk_id",
                kind: Kind::Ref {
                    target: "sip-trunks",
                    owner: false,
                },
                default: Default::Null,
                doc: "Trunk the calls go to directly (or give route_list).",
            },
            flag("blocked", false, "Block calls that match instead of routing them."),
            flag("urgent", false, "Route at once on a match even if longer patterns could match."),
            Field {
                name: "discard_digits",
                column: "discard_digits",
                kind: Kind::Enum(DISCARD),
                default: Default::Str("None"),
                doc: "Digit discard instruction applied to the called number.",
            },
            text("prefix_digits", 50, TextRule::Digits, "Digits prefixed to the called number."),
            text("called_party_mask", 50, TextRule::Mask, "Called party transformation mask."),
            text("calling_party_mask", 50, TextRule::Mask, "Calling party transformation mask."),
            flag("use_external_mask", false, "Present the calling line's external phone number mask."),
            flag("require_fac", false, "Require a Forced Authorization Code."),
            Field {
                name: "authorization_level",
                column: "authorization_level",
                kind: Kind::Int { min: 0, max: 255 },
                default: Default::Int(0),
                doc: "Authorization level a Forced Authorization Code must have.",
            },
            flag("require_cmc", false, "Require a Client Matter Code."),
        ],
        rules: &[Rule::AtMostOneUnless(&["route_list", "sip_trunk"], "blocked")],
        doc: "Route patterns: numbers that leave the cluster through route lists or trunks.",
    },
    Resource {
        name: "translation-patterns",
        singular: "translation pattern",
        table: "translation_pattern",
        key: &["pattern", "partition"],
        fields: &[
            Field {
                name: "pattern",
                column: "pattern",
                kind: PATTERN,
                default: Default::Required,
                doc: "Pattern in Cisco's syntax.",
            },
            partition("Partition the pattern lives in; null for none."),
            DESCRIPTION,
            css("css", "css_id", "Calling search space the translated number is analysed with."),
            flag("blocked", false, "Block calls that match."),
            flag("urgent", false, "Translate at once on a match."),
            Field {
                name: "discard_digits",
                column: "discard_digits",
                kind: Kind::Enum(DISCARD),
                default: Default::Str("None"),
                doc: "Digit discard instruction.",
            },
            text("prefix_digits", 50, TextRule::Digits, "Digits prefixed to the called number."),
            Field {
                name: "called_party_mask",
                column: "called_party_mask",
                kind: MASK,
                default: Default::Str(""),
                doc: "Called party transformation mask.",
            },
            text("calling_party_mask", 50, TextRule::Mask, "Calling party transformation mask."),
        ],
        rules: &[],
        doc: "Translation patterns: change the dialled number and analyse it again.",
    },
    Resource {
        name: "directory-numbers",
        singular: "directory number",
        table: "directory_number",
        key: &["pattern", "partition"],
        fields: &[
            Field {
                name: "pattern",
                column: "pattern",
                kind: Kind::Text {
                    max: 50,
                    rule: TextRule::DirectoryNumber,
                },
                default: Default::Required,
                doc: "The number, e.g. 1000, or a pattern of numbers (6XXXX, 1[0-5]XX) for a CTI route point that covers a range; the dial plan's closest match decides between a pattern and the numbers it overlaps. Phones cannot register a pattern.",
            },
            partition("Partition the number lives in; null for none."),
            DESCRIPTION,
            text("alerting_name", 50, TextRule::Any, "Name shown to callers while the line rings."),
            css("css", "css_id", "Line calling search space (searched before the device's)."),
            CFA[0],
            CFA[1],
            CFB[0],
            CFB[1],
            CFNA[0],
            CFNA[1],
            CFUR[0],
            CFUR[1],
            CFCTI[0],
            CFCTI[1],
            Field {
                name: "no_answer_timer",
                column: "no_answer_timer",
                kind: Kind::Int { min: 1, max: 300 },
                default: Default::Int(12),
                doc: "Seconds of ringing before Call Forward No Answer.",
            },
            flag("dnd", false, "Do Not Disturb on the whole number: callers hear busy."),
            Field {
                name: "max_calls",
                column: "max_calls",
                kind: Kind::Int { min: 1, max: 200 },
                default: Default::Int(4),
                doc: "Most calls the line may carry at once.",
            },
            Field {
                name: "busy_trigger",
                column: "busy_trigger",
                kind: Kind::Int { min: 1, max: 200 },
                default: Default::Int(2),
                doc: "Calls on the line at which further callers get busy (or Call Forward Busy).",
            },
        ],
        rules: &[],
        doc: "Directory numbers (lines).",
    },
    Resource {
        name: "ip-phone-services",
        singular: "IP phone service",
        table: "ip_phone_service",
        key: &["name"],
        fields: &[
            name_field("Service name shown on the phone."),
            DESCRIPTION,
            Field {
                name: "url",
                column: "url",
                kind: Kind::Text {
                    max: 255,
                    rule: TextRule::Url,
                },
                default: Default::Required,
                doc: "Service URL (may contain #DEVICENAME#).",
            },
            text("secure_url", 255, TextRule::Url, "HTTPS service URL for phones that support it."),
            Field {
                name: "service_type",
                column: "service_type",
                kind: Kind::Enum(&["IP Phone Service", "Directories", "Messages"]),
                default: Default::Str("IP Phone Service"),
                doc: "Which phone button offers the service.",
            },
            Field {
                name: "category",
                column: "category",
                kind: Kind::Enum(&["XML", "Java MIDlet"]),
                default: Default::Str("XML"),
                doc: "Service category.",
            },
            flag("enterprise_subscription", false, "Subscribed on every phone without per-phone work."),
            flag("enabled", true, "Offered to phones at all."),
        ],
        rules: &[],
        doc: "The IP phone services catalogue.",
    },
    Resource {
        name: "ip-phone-service-parameters",
        singular: "IP phone service parameter",
        table: "ip_phone_service_parameter",
        key: &["service", "name"],
        fields: &[
            Field {
                name: "service",
                column: "service_id",
                kind: Kind::Ref {
                    target: "ip-phone-services",
                    owner: true,
                },
                default: Default::Required,
                doc: "The service the parameter belongs to.",
            },
            Field {
                name: "name",
                column: "name",
                kind: Kind::Text {
                    max: 50,
                    rule: TextRule::Name,
                },
                default: Default::Required,
                doc: "Query string parameter name.",
            },
            text("display_name", 50, TextRule::Any, "Name shown to users."),
            text("default_value", 255, TextRule::Any, "Value used when a subscription gives none."),
            flag("required", false, "A subscription must give a value."),
            DESCRIPTION,
        ],
        rules: &[],
        doc: "Parameters of IP phone services (appended to the service URL).",
    },
    Resource {
        name: "device-profiles",
        singular: "device profile",
        table: "device_profile",
        key: &["name"],
        fields: &[
            name_field("Profile name, e.g. user1000_UDP."),
            Field {
                name: "model",
                column: "model",
                kind: Kind::Text {
                    max: 50,
                    rule: TextRule::Name,
                },
                default: Default::Str("Cisco 8865"),
                doc: "Phone model the profile is for.",
            },
            DESCRIPTION,
            Field {
                name: "services",
                column: "",
                kind: Kind::RefList {
                    target: "ip-phone-services",
                    table: "device_profile_services",
                },
                default: Default::EmptyList,
                doc: "Subscribed IP phone services.",
            },
        ],
        rules: &[],
        doc: "Device profiles (user device profiles for Extension Mobility, and logout profiles).",
    },
    Resource {
        name: "users",
        singular: "end user",
        table: "end_user",
        key: &["user_id"],
        fields: &[
            Field {
                name: "user_id",
                column: "user_id",
                kind: Kind::Text {
                    max: 128,
                    rule: TextRule::UserId,
                },
                default: Default::Required,
                doc: "User ID the user logs in with.",
            },
            text("first_name", 64, TextRule::Any, "First name."),
            Field {
                name: "last_name",
                column: "last_name",
                kind: Kind::Text {
                    max: 64,
                    rule: TextRule::Name,
                },
                default: Default::Required,
                doc: "Last name.",
            },
            text("mail", 255, TextRule::Any, "Mail address."),
            text("department", 64, TextRule::Any, "Department."),
            Field {
                name: "password",
                column: "password_hash",
                kind: Kind::Secret(SecretKind::Password),
                default: Default::Null,
                doc: "Password (write-only; stored as an argon2id hash).",
            },
            Field {
                name: "pin",
                column: "pin_hash",
                kind: Kind::Secret(SecretKind::Pin),
                default: Default::Null,
                doc: "Extension Mobility PIN, digits (write-only; stored as an argon2id hash).",
            },
            Field {
                name: "primary_extension",
                column: "primary_extension_id",
                kind: Kind::Ref {
                    target: "directory-numbers",
                    owner: false,
                },
                default: Default::Null,
                doc: "Primary extension: {\"pattern\": ..., \"partition\": ...}.",
            },
            flag("em_enabled", true, "May log in with Extension Mobility."),
            flag("home_cluster", true, "This cluster is the user's home cluster."),
            Field {
                name: "devices",
                column: "",
                kind: Kind::RefList {
                    target: "devices",
                    table: "end_user_devices",
                },
                default: Default::EmptyList,
                doc: "Controlled (associated) devices.",
            },
            Field {
                name: "device_profiles",
                column: "",
                kind: Kind::RefList {
                    target: "device-profiles",
                    table: "end_user_device_profiles",
                },
                default: Default::EmptyList,
                doc: "Device profiles the user may log in with (the first is the default).",
            },
        ],
        rules: &[],
        doc: "End users.",
    },
    Resource {
        name: "devices",
        singular: "device",
        table: "device",
        key: &["name"],
        fields: &[
            Field {
                name: "name",
                column: "name",
                kind: Kind::Text {
                    max: 50,
                    rule: TextRule::DeviceName,
                },
                default: Default::Required,
                doc: "Device name: SEP followed by the 12 hex digits of the MAC address for phones (ATA for analog adapters); CSF, BOT, TCT or TAB and up to 12 letters or digits for Jabber; up to 15 letters, digits, '.', '-', '_' for CTI route points and ports.",
            },
            Field {
                name: "model",
                column: "model",
                kind: Kind::Text {
                    max: 50,
                    rule: TextRule::Name,
                },
                default: Default::Required,
                doc: "Phone model, e.g. Cisco 8865 or Third-party SIP Device (Advanced).",
            },
            Field {
                name: "protocol",
                column: "protocol",
                kind: Kind::Enum(&["SIP"]),
                default: Default::Str("SIP"),
                doc: "Device protocol.",
            },
            DESCRIPTION,
            Field {
                name: "device_pool",
                column: "device_pool_id",
                kind: Kind::Ref {
                    target: "device-pools",
                    owner: false,
                },
                default: Default::Str("Default"),
                doc: "Device pool.",
            },
            css("css", "css_id", "Device calling search space (searched after the line's)."),
            Field {
                name: "owner",
                column: "owner_id",
                kind: Kind::Ref {
                    target: "users",
                    owner: false,
                },
                default: Default::Null,
                doc: "Owner user ID.",
            },
            digest_user("SIP digest user name; the device name when left out."),
            flag(
                "dnd",
                false,
                "Do Not Disturb on this phone: it is not offered calls; the other phones of a shared line still ring.",
            ),
            flag(
                "extension_mobility",
                true,
                "Enable Extension Mobility: users may log in to this phone (never to a CTI route point or port).",
            ),
            Field {
                name: "digest_password",
                column: "",
                kind: Kind::Secret(SecretKind::Digest),
                default: Default::Null,
                doc: "SIP digest password (write-only; stored as HA1 for MD5 and SHA-256 with the configured realm).",
            },
            Field {
                name: "logout_profile",
                column: "logout_profile_id",
                kind: Kind::Ref {
                    target: "device-profiles",
                    owner: false,
                },
                default: Default::Null,
                doc: "Profile the device returns to at Extension Mobility logout.",
            },
            Field {
                name: "services",
                column: "",
                kind: Kind::RefList {
                    target: "ip-phone-services",
                    table: "device_services",
                },
                default: Default::EmptyList,
                doc: "Subscribed IP phone services.",
            },
        ],
        rules: &[Rule::DeviceName("name", "model")],
        doc: "Phones and other SIP devices.",
    },
    Resource {
        name: "line-appearances",
        singular: "line appearance",
        table: "line_appearance",
        key: &["device", "device_profile", "index"],
        fields: &[
            Field {
                name: "device",
                column: "device_id",
                kind: Kind::Ref {
                    target: "devices",
                    owner: true,
                },
                default: Default::Null,
                doc: "Device the line appears on (or give device_profile).",
            },
            Field {
                name: "device_profile",
                column: "device_profile_id",
                kind: Kind::Ref {
                    target: "device-profiles",
                    owner: true,
                },
                default: Default::Null,
                doc: "Device profile the line appears on (or give device).",
            },
            Field {
                name: "directory_number",
                column: "directory_number_id",
                kind: Kind::Ref {
                    target: "directory-numbers",
                    owner: false,
                },
                default: Default::Required,
                doc: "The line: {\"pattern\": ..., \"partition\": ...}.",
            },
            Field {
                name: "index",
                column: "line_index",
                kind: Kind::Int { min: 1, max: 64 },
                default: Default::Required,
                doc: "Button position, from 1.",
            },
            text("label", 30, TextRule::Any, "Text beside the button."),
            text("display_name", 50, TextRule::Any, "Caller name shown to the called party."),
            text("external_mask", 50, TextRule::Mask, "External phone number mask."),
        ],
        rules: &[Rule::ExactlyOne(&["device", "device_profile"])],
        doc: "Line appearances: a directory number on a device or device profile button.",
    },
    Resource {
        name: "speed-dials",
        singular: "speed dial",
        table: "speed_dial",
        key: &["device", "device_profile", "index"],
        fields: &[
            Field {
                name: "device",
                column: "device_id",
                kind: Kind::Ref {
                    target: "devices",
                    owner: true,
                },
                default: Default::Null,
                doc: "Device (or give device_profile).",
            },
            Field {
                name: "device_profile",
                column: "device_profile_id",
                kind: Kind::Ref {
                    target: "device-profiles",
                    owner: true,
                },
                default: Default::Null,
                doc: "Device profile (or give device).",
            },
            Field {
                name: "index",
                column: "speed_index",
                kind: Kind::Int { min: 1, max: 199 },
                default: Default::Required,
                doc: "Speed dial position, from 1.",
            },
            Field {
                name: "number",
                column: "number",
                kind: DIGITS,
                default: Default::Required,
                doc: "Number dialled.",
            },
            text("label", 30, TextRule::Any, "Label shown."),
        ],
        rules: &[Rule::ExactlyOne(&["device", "device_profile"])],
        doc: "Speed dials on devices and device profiles.",
    },
    Resource {
        name: "application-users",
        singular: "application user",
        table: "application_user",
        key: &["user_id"],
        fields: &[
            Field {
                name: "user_id",
                column: "user_id",
                kind: Kind::Text {
                    max: 128,
                    rule: TextRule::UserId,
                },
                default: Default::Required,
                doc: "User ID the application authenticates with.",
            },
            DESCRIPTION,
            Field {
                name: "password",
                column: "password_hash",
                kind: Kind::Secret(SecretKind::Password),
                default: Default::Null,
                doc: "Password (write-only; stored as an argon2id hash).",
            },
            Field {
                name: "roles",
                column: "",
                kind: Kind::EnumList {
                    values: ROLES,
                    table: "application_user_roles",
                },
                default: Default::EmptyList,
                doc: "Roles held.",
            },
            Field {
                name: "devices",
                column: "",
                kind: Kind::RefList {
                    target: "devices",
                    table: "application_user_devices",
                },
                default: Default::EmptyList,
                doc: "Devices the application may control.",
            },
        ],
        rules: &[],
        doc: "Application users: programs (and administrators) that use the APIs.",
    },
    Resource {
        name: "forced-authorization-codes",
        singular: "forced authorization code",
        table: "forced_authorization_code",
        key: &["name"],
        fields: &[
            name_field("Authorization code name (recorded in call detail records)."),
            CODE,
            Field {
                name: "authorization_level",
                column: "authorization_level",
                kind: Kind::Int { min: 0, max: 255 },
                default: Default::Int(0),
                doc: "Level; a route pattern requiring level N accepts codes of level N or more.",
            },
        ],
        rules: &[],
        doc: "Forced Authorization Codes (FAC).",
    },
    Resource {
        name: "client-matter-codes",
        singular: "client matter code",
        table: "client_matter_code",
        key: &["code"],
        fields: &[
            CODE,
            DESCRIPTION,
        ],
        rules: &[],
        doc: "Client Matter Codes (CMC) for billing calls to clients.",
    },
    Resource {
        name: "subscription-parameters",
        singular: "subscription parameter",
        table: "subscription_parameter",
        key: &["device", "parameter"],
        fields: &[
            Field {
                name: "device",
                column: "device_id",
                kind: Kind::Ref {
                    target: "devices",
                    owner: true,
                },
                default: Default::Required,
                doc: "The subscribed device.",
            },
            Field {
                name: "parameter",
                column: "parameter_id",
                kind: Kind::Ref {
                    target: "ip-phone-service-parameters",
                    owner: true,
                },
                default: Default::Required,
                doc: "The service's parameter: {\"service\": ..., \"name\": ...}.",
            },
            text("value", 255, TextRule::Any, "The device's value (the parameter's default applies without one)."),
        ],
        rules: &[],
        doc: "A device's values for the parameters of its subscribed IP phone services.",
    },
    Resource {
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
    },
];
