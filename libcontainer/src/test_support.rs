//! The one policy of the unit tests that need root (cgroups made on the
//! host, seccomp filters installed without no_new_privs): they fail, saying
//! why, when run without it. None passes by skipping: `make test` and
//! `make unit` run as root, and a green run means every test ran.

/// Call first in a test that needs root.
#[track_caller]
pub fn require_root(what: &str) {
    if !nix::unistd::geteuid().is_root() {
        panic!("{what} needs root: run the unit tests as root (make unit, make test)");
    }
}
