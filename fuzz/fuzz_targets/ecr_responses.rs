//! The `ecr` plugin's whole logic against any upstream answers: IMDS (token, role list,
//! role credentials), ECS and EKS container endpoints, STS (web identity, assume role, the
//! kubelet's token) and ECR (private and public), each scenario a credential source, with
//! the shared credential files' text from the input. It never panics, and no secret it was
//! given reaches its error or its log.
#![no_main]

use docker_credential_wasm_fuzz::{Fuzzed, PluginInput, check_plugin};
use ecr_plugin::{Settings, answer};
use docker_credential_wasm_sdk::effects::Scripted;
use libfuzzer_sys::fuzz_target;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const SECRET_KEY: &str = "fuzz-aws-secret-key-9f3a";
const SESSION_TOKEN: &str = "fuzz-aws-session-token-41be";
const POD_TOKEN: &str = "fuzz-pod-token-77c1";
const ROLE: &str = "arn:aws:iam::123456789012:role/puller";

fn keys(setup: Scripted) -> Scripted {
    setup
        .env("AWS_ACCESS_KEY_ID", "AKIAFUZZ")
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
}

/// The scenario's set-up, registry and settings; `file` is the text of the file it reads.
fn scenario(number: usize, file: &str) -> (Scripted, &'static str, Settings) {
    let at = Scripted::at(docker_credential_wasm_fuzz::NOW);
    let plain = Settings::default();
    match number % 9 {
        // Keys in the environment, straight to ECR.
        0 => (keys(at), PRIVATE, plain),
        // Instance metadata (IMDSv2), as on EC2 with no configuration.
        1 => (at, PRIVATE, plain),
        // The EKS Pod Identity agent, with its token file.
        2 => (
            at.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials")
                .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/token")
                .file("/token", POD_TOKEN),
            PRIVATE,
            plain,
        ),
        // IRSA: the web identity token file exchanged at STS; the file is the input's.
        3 => (
            at.env("AWS_WEB_IDENTITY_TOKEN_FILE", "/token").env("AWS_ROLE_ARN", ROLE).file("/token", file),
            PRIVATE,
            plain,
        ),
        // A profile of the shared config file (the input's) with keys beside it.
        4 => (
            at.env("AWS_PROFILE", "prod").file("~/.aws/config", file).file(
                "~/.aws/credentials",
                &format!("[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = {SECRET_KEY}\n"),
            ),
            PRIVATE,
            plain,
        ),
        // The shared credentials file is the input's.
        5 => (at.file("~/.aws/credentials", file), PRIVATE, plain),
        // ECR Public with keys.
        6 => (keys(at), "public.ecr.aws", plain),
        // The kubelet's service-account token and the pod's role.
        7 => {
            let mut setup = at;
            setup.token = Some(POD_TOKEN.into());
            setup.annotations.insert("eks.amazonaws.com/ecr-role-arn".into(), ROLE.into());
            (setup, PRIVATE, plain)
        }
        // Keys, then a role to assume at STS, for a name that is not an ECR host.
        _ => (
            keys(at).env("AWS_REGION", "eu-west-1"),
            "registry.internal.example",
            Settings { role_arn: Some(ROLE.into()), external_id: Some("ext".into()), ..Settings::default() },
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let input = PluginInput::parse(data);
    let (setup, registry, settings) = scenario(input.scenario, &input.file);
    let effects = Fuzzed::new(setup, input.answers);
    let result = answer(&effects, &settings, registry);
    check_plugin(&result, &effects, &[SECRET_KEY, SESSION_TOKEN, POD_TOKEN], &input.text);
});
