//! The built-in plugins embedded in the binary: each one's manifest, component bytes and
//! native code, built and compiled from `plugins/` by `build.rs`. One installed engine works
//! with no plugin folder and no compiler run.

use crate::manifest::Manifest;

/// One embedded plugin.
pub struct Builtin {
    pub name: &'static str,
    /// Hex SHA-256 of its component, computed at build time.
    pub sha256: &'static str,
    manifest_text: &'static str,
}

/// The code of one embedded plugin.
pub struct Code {
    /// The component.
    pub wasm: &'static [u8],
    /// `wasm` compiled at build time for the target's baseline CPU, with the runtime's
    /// engine settings; `None` if the build could not compile it.
    pub compiled: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

impl Builtin {
    /// Its component and compiled code.
    pub fn code(&self) -> &'static Code {
        &CODE[self.index()]
    }

    fn index(&self) -> usize {
        BUILTINS.iter().position(|builtin| builtin.name == self.name).expect("a built-in")
    }

    /// The plugin's manifest (validated by the test suite, so parsing cannot fail), parsed
    /// once per process: config loading and every grant computation ask for it.
    pub fn manifest(&self) -> Manifest {
        static PARSED: std::sync::OnceLock<Vec<std::sync::OnceLock<Manifest>>> = std::sync::OnceLock::new();
        let parsed = PARSED.get_or_init(|| BUILTINS.iter().map(|_| std::sync::OnceLock::new()).collect());
        parsed[self.index()]
            .get_or_init(|| {
                Manifest::parse(self.manifest_text)
                    .unwrap_or_else(|e| panic!("the manifest of built-in plugin {} is invalid: {e}", self.name))
            })
            .clone()
    }
}

/// The built-in plugin called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|builtin| builtin.name == name)
}

/// The names of all built-in plugins.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|builtin| builtin.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_has_a_valid_manifest_and_a_component() {
        assert!(names().contains(&"static"));
        assert_eq!(CODE.len(), BUILTINS.len());
        for builtin in BUILTINS {
            Manifest::parse(builtin.manifest_text).unwrap();
            let wasm = builtin.code().wasm;
            assert_eq!(&wasm[..8], b"\0asm\x0d\0\x01\0", "{} is not a component", builtin.name);
            let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(wasm).into();
            assert_eq!(builtin.sha256, hex::encode(digest));
        }
    }
}
