//! `berth`: Docker's command line over berth's engine library.

fn main() -> std::process::ExitCode {
    berth_engine::cli::main()
}
