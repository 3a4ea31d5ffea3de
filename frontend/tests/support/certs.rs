//! Certificates for the daemon's TLS tests, made by the openssl CLI: a CA and the
//! certificates it signs, with EC P-256 keys (quicker to make than RSA ones).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::TestStore;

/// Runs `openssl` in `dir` with `args` (split at spaces; no argument has one).
fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("the openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const NEW_KEY: &str = "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out";

/// A CA (`NAME-ca.pem`, `NAME-ca-key.pem`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(dir, &format!("{NEW_KEY} {name}-ca-key.pem"));
    openssl(
        dir,
        &format!(
            "req -x509 -new -key {name}-ca-key.pem -sha256 -days 2 -subj /CN={name}-ca \
             -out {name}-ca.pem"
        ),
    );
}

/// A certificate `NAME-cert.pem` with key `NAME-key.pem`, signed by CA `ca`, with the
/// given extensions (openssl's extfile syntax).
fn make_cert(dir: &Path, ca: &str, name: &str, extensions: &str) {
    fs::write(dir.join(format!("{name}.ext")), extensions).expect("extensions file");
    openssl(dir, &format!("{NEW_KEY} {name}-key.pem"));
    openssl(
        dir,
        &format!("req -new -key {name}-key.pem -subj /CN={name} -out {name}.csr"),
    );
    openssl(
        dir,
        &format!(
            "x509 -req -in {name}.csr -CA {ca}-ca.pem -CAkey {ca}-ca-key.pem \
             -CAcreateserial -days 2 -sha256 -extfile {name}.ext -out {name}-cert.pem"
        ),
    );
}

/// The certificates of the TLS tests, under the store's dir: a CA with a server and
/// a client certificate, and a client certificate of another CA.
pub fn make_certificates(store: &TestStore) -> PathBuf {
    let dir = store.dir.path().join("certs");
    fs::create_dir_all(&dir).expect("certs dir");
    make_ca(&dir, "berth");
    make_ca(&dir, "stranger");
    make_cert(
        &dir,
        "berth",
        "server",
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n",
    );
    make_cert(&dir, "berth", "client", "extendedKeyUsage = clientAuth\n");
    make_cert(
        &dir,
        "stranger",
        "intruder",
        "extendedKeyUsage = clientAuth\n",
    );
    dir
}
