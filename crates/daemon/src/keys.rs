//! The sensor's manager key: from the configuration, or from the database (created there on
//! first start), cached, re-read on demand, and never dropped because the database fails.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing::{info, warn};
use voipsensor_config::Config;
use voipsensor_keystore::{ManagerKey, Store, StoreError, generate_manager_key};
use voipsensor_manager::KeyProvider;
use voipsensor_manager_proto::aes::{Cipher, KeyError, KeyMaterial};

/// Reloads from the database happen at most this often; callers in between get the result of
/// the last one (an attacker cannot turn failed requests into database load).
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Why a key could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// The configured or stored key is unusable.
    #[error("{source_name}: {error}")]
    Invalid {
        /// Where it came from (`manager_aes_key/manager_aes_iv in FILE`, `the database …`).
        source_name: String,
        /// What is wrong with it (never its value).
        error: KeyError,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The [`KeyProvider`] of a running sensor.
#[derive(Debug)]
pub struct ManagerKeys {
    fixed: Option<Arc<KeyMaterial>>,
    store: Option<Arc<dyn Store>>,
    cache: Mutex<Option<Arc<KeyMaterial>>>,
    /// Held during a reload, so concurrent callers wait for it and share its result.
    last_reload: Mutex<Option<Instant>>,
}

impl ManagerKeys {
    /// The key given in the configuration (`manager_aes_key` and `manager_aes_iv`, both set),
    /// if any. It always wins over the database.
    pub fn configured(config: &Config) -> Result<Option<KeyMaterial>, KeyLoadError> {
        match (&config.manager_aes_key, &config.manager_aes_iv) {
            (Some(key), Some(iv)) if !key.is_empty() && !iv.is_empty() => {
                KeyMaterial::from_base64(key.expose(), iv.expose(), Cipher::Aes128Cbc)
                    .map(Some)
                    .map_err(|error| KeyLoadError::Invalid {
                        source_name: "manager_aes_key/manager_aes_iv in the configuration".into(),
                        error,
                    })
            }
            (None, None) => Ok(None),
            _ => {
                warn!(
                    "manager_aes_key and manager_aes_iv take effect only together; using the database key"
                );
                Ok(None)
            }
        }
    }

    /// A fixed key from the configuration.
    pub fn fixed(key: KeyMaterial) -> Self {
        Self {
            fixed: Some(Arc::new(key)),
            store: None,
            cache: Mutex::new(None),
            last_reload: Mutex::new(None),
        }
    }

    /// The key kept in `store`. Call [`ManagerKeys::reload`] to load (or create) it.
    pub fn stored(store: Arc<dyn Store>) -> Self {
        Self {
            fixed: None,
            store: Some(store),
            cache: Mutex::new(None),
            last_reload: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<Arc<KeyMaterial>> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the stored key, creating one when none exists (so encryption is on from the first
    /// start, with nothing to configure).
    pub fn read_or_create(store: &dyn Store) -> Result<KeyMaterial, KeyLoadError> {
        let stored: ManagerKey = match store.manager_key()? {
            Some(k) => k,
            None => {
                let fresh = generate_manager_key();
                let k = store.init_manager_key(&fresh)?;
                if k == fresh {
                    info!(db = %store.describe(), "no manager key in the database: generated and stored a new one");
                } else {
                    info!(db = %store.describe(), "another process stored the manager key first; using it");
                }
                k
            }
        };
        KeyMaterial::from_base64(stored.key(), stored.iv(), Cipher::Aes128Cbc).map_err(|error| {
            KeyLoadError::Invalid {
                source_name: format!("the manager key stored in {}", store.describe()),
                error,
            }
        })
    }
}

impl KeyProvider for ManagerKeys {
    fn encryption_required(&self) -> bool {
        // Encryption is on by default; only manager_enable_unencrypted (a server setting)
        // lets plaintext through. A key that cannot be read keeps it on.
        true
    }

    fn current(&self) -> Option<Arc<KeyMaterial>> {
        self.fixed.clone().or_else(|| self.cached())
    }

    fn reload(&self) -> Option<Arc<KeyMaterial>> {
        if let Some(k) = &self.fixed {
            return Some(k.clone());
        }
        let Some(store) = &self.store else {
            return self.cached();
        };
        let mut last = self
            .last_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < MIN_RELOAD_INTERVAL) {
            return self.cached();
        }
        match Self::read_or_create(store.as_ref()) {
            Ok(key) => {
                let key = Arc::new(key);
                let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
                if cache.as_ref() != Some(&key) {
                    info!(db = %store.describe(), "manager key loaded");
                    *cache = Some(key);
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot read the manager key; the key in force stays in force")
            }
        }
        *last = Some(Instant::now());
        self.cached()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voipsensor_config::Secret;

    #[test]
    fn configured_key_rules() {
        let mut c = Config::default();
        assert!(ManagerKeys::configured(&c).expect("none").is_none());
        c.manager_aes_key = Some(Secret::new("MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY="));
        assert!(
            ManagerKeys::configured(&c)
                .expect("half a key is ignored")
                .is_none()
        );
        c.manager_aes_iv = Some(Secret::new("QUJDREVGR0hJSktMTU5PUA=="));
        assert!(ManagerKeys::configured(&c).expect("valid").is_some());
        c.manager_aes_key = Some(Secret::new("c2hvcnQ="));
        let err = ManagerKeys::configured(&c)
            .expect_err("too short")
            .to_string();
        assert!(
            err.contains("has 5 bytes") && !err.contains("c2hvcnQ"),
            "{err}"
        );
    }
}
