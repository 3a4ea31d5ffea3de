//! `berth-shim`: argument parsing over the library.

use clap::Parser;

fn main() {
    let options = berth_shim::cli::Options::parse();
    if options.version {
        println!(
            "conmon version {}\ncommit: berth-shim {}",
            berth_shim::cli::CONMON_VERSION,
            env!("CARGO_PKG_VERSION")
        );
        std::process::exit(0);
    }
    match berth_shim::session::run(options) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("berth-shim: error: {e}");
            std::process::exit(1);
        }
    }
}
