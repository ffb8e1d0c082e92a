//! `get` through the credential store, side by side with the reference helper on the same
//! store, interleaved with the floor: a headless GNOME Keyring (Secret Service) with
//! docker-credential-secretservice, and `pass` with docker-credential-pass (both from
//! golang-docker-credential-helpers). Each store holds one login, stored by the reference
//! helper; every `get` finds it. Without the stores' programs it says so and measures
//! nothing.

use super::stores::{Keyring, PassStore};
use super::{Stats, run_once};
use std::path::Path;
use std::process::Command;

const SERVER: &str = "registry.example.com";
const LOGIN: &str = r#"{"ServerURL":"registry.example.com","Username":"bench","Secret":"bench-secret"}"#;

pub fn run(iterations: usize, ours: &Path, floor: &Path) {
    println!();
    let installed = |tool: &str| {
        Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
    };
    let tools =
        ["gnome-keyring-daemon", "dbus-daemon", "pass", "docker-credential-secretservice", "docker-credential-pass"];
    if let Some(missing) = tools.iter().find(|tool| !installed(tool)) {
        println!("credential store get: skipped ({missing} is not installed)");
        return;
    }
    let keyring = Keyring::start();
    let pass = PassStore::start();
    let stores: [(&str, Vec<(&'static str, String)>, &str); 2] = [
        ("secret-service", keyring.env(), "docker-credential-secretservice"),
        ("pass", pass.env(), "docker-credential-pass"),
    ];
    let with_env = |program: &Path, env: &[(&'static str, String)]| {
        let mut command = Command::new(program);
        command.arg("get").env_clear().env("PATH", "/usr/bin:/bin").envs(env.iter().cloned());
        command
    };
    let mut rows = vec![Stats { name: "floor (native)", samples: Vec::new(), failures: 0 }];
    let names = [["store get, wasm (SS)", "secretservice (SS)"], ["store get, wasm (pass)", "pass helper (pass)"]];
    for ((_, env, reference), names) in stores.iter().zip(names) {
        let reference = Path::new("/usr/bin").join(reference);
        let mut store = Command::new(&reference);
        store.arg("store").env_clear().env("PATH", "/usr/bin:/bin").envs(env.iter().cloned());
        let (_, stored) = run_once(store, LOGIN.as_bytes());
        assert!(stored, "{} could not store the bench login", reference.display());
        // Warm up: compile the keyring plugin's component into this home's cache.
        run_once(with_env(ours, env), SERVER.as_bytes());
        rows.push(Stats { name: names[0], samples: Vec::new(), failures: 0 });
        rows.push(Stats { name: names[1], samples: Vec::new(), failures: 0 });
    }
    for _ in 0..iterations {
        let (sample, ok) = run_once(Command::new(floor), SERVER.as_bytes());
        rows[0].failures += usize::from(!ok);
        rows[0].samples.push(sample);
        for (i, (_, env, reference)) in stores.iter().enumerate() {
            for (j, program) in [ours.to_path_buf(), Path::new("/usr/bin").join(reference)].iter().enumerate() {
                let (sample, ok) = run_once(with_env(program, env), SERVER.as_bytes());
                let row = &mut rows[1 + 2 * i + j];
                row.failures += usize::from(!ok);
                row.samples.push(sample);
            }
        }
    }
    super::print_rows(&rows);
    for pair in rows[1..].chunks(2) {
        println!(
            "ratio {} / {} (medians): {:.2}",
            pair[0].name,
            pair[1].name,
            pair[0].median().as_secs_f64() / pair[1].median().as_secs_f64()
        );
    }
}
