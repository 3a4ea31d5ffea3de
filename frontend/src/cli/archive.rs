//! `save` and `load`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::open_store;
use crate::image::archive;

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "string")]
    output: Option<PathBuf>,
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "string")]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

pub fn save(root: &Path, args: SaveArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    match &args.output {
        Some(path) => {
            // Written beside its destination and renamed: a failed save leaves no
            // half archive under the name asked for.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut temp = tempfile::Builder::new()
                .prefix(".berth-save-")
                .tempfile_in(dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            archive::save(
                &store,
                &args.images,
                std::io::BufWriter::new(temp.as_file_mut()),
            )?;
            temp.persist(path)
                .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.error))?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            archive::save(&store, &args.images, &mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn load(root: &Path, args: LoadArgs) -> anyhow::Result<ExitCode> {
    let mut store = open_store(root)?;
    let loaded = match &args.input {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            archive::load(&mut store, std::io::BufReader::new(file))?
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            archive::load(&mut store, stdin.lock())?
        }
    };
    if !args.quiet {
        for line in loaded.iter().flat_map(|image| image.messages()) {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
