//! Log files of child processes: PostgreSQL's `server.log`, a benchmarked `herald run`'s stderr.

use std::path::Path;

/// The last `lines` lines of the file at `path` (empty when it cannot be read), for the error
/// about a child process that would not start or died.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_and_is_empty_for_a_missing_file() {
        let path = std::env::temp_dir().join(format!("herald-logfile-{}", std::process::id()));
        std::fs::write(&path, "one\ntwo\nthree\n").expect("write");
        let (last_two, all) = (tail(&path, 2), tail(&path, 20));
        let _ = std::fs::remove_file(&path);
        assert_eq!(last_two, "two\nthree");
        assert_eq!(all, "one\ntwo\nthree");
        assert_eq!(tail(&path, 2), "");
    }
}
