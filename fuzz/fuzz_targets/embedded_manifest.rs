//! The manifest an external plugin embeds, read from any bytes (a hostile or broken
//! component): reading gives a manifest, none, or an error, never a panic or a hang; and
//! embedding a manifest into bytes that walk as a binary gives bytes whose top-level
//! manifest is exactly that one.
#![no_main]

use host_core::manifest::{Manifest, embed, embedded};
use libfuzzer_sys::fuzz_target;

const MANIFEST: &str = "description = \"fuzzed\"\nsettings = [\"username\"]\n";

fuzz_target!(|data: &[u8]| {
    let _ = embedded(data);
    if let Ok(with) = embed(data, MANIFEST) {
        assert_eq!(embedded(&with), Ok(Some(Manifest::parse(MANIFEST).unwrap())));
        // Embedding again replaces it rather than adding a second.
        assert_eq!(embed(&with, MANIFEST).unwrap(), with);
    }
});
