//! Every kept input (seed corpora and crash regressions) through its target,
//! without libFuzzer: `cargo test` in fuzz/ (the Makefile's fuzz targets run
//! it first). A crash found once stays fixed.

use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| body(&data));
            assert!(result.is_ok(), "{target}: {} fails", path.display());
            count += 1;
        }
    }
    println!("{target}: {count} inputs");
}

macro_rules! targets {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            replay(stringify!($name), berth_fuzz::$name);
        }
    )*};
}

targets!(
    config,
    seccomp,
    state,
    hooks_input,
    console_socket,
    sync_channel,
    json_path,
    shim_logs,
    image_refs,
    registry_auth_challenge,
    layer_unpack,
    api_bodies
);
