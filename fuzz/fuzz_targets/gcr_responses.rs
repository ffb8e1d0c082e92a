//! The `gcr` plugin's whole logic against any credential file and any upstream answers:
//! Application Default Credentials files of every type (service account key, authorized
//! user, external account, impersonated service account) from `GOOGLE_APPLICATION_CREDENTIALS`
//! or gcloud's well-known path, the metadata server, Google's OAuth, STS and IAM
//! Credentials endpoints, and the kubelet's token. It never panics, and no secret it was
//! given reaches its error or its log.
#![no_main]

use docker_credential_wasm_fuzz::{Fuzzed, NOW, PluginInput, check_plugin};
use gcr_plugin::{answer, choices};
use docker_credential_wasm_sdk::effects::Scripted;
use libfuzzer_sys::fuzz_target;

const SUBJECT_TOKEN: &str = "fuzz-subject-token-e81f";
const POD_TOKEN: &str = "fuzz-pod-token-77c1";

/// The scenario's set-up and settings; `file` is the credential file's text.
fn scenario(number: usize, file: &str) -> (Scripted, Vec<(&'static str, &'static str)>) {
    // The file an external account's credential source names in the seeds.
    let at = Scripted::at(NOW).file("/var/run/secrets/tokens/gcp-ksa/token", SUBJECT_TOKEN);
    match number % 4 {
        0 => (at.env("GOOGLE_APPLICATION_CREDENTIALS", "/keys/adc.json").file("/keys/adc.json", file), vec![]),
        1 => (at.file("~/.config/gcloud/application_default_credentials.json", file), vec![("quota-project", "p")]),
        // The metadata server, as on GCE with no configuration.
        2 => (at, vec![("scopes", "cloud-platform,devstorage.read_only")]),
        _ => {
            let mut setup = at;
            setup.token = Some(POD_TOKEN.into());
            setup
                .annotations
                .insert("iam.gke.io/gcp-service-account".into(), "puller@p.iam.gserviceaccount.com".into());
            (
                setup,
                vec![(
                    "workload-identity-audience",
                    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k",
                )],
            )
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let input = PluginInput::parse(data);
    let (setup, settings) = scenario(input.scenario, &input.file);
    let keys: Vec<String> = settings.iter().map(|(k, _)| k.to_string()).collect();
    let setting = |key: &str| settings.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string());
    let effects = Fuzzed::new(setup, input.answers);
    let (choices, audience) = choices(&keys, setting, &effects).expect("the scenarios' settings are valid");
    let result = answer(&effects, &choices, audience.as_deref());
    check_plugin(&result, &effects, &[SUBJECT_TOKEN, POD_TOKEN], &input.text);
});
