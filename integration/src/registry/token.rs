//! The token flavour's token server: a thread on 127.0.0.1 that checks basic
//! credentials and answers with an RS256 JWT signed by `openssl dgst`, the signing
//! certificate in its `x5c` header (distribution 2.8 checks that chain against the
//! registry's `rootcertbundle`).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use super::stub::{RawRequest, RawResponse};
use super::{lock, run, COUNTER, ISSUER, PASSWORD, SERVICE, USER};

/// A token server on 127.0.0.1 (a thread of the test process).
pub(super) struct TokenServer {
    pub(super) port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub(super) log: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    /// Makes the signing key and certificate in `dir` (`token.key`, `token.crt`) and
    /// starts serving `GET /token`.
    pub(super) fn start(dir: &Path) -> TokenServer {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=berth-test-token-issuer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let der = run(Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert));
        let x5c = STANDARD.encode(der);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let port = listener.local_addr().expect("token server addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve_token(stream, &key, &x5c, &log);
                    }
                }
            })
        };
        TokenServer {
            port,
            stop,
            thread: Some(thread),
            log,
        }
    }

    pub(super) fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_token(stream: TcpStream, key: &Path, x5c: &str, log: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(request) = RawRequest::read(&stream) else {
        return;
    };
    let authorized = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .map(|pair| pair == format!("{USER}:{PASSWORD}").as_bytes());
    lock(log).push(format!(
        "{} {} {}",
        request.method,
        request.target,
        match authorized {
            None => "anonymous",
            Some(true) => "auth",
            Some(false) => "bad-auth",
        }
    ));
    let response = match authorized {
        Some(false) => RawResponse::json(401, r#"{"details":"incorrect username or password"}"#),
        _ => {
            let scopes = request.query_all("scope");
            let access: Vec<serde_json::Value> = if authorized == Some(true) {
                scopes.iter().filter_map(|s| access_entry(s)).collect()
            } else {
                Vec::new()
            };
            let subject = if authorized == Some(true) { USER } else { "" };
            let token = sign_jwt(key, x5c, subject, access);
            RawResponse::json(
                200,
                &serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                    .to_string(),
            )
        }
    };
    response.write(stream);
}

/// `repository:NAME:pull,push` → the claim's access entry.
fn access_entry(scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(serde_json::json!({
        "type": kind,
        "name": name,
        "actions": actions.split(',').collect::<Vec<_>>(),
    }))
}

fn sign_jwt(key: &Path, x5c: &str, subject: &str, access: Vec<serde_json::Value>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", COUNTER.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    // RS256 is RSASSA-PKCS1-v1_5 over SHA-256: what `openssl dgst -sign` makes.
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl dgst");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(signing_input.as_bytes())
            .expect("write to openssl");
    }
    let output = child.wait_with_output().expect("openssl dgst output");
    assert!(
        output.status.success(),
        "openssl dgst: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(output.stdout))
}
