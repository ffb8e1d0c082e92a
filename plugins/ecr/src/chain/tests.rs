//! The whole plugin logic (`answer`) against a scripted context: each credential source,
//! the endpoints each registry form reaches, and the failures.

use super::*;
use crate::{Settings, answer};

const NOW: u64 = 1_764_500_000;
const ECR_OK: &str =
    r#"{"authorizationData":[{"authorizationToken":"QVdTOmVjci1wYXNzd29yZA==","expiresAt":1764543200}]}"#;

type Fake = docker_credential_wasm_sdk::effects::Scripted;

fn scripted() -> Fake {
    Fake::at(NOW)
}

/// ECR's answer in `region`.
trait EcrAnswer {
    fn ecr(self, region: &str) -> Self;
}

impl EcrAnswer for Fake {
    fn ecr(self, region: &str) -> Self {
        self.answer(&format!("POST https://api.ecr.{region}.amazonaws.com/"), 200, ECR_OK)
    }
}

const REGISTRY: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

fn get(fake: &Fake, registry: &str) -> Result<crate::ecr::Token, Error> {
    answer(fake, &Settings::default(), registry)
}

fn sts_answer(action: &str, key: &str) -> String {
    format!(
        "<{action}Response><{action}Result><Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>secret-of-{key}</SecretAccessKey><SessionToken>token-of-{key}</SessionToken><Expiration>2026-11-30T12:00:00Z</Expiration></Credentials></{action}Result></{action}Response>"
    )
}

#[test]
fn environment_keys_sign_the_ecr_call() {
    let fake = scripted().env("AWS_ACCESS_KEY_ID", "AKIDENV").env("AWS_SECRET_ACCESS_KEY", "s").ecr("us-west-2");
    let token = get(&fake, REGISTRY).unwrap();
    assert_eq!(
        (token.username.as_str(), token.password.as_str(), token.expires_at),
        ("AWS", "ecr-password", Some(1_764_543_200))
    );
    assert_eq!(fake.sent(), ["POST https://api.ecr.us-west-2.amazonaws.com/"]);
    assert_eq!(
        fake.header(0, "x-amz-target").as_deref(),
        Some("AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken")
    );
    assert_eq!(fake.header(0, "content-type").as_deref(), Some("application/x-amz-json-1.1"));
    assert!(fake.header(0, "authorization").unwrap().starts_with("AWS4-HMAC-SHA256 Credential=AKIDENV/20251130/us-west-2/ecr/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="));
    assert_eq!(fake.body(0), "{}");
    assert_eq!(fake.header(0, "x-amz-security-token"), None);
}

#[test]
fn half_a_key_pair_is_an_error_naming_the_missing_variable() {
    let fake = scripted().env("AWS_ACCESS_KEY_ID", "AKID");
    assert_eq!(
        get(&fake, REGISTRY).unwrap_err(),
        Error::InvalidInput(
            "AWS credentials from environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into()
        )
    );
}

#[test]
fn web_identity_exchanges_the_token_file_at_sts_in_the_registrys_region() {
    let fake = scripted()
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks.amazonaws.com/serviceaccount/token")
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa")
        .file("/var/run/secrets/eks.amazonaws.com/serviceaccount/token", "eyJ.irsa.jwt\n")
        .answer("POST https://sts.us-west-2.amazonaws.com/", 200, &sts_answer("AssumeRoleWithWebIdentity", "ASIAWEB"))
        .ecr("us-west-2");
    get(&fake, REGISTRY).unwrap();
    assert_eq!(
        fake.sent(),
        ["POST https://sts.us-west-2.amazonaws.com/", "POST https://api.ecr.us-west-2.amazonaws.com/"]
    );
    assert_eq!(
        fake.body(0),
        format!(
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Firsa&RoleSessionName=docker-credential-wasm-{NOW}&WebIdentityToken=eyJ.irsa.jwt"
        )
    );
    assert_eq!(fake.header(0, "authorization"), None, "AssumeRoleWithWebIdentity is not signed");
    assert_eq!(fake.header(1, "x-amz-security-token").as_deref(), Some("token-of-ASIAWEB"));
    assert!(fake.header(1, "authorization").unwrap().contains("Credential=ASIAWEB/"));
}

#[test]
fn a_profile_role_is_assumed_with_its_source_profiles_keys() {
    let fake = scripted()
        .env("AWS_PROFILE", "prod")
        .file("~/.aws/config", "[profile prod]\nrole_arn = arn:aws:iam::123456789012:role/puller\nsource_profile = base\nexternal_id = ext-1\n")
        .file("~/.aws/credentials", "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = s\n")
        .answer("POST https://sts.us-west-2.amazonaws.com/", 200, &sts_answer("AssumeRole", "ASIAROLE"))
        .ecr("us-west-2");
    get(&fake, REGISTRY).unwrap();
    assert_eq!(
        fake.body(0),
        format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpuller&RoleSessionName=docker-credential-wasm-{NOW}&ExternalId=ext-1"
        )
    );
    assert!(
        fake.header(0, "authorization").unwrap().contains("Credential=AKIDBASE/20251130/us-west-2/sts/aws4_request")
    );
    assert!(fake.header(1, "authorization").unwrap().contains("Credential=ASIAROLE/"));
}

#[test]
fn the_operators_profile_setting_is_the_only_source() {
    let fake = scripted()
        .env("AWS_ACCESS_KEY_ID", "AKIDENV")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .file("~/.aws/credentials", "[team-b]\naws_access_key_id = AKIDTEAMB\naws_secret_access_key = s\n")
        .ecr("us-west-2");
    let settings = Settings { profile: Some("team-b".into()), ..Settings::default() };
    answer(&fake, &settings, REGISTRY).unwrap();
    assert!(fake.header(0, "authorization").unwrap().contains("Credential=AKIDTEAMB/"));
    let missing = Settings { profile: Some("nope".into()), ..Settings::default() };
    assert_eq!(
        answer(&fake, &missing, REGISTRY).unwrap_err(),
        Error::InvalidInput("AWS credentials from profile nope: the profile nope is in neither the config file nor the credentials file".into())
    );
}

#[test]
fn the_operators_role_wraps_what_the_chain_found() {
    let fake = scripted()
        .env("AWS_ACCESS_KEY_ID", "AKIDENV")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .answer("POST https://sts.us-west-2.amazonaws.com/", 200, &sts_answer("AssumeRole", "ASIAOPS"))
        .ecr("us-west-2");
    let settings = Settings {
        role_arn: Some("arn:aws:iam::210987654321:role/cross".into()),
        role_session_name: Some("pull".into()),
        ..Settings::default()
    };
    answer(&fake, &settings, REGISTRY).unwrap();
    assert!(fake.body(0).contains("RoleArn=arn%3Aaws%3Aiam%3A%3A210987654321%3Arole%2Fcross&RoleSessionName=pull"));
    assert!(fake.header(1, "authorization").unwrap().contains("Credential=ASIAOPS/"));
}

#[test]
fn container_credentials_send_the_authorization_token_file() {
    let fake = scripted()
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials")
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token")
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored-when-the-file-is-set")
        .file("/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token", "pod-identity\n")
        .answer("GET http://169.254.170.23/v1/credentials", 200, r#"{"AccessKeyId":"ASIAPOD","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-30T12:00:00Z","AccountId":"1"}"#)
        .ecr("us-west-2");
    get(&fake, REGISTRY).unwrap();
    assert_eq!(fake.header(0, "authorization").as_deref(), Some("pod-identity"));
    assert!(fake.header(1, "authorization").unwrap().contains("Credential=ASIAPOD/"));
    let ecs = scripted()
        .env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")
        .answer(
            "GET http://169.254.170.2/v2/credentials/abc",
            200,
            r#"{"AccessKeyId":"ASIAECS","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-30T12:00:00Z"}"#,
        )
        .ecr("us-west-2");
    get(&ecs, REGISTRY).unwrap();
    assert_eq!(ecs.sent()[0], "GET http://169.254.170.2/v2/credentials/abc");
    let elsewhere = scripted().env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://evil.example/creds");
    assert_eq!(
        get(&elsewhere, REGISTRY).unwrap_err(),
        Error::InvalidInput("AWS credentials from container: AWS_CONTAINER_CREDENTIALS_FULL_URI http://evil.example/creds is plain http to a host that is neither loopback nor an ECS/EKS credential endpoint".into())
    );
}

#[test]
fn instance_metadata_uses_a_session_token() {
    let fake = scripted()
        .answer("PUT http://169.254.169.254/latest/api/token", 200, "imds-session")
        .answer("GET http://169.254.169.254/latest/meta-data/iam/security-credentials/", 200, "node-role\n")
        .answer("GET http://169.254.169.254/latest/meta-data/iam/security-credentials/node-role", 200, r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIANODE","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-30T12:00:00Z"}"#)
        .ecr("us-west-2");
    get(&fake, REGISTRY).unwrap();
    assert_eq!(fake.header(0, "x-aws-ec2-metadata-token-ttl-seconds").as_deref(), Some("21600"));
    assert_eq!(fake.header(1, "x-aws-ec2-metadata-token").as_deref(), Some("imds-session"));
    assert_eq!(fake.sent.borrow()[0].connect_timeout, Some(PROBE_CONNECT));
    assert!(fake.header(3, "authorization").unwrap().contains("Credential=ASIANODE/"));
}

#[test]
fn no_credentials_anywhere_is_not_found_listing_every_source() {
    let fake = scripted();
    assert_eq!(
        get(&fake, REGISTRY).unwrap_err(),
        Error::NotFound("no AWS credentials found; tried environment: AWS_ACCESS_KEY_ID is not set; web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set; profile default: no profile default in ~/.aws/config or ~/.aws/credentials; container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set; instance metadata: no instance metadata service (PUT http://169.254.169.254/latest/api/token: connection refused)".into())
    );
    let disabled = scripted().env("AWS_EC2_METADATA_DISABLED", "true");
    assert!(
        get(&disabled, REGISTRY)
            .unwrap_err()
            .message()
            .ends_with("instance metadata: AWS_EC2_METADATA_DISABLED is true")
    );
    assert!(disabled.sent().is_empty(), "a disabled IMDS is never asked");
}

#[test]
fn expired_credentials_are_refused_before_any_ecr_call() {
    let fake = scripted().env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds").answer(
        "GET http://169.254.170.2/creds",
        200,
        r#"{"AccessKeyId":"ASIAOLD","SecretAccessKey":"s","Token":"t","Expiration":"2020-01-01T00:00:00Z"}"#,
    );
    assert_eq!(
        get(&fake, REGISTRY).unwrap_err(),
        Error::Denied("the AWS credentials from container expired at 2020-01-01T00:00:00Z".into())
    );
    assert_eq!(fake.sent().len(), 1);
}

#[test]
fn each_host_form_reaches_its_api() {
    for (registry, url, service_scope) in [
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "https://api.ecr.cn-north-1.amazonaws.com.cn/",
            "cn-north-1/ecr",
        ),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            "https://ecr-fips.us-gov-west-1.amazonaws.com/",
            "us-gov-west-1/ecr",
        ),
        ("123456789012.dkr-ecr.eu-west-1.on.aws", "https://ecr.eu-west-1.api.aws/", "eu-west-1/ecr"),
        ("public.ecr.aws", "https://api.ecr-public.us-east-1.amazonaws.com/", "us-east-1/ecr-public"),
    ] {
        let public =
            r#"{"authorizationData":{"authorizationToken":"QVdTOmVjci1wYXNzd29yZA==","expiresAt":1764543200}}"#;
        let body = if registry == "public.ecr.aws" { public } else { ECR_OK };
        let fake = scripted().env("AWS_ACCESS_KEY_ID", "AKID").env("AWS_SECRET_ACCESS_KEY", "s").answer(
            &format!("POST {url}"),
            200,
            body,
        );
        assert_eq!(get(&fake, registry).unwrap().password, "ecr-password", "{registry}");
        assert!(
            fake.header(0, "authorization").unwrap().contains(&format!("/{service_scope}/aws4_request")),
            "{registry}"
        );
    }
    let public_target = scripted().env("AWS_ACCESS_KEY_ID", "A").env("AWS_SECRET_ACCESS_KEY", "s");
    let _ = get(&public_target, "public.ecr.aws");
    assert_eq!(
        public_target.header(0, "x-amz-target").as_deref(),
        Some("SpencerFrontendService.GetAuthorizationToken")
    );
}

#[test]
fn a_registry_alias_takes_its_region_from_settings_or_the_environment() {
    let fake = scripted().env("AWS_ACCESS_KEY_ID", "AKID").env("AWS_SECRET_ACCESS_KEY", "s");
    assert_eq!(
        get(&fake, "registry.corp.example").unwrap_err(),
        Error::InvalidInput("registry.corp.example is not an ECR host name, so it names no region; set the plugin's `region` setting or AWS_REGION".into())
    );
    let fake = fake.env("AWS_REGION", "eu-central-1").ecr("eu-central-1");
    get(&fake, "registry.corp.example").unwrap();
    // The host name's region wins over AWS_REGION.
    let fake = fake.ecr("us-west-2");
    get(&fake, REGISTRY).unwrap();
    assert_eq!(fake.sent().last().unwrap(), "POST https://api.ecr.us-west-2.amazonaws.com/");
}

#[test]
fn fips_and_endpoint_overrides_apply() {
    let fake = scripted()
        .env("AWS_ACCESS_KEY_ID", "AKID")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .env("AWS_USE_FIPS_ENDPOINT", "true")
        .answer("POST https://ecr-fips.us-west-2.amazonaws.com/", 200, ECR_OK);
    get(&fake, REGISTRY).unwrap();
    let fake = scripted()
        .env("AWS_ACCESS_KEY_ID", "AKID")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .env("AWS_ENDPOINT_URL_ECR", "https://ecr.internal:8443")
        .answer("POST https://ecr.internal:8443/", 200, ECR_OK);
    get(&fake, REGISTRY).unwrap();
    let signed_host = fake.header(0, "authorization").unwrap();
    assert!(signed_host.contains("SignedHeaders=content-type;host;"), "{signed_host}");
}

#[test]
fn a_pods_service_account_token_is_exchanged_for_the_annotated_role() {
    let mut fake = scripted()
        .env("AWS_ACCESS_KEY_ID", "AKIDNODE")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .answer("POST https://sts.us-west-2.amazonaws.com/", 200, &sts_answer("AssumeRoleWithWebIdentity", "ASIAPOD"))
        .ecr("us-west-2");
    fake.token = Some("pod.jwt".into());
    fake.annotations.insert(crate::ROLE_ANNOTATION.into(), "arn:aws:iam::123456789012:role/pod".into());
    get(&fake, REGISTRY).unwrap();
    assert_eq!(
        fake.body(0),
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpod&RoleSessionName=ecr-credential-provider&WebIdentityToken=pod.jwt"
    );
    assert!(fake.header(1, "authorization").unwrap().contains("Credential=ASIAPOD/"));
    // Without a role for the pod, the node's credentials answer.
    fake.annotations.clear();
    fake.sent.borrow_mut().clear();
    get(&fake, REGISTRY).unwrap();
    assert!(fake.header(0, "authorization").unwrap().contains("Credential=AKIDNODE/"));
}

#[test]
fn settings_are_checked() {
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        Settings::read(&keys(&["profle"]), |_| None).unwrap_err(),
        Error::InvalidInput("unknown setting `profle`; the ecr plugin knows profile, role-arn, role-session-name, external-id, region, fips".into())
    );
    assert_eq!(
        Settings::read(&keys(&["fips"]), |_| Some("yes".into())).unwrap_err(),
        Error::InvalidInput("the setting `fips` is \"yes\"; expected true or false".into())
    );
    let settings =
        Settings::read(&keys(&["profile", "fips"]), |k| Some(if k == "fips" { "true" } else { "prod" }.into()))
            .unwrap();
    assert_eq!((settings.profile.as_deref(), settings.fips), (Some("prod"), true));
}

#[test]
fn sts_is_called_in_the_configured_region_unless_it_is_another_partition() {
    let web = |fake: Fake| {
        fake.env("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")
            .env("AWS_ROLE_ARN", "arn:aws:iam::1:role/r")
            .file("/t", "jwt")
            .answer(
                "POST https://sts.eu-central-1.amazonaws.com/",
                200,
                &sts_answer("AssumeRoleWithWebIdentity", "ASIA1"),
            )
            .answer(
                "POST https://sts.cn-north-1.amazonaws.com.cn/",
                200,
                &sts_answer("AssumeRoleWithWebIdentity", "ASIA2"),
            )
            .ecr("us-west-2")
            .answer("POST https://api.ecr.cn-north-1.amazonaws.com.cn/", 200, ECR_OK)
    };
    let fake = web(scripted().env("AWS_REGION", "eu-central-1"));
    get(&fake, REGISTRY).unwrap();
    assert_eq!(fake.sent()[0], "POST https://sts.eu-central-1.amazonaws.com/");
    let fake = web(scripted().file("~/.aws/config", "[default]\nregion = eu-central-1\n"));
    get(&fake, REGISTRY).unwrap();
    assert_eq!(fake.sent()[0], "POST https://sts.eu-central-1.amazonaws.com/");
    let fake = web(scripted().env("AWS_REGION", "eu-central-1"));
    get(&fake, "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").unwrap();
    assert_eq!(fake.sent()[0], "POST https://sts.cn-north-1.amazonaws.com.cn/");
}

#[test]
fn a_profile_role_can_take_its_source_credentials_from_the_environment_or_instance() {
    let fake = scripted()
        .env("AWS_PROFILE", "ops")
        .env("AWS_ACCESS_KEY_ID", "AKIDENV")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .file("~/.aws/config", "[profile ops]\nrole_arn = arn:aws:iam::1:role/ops\ncredential_source = Environment\n")
        .answer("POST https://sts.us-west-2.amazonaws.com/", 200, &sts_answer("AssumeRole", "ASIAOPS"))
        .ecr("us-west-2");
    // Environment keys come first in the chain, so name the profile explicitly.
    let settings = Settings { profile: Some("ops".into()), ..Settings::default() };
    answer(&fake, &settings, REGISTRY).unwrap();
    assert!(fake.header(0, "authorization").unwrap().contains("Credential=AKIDENV/"));
    assert!(fake.header(1, "authorization").unwrap().contains("Credential=ASIAOPS/"));
    let unknown = scripted()
        .file("~/.aws/config", "[profile ops]\nrole_arn = arn:aws:iam::1:role/ops\ncredential_source = Ec2Metadata\n");
    assert_eq!(
        answer(&unknown, &settings, REGISTRY).unwrap_err(),
        Error::InvalidInput("AWS credentials from profile ops: credential_source \"Ec2Metadata\" is not one of Environment, Ec2InstanceMetadata, EcsContainer".into())
    );
}

#[test]
fn instance_metadata_falls_back_to_v1_when_tokens_are_not_offered() {
    let fake = scripted()
        .answer("PUT http://169.254.169.254/latest/api/token", 403, "")
        .answer("GET http://169.254.169.254/latest/meta-data/iam/security-credentials/", 200, "r\n")
        .answer("GET http://169.254.169.254/latest/meta-data/iam/security-credentials/r", 200, r#"{"Code":"Success","AccessKeyId":"ASIAV1","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-30T12:00:00Z"}"#)
        .ecr("us-west-2");
    get(&fake, REGISTRY).unwrap();
    assert_eq!(fake.header(1, "x-aws-ec2-metadata-token"), None);
    let v2_only = scripted().env("AWS_EC2_METADATA_V1_DISABLED", "true").answer(
        "PUT http://169.254.169.254/latest/api/token",
        403,
        "",
    );
    assert_eq!(
        get(&v2_only, REGISTRY).unwrap_err(),
        Error::Upstream(
            "AWS credentials from instance metadata: http://169.254.169.254/latest/api/token: HTTP 403".into()
        )
    );
    let no_role = scripted().answer("PUT http://169.254.169.254/latest/api/token", 200, "t").answer(
        "GET http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        404,
        "",
    );
    assert!(
        get(&no_role, REGISTRY).unwrap_err().message().ends_with("instance metadata: the instance has no IAM role")
    );
}
