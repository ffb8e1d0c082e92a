//! The miss a user on an EC2 instance sees, side by side with the native helper it
//! replaces: no config of its own but `cache = false` (every run a full miss), instance
//! metadata at 169.254.169.254 (IMDSv2 token, role list, role credentials), then
//! `GetAuthorizationToken` over HTTPS through an `HTTPS_PROXY` whose CA is in
//! `SSL_CERT_FILE`. `docker-credential-ecr-login` (Debian's amazon-ecr-credential-helper),
//! when installed, runs the same chain against the same mock with its cache off
//! (`AWS_ECR_DISABLE_CACHE`), interleaved with ours.
//!
//! Then the same miss for `acr` (managed identity from instance metadata, then the ACR
//! token exchange over HTTPS) and `gcr` (a token from the metadata server), each with its
//! cloud's mock in a namespace of its own; Debian ships no native helper for either.
//!
//! It needs network namespaces of its own (root and iproute2): this process moves into each,
//! so the mock and every child live there and nothing leaves it. Without one it says so and
//! measures nothing.

use super::{Sample, Stats, run_once};
use std::path::Path;
use std::process::Command;

const REGISTRY: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const ECR_LOGIN: &str = "/usr/bin/docker-credential-ecr-login";

/// Enters a new network namespace with loopback up and 169.254.169.254 on it; `Err` says why
/// it cannot.
fn enter_namespace() -> Result<String, String> {
    let name = format!("dcw-bench-{}", std::process::id());
    let ip = |args: &[&str]| -> Result<(), String> {
        let output = Command::new("ip").args(args).output().map_err(|e| format!("cannot run ip: {e}"))?;
        match output.status.success() {
            true => Ok(()),
            false => Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim())),
        }
    };
    ip(&["netns", "add", &name])?;
    let entered = (|| {
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        ip(&["-n", &name, "addr", "add", "169.254.169.254/32", "dev", "lo"])?;
        let ns = std::fs::File::open(format!("/var/run/netns/{name}")).map_err(|e| e.to_string())?;
        use std::os::fd::AsFd;
        rustix::thread::move_into_link_name_space(ns.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
            .map_err(|e| format!("setns: {e}"))
    })();
    // The namespace lives on while this process is in it; its name is not needed.
    let _ = Command::new("ip").args(["netns", "del", &name]).status();
    entered.map(|()| name)
}

/// `ours` and, when installed, ecr-login, each a full miss, interleaved with `floor`.
pub fn run(iterations: usize, scratch: &Path, ours: &Path, floor: &Path) {
    println!();
    if let Err(why) = enter_namespace() {
        println!("realistic miss: skipped ({why}; it needs root and iproute2)");
        return;
    }
    let imds = std::net::TcpListener::bind("169.254.169.254:80").unwrap();
    let aws = crate::aws::AwsMock::start_with_http(imds);
    let ca = scratch.join("aws-ca.pem");
    std::fs::write(&ca, &aws.pki.ca_pem).unwrap();
    let home = scratch.join("ec2-home");
    std::fs::create_dir_all(&home).unwrap();
    let config = scratch.join("ecr-no-cache.toml");
    std::fs::write(&config, "[plugins.ecr]\ncache = false\n[routes]\n\"*.dkr.ecr.*.amazonaws.com\" = \"ecr\"\n")
        .unwrap();
    let cloud = |command: &mut Command| {
        command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("HTTPS_PROXY", aws.proxy_url())
            .env("SSL_CERT_FILE", &ca);
    };
    let ours_command = || {
        let mut command = Command::new(ours);
        command.arg("get");
        cloud(&mut command);
        command.env("DOCKER_CREDENTIAL_WASM_CONFIG", &config);
        command
    };
    // Go reads every certificate under /etc/ssl/certs besides SSL_CERT_FILE (as on any
    // Debian host); the second form points SSL_CERT_DIR at an empty directory, to show
    // ecr-login's miss without that.
    let empty_dir = scratch.join("no-certs");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let ecr_login = Path::new(ECR_LOGIN).is_file().then(|| {
        move |no_cert_dir: bool| {
            let mut command = Command::new(ECR_LOGIN);
            command.arg("get");
            cloud(&mut command);
            command.env("AWS_ECR_DISABLE_CACHE", "true");
            if no_cert_dir {
                command.env("SSL_CERT_DIR", &empty_dir);
            }
            command
        }
    });

    // Warm up (and check): each answers, through the whole chain.
    assert!(answers("docker-credential-wasm", ours_command(), REGISTRY));
    let requests_per_miss = aws.seen().len();
    if let Some(ecr_login) = &ecr_login {
        let before = aws.seen().len();
        if !answers("ecr-login", ecr_login(false), REGISTRY) || !answers("ecr-login", ecr_login(true), REGISTRY) {
            let log = std::fs::read_to_string(home.join(".ecr/log/ecr-login.log")).unwrap_or_default();
            panic!("ecr-login did not answer the realistic miss; its log:\n{log}");
        }
        println!(
            "realistic ecr miss: {requests_per_miss} upstream requests for docker-credential-wasm, {} for ecr-login",
            (aws.seen().len() - before) / 2
        );
    }

    let names = ["floor (native)", "ecr miss, wasm", "ecr miss, ecr-login", "ecr-login, no cert dir"];
    let mut stats: Vec<Stats> =
        names.map(|name| Stats { name, samples: Vec::with_capacity(iterations), failures: 0 }).into();
    let mut record = |which: usize, (sample, ok): (Sample, bool)| {
        stats[which].failures += usize::from(!ok);
        stats[which].samples.push(sample);
    };
    for _ in 0..iterations {
        record(0, run_once(Command::new(floor), REGISTRY.as_bytes()));
        record(1, run_once(ours_command(), REGISTRY.as_bytes()));
        if let Some(ecr_login) = &ecr_login {
            record(2, run_once(ecr_login(false), REGISTRY.as_bytes()));
            record(3, run_once(ecr_login(true), REGISTRY.as_bytes()));
        }
    }
    stats.retain(|stats| !stats.samples.is_empty());
    super::print_rows(&stats);
    if let [_, ours, natives @ ..] = stats.as_slice()
        && !natives.is_empty()
    {
        for native in natives {
            println!(
                "ratio docker-credential-wasm / {} (medians): {:.2} (min {:.2}, max {:.2})",
                native.name.trim_start_matches("ecr miss, "),
                ours.median().as_secs_f64() / native.median().as_secs_f64(),
                ours.min().as_secs_f64() / native.min().as_secs_f64(),
                ours.max().as_secs_f64() / native.max().as_secs_f64(),
            );
        }
    } else {
        println!("ecr-login is not installed ({ECR_LOGIN}): apt-get install amazon-ecr-credential-helper to compare");
    }
    phases(REGISTRY, &mut || {
        let mut command = ours_command();
        command.env("DOCKER_CREDENTIAL_WASM_LOG", "debug");
        command
    });
}

/// One cloud's miss on a VM: the built-in `plugin` serving `registry` from its mock (started
/// by `start` with its plain-HTTP side at the instance metadata address), with no answer
/// cache, interleaved with `floor`.
fn other_cloud<M: std::ops::Deref<Target = crate::servers::Servers>>(
    (plugin, pattern, registry): (&'static str, &str, &str),
    start: impl FnOnce(std::net::TcpListener) -> M,
    iterations: usize,
    scratch: &Path,
    ours: &Path,
    floor: &Path,
) {
    if let Err(why) = enter_namespace() {
        println!("realistic {plugin} miss: skipped ({why})");
        return;
    }
    let mock = start(std::net::TcpListener::bind("169.254.169.254:80").unwrap());
    let ca = scratch.join(format!("{plugin}-ca.pem"));
    std::fs::write(&ca, &mock.pki.ca_pem).unwrap();
    let home = scratch.join(format!("{plugin}-home"));
    std::fs::create_dir_all(&home).unwrap();
    let config = scratch.join(format!("{plugin}-no-cache.toml"));
    std::fs::write(&config, format!("[plugins.{plugin}]\ncache = false\n[routes]\n\"{pattern}\" = \"{plugin}\"\n"))
        .unwrap();
    let ours_command = || {
        let mut command = Command::new(ours);
        command
            .arg("get")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("HTTPS_PROXY", mock.proxy_url())
            .env("SSL_CERT_FILE", &ca)
            .env("DOCKER_CREDENTIAL_WASM_CONFIG", &config);
        command
    };
    assert!(answers("docker-credential-wasm", ours_command(), registry));
    let names = ["floor (native)", "acr miss, wasm", "gcr miss, wasm"];
    let mut stats = [
        Stats { name: names[0], samples: Vec::with_capacity(iterations), failures: 0 },
        Stats { name: if plugin == "acr" { names[1] } else { names[2] }, samples: Vec::new(), failures: 0 },
    ];
    for _ in 0..iterations {
        for (row, command) in [Command::new(floor), ours_command()].into_iter().enumerate() {
            let (sample, ok) = run_once(command, registry.as_bytes());
            stats[row].failures += usize::from(!ok);
            stats[row].samples.push(sample);
        }
    }
    println!();
    super::print_rows(&stats);
    phases(registry, &mut || {
        let mut command = ours_command();
        command.env("DOCKER_CREDENTIAL_WASM_LOG", "debug");
        command
    });
}

/// The `acr` and `gcr` misses on a VM, each in a namespace of its own.
pub fn run_other_clouds(iterations: usize, scratch: &Path, ours: &Path, floor: &Path) {
    let azure = |http| {
        let mock = crate::azure::AzureMock::start_with_http(http);
        mock.identities(true, &[]);
        mock
    };
    other_cloud(("acr", "*.azurecr.io", "myreg.azurecr.io"), azure, iterations, scratch, ours, floor);
    let google = crate::google::GoogleMock::start_with_http;
    other_cloud(("gcr", "*-docker.pkg.dev", "europe-west3-docker.pkg.dev"), google, iterations, scratch, ours, floor);
}

/// Whether `command` answers `registry` (what it said, if not, on stderr).
fn answers(name: &str, mut command: Command, registry: &str) -> bool {
    use std::io::Write;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(registry.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    if !output.status.success() {
        eprintln!(
            "{name} did not answer the realistic miss: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.status.success()
}

/// The engine's own phase log over some misses: engine start, component load, linking its
/// imports, instantiate and call (medians, µs).
fn phases(registry: &str, command: &mut dyn FnMut() -> Command) {
    const PHASES: [&str; 4] = ["engine", "load", "link", "instantiate and call"];
    let mut phases: [Vec<u64>; 4] = Default::default();
    for _ in 0..20 {
        let mut command = command();
        let output = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(registry.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        // `plugin "ecr": engine 69 us, load 320 us, link 140 us, instantiate and call 2400 us`
        let Some((_, line)) = log.lines().find_map(|line| line.split_once(": engine ")) else { continue };
        let line = format!("engine {line}");
        for (phase, values) in PHASES.iter().zip(phases.iter_mut()) {
            let value =
                line.split(", ").find_map(|part| part.strip_prefix(phase)?.strip_prefix(' ')?.strip_suffix(" us"));
            values.extend(value.and_then(|value| value.parse::<u64>().ok()));
        }
    }
    let median = |values: &mut Vec<u64>| {
        values.sort();
        values.get(values.len() / 2).copied().unwrap_or_default()
    };
    let shown: Vec<String> =
        PHASES.iter().zip(phases.iter_mut()).map(|(phase, values)| format!("{phase} {} us", median(values))).collect();
    println!("engine phases of a realistic miss (median of {}): {}", phases[0].len(), shown.join(", "));
}
