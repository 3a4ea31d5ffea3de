//! Pull and push progress as Docker shows it: a bar per layer on a terminal
//! (indicatif), and on anything else one line per change of a layer's state, the
//! lines Docker writes to a pipe.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::image::add::LayerEvent;
use crate::registry::{short_id, LayerState, PullEvent, PushEvent, PushState};

/// One layer's line: its bar on a terminal, else the last status printed for it.
struct Line {
    bar: Option<ProgressBar>,
    last: String,
}

pub struct Display {
    bars: Option<MultiProgress>,
    lines: Mutex<(Vec<String>, HashMap<String, Line>)>,
    quiet: bool,
}

/// States that only move a bar.
const TRANSIENT: [&str; 3] = ["Downloading", "Extracting", "Pushing"];

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg:<16} {wide_bar} {bytes:>10}/{total_bytes:<10}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn plain_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Display {
    /// Bars when `terminal`, lines otherwise; nothing at all when `quiet`.
    pub fn new(terminal: bool, quiet: bool) -> Display {
        Display {
            bars: (terminal && !quiet)
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout())),
            lines: Mutex::new((Vec::new(), HashMap::new())),
            quiet,
        }
    }

    /// A line of its own, above the bars.
    pub fn say(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
            }
        }
    }

    /// A layer's new status, with bytes done and total when there are any.
    fn layer(&self, id: &str, status: &str, bytes: Option<(u64, u64)>) {
        if self.quiet {
            return;
        }
        let mut guard = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let (order, lines) = &mut *guard;
        let line = lines.entry(id.to_string()).or_insert_with(|| {
            order.push(id.to_string());
            let bar = self.bars.as_ref().map(|bars| {
                let bar = bars.add(ProgressBar::new(0));
                bar.set_style(plain_style());
                bar.set_prefix(id.to_string());
                bar
            });
            Line {
                bar,
                last: String::new(),
            }
        });
        match &line.bar {
            Some(bar) => {
                match bytes {
                    Some((current, total)) => {
                        bar.set_style(style());
                        bar.set_length(total);
                        bar.set_position(current);
                    }
                    None => bar.set_style(plain_style()),
                }
                bar.set_message(status.to_string());
            }
            // Piped: a line per change of status, as Docker writes; what only moves a
            // bar (Downloading, Extracting, Pushing) is not written.
            None => {
                if bytes.is_none() && line.last != status && !TRANSIENT.contains(&status) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{id}: {status}");
                }
            }
        }
        line.last = status.to_string();
    }

    fn seen(&self, id: &str) -> bool {
        let guard = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.contains_key(id)
    }

    /// Stops drawing bars, leaving each layer's last state on screen.
    pub fn finish(&self) {
        let guard = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        for line in guard.1.values() {
            if let Some(bar) = &line.bar {
                bar.finish();
            }
        }
    }

    pub fn pull_event(&self, event: PullEvent) {
        match event {
            PullEvent::Pulling { tag, repository } => {
                self.say(&format!("{tag}: Pulling from {repository}"));
            }
            PullEvent::Resolved { .. } | PullEvent::Platform { .. } => {}
            PullEvent::Layer { id, state } => match state {
                LayerState::AlreadyExists => self.layer(&id, "Already exists", None),
                LayerState::Waiting => {
                    self.layer(&id, "Pulling fs layer", None);
                    self.layer(&id, "Waiting", None);
                }
                LayerState::Downloading { current, total } => {
                    if !self.seen(&id) {
                        self.layer(&id, "Pulling fs layer", None);
                    }
                    self.layer(&id, "Downloading", Some((current, total)));
                }
                LayerState::Retrying { delay_ms, .. } => self.layer(
                    &id,
                    &format!("Retrying in {} seconds", delay_ms.div_ceil(1000)),
                    None,
                ),
                LayerState::Verifying => self.layer(&id, "Verifying Checksum", None),
                LayerState::DownloadComplete => self.layer(&id, "Download complete", None),
            },
        }
    }

    pub fn layer_event(&self, event: LayerEvent) {
        match event {
            LayerEvent::Extracting { blob } => self.layer(&short_id(&blob), "Extracting", None),
            LayerEvent::Extracted { blob, .. } => {
                self.layer(&short_id(&blob), "Pull complete", None)
            }
            LayerEvent::AlreadyThere { blob } => {
                let id = short_id(&blob);
                let seen = {
                    let guard = self.lines.lock().unwrap_or_else(|e| e.into_inner());
                    guard.1.get(&id).map(|l| l.last.clone())
                };
                // Downloaded now but unpacked before (the same diff in another
                // compression): the pull of it is complete all the same.
                if seen.as_deref().is_some_and(|s| s != "Already exists") {
                    self.layer(&id, "Pull complete", None);
                }
            }
        }
    }

    pub fn push_event(&self, event: PushEvent) {
        match event {
            PushEvent::Repository { name } => {
                let shown = crate::image::reference::Reference::parse(&name)
                    .map(|r| r.familiar_name())
                    .unwrap_or(name);
                self.say(&format!("The push refers to repository [{shown}]"));
            }
            PushEvent::Layer { id, state } => match state {
                PushState::Preparing => self.layer(&id, "Preparing", None),
                PushState::Waiting => self.layer(&id, "Waiting", None),
                PushState::Pushing { current, total } => {
                    self.layer(&id, "Pushing", Some((current, total)))
                }
                PushState::Pushed => self.layer(&id, "Pushed", None),
                PushState::AlreadyExists => self.layer(&id, "Layer already exists", None),
                PushState::MountedFrom { repository } => {
                    self.layer(&id, &format!("Mounted from {repository}"), None)
                }
                PushState::Retrying { delay_ms, .. } => self.layer(
                    &id,
                    &format!("Retrying in {} seconds", delay_ms.div_ceil(1000)),
                    None,
                ),
            },
            PushEvent::Pushed { tag, digest, size } => {
                self.finish();
                let tag = tag.unwrap_or_else(|| digest.to_string());
                self.say(&format!("{tag}: digest: {digest} size: {size}"));
            }
        }
    }
}
