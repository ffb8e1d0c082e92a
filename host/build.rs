//! Links the unwinder statically (GCC's `libgcc_eh.a`) on GNU/Linux, so that neither program
//! loads `libgcc_s.so.1`: that library's constructor asks the CPU for its features on every
//! start (CPUID, which traps to the hypervisor on a virtual machine), and loading it is one
//! more library to map and relocate. Together about 0.07 ms of every process, twice a miss.
//! With no C compiler to name the archive (or when cross-compiling), the programs load
//! `libgcc_s` as before.

fn main() {
    println!("cargo::rerun-if-env-changed=CC");
    let gnu_linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    // `cc` names the archive of the machine it runs on: not the one to link when cross-compiling.
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    if !gnu_linux || !native {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let archive = std::process::Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        .filter(|path| path.is_absolute() && path.is_file());
    match archive {
        // Ahead of the `-lgcc_s` the standard library asks for, which `--as-needed` then drops.
        Some(archive) => {
            println!("cargo::rustc-link-arg-bins=-Wl,--push-state,--whole-archive,{},--pop-state", archive.display())
        }
        None => println!("cargo::warning=no libgcc_eh.a from `{cc} -print-file-name`; libgcc_s is loaded at run time"),
    }
}
