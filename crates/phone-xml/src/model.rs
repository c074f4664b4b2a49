//! What a phone can do, from its model name as stored ("Cisco 8845") or as the phone sends it
//! (`x-CiscoIPPhoneModelName: CP-8845`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub https: bool,
    pub text_only: bool,
    pub midlets: bool,
    /// A Cisco enterprise phone (not multiplatform): it reads `SEP<MAC>.cnf.xml`.
    pub cisco_enterprise: bool,
}

fn model_number(model: &str) -> Option<u32> {
    let m = model.trim();
    let rest = m.strip_prefix("Cisco ").or_else(|| m.strip_prefix("CP-"))?;
    let upper = rest.to_ascii_uppercase();
    if upper.contains("MPP") || upper.contains("3PCC") {
        return None;
    }
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Capabilities {
    pub fn of(model: &str) -> Capabilities {
        let Some(n) = model_number(model) else {
            return Capabilities {
                https: false,
                text_only: false,
                midlets: false,
                cisco_enterprise: false,
            };
        };
        let series = n / 100;
        Capabilities {
            // 7800, 8800, 8900, 9900 and the later 7900s speak HTTPS; the 7940/7960 do not.
            https: matches!(series, 78 | 88 | 89 | 99)
                || matches!(n, 7942 | 7945 | 7962 | 7965 | 7975),
            // Monochrome text displays: XML text objects only.
            text_only: matches!(n, 7906 | 7911 | 6921 | 6941 | 6945 | 6961),
            midlets: matches!(n, 7945 | 7965 | 7975 | 8961 | 9951 | 9971),
            cisco_enterprise: true,
        }
    }

    /// From the phone's request headers, when it sends them; they win over the stored model.
    pub fn from_headers(
        model_header: Option<&str>,
        display_header: Option<&str>,
        stored_model: &str,
    ) -> Capabilities {
        let mut caps = Capabilities::of(model_header.unwrap_or(stored_model));
        if model_header.is_some() && !caps.cisco_enterprise {
            caps = Capabilities::of(stored_model);
        }
        if let Some(d) = display_header {
            // width,height,depth,C|G: a one-bit display shows text only.
            if d.split(',').nth(2).map(str::trim) == Some("1") {
                caps.text_only = true;
            }
        }
        caps
    }
}

/// Cisco enterprise SIP phones take remote-control requests (REFER with an
/// `x-cisco-remotecc-request`), reset by `service-control` and read `SEP<MAC>.cnf.xml`, where
/// provisioning gives them `remoteCcEnable`. Multiplatform (MPP/3PCC) firmware and other makers
/// do not.
pub fn is_cisco_enterprise(model: &str) -> bool {
    model_number(model).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_the_model_and_the_display_header() {
        assert!(Capabilities::of("Cisco 8845").https);
        assert!(!Capabilities::of("Cisco 7960").https);
        assert!(Capabilities::of("Cisco 7911").text_only);
        assert!(!Capabilities::of("Cisco 8845 MPP").cisco_enterprise);
        assert!(!Capabilities::of("Third-party SIP Device (Advanced)").cisco_enterprise);
        let c = Capabilities::from_headers(Some("CP-7965G"), Some("298,168,1,G"), "Cisco 8845");
        assert!(c.https && c.text_only && c.midlets);
    }

    #[test]
    fn enterprise_models_are_cisco_with_a_number_and_not_multiplatform() {
        assert!(is_cisco_enterprise("Cisco 7841"));
        assert!(is_cisco_enterprise("CP-8845"));
        assert!(!is_cisco_enterprise("Cisco 6871 mpp"));
        assert!(!is_cisco_enterprise("Cisco IP Communicator"));
        assert!(!is_cisco_enterprise("Polycom VVX 411"));
    }
}
