//! The Secret Service backend: entries are items of the freedesktop Secret Service on the
//! session bus (GNOME Keyring, KeePassXC, KWallet's bridge), through a pure-Rust D-Bus
//! client, its secrets sent over an encrypted session (the same Diffie-Hellman session
//! libsecret opens). A locked collection is unlocked the way libsecret does it, through the
//! keyring's own prompt; a prompt that is dismissed or cannot be shown leaves it locked.

use super::layout::Layout;
use super::{Entry, StoreError};
use secret_service::{EncryptionType, Error, Item, SecretService};
use std::collections::HashMap;

/// The content type libsecret gives a password.
const CONTENT_TYPE: &str = "text/plain";

/// Connects to the Secret Service on the session bus.
pub async fn connect() -> Result<SecretService<'static>, StoreError> {
    SecretService::connect(EncryptionType::Dh).await.map_err(|e| {
        StoreError::Unavailable(format!(
            "no Secret Service (a keyring such as GNOME Keyring or KeePassXC) answers on the session bus: {e}"
        ))
    })
}

fn failed(error: Error) -> StoreError {
    match error {
        Error::Locked | Error::Prompt | Error::PromptDisconnected => StoreError::Locked(format!(
            "the keyring is locked and was not unlocked ({error}); unlock it (log in to the desktop session, or unlock it in the keyring's own tool) and try again"
        )),
        other => StoreError::Failed(format!("the Secret Service failed: {other}")),
    }
}

fn borrowed<'a>(attributes: &'a HashMap<&'static str, String>) -> HashMap<&'a str, &'a str> {
    attributes.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The items carrying `attributes`, unlocked (through the keyring's prompt) where needed.
async fn search<'s>(
    service: &'s SecretService<'_>,
    attributes: &HashMap<&'static str, String>,
) -> Result<Vec<Item<'s>>, StoreError> {
    let found = service.search_items(borrowed(attributes)).await.map_err(failed)?;
    if found.locked.is_empty() {
        return Ok(found.unlocked);
    }
    service.unlock_all(&found.locked.iter().collect::<Vec<_>>()).await.map_err(failed)?;
    let found = service.search_items(borrowed(attributes)).await.map_err(failed)?;
    if !found.locked.is_empty() {
        return Err(failed(Error::Locked));
    }
    Ok(found.unlocked)
}

/// The account an item holds (its user-name attribute).
async fn account(layout: &Layout, item: &Item<'_>) -> Result<Option<(String, String)>, StoreError> {
    let attributes = item.get_attributes().await.map_err(failed)?;
    let key = attributes.get(layout.key_attribute()).cloned();
    let account = attributes.get(layout.account_attribute()).cloned();
    Ok(key.zip(account))
}

pub async fn get(service: &SecretService<'_>, layout: &Layout, key: &str) -> Result<Option<Entry>, StoreError> {
    let items = search(service, &layout.key_attributes(key)).await?;
    let Some((_, account, item)) = latest_first(layout, items).await?.into_iter().next() else { return Ok(None) };
    let secret = item.get_secret().await.map_err(failed)?;
    let secret = String::from_utf8(secret)
        .map_err(|_| StoreError::Failed(format!("the secret the keyring holds for {key} is not UTF-8")))?;
    Ok(Some(Entry { key: key.to_string(), account, secret }))
}

/// Writes the new item into the default collection (replacing one with the same
/// attributes), then removes the key's items for other accounts: at every moment one of
/// the two logins is there.
pub async fn set(service: &SecretService<'_>, layout: &Layout, entry: &Entry) -> Result<(), StoreError> {
    let collection = match service.get_default_collection().await {
        Ok(collection) => collection,
        Err(Error::NoResult) => service.get_any_collection().await.map_err(|_| {
            StoreError::Unavailable(
                "the keyring has no collection to store in (no default, no session collection); create one in the keyring's own tool".into(),
            )
        })?,
        Err(error) => return Err(failed(error)),
    };
    if collection.is_locked().await.map_err(failed)? {
        collection.unlock().await.map_err(failed)?;
        if collection.is_locked().await.map_err(failed)? {
            return Err(failed(Error::Locked));
        }
    }
    let attributes = layout.item_attributes(&entry.key, &entry.account);
    collection
        .create_item(&entry.key, borrowed(&attributes), entry.secret.as_bytes(), true, CONTENT_TYPE)
        .await
        .map_err(failed)?;
    for item in search(service, &layout.key_attributes(&entry.key)).await? {
        if account(layout, &item).await?.is_some_and(|(_, account)| account != entry.account) {
            item.delete().await.map_err(failed)?;
        }
    }
    Ok(())
}

pub async fn delete(service: &SecretService<'_>, layout: &Layout, key: &str) -> Result<bool, StoreError> {
    let items = search(service, &layout.key_attributes(key)).await?;
    for item in &items {
        item.delete().await.map_err(failed)?;
    }
    Ok(!items.is_empty())
}

/// Each key with its account: where an older helper left several logins for one key (as
/// docker-credential-secretservice 0.6.4 does for a second user), the one `get` answers with.
pub async fn list(service: &SecretService<'_>, layout: &Layout) -> Result<Vec<(String, String)>, StoreError> {
    let mut listed = latest_first(layout, search(service, &layout.namespace_attributes()).await?).await?;
    listed.dedup_by(|a, b| a.0 == b.0);
    Ok(listed.into_iter().map(|(key, account, _)| (key, account)).collect())
}

/// The logins `items` hold as (key, account, item), sorted by key and, within a key, the
/// latest first (ties by account).
async fn latest_first<'s>(
    layout: &Layout,
    items: Vec<Item<'s>>,
) -> Result<Vec<(String, String, Item<'s>)>, StoreError> {
    let mut logins = Vec::new();
    for item in items {
        if let Some((key, account)) = account(layout, &item).await? {
            let modified = item.get_modified().await.map_err(failed)?;
            logins.push((key, std::cmp::Reverse(modified), account, item));
        }
    }
    logins.sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
    Ok(logins.into_iter().map(|(key, _, account, item)| (key, account, item)).collect())
}
