//! Which components this host runs: the world's package and version, the interfaces a
//! plugin may import (the world's types, each capability's, and WASI's), and the `helper`
//! export it must have. What a component imports and exports is read by the runtime.

use crate::capabilities::Capabilities;
use anyhow::bail;
use host_core::manifest::Manifest;

/// The WIT package every plugin is built against, and its version.
pub const WIT_PACKAGE: &str = "docker-credential-wasm:plugin";
pub const WIT_VERSION: &str = "0.1.2";

/// The world's own shared types, which every plugin imports.
const TYPES: &str = "docker-credential-wasm:plugin/types";

/// WASI interfaces a plugin may import (any `0.2.x`), linked by the runtime over a context
/// that grants nothing. `wasi:sockets` is among them because language runtimes import it
/// (CPython's always does), but every use is refused: network only through wasi:http.
pub const WASI: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/instance-network",
    "wasi:sockets/network",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/tcp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/ip-name-lookup",
];

/// Every interface a plugin may import; everything else is refused at load.
pub fn allowed_imports() -> impl Iterator<Item = &'static str> {
    std::iter::once(TYPES)
        .chain(Capabilities::INTERFACES.iter().flat_map(|names| names.iter().copied()))
        .chain(WASI.iter().copied())
}

/// What a component is: its digest and the interfaces it imports and exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub sha256: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// Where the native code that would run comes from.
    pub code: String,
    /// The manifest an external plugin embeds (what it asks for), if it embeds one.
    pub manifest: Option<Manifest>,
    /// A setting the operator gave that the embedded manifest does not name, if any.
    pub unknown_setting: Option<String>,
}

impl Inspection {
    /// The world version of its `helper` export, if it has one.
    pub fn world_version(&self) -> Option<&str> {
        let helper = format!("{WIT_PACKAGE}/helper");
        self.exports.iter().find_map(|name| match split_version(name) {
            (interface, version) if interface == helper => version,
            _ => None,
        })
    }

    /// The imports `load` refuses.
    pub fn refused_imports(&self) -> Vec<&str> {
        self.imports.iter().map(String::as_str).filter(|name| check_imports(std::iter::once(*name)).is_err()).collect()
    }

    /// Why the host would not run it, if it would not.
    pub fn refusal(&self) -> Option<String> {
        check_imports(self.imports.iter().map(String::as_str))
            .and_then(|()| check_exports(self.exports.iter().map(String::as_str)))
            .err()
            .map(|e| e.to_string())
            .or_else(|| self.unknown_setting.clone())
    }
}

/// Splits `ns:pkg/iface@version` into (`ns:pkg/iface`, `version`).
pub(crate) fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (name, None),
    }
}

/// Whether `version` can stand in for our [`WIT_VERSION`] (semver: for `0.x`, same minor).
fn compatible_version(version: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parts(version), parts(WIT_VERSION)) {
        (Some((0, minor)), Some((0, ours))) => minor == ours,
        (Some((major, _)), Some((ours, _))) => major == ours,
        _ => false,
    }
}

/// Refuses a component that imports anything outside [`allowed_imports`].
pub fn check_imports<'a>(imports: impl Iterator<Item = &'a str>) -> anyhow::Result<()> {
    let refused: Vec<&str> = imports
        .filter(|name| {
            let (interface, version) = split_version(name);
            let ours = interface.starts_with(WIT_PACKAGE);
            let version_ok = match version {
                Some(v) if ours => compatible_version(v),
                Some(v) => v.starts_with("0.2."),
                None => false,
            };
            !(version_ok && allowed_imports().any(|allowed| allowed == interface))
        })
        .collect();
    if !refused.is_empty() {
        bail!("it imports {}, which plugins may not use; plugins may import {}", refused.join(", "), allowed_summary());
    }
    Ok(())
}

/// What plugins may import, short: `WASI 0.2.x (cli, clocks, …) and
/// docker-credential-wasm:plugin@0.1.x (types, log, …)`.
fn allowed_summary() -> String {
    let (mut wasi, mut ours) = (Vec::new(), Vec::new());
    for name in allowed_imports() {
        match name.split_once('/') {
            Some((package, _)) if package.starts_with("wasi:") => wasi.push(&package["wasi:".len()..]),
            Some((_, interface)) => ours.push(interface),
            None => {}
        }
    }
    wasi.sort();
    wasi.dedup();
    let minor = WIT_VERSION.rsplit_once('.').map_or(WIT_VERSION, |(minor, _)| minor);
    let wasi: Vec<&str> = wasi
        .into_iter()
        .map(|package| if package == "sockets" { "sockets, every use refused" } else { package })
        .collect();
    format!("WASI 0.2.x ({}) and {WIT_PACKAGE}@{minor}.x ({})", wasi.join(", "), ours.join(", "))
}

/// Requires the `helper` export of our package at a compatible version.
pub fn check_exports<'a>(exports: impl Iterator<Item = &'a str>) -> anyhow::Result<()> {
    let helper = format!("{WIT_PACKAGE}/helper");
    let exports: Vec<&str> = exports.collect();
    let found = exports.iter().find(|name| split_version(name).0 == helper);
    match found.map(|name| split_version(name).1) {
        Some(Some(version)) if compatible_version(version) => Ok(()),
        Some(version) => bail!(
            "it was built for {WIT_PACKAGE}@{}, but this host speaks {WIT_PACKAGE}@{WIT_VERSION}; rebuild it for that world (in Rust: docker-credential-wasm-sdk 0.2)",
            version.unwrap_or("<no version>")
        ),
        None => bail!(
            "it is not a docker-credential-wasm plugin: it does not export {helper}@{WIT_VERSION} (its exports: {})",
            if exports.is_empty() { "none".to_string() } else { exports.join(", ") }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_speaks_the_wit_package_version() {
        let wit = include_str!("../../wit/plugin.wit");
        assert!(wit.lines().any(|line| line == format!("package {WIT_PACKAGE}@{WIT_VERSION};")));
    }

    #[test]
    fn imports_outside_the_world_are_refused_by_name() {
        let ok = [
            "wasi:cli/environment@0.2.4",
            "wasi:io/streams@0.2.0",
            "wasi:sockets/tcp@0.2.9",
            "docker-credential-wasm:plugin/log@0.1.0",
        ];
        check_imports(ok.into_iter()).unwrap();
        let err = check_imports(["wasi:io/streams@0.2.4", "wasi:keyvalue/store@0.2.0"].into_iter()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it imports wasi:keyvalue/store@0.2.0, which plugins may not use; plugins may import WASI 0.2.x (cli, clocks, filesystem, http, io, random, sockets, every use refused) and docker-credential-wasm:plugin@0.1.x (types, log, settings, files, request, secrets)"
        );
        let err = check_imports(["evil:x/y@1.0.0"].into_iter()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("it imports evil:x/y@1.0.0, which plugins may not use; plugins may import WASI"),
            "{err}"
        );
        for bad in [
            "wasi:cli/environment@0.3.0",
            "evil:x/y@1.0.0",
            "docker-credential-wasm:plugin/log@0.2.0",
            "wasi:cli/environment",
        ] {
            assert!(check_imports([bad].into_iter()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_helper_export_must_be_a_compatible_version() {
        check_exports(["docker-credential-wasm:plugin/helper@0.1.0"].into_iter()).unwrap();
        check_exports(["docker-credential-wasm:plugin/helper@0.1.7"].into_iter()).unwrap();
        let newer = check_exports(["docker-credential-wasm:plugin/helper@0.2.0"].into_iter()).unwrap_err();
        assert_eq!(
            newer.to_string(),
            "it was built for docker-credential-wasm:plugin@0.2.0, but this host speaks docker-credential-wasm:plugin@0.1.2; rebuild it for that world (in Rust: docker-credential-wasm-sdk 0.2)"
        );
        let none = check_exports(["wasi:cli/run@0.2.0"].into_iter()).unwrap_err();
        assert_eq!(
            none.to_string(),
            "it is not a docker-credential-wasm plugin: it does not export docker-credential-wasm:plugin/helper@0.1.2 (its exports: wasi:cli/run@0.2.0)"
        );
    }
}
