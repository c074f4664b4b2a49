//! The phone-facing view of the configuration, indexed for lookups per request, and the rules
//! Unified CM applies to it: which services a phone is subscribed to, which URL it gets, what
//! the Phone URL enterprise parameters resolve to.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use dialtone_phone_xml::config::Urls;
use dialtone_phone_xml::model::Capabilities;
pub use dialtone_phone_xml::uri::query_escape;
use dialtone_store::live::Live;
use dialtone_store::phones::{PhoneCatalog, PhoneDevice, PhoneService};
use dialtone_store::{Store, StoreError};
use dialtone_web::Site;

/// Services Provisioning: where phones take their list of services from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioning {
    /// From the configuration file (the default).
    Internal,
    /// From the services URL.
    External,
    Both,
}

impl Provisioning {
    pub fn code(self) -> u8 {
        match self {
            Provisioning::Internal => 0,
            Provisioning::External => 1,
            Provisioning::Both => 2,
        }
    }
}

pub struct Phones {
    pub catalog: PhoneCatalog,
    devices: HashMap<String, usize>,
    services: HashMap<String, usize>,
}

impl Phones {
    pub fn new(catalog: PhoneCatalog) -> Phones {
        let devices = catalog
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect();
        let services = catalog
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Phones {
            catalog,
            devices,
            services,
        }
    }

    /// Follow the store: rebuilt on every configuration change.
    pub async fn follow(store: &Store) -> Result<Arc<Live<Phones>>, StoreError> {
        Live::follow(
            store,
            |store| async move { store.phone_catalog().await.map(Phones::new) },
            |_, _| {},
        )
        .await
    }

    pub fn device(&self, name: &str) -> Option<&PhoneDevice> {
        self.devices.get(name).map(|&i| &self.catalog.devices[i])
    }

    /// A device as its phone now is: while a user is logged in (`login`: user and profile),
    /// the profile's lines and services and that user as its owner; while nobody is, its
    /// logout profile's lines and services, if it has one.
    pub fn effective<'a>(
        &'a self,
        device: &'a PhoneDevice,
        login: Option<(String, String)>,
    ) -> Cow<'a, PhoneDevice> {
        let (owner, profile) = match login {
            Some((user, profile)) => (Some(user), profile),
            None => match &device.logout_profile {
                Some(p) => (device.owner.clone(), p.clone()),
                None => return Cow::Borrowed(device),
            },
        };
        let Some(p) = self.catalog.profiles.get(&profile) else {
            return Cow::Borrowed(device);
        };
        Cow::Owned(PhoneDevice {
            lines: p.lines.clone(),
            services: p.services.clone(),
            speed_dials: p.speed_dials.clone(),
            owner,
            ..device.clone()
        })
    }

    pub fn service(&self, name: &str) -> Option<&PhoneService> {
        self.services.get(name).map(|&i| &self.catalog.services[i])
    }

    fn parameter(&self, name: &str) -> &str {
        self.catalog
            .parameters
            .get(name)
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn provisioning(&self) -> Provisioning {
        match self.parameter("services_provisioning") {
            "External URL" => Provisioning::External,
            "Both" => Provisioning::Both,
            _ => Provisioning::Internal,
        }
    }

    /// A device's services: its own subscriptions in the administrator's order, then the
    /// enterprise subscriptions it does not already have; disabled services are left out.
    /// Without a device (a phone Dialtone does not know), the enterprise subscriptions.
    pub fn subscribed(&self, device: Option<&PhoneDevice>) -> Vec<&PhoneService> {
        let mut out: Vec<&PhoneService> = Vec::new();
        if let Some(d) = device {
            for name in &d.services {
                if let Some(s) = self.service(name) {
                    if s.enabled && !out.iter().any(|o| o.name == s.name) {
                        out.push(s);
                    }
                }
            }
        }
        for s in &self.catalog.services {
            if s.enabled && s.enterprise_subscription && !out.iter().any(|o| o.name == s.name) {
                out.push(s);
            }
        }
        out
    }

    /// The services a phone is offered, wherever it looks for them (its configuration file,
    /// the services menu, the directories list): its subscriptions, XML services on every
    /// phone and Java MIDlets only on phones that run them (not on text-only ones).
    pub fn offered(&self, device: Option<&PhoneDevice>, caps: &Capabilities) -> Vec<&PhoneService> {
        self.subscribed(device)
            .into_iter()
            .filter(|s| s.category == "XML" || (caps.midlets && !caps.text_only))
            .collect()
    }

    /// The phone URLs after the Phone URL enterprise parameters (an empty parameter means
    /// Dialtone's own page).
    pub fn urls(&self, site: &Site) -> Urls {
        let http = site.http_base();
        let https = site.https_base();
        let or = |param: &str, default: String| {
            let v = self.parameter(param);
            if v.is_empty() {
                default
            } else {
                v.to_owned()
            }
        };
        Urls {
            authentication: or(
                "url_authentication",
                format!("{http}/ccmcip/authenticate.jsp"),
            ),
            secure_authentication: or(
                "secured_url_authentication",
                format!("{https}/ccmcip/authenticate.jsp"),
            ),
            services: or("url_services", format!("{http}/ccmcip/getservicesmenu.jsp")),
            secure_services: or(
                "secured_url_services",
                format!("{https}/ccmcip/getservicesmenu.jsp"),
            ),
            directory: or("url_directories", format!("{http}/ccmcip/xmldirectory.jsp")),
            secure_directory: or(
                "secured_url_directories",
                format!("{https}/ccmcip/xmldirectory.jsp"),
            ),
            idle: self.parameter("url_idle").to_owned(),
            secure_idle: self.parameter("secured_url_idle").to_owned(),
            idle_timeout: self.parameter("url_idle_time").parse().unwrap_or(0),
            information: self.parameter("url_information").to_owned(),
            secure_information: self.parameter("secured_url_information").to_owned(),
            messages: self.parameter("url_messages").to_owned(),
            secure_messages: self.parameter("secured_url_messages").to_owned(),
            proxy_server: self.parameter("url_proxy_server").to_owned(),
        }
    }
}

/// The URL a phone gets for a service: the secure one when the phone speaks HTTPS and there is
/// one, a path (`/ccmcip/...`) made a URL of this node as it is reached now (over HTTPS for an
/// HTTPS phone), `#DEVICENAME#` replaced, and the service's parameters appended with the
/// device's own values or else their defaults. None when a required parameter has neither:
/// the service cannot work on that phone, so it is not offered there.
pub fn service_url(
    service: &PhoneService,
    device: Option<&PhoneDevice>,
    https: bool,
    site: &Site,
) -> Option<String> {
    let configured = if https && !service.secure_url.is_empty() {
        &service.secure_url
    } else {
        &service.url
    };
    let configured: Cow<str> = if configured.starts_with('/') {
        let base = if https {
            site.https_base()
        } else {
            site.http_base()
        };
        Cow::Owned(format!("{base}{configured}"))
    } else {
        Cow::Borrowed(configured)
    };
    let mut url = configured.replace("#DEVICENAME#", device.map_or("", |d| d.name.as_str()));
    for p in &service.parameters {
        let own = device.and_then(|d| {
            d.parameter_values
                .iter()
                .find(|(svc, name, _)| *svc == service.name && *name == p.name)
                .map(|(_, _, v)| v.as_str())
        });
        let value = own.filter(|v| !v.is_empty()).unwrap_or(&p.default_value);
        if value.is_empty() && p.required {
            return None;
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query_escape(&p.name));
        url.push('=');
        url.push_str(&query_escape(value));
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_store::phones::ServiceParameter;

    fn device(name: &str) -> PhoneDevice {
        PhoneDevice {
            name: name.into(),
            model: "Cisco 8845".into(),
            device_pool: "Default".into(),
            ..Default::default()
        }
    }

    fn svc(name: &str, enterprise: bool, enabled: bool) -> PhoneService {
        PhoneService {
            name: name.into(),
            description: String::new(),
            url: format!("http://apps/{name}?dev=#DEVICENAME#"),
            secure_url: String::new(),
            service_type: "IP Phone Service".into(),
            category: "XML".into(),
            enterprise_subscription: enterprise,
            enabled,
            parameters: vec![],
        }
    }

    #[test]
    fn subscriptions_put_the_devices_own_first_then_enterprise_ones_once() {
        let phones = Phones::new(PhoneCatalog {
            devices: vec![PhoneDevice {
                services: vec!["Weather".into(), "Off".into(), "News".into()],
                ..device("SEP1")
            }],
            services: vec![
                svc("News", true, true),
                svc("Off", false, false),
                svc("Stocks", true, true),
                svc("Weather", false, true),
            ],
            ..Default::default()
        });
        let names = |v: Vec<&PhoneService>| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(phones.subscribed(phones.device("SEP1"))),
            ["Weather", "News", "Stocks"]
        );
        assert_eq!(names(phones.subscribed(None)), ["News", "Stocks"]);
    }

    #[test]
    fn service_urls_take_the_device_the_secure_url_and_parameters() {
        let mut s = svc("W", false, true);
        s.parameters = vec![ServiceParameter {
            name: "city".into(),
            default_value: "São Paulo".into(),
            required: true,
        }];
        let mut dev = device("SEP1");
        assert_eq!(
            service_url(&s, Some(&dev), true, &Site::default()).unwrap(),
            "http://apps/W?dev=SEP1&city=S%C3%A3o%20Paulo"
        );
        s.secure_url = "https://apps/W".into();
        assert_eq!(
            service_url(&s, Some(&dev), true, &Site::default()).unwrap(),
            "https://apps/W?city=S%C3%A3o%20Paulo"
        );
        assert_eq!(
            service_url(&s, Some(&dev), false, &Site::default()).unwrap(),
            "http://apps/W?dev=SEP1&city=S%C3%A3o%20Paulo",
            "a phone without HTTPS keeps the plain URL"
        );
        dev.parameter_values = vec![("W".into(), "city".into(), "Oslo".into())];
        assert_eq!(
            service_url(&s, Some(&dev), true, &Site::default()).unwrap(),
            "https://apps/W?city=Oslo"
        );
        s.parameters[0].default_value.clear();
        assert_eq!(
            service_url(&s, None, true, &Site::default()),
            None,
            "a required parameter without a value"
        );
        assert!(service_url(&s, Some(&dev), true, &Site::default()).is_some());
    }

    #[test]
    fn midlets_are_offered_only_to_phones_that_run_them_everywhere_alike() {
        let mut game = svc("Game", true, true);
        game.category = "Java MIDlet".into();
        let phones = Phones::new(PhoneCatalog {
            services: vec![svc("News", true, true), game],
            ..Default::default()
        });
        let names = |caps: Capabilities| -> Vec<String> {
            phones
                .offered(None, &caps)
                .iter()
                .map(|s| s.name.clone())
                .collect()
        };
        assert_eq!(names(Capabilities::of("Cisco 8865")), ["News"]);
        assert_eq!(names(Capabilities::of("Cisco 8961")), ["News", "Game"]);
        // A phone that runs MIDlets but says its display shows text only gets none.
        let mut text_only = Capabilities::of("Cisco 8961");
        text_only.text_only = true;
        assert_eq!(names(text_only), ["News"]);
    }
}
