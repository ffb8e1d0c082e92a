//! The credential-helper protocol, every action, over any stdin and any plugin answer:
//! `get` answers one JSON line with exactly the three fields or one error line; `store` and
//! `erase` print nothing or one error line; `list` prints one JSON object or one error
//! line; no error line carries the secret the plugin answered with.
#![no_main]

use docker_credential_wasm_fuzz::{
    FakePlugins, SECRET_MARK, ScriptedReply, assert_no_secret, assert_one_line, routed_config,
};
use host_core::actions::run;
use host_core::protocol::Action;
use libfuzzer_sys::fuzz_target;
use std::process::ExitCode;

fuzz_target!(|data: &[u8]| {
    let Some((&action, data)) = data.split_first() else { return };
    let action = [Action::Get, Action::Store, Action::Erase, Action::List][action as usize % 4];
    let (stdin, reply) = ScriptedReply::split(data);
    let secret = reply.answers_a_secret();
    let mut out = Vec::new();
    let code = run(action, stdin, &mut out, routed_config, &mut FakePlugins(reply)).expect("writes to a Vec");
    let out = String::from_utf8(out).expect("the answer is UTF-8");
    if code == ExitCode::FAILURE {
        assert_one_line(&out);
        if secret {
            assert_no_secret(&out, &[SECRET_MARK], &String::from_utf8_lossy(data));
        }
        return;
    }
    assert_eq!(code, ExitCode::SUCCESS);
    match action {
        Action::Get => {
            assert_one_line(&out);
            let answer: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&out).expect("a JSON object");
            assert_eq!(answer.keys().collect::<Vec<_>>(), ["Secret", "ServerURL", "Username"]);
            assert!(answer.values().all(serde_json::Value::is_string), "{out}");
            if secret {
                assert!(answer["Secret"].as_str().unwrap().starts_with(SECRET_MARK), "not the plugin's secret");
            }
        }
        Action::List => {
            let listed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&out).expect("a JSON object");
            assert!(listed.values().all(serde_json::Value::is_string), "{out}");
        }
        _ => assert_eq!(out, ""),
    }
});
