//! The code of the built-in plugins: each one's component and its native code, compiled by
//! `build.rs` when this program was built. Only the engine links it; the front never does.

/// The code of one built-in plugin.
pub struct Code {
    /// The component.
    pub wasm: &'static [u8],
    /// `wasm` compiled at build time for the target's baseline CPU, with the runtime's
    /// engine settings; `None` if the build could not compile it.
    pub compiled: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/builtin_code.rs"));

/// The code of the built-in plugin `name`.
pub fn find(name: &str) -> Option<&'static Code> {
    CODE.iter().find(|(builtin, _)| *builtin == name).map(|(_, code)| code)
}

#[cfg(test)]
mod tests {
    use host_core::builtins::BUILTINS;

    #[test]
    fn every_builtin_the_core_knows_has_this_code_with_its_digest() {
        assert_eq!(super::CODE.len(), BUILTINS.len());
        for builtin in BUILTINS {
            let wasm = super::find(builtin.name).unwrap_or_else(|| panic!("no code for {}", builtin.name)).wasm;
            assert_eq!(&wasm[..8], b"\0asm\x0d\0\x01\0", "{} is not a component", builtin.name);
            let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(wasm).into();
            assert_eq!(builtin.sha256, hex::encode(digest));
        }
    }
}
