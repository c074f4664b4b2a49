//! Extension Mobility: a user logs in to any phone and it becomes theirs. A login is written to
//! the store before it is acknowledged, then laid over call control's configuration (calls to
//! the user's numbers ring that phone at once, without recompiling the dial plan), and the phone
//! is reset so it fetches its configuration file again, now carrying the user's profile.
//! Logins end by logout, by the maximum login time (a sweeper that reads the store, so it
//! survives restarts) or by the user logging in elsewhere (Auto Logout).
#![forbid(unsafe_code)]

pub mod api;
pub mod emapi;
pub mod phone;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use dialtone_callcontrol::directory::{LoginOverlay, Seated};
use dialtone_cti::CtiSession;
use dialtone_platform::{Platform, StartError, Starting};
use dialtone_store::em::{Login, LoginRefused, MultipleLogins};
use dialtone_store::{Store, StoreError};
use dialtone_web::{Accounts, App};

/// Extension Mobility as the node serves it: the phone service on both phone surfaces, the EM
/// API and the administrators' API with the credential-carrying APIs, and the sweeper.
pub fn app(p: &Platform) -> Starting<'_> {
    Box::pin(async move {
        let mobility = Mobility::start(
            p.store.clone(),
            p.accounts.clone(),
            p.logins.clone(),
            p.cti.trusted("extension-mobility"),
        )
        .await
        .map_err(|source| StartError::Store {
            app: "extension-mobility",
            source,
        })?;
        let service = phone::PhoneService {
            mobility: mobility.clone(),
            site: p.site.clone(),
            phones: p.phone_state.clone(),
        };
        let mut app = App::new("extension-mobility");
        app.surfaces.phone_http = phone::router(service.clone(), false);
        app.surfaces.phone_https = phone::router(service, true);
        app.surfaces.credentials =
            api::router(p.accounts.clone(), mobility.clone()).merge(emapi::router(emapi::EmApi {
                accounts: p.accounts.clone(),
                mobility: mobility.clone(),
            }));
        app.surfaces.https_only_paths.push(emapi::PATH);
        app.openapi = api::openapi();
        app.tasks
            .push(Box::pin(mobility.sweeper(p.options.em_sweep)));
        Ok(app)
    })
}

/// Why a login or logout did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EmError {
    #[error("login refused: {0:?}")]
    Refused(LoginRefused),
    /// Nobody is logged in to the device.
    #[error("nobody is logged in to the device")]
    NotLoggedIn,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What call control is told of a login.
fn seated(l: &Login) -> Seated {
    Seated {
        user: l.user.clone(),
        profile: l.profile.clone(),
    }
}

pub struct Mobility {
    store: Store,
    /// Where PINs are checked.
    accounts: Accounts,
    overlay: LoginOverlay,
    /// CTI, to reset the phone a user logs in or out on.
    cti: CtiSession,
    /// The store's logins by device, as last written through this node.
    logins: RwLock<HashMap<String, Login>>,
}

impl Mobility {
    /// Load the logins and lay them over call control's configuration.
    pub async fn start(
        store: Store,
        accounts: Accounts,
        overlay: LoginOverlay,
        cti: CtiSession,
    ) -> Result<Arc<Mobility>, StoreError> {
        let logins: HashMap<String, Login> = store
            .em_logins()
            .await?
            .into_iter()
            .map(|l| (l.device.clone(), l))
            .collect();
        overlay.set_logins(logins.iter().map(|(d, l)| (d.clone(), seated(l))).collect());
        Ok(Arc::new(Mobility {
            store,
            accounts,
            overlay,
            cti,
            logins: RwLock::new(logins),
        }))
    }

    /// The sweeper that ends logins at their maximum login time, looking every `sweep`; it
    /// ends when Extension Mobility does.
    pub fn sweeper(self: &Arc<Self>, sweep: Duration) -> impl std::future::Future<Output = ()> {
        let weak = Arc::downgrade(self);
        async move {
            loop {
                let Some(m) = weak.upgrade() else { return };
                m.end_expired().await;
                drop(m);
                tokio::time::sleep(sweep).await;
            }
        }
    }

    async fn end_expired(&self) {
        let now = dialtone_store::now_ms();
        let due: Vec<String> = self
            .logins
            .read()
            .expect("logins")
            .values()
            .filter(|l| l.expires_at_ms.is_some_and(|t| t <= now))
            .map(|l| l.device.clone())
            .collect();
        for device in due {
            match self.logout(&device).await {
                Ok(l) => {
                    tracing::info!(device, user = %l.user, "Extension Mobility: maximum login time reached, logged out")
                }
                Err(e) => {
                    tracing::warn!(device, error = ?e, "Extension Mobility: automatic logout failed")
                }
            }
        }
    }

    /// An Extension Mobility service parameter's value as text.
    pub async fn parameter(&self, name: &str) -> Result<String, StoreError> {
        Ok(
            match self
                .store
                .parameter_value("extension-mobility", name)
                .await?
            {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            },
        )
    }

    /// Log `user` in to `device` with `profile` (their default when None) under the
    /// enterprise parameters' policies; the phone is then reset to take its new configuration.
    /// `duration` bounds this login (the EM API's exclusive duration); without it the maximum
    /// login time applies when enforced.
    pub async fn login(
        &self,
        device: &str,
        user: &str,
        profile: Option<&str>,
        duration: Option<Duration>,
    ) -> Result<Login, EmError> {
        let multiple =
            MultipleLogins::from_parameter(&self.parameter("multiple_login_behavior").await?);
        let now = dialtone_store::now_ms();
        let expires = if let Some(d) = duration {
            Some(now + d.as_millis() as i64)
        } else if self.parameter("enforce_max_login_time").await? == "true" {
            let minutes: i64 = self
                .parameter("max_login_time_minutes")
                .await?
                .parse()
                .unwrap_or(480);
            Some(now + minutes * 60_000)
        } else {
            None
        };
        let (login, ended) = self
            .store
            .em_login(device, user, profile, multiple, now, expires)
            .await?
            .map_err(EmError::Refused)?;
        {
            let mut logins = self.logins.write().expect("logins");
            for e in &ended {
                logins.remove(&e.device);
            }
            logins.insert(device.to_owned(), login.clone());
        }
        for e in &ended {
            self.overlay.set_login(&e.device, None);
            self.reset(&e.device).await;
        }
        self.overlay.set_login(device, Some(seated(&login)));
        self.reset(device).await;
        Ok(login)
    }

    /// End the login on `device` and reset the phone to its own configuration.
    pub async fn logout(&self, device: &str) -> Result<Login, EmError> {
        let login = self
            .store
            .em_logout(device)
            .await?
            .ok_or(EmError::NotLoggedIn)?;
        self.logins.write().expect("logins").remove(device);
        self.overlay.set_login(device, None);
        self.reset(device).await;
        Ok(login)
    }

    /// Check a user's PIN under the lockout policy (Failed Logon, Lockout Duration): past the
    /// allowed failures the user is locked out, and even the right PIN is refused until the
    /// lockout ends. A PIN verified recently is remembered like a password (the credential
    /// cache); PINs are short, so the lockout is what protects them.
    pub async fn check_pin(&self, user: &str, pin: &str) -> Result<bool, EmError> {
        let now = dialtone_store::now_ms();
        let state = self.store.em_pin_state(user).await?;
        if state.is_some_and(|(_, until)| until.is_some_and(|t| t > now)) {
            tracing::warn!(user, "Extension Mobility: locked out, PIN not checked");
            return Ok(false);
        }
        let ok = self.accounts.pin(user, pin).await.map_err(|e| match e {
            dialtone_web::AuthError::Store(e) => EmError::Store(e),
            other => EmError::Store(StoreError::Invalid {
                field: "pin".into(),
                message: other.to_string(),
            }),
        })?;
        if ok {
            // Only a user with failures on record costs a write.
            if state.is_some() {
                self.store.em_pin_cleared(user).await?;
            }
            return Ok(true);
        }
        let limit: u32 = self
            .parameter("pin_failures_before_lockout")
            .await?
            .parse()
            .unwrap_or(3);
        let minutes: i64 = self
            .parameter("pin_lockout_minutes")
            .await?
            .parse()
            .unwrap_or(30);
        if let Some(until) = self
            .store
            .em_pin_failed(user, limit, minutes * 60_000, now)
            .await?
        {
            tracing::warn!(user, until, "Extension Mobility: user locked out");
        }
        Ok(false)
    }

    /// The phone fetches its configuration again; one that is not registered now will when it
    /// next starts.
    async fn reset(&self, device: &str) {
        if let Err(e) = self.cti.reset(device, false).await {
            tracing::debug!(device, error = %e, "Extension Mobility: phone not reset");
        }
    }

    pub fn logins(&self) -> Vec<Login> {
        let mut v: Vec<Login> = self
            .logins
            .read()
            .expect("logins")
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.device.cmp(&b.device));
        v
    }

    /// Whether call control knows the device.
    pub fn device_exists(&self, device: &str) -> bool {
        self.cti.directory().device(device).is_some()
    }

    pub fn login_of(&self, device: &str) -> Option<Login> {
        self.logins.read().expect("logins").get(device).cloned()
    }

    /// The devices a user is logged in to: what WebDialer and Manager Assistant ask.
    pub fn devices_of(&self, user: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .logins
            .read()
            .expect("logins")
            .values()
            .filter(|l| l.user == user)
            .map(|l| l.device.clone())
            .collect();
        v.sort();
        v
    }
}
