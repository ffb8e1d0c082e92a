//! The host of a native build (a plugin's unit tests): the [`Scripted`] fake that
//! [`Scripted::run`] installs on the calling thread while a plugin's action runs, so that
//! every host call the SDK makes ([`settings`](crate::settings), [`files`](crate::files),
//! [`http`](crate::http), [`log`](crate::log), …) is answered by it. Without the `testing`
//! feature, or outside `Scripted::run`, a host call made natively panics saying so.

/// A host call: on wasm `$wasm`, the host's own import; natively, `$native` answered by
/// the [`Scripted`] host installed on this thread: `host_call!("settings::get",
/// raw::get(key), |host| host.settings.get(key).cloned())`.
#[cfg(feature = "testing")]
macro_rules! host_call {
    ($what:literal, $wasm:expr, |$host:ident| $native:expr) => {
        if cfg!(target_family = "wasm") {
            $wasm
        } else {
            $crate::effects::Scripted::with_installed($what, |$host| $native)
        }
    };
}

/// Without the `testing` feature there is no native host: a host call made natively panics,
/// saying so.
#[cfg(not(feature = "testing"))]
macro_rules! host_call {
    ($what:literal, $wasm:expr, |$host:ident| $native:expr) => {
        if cfg!(target_family = "wasm") { $wasm } else { $crate::native::no_host($what) }
    };
}

pub(crate) use host_call;

/// The panic of a host call made natively without the `testing` feature.
#[cfg(not(feature = "testing"))]
pub(crate) fn no_host<T>(what: &str) -> T {
    panic!(
        "{what} asks the host, and a native build has none: in tests, enable the SDK's `testing` feature and call the plugin through `Scripted::run`"
    )
}

#[cfg(feature = "testing")]
mod installed {
    use crate::effects::Scripted;
    use std::cell::Cell;

    thread_local! {
        /// The host `Scripted::run` installed on this thread, for the length of its call.
        static HOST: Cell<*const Scripted> = const { Cell::new(std::ptr::null()) };
    }

    impl Scripted {
        /// Runs `action` (a plugin's real action, such as `MyPlugin::get("registry")`)
        /// natively with this fake as its host: settings, environment, files, requests,
        /// the log, the request context and secrets all come from (and are recorded in)
        /// `self`, as the real host would give them.
        pub fn run<R>(&self, action: impl FnOnce() -> R) -> R {
            /// Puts back the host that was installed before, even if `action` panics.
            struct Restore(*const Scripted);
            impl Drop for Restore {
                fn drop(&mut self) {
                    HOST.with(|host| host.set(self.0));
                }
            }
            let _restore = Restore(HOST.with(|host| host.replace(self)));
            action()
        }

        /// Answers the host call `what` from the host installed on this thread.
        pub fn with_installed<R>(what: &str, answer: impl FnOnce(&Scripted) -> R) -> R {
            Scripted::try_installed(answer).unwrap_or_else(|| {
                panic!("{what} asks the host, and none is installed: call the plugin through `Scripted::run`")
            })
        }

        /// `answer` from the host installed on this thread, if one is.
        pub fn try_installed<R>(answer: impl FnOnce(&Scripted) -> R) -> Option<R> {
            let host = HOST.with(Cell::get);
            // SAFETY: a non-null pointer was set by `run` on this thread from a `&Scripted`
            // that outlives the action it runs, and is taken away (by `Restore`) before
            // `run` returns or unwinds; only shared references are made from it.
            (!host.is_null()).then(|| answer(unsafe { &*host }))
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use crate::effects::Scripted;
    use crate::http::Request;
    use crate::{Error, env, files, log, request, secrets, settings};

    fn panic_text(action: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(action).unwrap_err();
        payload.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn a_host_call_outside_run_says_how_to_test_natively() {
        assert_eq!(
            panic_text(|| drop(settings::get("username"))),
            "settings::get asks the host, and none is installed: call the plugin through `Scripted::run`"
        );
    }

    #[test]
    fn run_installs_its_host_for_the_call_alone_even_nested_or_unwinding() {
        let outer = Scripted::default().setting("who", "outer");
        let inner = Scripted::default().setting("who", "inner");
        outer.run(|| {
            assert_eq!(settings::get("who").as_deref(), Some("outer"));
            inner.run(|| assert_eq!(settings::get("who").as_deref(), Some("inner")));
            assert_eq!(settings::get("who").as_deref(), Some("outer"));
            let unwound =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.run(|| panic!("the plugin panicked"))));
            assert!(unwound.is_err());
            assert_eq!(settings::get("who").as_deref(), Some("outer"));
        });
        assert!(
            panic_text(|| drop(settings::keys())).starts_with("settings::keys asks the host, and none is installed")
        );
    }

    #[test]
    fn every_host_call_is_answered_by_the_fake() {
        let host = Scripted::at(1_700_000_000)
            .setting("region", "eu-west-1")
            .env("TOKEN", "t")
            .file("/etc/token", "from a file")
            .image("registry.example.com/team/app")
            .server_url("https://registry.example.com/v1/")
            .secret("k", "alice", "s3cret")
            .answer("GET https://auth.example.com/token", 200, "{}");
        host.run(|| {
            assert_eq!(settings::keys(), ["region"]);
            assert_eq!(env::var("TOKEN").as_deref(), Some("t"));
            assert_eq!(files::read_to_string("/etc/token").unwrap(), "from a file");
            assert_eq!(files::read("/etc/other"), Err(Error::NotFound("the file /etc/other does not exist".into())));
            assert_eq!(request::image().as_deref(), Some("registry.example.com/team/app"));
            assert_eq!(request::server_url().as_deref(), Some("https://registry.example.com/v1/"));
            assert_eq!(request::service_account_token(), None);
            assert_eq!(secrets::list().unwrap(), [("k".to_string(), "alice".to_string())]);
            assert!(secrets::delete("k").unwrap());
            assert!(secrets::get("k").unwrap().is_none());
            assert_eq!(crate::time::now(), 1_700_000_000);
            log::warn("a line");
            assert_eq!(Request::get("https://auth.example.com/token").send().unwrap().status, 200);
            assert_eq!(
                Request::get("https://other.example.com/").send(),
                Err(Error::Upstream("GET https://other.example.com/: connection refused".into()))
            );
        });
        assert_eq!(host.sent(), ["GET https://auth.example.com/token", "GET https://other.example.com/"]);
        assert_eq!(host.logs.borrow().as_slice(), ["a line"]);
    }
}
