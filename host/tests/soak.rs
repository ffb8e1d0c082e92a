//! The credential cache under abuse: rounds of concurrent `get`s over a few registries whose
//! secrets rotate (each registry's `static` plugin reads a granted file that a thread here
//! replaces every few milliseconds), a random part of the processes SIGKILLed mid-call, and
//! the cache's file system full for the middle third of the rounds (as root: the cache on a
//! small tmpfs of the test's own). Every answer must be a secret that was current at some
//! moment of its call; afterwards every entry in the cache reads back whole, no lock is
//! held, a fresh `get` of each registry answers the current secret, and what is left on
//! disk is bounded.
//!
//! `cargo test --test soak` runs a few seconds of it; `scripts/soak` runs it at scale
//! (200 processes at a time for 300 rounds by default) through the same test with
//! `SOAK_PROCESSES` and `SOAK_ROUNDS`.

mod common;

use common::Sandbox;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REGISTRIES: usize = 4;

/// Each registry's secret versions: (version, just before and just after it replaced the
/// one before).
type History = Arc<Mutex<Vec<Vec<(u64, Instant, Instant)>>>>;

/// A small xorshift generator: the soak needs variety, not quality.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn secret(registry: usize, version: u64) -> String {
    format!("secret-r{registry}-v{version}")
}

/// Replaces registry `registry`'s secret file with `version` atomically, as an operator's
/// rotation (or a mounted Kubernetes secret) does.
fn rotate(dir: &Path, registry: usize, version: u64) {
    let temp = dir.join(format!(".r{registry}.tmp"));
    std::fs::write(&temp, secret(registry, version)).unwrap();
    std::fs::rename(&temp, dir.join(format!("r{registry}"))).unwrap();
}

/// A tmpfs of the test's own for the cache, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(path)
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// What the run saw.
#[derive(Default, Debug)]
struct Tally {
    processes: usize,
    killed: usize,
    answers_checked: usize,
    answered_while_full: usize,
    wrong: Vec<String>,
}

#[test]
fn concurrent_gets_with_kills_rotation_and_a_full_disk_give_only_right_answers() {
    let var = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (processes, rounds) = (var("SOAK_PROCESSES", 16), var("SOAK_ROUNDS", 12));
    let sandbox = Sandbox::new();
    let secrets = sandbox.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let cache = sandbox.path("cache");
    // As root, the cache on 8 MiB of its own, which the run fills for a while.
    let tmpfs = Tmpfs::mount(&cache, "8m");
    let mut config = format!("[cache]\ndir = {:?}\n[routes]\n", cache.display().to_string());
    for r in 0..REGISTRIES {
        config += &format!("\"r{r}.soak.test\" = \"s{r}\"\n");
    }
    for r in 0..REGISTRIES {
        let file = secrets.join(format!("r{r}")).display().to_string();
        config += &format!(
            "[plugins.s{r}]\nbuiltin = \"static\"\nfiles = [{file:?}]\nsettings = {{ username = \"u{r}\", secret-file = {file:?} }}\n"
        );
        rotate(&secrets, r, 0);
    }
    let config = sandbox.write("config.toml", &config);
    let start = Instant::now();
    let history: History = Arc::new(Mutex::new((0..REGISTRIES).map(|_| vec![(0, start, start)]).collect()));

    // The rotation: one registry's secret every 3 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let rotator = {
        let (history, stop, secrets) = (history.clone(), stop.clone(), secrets.clone());
        std::thread::spawn(move || {
            let mut random = Random(0x9e37_79b9_7f4a_7c15);
            while !stop.load(Ordering::SeqCst) {
                let r = random.below(REGISTRIES as u64) as usize;
                let mut history = history.lock().unwrap();
                let version = history[r].last().unwrap().0 + 1;
                let before = Instant::now();
                rotate(&secrets, r, version);
                history[r].push((version, before, Instant::now()));
                drop(history);
                std::thread::sleep(Duration::from_millis(3));
            }
        })
    };

    let mut random = Random(start.elapsed().as_nanos() as u64 | 1);
    let mut tally = Tally::default();
    let filler = cache.join("filler");
    for round in 0..rounds {
        let full = tmpfs.is_some() && round >= rounds / 3 && round < 2 * rounds / 3;
        if full && !filler.exists() {
            // Fill the file system: whatever the cache writes now fails with ENOSPC.
            let _ = Command::new("dd")
                .args(["if=/dev/zero", "bs=64k", "status=none"])
                .arg(format!("of={}", filler.display()))
                .status();
        } else if !full && filler.exists() {
            std::fs::remove_file(&filler).unwrap();
        }
        let mut calls: Vec<(usize, Instant, Child, bool)> = (0..processes)
            .map(|_| {
                let r = random.below(REGISTRIES as u64) as usize;
                let mut command = sandbox.command(&["--config", config.to_str().unwrap(), "get"]);
                command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
                let began = Instant::now();
                let mut child = command.spawn().unwrap();
                use std::io::Write;
                let _ = child.stdin.take().unwrap().write_all(format!("r{r}.soak.test").as_bytes());
                (r, began, child, random.below(100) < 15)
            })
            .collect();
        // A seventh of them are killed a little after they started, mid-call.
        std::thread::sleep(Duration::from_millis(random.below(8)));
        for (_, _, child, kill) in &mut calls {
            if *kill {
                // SAFETY: kill(2) on a child we started and have not reaped yet.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
            }
        }
        for (r, began, child, _) in calls {
            let output = child.wait_with_output().unwrap();
            let ended = Instant::now();
            tally.processes += 1;
            if output.status.code().is_none() {
                tally.killed += 1;
                continue;
            }
            tally.answers_checked += 1;
            tally.answered_while_full += usize::from(full);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let answer: Option<serde_json::Value> = serde_json::from_str(&stdout).ok();
            let version = answer.as_ref().and_then(|a| {
                let prefix = format!("secret-r{r}-v");
                (a["Username"] == format!("u{r}"))
                    .then(|| a["Secret"].as_str()?.strip_prefix(&prefix)?.parse::<u64>().ok())?
            });
            let history = history.lock().unwrap();
            // Current at some moment of the call: written before it ended, and not replaced
            // before it began (each bound taken on the side that never wrongs a right answer).
            let current_during_call = version.is_some_and(|v| {
                let written = history[r].iter().position(|(version, ..)| *version == v);
                written.is_some_and(|at| {
                    let replaced = history[r].get(at + 1).map(|(_, _, after)| *after);
                    history[r][at].1 <= ended && replaced.is_none_or(|replaced| replaced >= began)
                })
            });
            if !output.status.success() || !current_during_call {
                tally.wrong.push(format!(
                    "round {round}, r{r}{}: exit {:?}, {stdout:?} {:?}",
                    if full { " (disk full)" } else { "" },
                    output.status.code(),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    rotator.join().unwrap();
    if filler.exists() {
        std::fs::remove_file(&filler).unwrap();
    }

    // Afterwards: every entry whole, no lock held, a fresh answer for each registry.
    let entries_dir = cache.join("credentials");
    let (mut entries, mut temps) = (0, 0);
    for entry in std::fs::read_dir(&entries_dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            entries += 1;
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let parsed: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is corrupt ({e}): {text:?}"));
            for field in ["username", "secret", "expires_at", "fetched_at", "fresh_until"] {
                assert!(parsed.get(field).is_some(), "{name} lacks {field}");
            }
        } else {
            temps += 1;
        }
    }
    let mut locks = 0;
    for entry in std::fs::read_dir(cache.join("locks")).into_iter().flatten().flatten() {
        let file = std::fs::File::open(entry.path()).unwrap();
        assert!(file.try_lock().is_ok(), "{} is still held", entry.path().display());
        locks += 1;
    }
    for r in 0..REGISTRIES {
        let output = sandbox.run(&["--config", config.to_str().unwrap(), "get"], &format!("r{r}.soak.test"), &[]);
        let current = secret(r, history.lock().unwrap()[r].last().unwrap().0);
        assert_eq!(output.code, 0, "{output:?}");
        assert!(output.stdout.contains(&format!("\"Secret\":\"{current}\"")), "r{r}: {output:?}");
    }
    let rotations: usize = history.lock().unwrap().iter().map(|h| h.len() - 1).sum();
    eprintln!(
        "soak: {} processes ({processes} at a time, {rounds} rounds), {} killed, {} answers checked ({} with the disk full{}), {} wrong; {rotations} rotations; left: {entries} entries, {temps} other files in credentials/, {locks} lock files; {:.1} s",
        tally.processes,
        tally.killed,
        tally.answers_checked,
        tally.answered_while_full,
        if tmpfs.is_some() { "" } else { ": not root, no tmpfs" },
        tally.wrong.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        tally.wrong.is_empty(),
        "{} wrong answers, the first: {:#?}",
        tally.wrong.len(),
        &tally.wrong[..tally.wrong.len().min(5)]
    );
    assert!(tally.killed > 0 && tally.answers_checked > tally.processes / 2, "{tally:?}");
    // Bounded: a write removes what it supersedes, so one entry per registry and client
    // remains; a killed writer's temp file at most, per kill.
    assert!(entries <= REGISTRIES, "{entries} entries for {REGISTRIES} registries");
    assert!(temps <= tally.killed, "{temps} temp files for {} kills", tally.killed);
    // A lock file per cache key (a key per secret version here), swept an hour after its
    // last use: never more than the keys there were.
    assert!(locks <= rotations + REGISTRIES, "{locks} lock files for {} keys", rotations + REGISTRIES);
}
