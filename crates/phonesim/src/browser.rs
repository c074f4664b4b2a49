//! The phone's XML browser: what the Services and Directories buttons fetch, and how a user
//! walks menus, fills inputs, pages directories and dials from them.

use anyhow::{anyhow, bail, Result};
use dialtone_phone_xml::uri::{query_escape, Uri};
use dialtone_phone_xml::{MenuItem, Object, Screen};

use crate::Phone;

/// The screens shown, newest last, with the URL each came from.
#[derive(Default)]
pub struct Browser {
    pub history: Vec<(String, Object)>,
}

impl Phone {
    /// GET a URL as a Cisco phone does (its headers), show the object it returns.
    pub async fn open(&self, url: &str) -> Result<Object> {
        let spec = self.spec();
        let resp = self
            .http()
            .get(url)
            .header("x-CiscoIPPhoneModelName", &spec.model)
            .header("x-CiscoIPPhoneDisplay", "800,480,24,C")
            .header("x-CiscoIPPhoneSDKVersion", "14.2.1")
            .header(
                "Accept",
                "x-CiscoIPPhone/*;version=14.2.1, text/*, image/png, */*",
            )
            .header("Accept-Charset", "utf-8,iso-8859-1;q=0.8")
            .header("Accept-Language", "en")
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            bail!("GET {url}: {status}");
        }
        let object = Object::parse(&body).map_err(|e| anyhow!("GET {url}: {e}"))?;
        self.show(url, object.clone());
        Ok(object)
    }

    pub(crate) fn show(&self, url: &str, object: Object) {
        self.touch();
        self.browser().history.push((url.to_owned(), object));
    }

    fn browser(&self) -> std::sync::MutexGuard<'_, Browser> {
        self.inner_browser().lock().unwrap()
    }

    /// What the screen shows.
    pub fn screen(&self) -> Option<Object> {
        self.browser().history.last().map(|(_, o)| o.clone())
    }

    /// The Services (Applications) button: with Services Provisioning Internal the list comes
    /// from the configuration file; otherwise the phone fetches the services URL.
    pub async fn press_services(&self) -> Result<Object> {
        let cfg = self.config();
        self.browser().history.clear();
        if cfg.services_provisioning == 0 {
            let items: Vec<MenuItem> = cfg
                .services
                .iter()
                .filter(|(ty, _, _)| *ty == 0)
                .map(|(_, name, url)| MenuItem {
                    name: name.clone(),
                    url: url.clone(),
                })
                .collect();
            let menu = Object::Menu {
                screen: Screen::menu("Services", None),
                items,
            };
            self.show("config:services", menu.clone());
            return Ok(menu);
        }
        self.open(&cfg.services_url).await
    }

    /// The Directories (Contacts) button.
    pub async fn press_directories(&self) -> Result<Object> {
        let url = self.config().directory_url;
        self.browser().history.clear();
        self.open(&url).await
    }

    /// Choose item `index` (0-based) of the menu on screen.
    pub async fn select(&self, index: usize) -> Result<Object> {
        let url = match self.screen() {
            Some(Object::Menu { items, .. }) => items.get(index).map(|i| i.url.clone()),
            Some(Object::IconMenu { items, .. }) | Some(Object::IconFileMenu { items, .. }) => {
                items.get(index).map(|i| i.url.clone())
            }
            _ => bail!("no menu on screen"),
        }
        .ok_or_else(|| anyhow!("the menu has no item {index}"))?;
        self.follow(&url).await
    }

    /// Act on a URL from a menu, softkey or push.
    pub async fn follow(&self, url: &str) -> Result<Object> {
        match Uri::parse(url) {
            Some(Uri::Http(u)) => self.open(&u).await,
            Some(Uri::Other(scheme, app)) if scheme == "Application" => {
                if app.ends_with("CorporateDirectory") {
                    let url = self.config().directory_url;
                    self.open(&url).await
                } else {
                    bail!("built-in application {app} is not simulated")
                }
            }
            Some(Uri::Dial(n)) => {
                self.dial(&n).await?;
                Ok(self.screen().unwrap_or(Object::Text {
                    screen: Screen::titled("Calling"),
                    text: n,
                }))
            }
            _ => bail!("cannot follow {url}"),
        }
    }

    /// Fill the input on screen and submit it (`SoftKey:Submit`).
    pub async fn submit(&self, values: &[(&str, &str)]) -> Result<Object> {
        let Some(Object::Input { url, items, .. }) = self.screen() else {
            bail!("no input on screen");
        };
        let mut target = url.clone();
        let mut first = !target.contains('?');
        for item in &items {
            let value = values
                .iter()
                .find(|(k, _)| *k == item.query_string_param)
                .map(|(_, v)| v.to_string())
                .or_else(|| item.default_value.clone())
                .unwrap_or_default();
            target.push(if first { '?' } else { '&' });
            first = false;
            target.push_str(&format!(
                "{}={}",
                query_escape(&item.query_string_param),
                query_escape(&value)
            ));
        }
        self.open(&target).await
    }

    /// Press a softkey of the screen by name: a URL is followed, `SoftKey:Exit` goes back.
    pub async fn softkey(&self, name: &str) -> Result<Option<Object>> {
        let screen = self.screen().ok_or_else(|| anyhow!("nothing on screen"))?;
        let key = screen
            .screen()
            .and_then(|s| s.softkeys.iter().find(|k| k.name == name).cloned())
            .ok_or_else(|| anyhow!("no softkey {name} on screen"))?;
        match key.url.as_str() {
            "SoftKey:Exit" | "SoftKey:Cancel" | "SoftKey:<<" => Ok(self.back()),
            u if u.starts_with("http") => self.open(u).await.map(Some),
            other => bail!("softkey {name} ({other}) needs a selection; use dial_entry or select"),
        }
    }

    /// Back to the previous screen.
    pub fn back(&self) -> Option<Object> {
        let mut b = self.browser();
        b.history.pop();
        b.history.last().map(|(_, o)| o.clone())
    }

    /// Dial directory entry `index` of the directory on screen (the Dial softkey).
    pub async fn dial_entry(&self, index: usize) -> Result<String> {
        let Some(Object::Directory { entries, .. }) = self.screen() else {
            bail!("no directory on screen");
        };
        let entry = entries
            .get(index)
            .ok_or_else(|| anyhow!("the directory has no entry {index}"))?;
        self.dial(&entry.telephone).await
    }
}
