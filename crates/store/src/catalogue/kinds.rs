//! The vocabulary the catalogue is written in: field kinds, text rules, defaults, cross-field
//! rules, and the `Field` and `Resource` every noun is described with.

/// How a field is typed, stored and shown.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string of at most `max` characters, checked by `rule`.
    Text {
        max: usize,
        rule: TextRule,
    },
    /// A whole number in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// One of a fixed set of strings (Unified CM's drop-down lists).
    Enum(&'static [&'static str]),
    /// A reference to another resource, stored as its id in `column`, shown and given by the
    /// target's natural key. `owner`: the referencing row belongs to the target and goes with it.
    Ref {
        target: &'static str,
        owner: bool,
    },
    /// An (ordered) list of references, stored in the join table `table`.
    RefList {
        target: &'static str,
        table: &'static str,
    },
    /// A list of values from a fixed set, stored in the join table `table`.
    EnumList {
        values: &'static [&'static str],
        table: &'static str,
    },
    /// Write-only: stored as a hash, never shown; the record shows `<name>_set` instead.
    Secret(SecretKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRule {
    Any,
    /// Free-text names (a person's, a model's): no control characters, no leading or trailing
    /// space, not empty.
    Name,
    /// The name of a configured thing (partition, calling search space, device pool, trunk,
    /// route list...) as Unified CM takes it: letters, digits, spaces, '.', '-' and '_', not
    /// beginning or ending with a space.
    Identifier,
    /// A user ID: letters, digits and '.', '_', '-', '@', '+' (no spaces, no path characters).
    UserId,
    /// A device's name, checked against its model by [`Rule::DeviceName`].
    DeviceName,
    /// A dial plan pattern, checked by the dial plan engine's own parser.
    Pattern,
    /// A transformation mask: digits, * # and X.
    Mask,
    /// Digits the way a user dials them: 0-9 * # + and nothing else.
    Digits,
    /// A directory number: digits as dialled, or a pattern of them (`6XXXX`, `1[0-5]XX`, `!`)
    /// as Unified CM allows, checked by the dial plan's own parser; no `.` (a directory number
    /// discards nothing) and no `@`.
    DirectoryNumber,
    /// An http:// or https:// URL, or empty.
    Url,
    /// An IPv4 multicast address in 239.0.0.0/8, the administratively scoped block pages use
    /// (RFC 2365), written as four decimal numbers.
    MulticastIpv4,
    /// An absolute file path (`/var/lib/...`), with no `..` and no control characters.
    AbsolutePath,
    /// Days of the week, comma-separated three-letter names (`mon,wed,fri`), or `daily`.
    Weekdays,
    /// A time of day, `HH:MM` or `HH:MM:SS` (24-hour).
    TimeOfDay,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An IANA time zone name (`Europe/Berlin`, `UTC`) the node's tz database knows.
    TimeZone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A user's or application user's password: argon2id in `password_hash`.
    Password,
    /// An Extension Mobility PIN (digits only): argon2id in `pin_hash`.
    Pin,
    /// A device's SIP digest password: HA1 for MD5 and SHA-256 in `digest_ha1_md5` and
    /// `digest_ha1_sha256`, computed with the `digest_user` field and the configured realm.
    Digest,
}

/// The value a field takes on create when the request leaves it out.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    /// The field must be given.
    Required,
    Null,
    Str(&'static str),
    Int(i64),
    Bool(bool),
    EmptyList,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    /// The database column; empty for list kinds (they live in join tables).
    pub column: &'static str,
    pub kind: Kind,
    pub default: Default,
    pub doc: &'static str,
}

/// A rule across fields that the types alone cannot say.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Exactly one of these (reference) fields is set.
    ExactlyOne(&'static [&'static str]),
    /// The device name (first field) has the form its model (second field) takes: `SEP` or
    /// `ATA` and the 12 hex digits of the MAC address for phones; `CSF`, `BOT`, `TCT` or `TAB` and
    /// up to 12 letters or digits for Jabber clients; up to 15 letters, digits, '.', '-', '_'
    /// for CTI route points and ports.
    DeviceName(&'static str, &'static str),
    /// At most one of these fields is set (when `unless_true` is false or absent).
    AtMostOneUnless(&'static [&'static str], &'static str),
    /// No two records' address ranges overlap (`first`, an IPv4 address field, and `count`
    /// addresses from it, within 239.0.0.0/8), and at most one record per value of `one_per`
    /// (a reference): two sites' pages never share an address.
    NoOverlap {
        first: &'static str,
        count: &'static str,
        one_per: &'static str,
    },
    /// `field` is set exactly when the field `when` is `equals` (a file path only with the
    /// audio that plays it).
    RequiredWhen {
        field: &'static str,
        when: &'static str,
        equals: &'static str,
    },
}

#[derive(Debug)]
pub struct Resource {
    /// Path segment and CSV kind, plural: `directory-numbers`.
    pub name: &'static str,
    /// For messages: `directory number`.
    pub singular: &'static str,
    pub table: &'static str,
    /// The natural key: field names that identify a row to an administrator.
    pub key: &'static [&'static str],
    pub fields: &'static [Field],
    pub rules: &'static [Rule],
    pub doc: &'static str,
}

impl Resource {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

// The pieces fields are made of, shared by the resources.

pub(super) const DISCARD: &[&str] = dialtone_dialplan::Discard::NAMES;
pub(super) const NAME: Kind = Kind::Text {
    max: 50,
    rule: TextRule::Identifier,
};
pub(super) const DESCRIPTION: Field = Field {
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
pub(super) const CODE: Field = Field {
    name: "code",
    column: "code",
    kind: Kind::Text {
        max: 16,
        rule: TextRule::Digits,
    },
    default: Default::Required,
    doc: "The code users enter after '#'.",
};
pub(super) const PATTERN: Kind = Kind::Text {
    max: 50,
    rule: TextRule::Pattern,
};
pub(super) const MASK: Kind = Kind::Text {
    max: 50,
    rule: TextRule::Mask,
};
pub(super) const DIGITS: Kind = Kind::Text {
    max: 50,
    rule: TextRule::Digits,
};
pub(super) const fn css(name: &'static str, column: &'static str, doc: &'static str) -> Field {
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
pub(super) const fn partition(doc: &'static str) -> Field {
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
pub(super) const fn text(
    name: &'static str,
    max: usize,
    rule: TextRule,
    doc: &'static str,
) -> Field {
    Field {
        name,
        column: name,
        kind: Kind::Text { max, rule },
        default: Default::Str(""),
        doc,
    }
}
pub(super) const fn flag(name: &'static str, default: bool, doc: &'static str) -> Field {
    Field {
        name,
        column: name,
        kind: Kind::Bool,
        default: Default::Bool(default),
        doc,
    }
}
pub(super) const fn name_field(doc: &'static str) -> Field {
    Field {
        name: "name",
        column: "name",
        kind: NAME,
        default: Default::Required,
        doc,
    }
}
pub(super) const fn forward(
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
pub(super) const fn digest_user(doc: &'static str) -> Field {
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

pub(super) const CFA: [Field; 2] = forward(
    "cfa_destination",
    "cfa_css",
    "cfa_css_id",
    "Call Forward All destination; empty when not forwarded.",
);
pub(super) const CFB: [Field; 2] = forward(
    "cfb_destination",
    "cfb_css",
    "cfb_css_id",
    "Call Forward Busy destination.",
);
pub(super) const CFNA: [Field; 2] = forward(
    "cfna_destination",
    "cfna_css",
    "cfna_css_id",
    "Call Forward No Answer destination, used after no_answer_timer seconds.",
);
pub(super) const CFUR: [Field; 2] = forward(
    "cfur_destination",
    "cfur_css",
    "cfur_css_id",
    "Call Forward Unregistered destination, used when no device carrying the line is registered.",
);
pub(super) const CFCTI: [Field; 2] = forward(
    "cf_cti_failure_destination",
    "cf_cti_failure_css",
    "cf_cti_failure_css_id",
    "Call Forward on CTI Failure destination (route points whose application is lost).",
);
