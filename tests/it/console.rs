//! The web console: in a real headless Chromium over WebDriver (`browser.rs`), and at the HTTP
//! level for what a browser would not send (`http.rs`).

mod browser;
mod http;
mod webdriver;
