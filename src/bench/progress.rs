//! Progress bars and lines on stderr for the long scenarios (hidden with `--quiet`).

use std::borrow::Cow;

use indicatif::{ProgressBar, ProgressStyle};

pub fn bar(quiet: bool, len: u64, message: impl Into<Cow<'static, str>>) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style =
        ProgressStyle::with_template("{msg:>20} [{bar:40}] {pos}/{len} ({per_sec}, {elapsed})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(message);
    bar
}

/// A bar over seconds of a timed scenario, with a live summary after it (`set_message`).
pub fn timed(quiet: bool, seconds: u64, prefix: impl Into<Cow<'static, str>>) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(seconds);
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} s  {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(prefix);
    bar
}
