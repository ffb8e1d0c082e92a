//! A plugin that imports an interface no host capability provides (a key-value store). The
//! host refuses it at load, naming the import, before anything runs.

use docker_credential_wasm_sdk::{Credentials, Error, Plugin, export_plugin};

wit_bindgen::generate!({
    inline: "
        package example:forbidden@1.0.0;
        interface keyvalue {
            get: func(key: string) -> option<string>;
        }
        world undeclared {
            import keyvalue;
        }
    ",
});

struct UndeclaredImport;

impl Plugin for UndeclaredImport {
    fn get(registry: &str) -> Result<Credentials, Error> {
        let secret = example::forbidden::keyvalue::get(registry).unwrap_or_default();
        Ok(Credentials::new("undeclared", secret))
    }
}

export_plugin!(UndeclaredImport);
