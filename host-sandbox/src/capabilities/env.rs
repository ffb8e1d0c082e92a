//! The environment capability: a plugin sees only the variables its grant names, with the
//! values the host reads from its own environment at the time of the call.

/// The `(name, value)` pairs to give a plugin: each granted name that is set (to valid
/// UTF-8) in the host's environment as `lookup` reports it. Ungranted names never appear.
pub fn granted(names: &[String], lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    names.iter().filter_map(|name| lookup(name).map(|value| (name.clone(), value))).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_granted_and_set_names_pass() {
        let lookup = |name: &str| match name {
            "REGISTRY_PASSWORD" => Some("pw".to_string()),
            "HOME" => Some("/root".to_string()),
            _ => None,
        };
        let granted = super::granted(&["REGISTRY_PASSWORD".into(), "UNSET".into()], lookup);
        assert_eq!(granted, vec![("REGISTRY_PASSWORD".to_string(), "pw".to_string())]);
        assert!(super::granted(&[], lookup).is_empty());
    }
}
