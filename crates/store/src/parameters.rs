//! Enterprise and service parameters: typed, with the defaults the design guide gives.
//!
//! Only values an administrator changed are stored; a parameter with no stored value has its
//! default. Reading never fails on a bad stored value: it falls back to the default and says so
//! in the log, because a phone must never be refused service over a typo in one parameter.

use serde_json::{json, Value};
use sqlx::Row;

use crate::records::{query_with, Val};
use crate::{Store, StoreError};

#[derive(Debug, Clone, Copy)]
pub enum ParamType {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Enum(&'static [&'static str]),
    /// Free text of at most this many characters.
    Text(usize),
    /// The List of WebDialers (see [`parse_webdialer_list`]), at most this many characters.
    WebDialers(usize),
}

#[derive(Debug)]
pub struct Parameter {
    /// `enterprise`, or the service the parameter belongs to.
    pub scope: &'static str,
    pub name: &'static str,
    /// Unified CM's name for it, as administrators know it.
    pub display_name: &'static str,
    pub ty: ParamType,
    pub default: &'static str,
    pub doc: &'static str,
}

pub static PARAMETERS: &[Parameter] = &[
    Parameter {
        scope: "enterprise",
        name: "services_provisioning",
        display_name: "Services Provisioning",
        ty: ParamType::Enum(&["Internal", "External URL", "Both"]),
        default: "Internal",
        doc: "Where phones get their services list: from their configuration file (Internal), from the URL Services page (External URL), or both.",
    },
    Parameter {
        scope: "enterprise",
        name: "url_services",
        display_name: "URL Services",
        ty: ParamType::Text(255),
        default: "",
        doc: "Services menu URL phones fetch (the Phone URL); empty means this cluster's /ccmcip/getservicesmenu.jsp.",
    },
    Parameter {
        scope: "enterprise",
        name: "url_authentication",
        display_name: "URL Authentication",
        ty: ParamType::Text(255),
        default: "",
        doc: "Authentication URL phones check pushed requests against; empty means this cluster's /ccmcip/authenticate.jsp.",
    },
    Parameter {
        scope: "enterprise",
        name: "secured_url_authentication",
        display_name: "Secured Authentication URL",
        ty: ParamType::Text(255),
        default: "",
        doc: "HTTPS authentication URL; empty means this cluster's over HTTPS.",
    },
    Parameter {
        scope: "enterprise",
        name: "url_directories",
        display_name: "URL Directories",
        ty: ParamType::Text(255),
        default: "",
        doc: "Directories URL; empty means this cluster's /ccmcip/xmldirectory.jsp.",
    },
    Parameter {
        scope: "enterprise",
        name: "url_idle",
        display_name: "URL Idle",
        ty: ParamType::Text(255),
        default: "",
        doc: "URL a phone fetches after URL Idle Time seconds without use; empty for none.",
    },
    Parameter {
        scope: "enterprise",
        name: "url_idle_time",
        display_name: "URL Idle Time",
        ty: ParamType::Int { min: 0, max: 604800 },
        default: "0",
        doc: "Seconds of idleness before the phone fetches URL Idle; 0 disables it.",
    },
    Parameter {
        scope: "enterprise",
        name: "url_information",
        display_name: "URL Information",
        ty: ParamType::Text(255),
        default: "",
        doc: "Help (i button) URL.",
    },
    Parameter {
        scope: "enterprise",
        name: "url_messages",
        display_name: "URL Messages",
        ty: ParamType::Text(255),
        default: "",
        doc: "Messages button URL.",
    },
    Parameter {
        scope: "enterprise",
        name: "secured_url_services",
        display_name: "Secured Services URL",
        ty: ParamType::Text(255),
        default: "",
        doc: "Services menu URL for phones that use HTTPS; empty means this cluster's /ccmcip/getservicesmenu.jsp over HTTPS.",
    },
    Parameter {
        scope: "enterprise",
        name: "secured_url_directories",
        display_name: "Secured Directory URL",
        ty: ParamType::Text(255),
        default: "",
        doc: "Directories URL for phones that use HTTPS; empty means this cluster's /ccmcip/xmldirectory.jsp over HTTPS.",
    },
    Parameter {
        scope: "enterprise",
        name: "secured_url_idle",
        display_name: "Secured Idle URL",
        ty: ParamType::Text(255),
        default: "",
        doc: "Idle URL for phones that use HTTPS; empty for none.",
    },
    Parameter {
        scope: "enterprise",
        name: "secured_url_information",
        display_name: "Secured Information URL",
        ty: ParamType::Text(255),
        default: "",
        doc: "Help (i button) URL for phones that use HTTPS.",
    },
    Parameter {
        scope: "enterprise",
        name: "secured_url_messages",
        display_name: "Secured Messages URL",
        ty: ParamType::Text(255),
        default: "",
        doc: "Messages button URL for phones that use HTTPS.",
    },
    Parameter {
        scope: "enterprise",
        name: "url_proxy_server",
        display_name: "IP Phone Proxy Address",
        ty: ParamType::Text(255),
        default: "",
        doc: "HTTP proxy phones use for service URLs (host:port); empty for none.",
    },
    Parameter {
        scope: "extension-mobility",
        name: "enforce_max_login_time",
        display_name: "Enforce Intra-cluster Maximum Login Time",
        ty: ParamType::Bool,
        default: "false",
        doc: "Log users out automatically after the maximum login time.",
    },
    Parameter {
        scope: "extension-mobility",
        name: "max_login_time_minutes",
        display_name: "Intra-cluster Maximum Login Time",
        ty: ParamType::Int { min: 1, max: 10080 },
        default: "480",
        doc: "Minutes after which a login ends when enforced (Unified CM's default is 8:00 hours).",
    },
    Parameter {
        scope: "extension-mobility",
        name: "multiple_login_behavior",
        display_name: "Intra-cluster Multiple Login Behavior",
        ty: ParamType::Enum(&["Multiple Logins Allowed", "Multiple Logins Not Allowed", "Auto Logout"]),
        default: "Multiple Logins Not Allowed",
        doc: "What happens when a user logged in on one phone logs in on another.",
    },
    Parameter {
        scope: "extension-mobility",
        name: "validate_ip_address",
        display_name: "Validate IP Address",
        ty: ParamType::Bool,
        default: "false",
        doc: "Accept login and logout only from the phone's registered address.",
    },
    Parameter {
        scope: "extension-mobility",
        name: "allow_proxy",
        display_name: "Allow Proxy",
        ty: ParamType::Bool,
        default: "false",
        doc: "Accept requests forwarded by a web proxy (Via header) from a trusted address.",
    },
    Parameter {
        scope: "extension-mobility",
        name: "trusted_ips",
        display_name: "Trusted List of IPs",
        ty: ParamType::Text(4000),
        default: "",
        doc: "Addresses or host names (comma-separated) EM login and logout requests are accepted from when Validate IP Address is on, besides the phone itself; a web proxy's address belongs here (with Allow Proxy).",
    },
    Parameter {
        scope: "extension-mobility",
        name: "pin_failures_before_lockout",
        display_name: "Failed Logon",
        ty: ParamType::Int { min: 0, max: 100 },
        default: "3",
        doc: "Wrong PINs in a row that lock the user out (0: never). PIN hashes are cheap by design; this lockout is what protects PINs.",
    },
    Parameter {
        scope: "extension-mobility",
        name: "pin_lockout_minutes",
        display_name: "Lockout Duration",
        ty: ParamType::Int { min: 1, max: 1440 },
        default: "30",
        doc: "Minutes a locked-out user waits before trying again.",
    },
    Parameter {
        scope: "webdialer",
        name: "user_session_expiry_hours",
        display_name: "User Session Expiry",
        ty: ParamType::Int { min: 0, max: 168 },
        default: "0",
        doc: "Hours a WebDialer login lasts; 0 means it never expires.",
    },
    Parameter {
        scope: "webdialer",
        name: "max_concurrent_call_requests",
        display_name: "Maximum Concurrent Call Requests",
        ty: ParamType::Int { min: 1, max: 10000 },
        default: "1000",
        doc: "Call requests WebDialer handles at once; more are refused with code 9 (Unified CM allows 1-8).",
    },
    Parameter {
        scope: "webdialer",
        name: "end_call_dialog_seconds",
        display_name: "Duration of End Call Dialog",
        ty: ParamType::Int { min: 10, max: 60 },
        default: "15",
        doc: "Seconds the Hang Up dialog stays open.",
    },
    Parameter {
        scope: "webdialer",
        name: "list_of_webdialers",
        display_name: "List of WebDialers",
        ty: ParamType::WebDialers(4000),
        default: "",
        doc: "WebDialer base URLs the Redirector asks, separated by spaces: https://host:port, pinned to a certificate with #sha256=<fingerprint>.",
    },
    Parameter {
        scope: "webdialer",
        name: "redirector_timeout_ms",
        display_name: "Redirector Timeout",
        ty: ParamType::Int {
            min: 100,
            max: 60000,
        },
        default: "5000",
        doc: "Milliseconds the Redirector waits for each WebDialer's isClusterUser answer.",
    },
    Parameter {
        scope: "manager-assistant",
        name: "rna_forward_calls",
        display_name: "Cisco IPMA RNA Forward Calls",
        ty: ParamType::Bool,
        default: "false",
        doc: "Forward an unanswered call to the manager's next assistant.",
    },
    Parameter {
        scope: "manager-assistant",
        name: "rna_timeout_seconds",
        display_name: "Cisco IPMA RNA Timeout",
        ty: ParamType::Int { min: 5, max: 60 },
        default: "10",
        doc: "Seconds before an unanswered call goes to the next assistant.",
    },
];

pub fn find(scope: &str, name: &str) -> Option<&'static Parameter> {
    PARAMETERS
        .iter()
        .find(|p| p.scope == scope && p.name == name)
}

fn known(scope: &str, name: &str) -> Result<&'static Parameter, StoreError> {
    find(scope, name).ok_or_else(|| StoreError::NotFound {
        resource: "parameter",
        key: format!("{scope}/{name}"),
    })
}

/// One entry of the List of WebDialers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebDialerEntry {
    /// `https://host:port`
    pub base: String,
    /// SHA-256 of the WebDialer's certificate (DER), when pinned.
    pub pin: Option<[u8; 32]>,
}

/// Why a parameter's value is not acceptable, for the administrator (the field is named by
/// whoever asked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// The reason, as text.
impl std::ops::Deref for InvalidValue {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

fn invalid(why: impl Into<String>) -> InvalidValue {
    InvalidValue(why.into())
}

/// Read the List of WebDialers: entries separated by spaces or commas, each an HTTPS URL
/// (only its scheme, host and port count), optionally ending `#sha256=` and the certificate's
/// SHA-256 fingerprint in hex (colons allowed, as `openssl x509 -fingerprint -sha256` prints
/// it). A wrong entry is an error naming it.
pub fn parse_webdialer_list(list: &str) -> Result<Vec<WebDialerEntry>, InvalidValue> {
    list.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (url, fragment) = item.split_once('#').unwrap_or((item, ""));
            let rest = url
                .strip_prefix("https://")
                .ok_or_else(|| invalid(format!("'{item}' is not an https:// URL")))?;
            let authority = rest.split('/').next().unwrap_or("");
            if authority.is_empty() || authority.contains('@') {
                return Err(invalid(format!("'{item}' names no host")));
            }
            let pin = if fragment.is_empty() {
                None
            } else {
                let hex_text = fragment
                    .strip_prefix("sha256=")
                    .ok_or_else(|| invalid(format!("'{item}': a pin is written #sha256=<hex>")))?
                    .replace(':', "");
                let bytes = hex::decode(&hex_text)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| {
                        invalid(format!("'{item}': the sha256 pin must be 32 bytes of hex"))
                    })?;
                Some(bytes)
            };
            Ok(WebDialerEntry {
                base: format!("https://{authority}"),
                pin,
            })
        })
        .collect()
}

impl Parameter {
    /// The stored text form of a JSON value, or why it is not acceptable.
    pub fn check(&self, v: &Value) -> Result<String, InvalidValue> {
        match (self.ty, v) {
            (ParamType::Bool, Value::Bool(b)) => Ok(b.to_string()),
            (ParamType::Int { min, max }, Value::Number(n)) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(i.to_string()),
                _ => Err(invalid(format!(
                    "must be a whole number from {min} to {max}"
                ))),
            },
            (ParamType::Enum(values), Value::String(s)) if values.contains(&s.as_str()) => {
                Ok(s.clone())
            }
            (ParamType::Enum(values), _) => {
                Err(invalid(format!("must be one of: {}", values.join(", "))))
            }
            (ParamType::WebDialers(max), Value::String(_)) => {
                let s = Parameter {
                    ty: ParamType::Text(max),
                    ..*self
                }
                .check(v)?;
                parse_webdialer_list(&s)?;
                Ok(s)
            }
            (ParamType::Text(max), Value::String(s)) => {
                if s.chars().count() > max {
                    Err(invalid(format!("at most {max} characters")))
                } else if s.chars().any(char::is_control) {
                    Err(invalid("control characters are not allowed"))
                } else {
                    Ok(s.clone())
                }
            }
            (ParamType::Bool, _) => Err(invalid("expected true or false")),
            (ParamType::Int { .. }, _) => Err(invalid("expected a whole number")),
            (ParamType::Text(_) | ParamType::WebDialers(_), _) => Err(invalid("expected a string")),
        }
    }

    /// The JSON value of a stored text form.
    pub fn to_json(&self, stored: &str) -> Value {
        match self.ty {
            ParamType::Bool => Value::Bool(stored == "true"),
            ParamType::Int { .. } => stored
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::Null),
            _ => Value::String(stored.to_string()),
        }
    }

    fn describe(&self, stored: Option<&str>) -> Value {
        let (min, max, values) = match self.ty {
            ParamType::Int { min, max } => (Some(min), Some(max), None),
            ParamType::Enum(v) => (None, None, Some(v)),
            _ => (None, None, None),
        };
        json!({
            "scope": self.scope,
            "name": self.name,
            "display_name": self.display_name,
            "type": match self.ty {
                ParamType::Bool => "boolean",
                ParamType::Int { .. } => "integer",
                ParamType::Enum(_) => "enum",
                ParamType::Text(_) | ParamType::WebDialers(_) => "string",
            },
            "minimum": min,
            "maximum": max,
            "values": values,
            "value": self.to_json(stored.unwrap_or(self.default)),
            "default": self.to_json(self.default),
            "is_default": stored.is_none(),
            "doc": self.doc,
        })
    }
}

impl Store {
    /// Every parameter with its current value.
    pub async fn parameters(&self) -> Result<Vec<Value>, StoreError> {
        let rows = sqlx::query("SELECT scope, name, value FROM parameter")
            .fetch_all(self.pool())
            .await?;
        let stored: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        Ok(PARAMETERS
            .iter()
            .map(|p| {
                let v = stored
                    .iter()
                    .find(|(s, n, _)| s == p.scope && n == p.name)
                    .map(|(_, _, v)| v.as_str());
                p.describe(v)
            })
            .collect())
    }

    pub async fn parameter(&self, scope: &str, name: &str) -> Result<Value, StoreError> {
        let p = known(scope, name)?;
        let stored = self.stored_parameter(p).await?;
        Ok(p.describe(stored.as_deref()))
    }

    async fn stored_parameter(&self, p: &Parameter) -> Result<Option<String>, StoreError> {
        let row = query_with(
            "SELECT value FROM parameter WHERE scope = $1 AND name = $2",
            &[Val::Text(p.scope.into()), Val::Text(p.name.into())],
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The parameter's current value as JSON (stored or default).
    pub async fn parameter_value(&self, scope: &str, name: &str) -> Result<Value, StoreError> {
        let p = known(scope, name)?;
        let stored = self.stored_parameter(p).await?;
        Ok(p.to_json(stored.as_deref().unwrap_or(p.default)))
    }

    pub async fn set_parameter(
        &self,
        scope: &str,
        name: &str,
        value: &Value,
    ) -> Result<Value, StoreError> {
        let p = known(scope, name)?;
        let text = p
            .check(value)
            .map_err(|InvalidValue(message)| StoreError::Invalid {
                field: "value".into(),
                message,
            })?;
        let vals = [
            Val::Text(p.scope.into()),
            Val::Text(p.name.into()),
            Val::Text(text),
        ];
        let _turn = self.write_turn().await;
        let mut tx = self.pool().begin().await?;
        query_with(
            "DELETE FROM parameter WHERE scope = $1 AND name = $2",
            &vals[..2],
        )
        .execute(&mut *tx)
        .await?;
        query_with(
            "INSERT INTO parameter (scope, name, value) VALUES ($1, $2, $3)",
            &vals,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.changed();
        self.parameter(scope, name).await
    }

    pub async fn reset_parameter(&self, scope: &str, name: &str) -> Result<Value, StoreError> {
        let p = known(scope, name)?;
        query_with(
            "DELETE FROM parameter WHERE scope = $1 AND name = $2",
            &[Val::Text(p.scope.into()), Val::Text(p.name.into())],
        )
        .execute(self.pool())
        .await?;
        self.changed();
        self.parameter(scope, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_reads_urls_and_pins() {
        let pin = "AB:".repeat(31) + "AB";
        let list = format!(
            "https://10.0.0.1:8443/webdialer/Webdialer, https://ny.example.com#sha256={pin}\n"
        );
        let entries = parse_webdialer_list(&list).unwrap();
        assert_eq!(entries[0].base, "https://10.0.0.1:8443");
        assert_eq!(entries[0].pin, None);
        assert_eq!(entries[1].base, "https://ny.example.com");
        assert_eq!(entries[1].pin, Some([0xAB; 32]));
        assert!(parse_webdialer_list("http://10.0.0.1")
            .unwrap_err()
            .contains("https"));
        assert!(parse_webdialer_list("https://a#sha256=12")
            .unwrap_err()
            .contains("32 bytes"));
        assert!(parse_webdialer_list("https://u:p@a")
            .unwrap_err()
            .contains("no host"));
        assert!(parse_webdialer_list("").unwrap().is_empty());
    }

    #[test]
    fn defaults_pass_their_own_checks() {
        for p in PARAMETERS {
            let v = p.to_json(p.default);
            assert_eq!(
                p.check(&v).as_deref(),
                Ok(p.default),
                "{}/{}",
                p.scope,
                p.name
            );
        }
    }

    #[test]
    fn seed_defaults() {
        assert_eq!(
            find("enterprise", "services_provisioning").unwrap().default,
            "Internal"
        );
        assert!(find("enterprise", "no_such").is_none());
        let p = find("webdialer", "user_session_expiry_hours").unwrap();
        assert!(p.check(&json!(169)).is_err());
        assert!(p.check(&json!("3")).is_err());
    }
}
