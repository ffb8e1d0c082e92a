//! A plugin written by an attacker, for the sandbox tests. `get(registry)` picks the attack
//! from the registry's first label (`loop.test` loops forever, `env.test` dumps the
//! environment, ...); what the plugin could observe comes back in the secret so the test
//! can assert on it.

use docker_credential_wasm_sdk::__private::bindings::wasi::http::{outgoing_handler, types as http};
use docker_credential_wasm_sdk::{Credentials, Error, Plugin, RegistryEntry, export_plugin, files, log, settings};
use std::io::Write;

struct Hostile;

fn observed(what: String) -> Result<Credentials, Error> {
    Ok(Credentials::new("observer", what))
}

impl Plugin for Hostile {
    fn get(registry: &str) -> Result<Credentials, Error> {
        let attack = registry.split('.').next().unwrap_or_default();
        match attack {
            "ok" => Ok(Credentials::new("<token>", "identity-token").expiring_at(4_102_444_800)),
            "env" => {
                let mut vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                vars.sort();
                observed(vars.join(";"))
            }
            "args" => observed(format!(
                "args={:?} cwd={:?}",
                std::env::args().collect::<Vec<_>>(),
                std::env::current_dir().ok()
            )),
            "fs" => {
                let mut seen = Vec::new();
                for path in ["/etc/passwd", "/etc/hostname", "/", ".", "/proc/self/environ", "../../etc/passwd"] {
                    seen.push(format!(
                        "read {path}: {}",
                        std::fs::read(path).map(|b| b.len().to_string()).unwrap_or_else(|e| format!("{:?}", e.kind()))
                    ));
                    seen.push(format!(
                        "list {path}: {}",
                        std::fs::read_dir(path)
                            .map(|_| "listed".to_string())
                            .unwrap_or_else(|e| format!("{:?}", e.kind()))
                    ));
                }
                seen.push(format!(
                    "write /tmp/hostile: {}",
                    std::fs::write("/tmp/hostile-plugin-was-here", b"x")
                        .map(|_| "written".to_string())
                        .unwrap_or_else(|e| format!("{:?}", e.kind()))
                ));
                seen.push(format!("grant /etc/passwd: {:?}", files::read("/etc/passwd").map(|b| b.len())));
                observed(seen.join("; "))
            }
            "granted-file" => {
                let path = settings::require("file")?;
                observed(files::read_to_string(&path)?)
            }
            "settings" => observed(
                settings::keys()
                    .iter()
                    .map(|k| format!("{k}={}", settings::get(k).unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            "stdout" => {
                println!("{{\"ServerURL\":\"{registry}\",\"Username\":\"forged\",\"Secret\":\"forged\"}}");
                eprintln!("\u{1b}[2Jforged stderr");
                log::warn("about to claim not-found\u{1b}]0;title\u{7}");
                Err(Error::NotFound("nothing here".into()))
            }
            "spam" => {
                let chunk = "x".repeat(64 * 1024);
                for _ in 0..200 {
                    let _ = std::io::stdout().write_all(chunk.as_bytes());
                    let _ = std::io::stderr().write_all(chunk.as_bytes());
                    log::debug(&chunk);
                }
                Ok(Credentials::new("spammer", "still-answers"))
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "sleep" => {
                // Blocks in a host call (a clock pollable), not in wasm code.
                std::thread::sleep(std::time::Duration::from_secs(3600));
                observed("woke up".to_string())
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => {
                #[allow(unconditional_recursion, reason = "the attack is to exhaust the stack")]
                fn deeper(n: u64) -> u64 {
                    std::hint::black_box(deeper(std::hint::black_box(n) + 1)) + 1
                }
                observed(deeper(0).to_string())
            }
            "panic" => panic!("the plugin panicked on purpose"),
            "exit" => std::process::exit(0),
            "huge" => Ok(Credentials::new("u", "s".repeat(60 * 1024))),
            "oversized" => Ok(Credentials::new("u", "s".repeat(1 << 20))),
            "requests" => {
                // One request per line of the `requests` setting: `METHOD URL [header=value]`.
                let mut outcomes = Vec::new();
                for line in settings::require("requests")?.lines().filter(|l| !l.trim().is_empty()) {
                    let mut words = line.split_whitespace();
                    let (method, url) = (words.next().unwrap_or("GET"), words.next().unwrap_or(""));
                    let header = words.next().and_then(|h| h.split_once('='));
                    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
                    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
                    outcomes.push(format!("{line} => {:?}", send(method, scheme, authority, path, header)));
                }
                observed(outcomes.join("\n"))
            }
            "log-flood" => {
                // 200,000 records of 4,000 characters at the most severe level.
                let record = "e".repeat(4000);
                for _ in 0..200_000 {
                    log::error(&record);
                }
                Ok(Credentials::new("flooder", "still-answers"))
            }
            "log-inject" => {
                log::warn("one\u{2028}docker-credential-wasm[1] ERROR: forged line\u{2029}two");
                log::warn("\u{9b}31mred\u{85}next \u{202e}txt.exe\u{2066}isolated\u{2069}");
                Err(Error::NotFound("nothing here".into()))
            }
            "fields" => {
                // Headers the host keeps, never dropped: each filled to the field size limit.
                // (Up to the host's field size limit: passing it would end the call at once.)
                let kib: usize = settings::get("field-kib").and_then(|k| k.parse().ok()).unwrap_or(28);
                let value = vec![b'v'; 1024];
                loop {
                    let fields = http::Fields::new();
                    for i in 0..kib {
                        let _ = fields.append(&format!("x-{i}"), &value);
                    }
                    std::mem::forget(fields);
                }
            }
            "outgoing" => {
                // Request bodies written and never sent: each buffers what the host allows.
                let chunk = vec![b'c'; 16 * 1024];
                loop {
                    let request = http::OutgoingRequest::new(http::Fields::new());
                    let body = request.body().map_err(|()| Error::Upstream("body".into()))?;
                    let stream = body.write().map_err(|()| Error::Upstream("write".into()))?;
                    while stream.check_write().is_ok_and(|n| n > 0) {
                        if stream.write(&chunk[..chunk.len().min(stream.check_write().unwrap_or(0) as usize)]).is_err()
                        {
                            break;
                        }
                    }
                    std::mem::forget((request, body, stream));
                }
            }
            "deny-flood" => {
                // A refused request in a loop: each refusal is a line the host would write.
                for _ in 0..100_000 {
                    let _ = request("GET", "http", "192.0.2.1", "/", None);
                }
                Ok(Credentials::new("flooder", "still-answers"))
            }
            "hoard" => {
                // The same response over and over, each kept (never read, never dropped).
                let url = settings::require("url")?;
                let (scheme, rest) = url.split_once("://").unwrap_or(("http", &url));
                let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
                for n in 0.. {
                    match request("GET", scheme, authority, path, None) {
                        Ok(response) => std::mem::forget(response),
                        Err(e) => return observed(format!("request {n} failed: {e}")),
                    }
                }
                unreachable!()
            }
            "secrets" => {
                // Docker's logins, whatever its grant; then as many writes as it can make.
                use docker_credential_wasm_sdk::secrets::{self, Secret};
                let read = secrets::get("https://index.docker.io/v1/");
                let listed = secrets::list();
                let written: Vec<String> = (0..20)
                    .map(|n| {
                        let entry = Secret { key: format!("k{n}"), account: "hostile".into(), secret: "x".into() };
                        match secrets::set(&entry) {
                            Ok(()) => "ok".to_string(),
                            Err(e) => e.message().to_string(),
                        }
                    })
                    .collect();
                observed(format!("get={read:?}\nlist={listed:?}\nset={written:?}"))
            }
            other => Err(Error::InvalidInput(format!("unknown attack {other:?}"))),
        }
    }

    /// Its own registries, and rows for registries that are not its to speak for.
    fn list(routed: &[String]) -> Result<Vec<RegistryEntry>, Error> {
        let row = |registry: &str| RegistryEntry { registry: registry.to_string(), username: "hostile".to_string() };
        let mut rows: Vec<RegistryEntry> = routed.iter().map(|r| row(r)).collect();
        rows.extend(["x.wild.test", "a.test", "evil.example"].map(row));
        Ok(rows)
    }
}

/// What a network-hungry plugin would do: a plain `wasi:http` request, built field by
/// field so that hostile authorities and headers reach the host as written. Answers the
/// status, the `location` header and the body length, or the error.
fn send(
    method: &str,
    scheme: &str,
    authority: &str,
    path: &str,
    header: Option<(&str, &str)>,
) -> Result<String, String> {
    let response = request(method, scheme, authority, path, header)?;
    let status = response.status();
    let location = response.headers().get("location").first().map(|v| String::from_utf8_lossy(v).into_owned());
    let body = response.consume().map_err(|()| "body")?;
    let stream = body.stream().map_err(|()| "stream")?;
    let mut length = 0;
    while let Ok(chunk) = stream.blocking_read(64 * 1024) {
        length += chunk.len();
    }
    Ok(format!("{status} location={location:?} body={length}"))
}

/// Sends a request and waits for its response (body unread). An authority of `(none)` is
/// never set.
fn request(
    method: &str,
    scheme: &str,
    authority: &str,
    path: &str,
    header: Option<(&str, &str)>,
) -> Result<http::IncomingResponse, String> {
    let fields = http::Fields::new();
    if let Some((name, value)) = header {
        fields.append(name, value.as_bytes()).map_err(|e| format!("header: {e:?}"))?;
    }
    let request = http::OutgoingRequest::new(fields);
    let method = match method {
        "GET" => http::Method::Get,
        "POST" => http::Method::Post,
        other => http::Method::Other(other.to_string()),
    };
    request.set_method(&method).map_err(|()| "method")?;
    let scheme = match scheme {
        "http" => http::Scheme::Http,
        "https" => http::Scheme::Https,
        other => http::Scheme::Other(other.to_string()),
    };
    request.set_scheme(Some(&scheme)).map_err(|()| "scheme rejected")?;
    if authority != "(none)" {
        request.set_authority(Some(authority)).map_err(|()| "authority rejected")?;
    }
    request.set_path_with_query(Some(path)).map_err(|()| "path rejected")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(e))) => Err(format!("{e:?}")),
        other => Err(format!("{other:?}")),
    }
}

export_plugin!(Hostile);
