//! `configure-docker` end to end on Docker's config.json (found through `DOCKER_CONFIG`):
//! entries added with every other field kept as written and the file's mode kept, a second
//! run changing nothing, `--dry-run` writing nothing, and files that cannot be edited left
//! exactly as they were. (The containers' auth.json it writes is followed by skopeo in
//! `skopeo.rs`.)

mod common;

use common::Sandbox;
use std::os::unix::fs::PermissionsExt;

const ORIGINAL: &str = "{\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {}\n\t},\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcloud\"\n\t},\n\t\"currentContext\": \"desktop-linux\",\n\t\"plugins\": {\"-x-cli-hints\": {\"enabled\": \"true\"}}\n}\n";

fn configure(sandbox: &Sandbox, args: &[&str]) -> common::Output {
    let mut all = vec!["configure-docker"];
    all.extend_from_slice(args);
    sandbox.run(&all, "", &[("DOCKER_CONFIG", sandbox.path("docker").to_str().unwrap())])
}

#[test]
fn entries_are_added_every_other_field_kept_and_a_second_run_changes_nothing() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path("docker")).unwrap();
    let file = sandbox.write("docker/config.json", ORIGINAL);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();

    let dry = configure(&sandbox, &["--dry-run", "myreg.azurecr.io", "gcr.io"]);
    assert_eq!(
        (dry.stdout.as_str(), dry.code),
        (
            format!(
                "{} would change:\n  + myreg.azurecr.io\n  = gcr.io kept: it uses \"gcloud\"; --overwrite replaces it\n",
                file.display()
            )
            .as_str(),
            0
        ),
        "{}",
        dry.stderr
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), ORIGINAL);

    let done = configure(&sandbox, &["--overwrite", "myreg.azurecr.io", "gcr.io"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(
        done.stdout,
        format!("{} changed:\n  + myreg.azurecr.io\n  ~ gcr.io (was \"gcloud\")\n", file.display())
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "{\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {}\n\t},\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"wasm\",\n\t\t\"myreg.azurecr.io\": \"wasm\"\n\t},\n\t\"currentContext\": \"desktop-linux\",\n\t\"plugins\": {\"-x-cli-hints\": {\"enabled\": \"true\"}}\n}\n"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);

    let before = std::fs::read(&file).unwrap();
    let again = configure(&sandbox, &["myreg.azurecr.io", "gcr.io"]);
    assert_eq!(
        (again.stdout.as_str(), again.code),
        (
            format!(
                "{}: nothing to change\n  = myreg.azurecr.io (already set)\n  = gcr.io (already set)\n",
                file.display()
            )
            .as_str(),
            0
        )
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // No temp file is left beside it.
    assert_eq!(std::fs::read_dir(sandbox.path("docker")).unwrap().count(), 1);
}

#[test]
fn a_file_that_cannot_be_edited_is_left_as_it_was() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path("docker")).unwrap();
    for (text, mode, why) in [
        (
            "{\"auths\": {",
            0o600,
            "is left as it is: it is not valid JSON: EOF while parsing an object at line 1 column 11",
        ),
        ("[\"auths\"]", 0o600, "is left as it is: it is JSON, but not an object"),
        (ORIGINAL, 0o444, "is read-only; it is left as it is"),
    ] {
        let file = sandbox.write("docker/config.json", text);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let output = configure(&sandbox, &["myreg.azurecr.io"]);
        assert_eq!(output.code, 1, "{text}: {}", output.stdout);
        assert_eq!(output.stderr, format!("docker-credential-wasm: {} {why}\n", file.display()), "{text}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    for (args, error) in [
        (vec!["gcr.io", "GCR.io"], "docker-credential-wasm: the registry gcr.io is given twice\n"),
        (
            vec!["--helper", "pass", "gcr.io"],
            "docker-credential-wasm: unknown helper name \"pass\": this program answers as wasm, ecr-login, gcr, gcloud, acr-env, acr-login\n",
        ),
    ] {
        let output = configure(&sandbox, &args);
        assert_eq!((output.stderr.as_str(), output.code), (error, 1), "{args:?}");
    }
}
