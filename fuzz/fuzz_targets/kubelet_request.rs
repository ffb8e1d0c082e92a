//! The kubelet's `CredentialProviderRequest` over any stdin and any plugin answer: a
//! response the kubelet reads (kind, apiVersion, cache fields, auth entries with user name
//! and password) and nothing on stderr, or one line on stderr and nothing on stdout; the
//! pod's service-account token and the plugin's secret never reach stderr.
#![no_main]

use docker_credential_wasm_fuzz::{
    FakePlugins, SECRET_MARK, ScriptedReply, assert_no_secret, assert_one_line, routed_config,
};
use host_core::actions::kubelet;
use libfuzzer_sys::fuzz_target;
use std::process::ExitCode;

fuzz_target!(|data: &[u8]| {
    let (stdin, reply) = ScriptedReply::split(data);
    let secret = reply.answers_a_secret();
    let token = serde_json::from_slice::<serde_json::Value>(stdin)
        .ok()
        .and_then(|request| request["serviceAccountToken"].as_str().map(str::to_string))
        .unwrap_or_default();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kubelet(stdin, &mut out, &mut err, routed_config, &mut FakePlugins(reply)).expect("writes to a Vec");
    let (out, err) = (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap());
    if code == ExitCode::FAILURE {
        assert_eq!(out, "");
        assert_one_line(&err);
        if secret {
            assert_no_secret(&err, &[SECRET_MARK], &String::from_utf8_lossy(data));
        }
        // The pod's token (a JWT), where only the request's token field carries it.
        let input = String::from_utf8_lossy(data);
        if token.starts_with("eyJ") && token.len() >= 8 && input.matches(&token).count() == 1 {
            assert_no_secret(&err, &[&token], "");
        }
        return;
    }
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(err, "");
    let response: serde_json::Value = serde_json::from_str(&out).expect("the response is JSON");
    assert_eq!(response["kind"], "CredentialProviderResponse");
    assert!(response["apiVersion"].as_str().is_some_and(|v| v.starts_with("credentialprovider.kubelet.k8s.io/")));
    if let Some(auth) = response.get("auth") {
        for (_, entry) in auth.as_object().expect("auth is an object") {
            assert!(entry["username"].is_string() && entry["password"].is_string(), "{out}");
        }
    }
});
