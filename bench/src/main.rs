//! Times whole-process `docker-credential-wasm get` the way clients run it (exec, request on
//! stdin, answer on stdout) against a native floor measured in the same run, and prints
//! min/median/max, the ratio of medians to the floor, and peak RSS:
//!
//! - `floor`: a tiny native program that prints a fixed answer;
//! - `hit`: an answer from the credential cache (the front alone: no engine, no wasm);
//! - `miss`: the front runs the engine, whose plugin runs from its precompiled component
//!   and fetches from a loopback mock (host overhead = total minus the mock's own time);
//! - `front+engine, no work`: `version`, which the front passes on to the engine: the two
//!   processes' start and exit, the part of every miss that comes before any plugin work;
//! - `first run (compile)`: an empty cache, so the (test) plugin's component is compiled;
//! - `first run (built-in)`: an empty cache and a built-in plugin (`static`), whose code
//!   was compiled when the program was built;
//! - `64 concurrent cold`: 64 simultaneous `get`s with no cached answer; the mock counts
//!   the upstream fetches (one is the goal);
//! - `store get`: a login read from GNOME Keyring and from `pass`, beside the reference
//!   helpers on the same stores (see `store.rs`).
//!
//! Run with `bench/run` (release build). Benchmarks, not tests: nothing here asserts time.

#[path = "../../host/tests/common/mock.rs"]
mod mock;
mod realistic;
mod store;
#[allow(dead_code, reason = "the tests and the benchmark use different parts")]
#[path = "../../host/tests/common/stores.rs"]
mod stores;
// The end-to-end tests' AWS mock (IMDS, STS, ECR, and an HTTPS CONNECT proxy with its CA),
// as they are, for the realistic miss.
#[allow(dead_code, reason = "the tests and the benchmark use different parts")]
#[path = "../../host/tests/common/aws.rs"]
mod aws;
#[allow(dead_code, reason = "the tests and the benchmark use different parts")]
#[path = "../../host/tests/common/azure.rs"]
mod azure;
#[allow(dead_code, reason = "the tests and the benchmark use different parts")]
#[path = "../../host/tests/common/google.rs"]
mod google;
#[allow(dead_code, reason = "the tests and the benchmark use different parts")]
#[path = "../../host/tests/common/servers.rs"]
mod servers;
#[allow(dead_code, reason = "the tests and the benchmark use different parts")]
#[path = "../../host/tests/common/tls.rs"]
mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REGISTRY: &str = "requests.test";

struct Sample {
    elapsed: Duration,
    max_rss_kb: u64,
}

/// Runs `command` with `stdin`, waiting with `wait4` to read the child's own peak RSS.
fn run_once(mut command: Command, stdin: &[u8]) -> (Sample, bool) {
    let started = Instant::now();
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let (status, usage) = wait4(child.id());
    let elapsed = started.elapsed();
    std::mem::forget(child);
    (Sample { elapsed, max_rss_kb: usage }, status == 0)
}

/// `wait4` for one child: its exit status and its own peak resident set size in KiB.
fn wait4(pid: u32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for the child we started.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid as libc::pid_t, "wait4 failed");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    (code, usage.ru_maxrss as u64)
}

struct Stats {
    name: &'static str,
    samples: Vec<Sample>,
    failures: usize,
}

impl Stats {
    fn median(&self) -> Duration {
        let mut times: Vec<Duration> = self.samples.iter().map(|s| s.elapsed).collect();
        times.sort();
        times[times.len() / 2]
    }
    fn min(&self) -> Duration {
        self.samples.iter().map(|s| s.elapsed).min().unwrap()
    }
    fn max(&self) -> Duration {
        self.samples.iter().map(|s| s.elapsed).max().unwrap()
    }
    fn peak_rss_mb(&self) -> f64 {
        self.samples.iter().map(|s| s.max_rss_kb).max().unwrap_or(0) as f64 / 1024.0
    }
}

fn measure(name: &'static str, iterations: usize, mut make: impl FnMut(usize) -> Command) -> Stats {
    let mut samples = Vec::with_capacity(iterations);
    let mut failures = 0;
    for i in 0..iterations {
        let (sample, ok) = run_once(make(i), REGISTRY.as_bytes());
        failures += usize::from(!ok);
        samples.push(sample);
    }
    Stats { name, samples, failures }
}

/// Two scenarios sampled alternately, so that a machine getting faster or slower during
/// the run (frequency, other load) moves both alike and their ratio stays fair.
fn measure_alternately(
    names: [&'static str; 2],
    iterations: usize,
    mut make: impl FnMut(usize) -> Command,
) -> (Stats, Stats) {
    let mut stats = names.map(|name| Stats { name, samples: Vec::with_capacity(iterations), failures: 0 });
    for i in 0..iterations * 2 {
        let (sample, ok) = run_once(make(i % 2), REGISTRY.as_bytes());
        let stats = &mut stats[i % 2];
        stats.failures += usize::from(!ok);
        stats.samples.push(sample);
    }
    let [first, second] = stats;
    (first, second)
}

/// The table: one row per scenario, the ratio of each median to the first row's (the floor).
fn print_rows(rows: &[Stats]) {
    println!(
        "{:<22} {:>6} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8}",
        "scenario", "n", "min ms", "median", "max ms", "x floor", "peak RSS", "failed"
    );
    let floor_median = rows[0].median();
    for stats in rows {
        let ratio = stats.median().as_secs_f64() / floor_median.as_secs_f64();
        println!(
            "{:<22} {:>6} {:>9} {:>9} {:>9} {:>8.2} {:>6.1} MB {:>8}",
            stats.name,
            stats.samples.len(),
            ms(stats.min()),
            ms(stats.median()),
            ms(stats.max()),
            ratio,
            stats.peak_rss_mb(),
            stats.failures
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// The programs the bench runs, copied into `dir` as an install copies them: a binary the
/// linker has just written runs measurably slower on Linux (its page cache is laid out in
/// small pieces; a copy, or a binary read back from disk, is not), which is not what users
/// run.
fn install(bin_dir: &Path, dir: &Path) -> [PathBuf; 2] {
    let built = ["docker-credential-wasm", "docker-credential-wasm-engine", "native-floor"];
    assert!(
        built.iter().all(|name| bin_dir.join(name).is_file()),
        "build it first: cargo build --release -p docker-credential-wasm -p bench"
    );
    std::fs::create_dir(dir).unwrap();
    for name in built {
        std::fs::copy(bin_dir.join(name), dir.join(name)).unwrap();
    }
    [dir.join("docker-credential-wasm"), dir.join("native-floor")]
}

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let scratch = tempfile::tempdir().unwrap();
    let bin_dir = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let [helper, floor] = install(&bin_dir, &scratch.path().join("bin"));

    let mock = mock::Mock::start("127.0.0.1");
    let wasm = Path::new(test_artifacts::HOSTILE);
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(wasm).unwrap()))
    };
    let write_config = |name: &str, extra: &str| -> PathBuf {
        let path = scratch.path().join(name);
        std::fs::write(
            &path,
            format!(
                "[routes]\n\"*.test\" = \"hostile\"\n[plugins.hostile]\npath = \"{}\"\nsha256 = \"{sha256}\"\nnetwork = [\"http://127.0.0.1:{port}\"]\nsettings = {{ requests = \"GET http://127.0.0.1:{port}/token\" }}\n{extra}",
                wasm.display(),
                port = mock.port
            ),
        )
        .unwrap();
        path
    };
    let builtin = scratch.path().join("builtin.toml");
    std::fs::write(
        &builtin,
        "[routes]\n\"*.test\" = \"static\"\n[plugins.static]\nsettings = { username = \"u\", secret = \"s\" }\n",
    )
    .unwrap();
    let cached = write_config("cached.toml", "");
    let uncached = write_config("uncached.toml", "cache = false\n");
    // As Docker runs it: one argument, the config named in the environment.
    let helper_command = |config: &Path, cache: &Path| {
        let mut command = Command::new(&helper);
        command
            .arg("get")
            .env_clear()
            .env("HOME", scratch.path())
            .env("DOCKER_CREDENTIAL_WASM_CONFIG", config)
            .env("DOCKER_CREDENTIAL_WASM_CACHE_DIR", cache);
        command
    };
    let warm_cache = scratch.path().join("warm-cache");

    // Warm up: compile the component and cache one answer.
    run_once(helper_command(&cached, &warm_cache), REGISTRY.as_bytes());
    let fetches_before = mock.hits();

    let (floor_stats, hit) = measure_alternately(["floor (native)", "hit"], iterations, |which| match which {
        0 => Command::new(&floor),
        _ => helper_command(&cached, &warm_cache),
    });
    let hit_fetches = mock.hits() - fetches_before;
    mock.service_times.lock().unwrap().clear();
    let miss = measure("miss (precompiled)", iterations / 4, |_| helper_command(&uncached, &warm_cache));
    let mock_median = {
        let mut times = mock.service_times.lock().unwrap().clone();
        times.sort();
        times.get(times.len() / 2).copied().unwrap_or_default()
    };
    // What every miss pays before any plugin work: the front and the engine starting and
    // exiting (`version` is passed on to the engine, which prints a line and exits).
    let processes = measure("front+engine, no work", iterations / 4, |_| {
        let mut command = Command::new(&helper);
        command.arg("version").env_clear().env("HOME", scratch.path());
        command
    });
    let first =
        measure("first run (compile)", 10, |i| helper_command(&uncached, &scratch.path().join(format!("cold-{i}"))));
    let first_builtin = measure("first run (built-in)", 10, |i| {
        helper_command(&builtin, &scratch.path().join(format!("cold-builtin-{i}")))
    });

    // 64 concurrent cold gets: components precompiled, no cached answer.
    let concurrent_cache = scratch.path().join("concurrent");
    let mut precompile = Command::new(&helper);
    precompile
        .args(["--config", cached.to_str().unwrap(), "precompile"])
        .env_clear()
        .env("HOME", scratch.path())
        .env("DOCKER_CREDENTIAL_WASM_CACHE_DIR", &concurrent_cache)
        .stdout(Stdio::null());
    assert!(precompile.status().unwrap().success());
    let before = mock.hits();
    let started = Instant::now();
    let children: Vec<_> = (0..64)
        .map(|_| {
            let mut command = helper_command(&cached, &concurrent_cache);
            let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
            child.stdin.take().unwrap().write_all(REGISTRY.as_bytes()).unwrap();
            child
        })
        .collect();
    let concurrent_failures = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .filter(|o| !o.status.success() || o.stdout.is_empty())
        .count();
    let concurrent_wall = started.elapsed();
    let concurrent_fetches = mock.hits() - before;

    println!(
        "docker-credential-wasm bench: {} iterations, {} cores",
        iterations,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (miss_median, processes_median) = (miss.median(), processes.median());
    print_rows(&[floor_stats, hit, miss, processes, first, first_builtin]);
    println!("upstream fetches during hits: {hit_fetches}");
    println!(
        "miss host overhead: median {} ms total - {} ms mock = {} ms",
        ms(miss_median),
        ms(mock_median),
        ms(miss_median.saturating_sub(mock_median))
    );
    println!("  of which starting the front and the engine, with no plugin work: {} ms", ms(processes_median));
    println!(
        "64 concurrent cold gets: {} ms wall, {concurrent_fetches} upstream fetch(es), {concurrent_failures} failed",
        ms(concurrent_wall)
    );
    store::run(iterations / 2, &helper, &floor);
    // Last: these move this process into network namespaces of their own.
    realistic::run(iterations / 2, scratch.path(), &helper, &floor);
    realistic::run_other_clouds(iterations / 2, scratch.path(), &helper, &floor);
}
