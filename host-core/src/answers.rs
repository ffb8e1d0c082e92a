//! Where a `get`'s answer comes from: a fresh cached answer; else one fetch for all
//! concurrent callers (single flight), whose answer is cached; else, when that fetch fails
//! and the operator allows it (`cache-stale-fallback`), an unexpired cached answer.
//!
//! Requests that carry a service-account token are not cached on disk (the kubelet caches
//! them per service account or token), and neither are answers specific to one image (the
//! kubelet caches those per image). Kubelet answers are cached apart from Docker ones,
//! because a plugin may answer differently when it knows the image.

use crate::cache::credentials::{self, CredentialCache, Entry, Key};
use crate::call::{Credentials, RequestContext, Scope};
use crate::config::{Config, PluginConfig};
use crate::logging::{self, Level};
use crate::registry::Registry;
use std::fmt::Display;
use std::time::Instant;

/// Credentials for a `get`, with the times that say how long they may be reused.
pub struct Answer {
    pub entry: Entry,
    pub scope: Scope,
    /// The time (seconds since the epoch) the entry was judged at.
    pub now: u64,
}

/// Where one plugin's answer for one registry and client is cached.
pub struct Slot {
    cache: CredentialCache,
    key: Key,
}

impl Slot {
    /// The slot for `plugin`'s answer for `registry`, if it may be cached and `cache` gives
    /// a usable cache for `config`.
    pub fn of(
        config: &Config,
        plugin: &PluginConfig,
        registry: &Registry,
        context: &RequestContext,
        cache: impl FnOnce(&Config) -> Option<CredentialCache>,
    ) -> Option<Slot> {
        if !plugin.cache || context.service_account_token.is_some() {
            return None;
        }
        let cache = cache(config)?;
        let inputs = plugin.grants.cache_inputs(|name| std::env::var(name).ok());
        let client = if context.image.is_some() { "kubelet" } else { "docker" };
        let key = credentials::key(&plugin.id, &plugin.component_sha256(), &registry.to_string(), client, &inputs);
        Some(Slot { cache, key })
    }

    /// The cached answer, if it is fresh now.
    pub fn fresh(&self) -> Option<Answer> {
        let now = credentials::now();
        self.cache.get(&self.key).filter(|entry| entry.is_fresh(now)).map(|entry| Answer {
            entry,
            scope: Scope::Registry,
            now,
        })
    }

    /// The cached answer, fresh or not.
    pub fn entry(&self) -> Option<Entry> {
        self.cache.get(&self.key)
    }

    /// Drops the cached answer (a logout leaves none behind).
    pub fn forget(&self) {
        self.cache.forget(&self.key);
    }
}

/// What a fetch gave.
pub enum Fetched<E> {
    Credentials(Credentials, Scope),
    /// The plugin or its upstream failed: an unexpired cached answer may stand in.
    Unavailable(E),
}

/// The answer for `registry` from `plugin`, per the policy above: `fetch` runs only when the
/// slot holds no fresh answer, even after waiting for a concurrent fetch; its error is
/// final (no fallback).
pub fn get_or_fetch<E: Display>(
    slot: Option<&Slot>,
    plugin: &PluginConfig,
    registry: &Registry,
    fetch: impl FnOnce() -> Result<Fetched<E>, E>,
) -> Result<Answer, E> {
    if let Some(answer) = slot.and_then(Slot::fresh) {
        logging::log(Level::Debug, format_args!("{registry}: fresh in the cache until {}", answer.entry.fresh_until));
        return Ok(answer);
    }
    // Single flight: concurrent misses wait for the first fetch, then read its answer.
    let _lock = slot.and_then(|slot| slot.cache.lock(&slot.key, Instant::now() + plugin.deadline()));
    if let Some(answer) = slot.and_then(Slot::fresh) {
        logging::log(Level::Debug, format_args!("{registry}: fetched by a concurrent call"));
        return Ok(answer);
    }
    let failure = match fetch()? {
        Fetched::Credentials(credentials, scope) => {
            let now = credentials::now();
            let Credentials { username, secret, expires_at } = credentials;
            let entry = Entry::new(username, secret, expires_at, now, plugin.cache_max_seconds);
            match slot {
                Some(_) if scope == Scope::Image => logging::log(
                    Level::Debug,
                    format_args!("plugin {:?} answered for the image; not cached on disk", plugin.id),
                ),
                Some(slot) => {
                    if let Err(e) = slot.cache.put(&slot.key, &entry) {
                        logging::log(Level::Warn, format_args!("cannot cache the answer for {registry}: {e}"));
                    }
                }
                None => {}
            }
            return Ok(Answer { entry, scope, now });
        }
        Fetched::Unavailable(failure) => failure,
    };
    let stale = slot.filter(|_| plugin.cache_stale_fallback).and_then(|slot| slot.cache.get(&slot.key));
    let now = credentials::now();
    match stale.filter(|entry| entry.is_usable(now)) {
        Some(entry) => {
            logging::log(
                Level::Warn,
                format_args!(
                    "{failure}; answering with the cached credentials fetched at {} (cache-stale-fallback)",
                    entry.fetched_at
                ),
            );
            Ok(Answer { entry, scope: Scope::Registry, now })
        }
        None => Err(failure),
    }
}
