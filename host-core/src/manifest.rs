//! A plugin's manifest: the grants it needs by default, parsed into the same typed grants
//! as the config's, and the settings it understands. The operator's config may replace
//! each grant list; `audit` shows the result. A built-in's manifest is compiled into the
//! host; an external plugin carries its own in a custom section of its component
//! ([`SECTION`]), which the host reads (and [`embed`] writes) without running anything.

use crate::grants::network::NetworkGrant;
use crate::grants::{FileGrant, SecretsNamespace, parse_env_name};
use crate::logging::{must_escape, sanitize};
use serde::Deserialize;

/// A parsed `manifest.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// One line saying what the plugin does.
    pub description: String,
    /// Network grants the plugin needs by default.
    pub network: Vec<NetworkGrant>,
    /// Environment variable names the plugin reads by default.
    pub env: Vec<String>,
    /// Files the plugin reads by default.
    pub files: Vec<FileGrant>,
    /// The secrets namespace the plugin keeps its entries in, if any (none or one).
    pub secrets: Vec<SecretsNamespace>,
    /// The setting keys the plugin understands; others are config errors.
    pub settings: Vec<String>,
}

/// `manifest.toml` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    description: String,
    #[serde(default)]
    network: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
    secrets: Option<String>,
    #[serde(default)]
    settings: Vec<String>,
}

impl Manifest {
    /// The manifest `text`; an error names the first key or grant that is not valid.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| e.to_string())?;
        let network: Result<_, String> =
            raw.network.iter().map(|g| NetworkGrant::parse(g).map_err(|e| e.to_string())).collect();
        // An external plugin writes its own manifest: what `audit` and error lines show of it
        // can neither forge a line nor hide text.
        if raw.description.chars().count() > MAX_DESCRIPTION_CHARS || raw.description.chars().any(must_escape) {
            return Err(format!(
                "the description {} must be one line of at most {MAX_DESCRIPTION_CHARS} characters, with no control or invisible formatting characters",
                sanitize(&raw.description, 80)
            ));
        }
        if let Some(bad) = raw.settings.iter().find(|key| !valid_setting_name(key)) {
            return Err(format!(
                "invalid setting name {}: expected 1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter or digit",
                sanitize(bad, 80)
            ));
        }
        Ok(Manifest {
            description: raw.description,
            network: network?,
            env: raw.env.iter().map(|name| parse_env_name(name)).collect::<Result<_, _>>()?,
            files: raw.files.iter().map(|path| FileGrant::parse(path)).collect::<Result<_, _>>()?,
            secrets: raw.secrets.as_deref().map(SecretsNamespace::parse).transpose()?.into_iter().collect(),
            settings: raw.settings,
        })
    }

    /// Why the operator's setting `keys` do not fit this manifest (the first key it does
    /// not name, and the ones it does), if they do not.
    pub fn unknown_setting<'a>(&self, plugin: &str, mut keys: impl Iterator<Item = &'a String>) -> Option<String> {
        let key = keys.find(|key| !self.settings.contains(key))?;
        Some(match self.settings.is_empty() {
            true => format!("unknown setting {key:?} for plugin {plugin:?}; it takes no settings"),
            false => {
                format!("unknown setting {key:?} for plugin {plugin:?}; expected one of: {}", self.settings.join(", "))
            }
        })
    }
}

/// The longest description a manifest may have, in characters.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// A setting name: `username`, `secret-env`, `token_url`.
fn valid_setting_name(key: &str) -> bool {
    key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_alphanumeric())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The custom section that carries a plugin's `manifest.toml` inside its component.
pub const SECTION: &str = "docker-credential-wasm-manifest";

/// The manifest embedded in `wasm` (a component or a core module): the first [`SECTION`]
/// at the top level, else in a nested module or component, depth first (where the Rust
/// SDK's section ends up: in the plugin's core module). `Ok(None)` when there is none.
pub fn embedded(wasm: &[u8]) -> Result<Option<Manifest>, String> {
    let Some(text) = find_section(wasm, 0)? else { return Ok(None) };
    if text.len() > MAX_EMBEDDED_BYTES {
        return Err(format!(
            "its embedded manifest ({SECTION}) is {} bytes; the most a manifest may be is {MAX_EMBEDDED_BYTES}",
            text.len()
        ));
    }
    let text = std::str::from_utf8(text).map_err(|_| format!("its embedded manifest ({SECTION}) is not UTF-8"))?;
    Manifest::parse(text)
        .map(Some)
        .map_err(|e| format!("its embedded manifest ({SECTION}) is not valid: {}", sanitize(&e, MAX_ERROR_CHARS)))
}

/// `wasm` with `manifest` (the text of a `manifest.toml`, checked first) as its top-level
/// [`SECTION`], in place of any it had at the top level.
pub fn embed(wasm: &[u8], manifest: &str) -> Result<Vec<u8>, String> {
    Manifest::parse(manifest).map_err(|e| format!("the manifest is not valid: {e}"))?;
    let sections = sections(wasm)?;
    let mut out = wasm[..HEADER].to_vec();
    for section in sections.iter().filter(|section| section.custom_name(wasm) != Some(SECTION)) {
        out.extend_from_slice(&wasm[section.whole.clone()]);
    }
    let mut payload = leb128(SECTION.len() as u64);
    payload.extend_from_slice(SECTION.as_bytes());
    payload.extend_from_slice(manifest.as_bytes());
    out.push(CUSTOM);
    out.extend(leb128(payload.len() as u64));
    out.extend(payload);
    Ok(out)
}

/// The largest embedded manifest the host parses (a manifest is a few lines).
const MAX_EMBEDDED_BYTES: usize = 64 * 1024;
/// How much of a manifest's parse error (which quotes the plugin's text) an error line shows.
const MAX_ERROR_CHARS: usize = 400;
const HEADER: usize = 8;
const CUSTOM: u8 = 0;
/// Section ids that hold a whole nested binary in a component: a core module, a component.
const NESTED: [u8; 2] = [1, 4];
/// Nesting deeper than this is not a plugin the host would build; stop looking.
const MAX_DEPTH: usize = 8;

/// One section of a binary: its id, its whole bytes, and its payload's.
struct Section {
    id: u8,
    whole: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
}

impl Section {
    /// A custom section's name.
    fn custom_name<'a>(&self, wasm: &'a [u8]) -> Option<&'a str> {
        if self.id != CUSTOM {
            return None;
        }
        let payload = &wasm[self.payload.clone()];
        let (length, used) = read_leb128(payload).ok()?;
        let name = payload.get(used..used.checked_add(usize::try_from(length).ok()?)?)?;
        std::str::from_utf8(name).ok()
    }
}

fn find_section(wasm: &[u8], depth: usize) -> Result<Option<&[u8]>, String> {
    let sections = sections(wasm)?;
    for section in &sections {
        if section.custom_name(wasm) == Some(SECTION) {
            let payload = &wasm[section.payload.clone()];
            let (length, used) = read_leb128(payload)?;
            return Ok(Some(&payload[used + length as usize..]));
        }
    }
    // Sections 1 and 4 nest binaries only in a component (layer 1); in a core module they
    // are its types and tables.
    if depth < MAX_DEPTH && wasm[6..HEADER] == [1, 0] {
        for section in sections.iter().filter(|section| NESTED.contains(&section.id)) {
            if let Some(found) = find_section(&wasm[section.payload.clone()], depth + 1)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// The sections of a component or core module, after its 8-byte header.
fn sections(wasm: &[u8]) -> Result<Vec<Section>, String> {
    if wasm.len() < HEADER || &wasm[..4] != b"\0asm" {
        return Err("not a WebAssembly binary (no \\0asm header)".into());
    }
    let mut sections = Vec::new();
    let mut at = HEADER;
    while at < wasm.len() {
        let id = wasm[at];
        let (size, used) = read_leb128(&wasm[at + 1..]).map_err(|e| format!("section at byte {at}: {e}"))?;
        let start = at + 1 + used;
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| start.checked_add(size))
            .filter(|end| *end <= wasm.len())
            .ok_or_else(|| format!("the section at byte {at} runs past the end of the binary"))?;
        sections.push(Section { id, whole: at..end, payload: start..end });
        at = end;
    }
    Ok(sections)
}

/// An unsigned LEB128 number (at most 32 bits, as section sizes are) and its length.
fn read_leb128(bytes: &[u8]) -> Result<(u64, usize), String> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(5) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err("a malformed or truncated LEB128 number".into())
}

fn leb128(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component holding one core module, which holds `module_sections`.
    fn component(module_sections: &[u8]) -> Vec<u8> {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend_from_slice(module_sections);
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        component.push(1);
        component.extend(leb128(module.len() as u64));
        component.extend(module);
        component
    }

    fn custom(name: &str, data: &str) -> Vec<u8> {
        let mut payload = leb128(name.len() as u64);
        payload.extend_from_slice(name.as_bytes());
        payload.extend_from_slice(data.as_bytes());
        let mut section = vec![CUSTOM];
        section.extend(leb128(payload.len() as u64));
        section.extend(payload);
        section
    }

    const MANIFEST: &str =
        "description = \"in-house\"\nsettings = [\"username\"]\nnetwork = [\"https://auth.example.com\"]\n";

    #[test]
    fn a_manifest_is_found_in_a_nested_module_and_embedding_puts_one_on_top() {
        let mut inner = custom("name", "ignored");
        inner.extend(custom(SECTION, MANIFEST));
        let wasm = component(&inner);
        let found = embedded(&wasm).unwrap().unwrap();
        assert_eq!(
            (found.description.as_str(), found.settings.as_slice()),
            ("in-house", ["username".to_string()].as_slice())
        );
        assert_eq!(found.network[0].to_string(), "https://auth.example.com");

        let replaced = embed(&wasm, "description = \"outer\"\n").unwrap();
        assert_eq!(embedded(&replaced).unwrap().unwrap().description, "outer");
        // Embedding again replaces the top-level one rather than adding a second.
        let again = embed(&replaced, "description = \"again\"\n").unwrap();
        assert_eq!(again.len(), replaced.len());
        assert_eq!(embedded(&again).unwrap().unwrap().description, "again");
        assert_eq!(embedded(&component(&custom("name", "x"))).unwrap(), None);
        // A core module's section 1 is its types, not a nested binary.
        let mut types = vec![1, 4, 1, 0x60, 0, 0];
        types.extend(custom(SECTION, MANIFEST));
        assert_eq!(embedded(&component(&types)).unwrap().unwrap().description, "in-house");
    }

    #[test]
    fn a_bad_manifest_or_binary_is_an_error_that_says_which() {
        let bad = component(&custom(SECTION, "description = \"x\"\nsetings = []\n"));
        let err = embedded(&bad).unwrap_err();
        assert!(err.starts_with("its embedded manifest (docker-credential-wasm-manifest) is not valid: "), "{err}");
        assert!(err.contains("unknown field `setings`"), "{err}");
        assert_eq!(embed(&bad, "nonsense").unwrap_err().split(':').next(), Some("the manifest is not valid"));
        assert_eq!(embedded(b"not wasm").unwrap_err(), "not a WebAssembly binary (no \\0asm header)");
        let mut truncated = component(&custom(SECTION, MANIFEST));
        truncated.truncate(truncated.len() - 3);
        assert_eq!(embedded(&truncated).unwrap_err(), "the section at byte 8 runs past the end of the binary");
    }

    #[test]
    fn a_manifest_cannot_forge_lines_or_hide_text() {
        let forged = Manifest::parse("description = \"ok\\n  status    ok\"\n").unwrap_err();
        assert_eq!(
            forged,
            "the description ok\\n  status    ok must be one line of at most 300 characters, with no control or invisible formatting characters"
        );
        let hidden = Manifest::parse("description = \"x\"\nsettings = [\"user\\u202ename\"]\n").unwrap_err();
        assert_eq!(
            hidden,
            "invalid setting name user\\u{202e}name: expected 1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter or digit"
        );
        let long = format!("description = \"{}\"\n", "x".repeat(301));
        assert!(Manifest::parse(&long).unwrap_err().starts_with("the description xxx"));
        let huge = component(&custom(SECTION, &format!("description = \"x\"\n#{}\n", "x".repeat(70_000))));
        assert_eq!(
            embedded(&huge).unwrap_err(),
            "its embedded manifest (docker-credential-wasm-manifest) is 70020 bytes; the most a manifest may be is 65536"
        );
        // A parse error quotes the plugin's text: one line, escaped.
        let bad = component(&custom(SECTION, "description = \"x\"\n\u{1b}[2J = 1\n"));
        let err = embedded(&bad).unwrap_err();
        assert!(!err.contains('\n') && !err.contains('\u{1b}'), "{err:?}");
    }

    #[test]
    fn a_bad_grant_in_a_manifest_is_an_error_that_names_it() {
        let bad = Manifest::parse("description = \"x\"\nnetwork = [\"https://ok.example.com\", \"ftp://x\"]\n");
        assert!(bad.unwrap_err().starts_with("invalid network grant \"ftp://x\": the scheme must be http or https"));
        let bad = Manifest::parse("description = \"x\"\nfiles = [\"relative/path\"]\n");
        assert!(bad.unwrap_err().starts_with("invalid file grant \"relative/path\""));
        let bad = Manifest::parse("description = \"x\"\nenv = [\"NOT-A-NAME\"]\n");
        assert!(bad.unwrap_err().starts_with("invalid environment variable name \"NOT-A-NAME\""));
        let unknown = Manifest::parse("description = \"x\"\nnetwrok = []\n").unwrap_err();
        assert!(unknown.contains("unknown field `netwrok`"), "{unknown}");
    }
}
