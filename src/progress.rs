//! Progress bars on stderr for `herald demo` and `herald bench`: one look (`=> ` bars), hidden
//! when the caller asks (`--quiet`).

use std::{borrow::Cow, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps drawn with `template` (indicatif's syntax); hidden when `hidden`.
fn styled(hidden: bool, len: u64, template: &str) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style)
}

/// Counted work: `message [=====>    ] pos/len (rate, elapsed)`.
pub fn bar(quiet: bool, len: u64, message: impl Into<Cow<'static, str>>) -> ProgressBar {
    let bar = styled(
        quiet,
        len,
        "{msg:>20} [{bar:40}] {pos}/{len} ({per_sec}, {elapsed})",
    );
    bar.set_message(message);
    bar
}

/// A bar over seconds of a timed scenario, with a live summary after it (`set_message`).
pub fn timed(quiet: bool, seconds: u64, prefix: impl Into<Cow<'static, str>>) -> ProgressBar {
    let bar = styled(
        quiet,
        seconds,
        "{prefix:>12} [{bar:30}] {pos}/{len} s  {msg}",
    );
    bar.set_prefix(prefix);
    bar
}

/// Deliveries reaching a final state, with a spinner and a status line (`set_message`) below.
pub fn deliveries(len: u64) -> ProgressBar {
    let bar = styled(
        false,
        len,
        "{spinner:.green} [{elapsed:>3}] {bar:30.cyan/blue} {pos}/{len} delivered or exhausted\n  {msg}",
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
