//! IP Phone Services: the services phones offer, their parameters and each device's values.

use super::*;

/// An IP phone service: a URL a phone's Services button (or an enterprise subscription) offers.
pub(crate) const IP_PHONE_SERVICE: Resource = Resource {
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
        text(
            "secure_url",
            255,
            TextRule::Url,
            "HTTPS service URL for phones that support it.",
        ),
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
        flag(
            "enterprise_subscription",
            false,
            "Subscribed on every phone without per-phone work.",
        ),
        flag("enabled", true, "Offered to phones at all."),
    ],
    rules: &[],
    doc: "The IP phone services catalogue.",
};

/// A parameter a service's URL takes, with its default.
pub(crate) const IP_PHONE_SERVICE_PARAMETER: Resource = Resource {
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
        text(
            "default_value",
            255,
            TextRule::Any,
            "Value used when a subscription gives none.",
        ),
        flag("required", false, "A subscription must give a value."),
        DESCRIPTION,
    ],
    rules: &[],
    doc: "Parameters of IP phone services (appended to the service URL).",
};

/// A subscribed device's value for one of a service's parameters.
pub(crate) const SUBSCRIPTION_PARAMETER: Resource = Resource {
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
        text(
            "value",
            255,
            TextRule::Any,
            "The device's value (the parameter's default applies without one).",
        ),
    ],
    rules: &[],
    doc: "A device's values for the parameters of its subscribed IP phone services.",
};
