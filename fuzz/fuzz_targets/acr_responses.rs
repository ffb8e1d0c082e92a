//! The `acr` plugin's whole logic against any upstream answers: the Entra ID token endpoint
//! (client secret, workload identity, the kubelet's token), App Service, Azure Arc (its
//! challenge and key file), instance metadata, and ACR's exchange. It never panics, and no
//! secret it was given reaches its error or its log.
#![no_main]

use acr_plugin::{answer, choices};
use docker_credential_wasm_fuzz::{Fuzzed, NOW, PluginInput, check_plugin};
use docker_credential_wasm_sdk::effects::Scripted;
use libfuzzer_sys::fuzz_target;

const REGISTRY: &str = "myreg.azurecr.io";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT_SECRET: &str = "fuzz-azure-client-secret-5d20";
const POD_TOKEN: &str = "fuzz-pod-token-77c1";
const IDENTITY_HEADER: &str = "fuzz-identity-header-0b7e";
const ARC_KEY: &str = "fuzz-arc-key-c9d4";

/// The scenario's set-up and settings; `file` is the text of the file it reads.
fn scenario(number: usize, file: &str) -> (Scripted, Vec<(&'static str, &'static str)>) {
    let at = Scripted::at(NOW);
    match number % 6 {
        0 => (
            at.env("AZURE_TENANT_ID", TENANT).env("AZURE_CLIENT_ID", CLIENT).env("AZURE_CLIENT_SECRET", CLIENT_SECRET),
            vec![],
        ),
        // Workload identity: the federated token file is the input's.
        1 => (
            at.env("AZURE_TENANT_ID", TENANT)
                .env("AZURE_CLIENT_ID", CLIENT)
                .env("AZURE_FEDERATED_TOKEN_FILE", "/token")
                .file("/token", file),
            vec![],
        ),
        2 => (
            at.env("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token").env("IDENTITY_HEADER", IDENTITY_HEADER),
            vec![],
        ),
        3 => (at.file("/var/opt/azcmagent/tokens/3f1c.key", ARC_KEY), vec![("identity", "arc")]),
        // Instance metadata, a user-assigned identity, answered as an identity token.
        4 => (at, vec![("client-id", CLIENT), ("answer-as", "identity-token")]),
        _ => {
            let mut setup = at;
            setup.token = Some(POD_TOKEN.into());
            setup.annotations.insert("kubernetes.azure.com/acr-client-id".into(), CLIENT.into());
            setup.annotations.insert("kubernetes.azure.com/acr-tenant-id".into(), TENANT.into());
            (setup, vec![])
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let input = PluginInput::parse(data);
    let (setup, settings) = scenario(input.scenario, &input.file);
    let keys: Vec<String> = settings.iter().map(|(k, _)| k.to_string()).collect();
    let setting = |key: &str| settings.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string());
    let (choices, identity_token) = choices(&keys, setting, REGISTRY).expect("the scenarios' settings are valid");
    let effects = Fuzzed::new(setup, input.answers);
    let result = answer(&effects, &choices, identity_token, REGISTRY);
    check_plugin(&result, &effects, &[CLIENT_SECRET, POD_TOKEN, IDENTITY_HEADER, ARC_KEY], &input.text);
});
