//! A small W3C WebDriver client over hyper, driving Debian's `chromium` through
//! `chromedriver` (headless, no sandbox as root, nothing reaching out to the network).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use serde_json::{json, Value};

use crate::harness::eventually_some;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a wait for the page (an element, a URL, a text) may take on a loaded machine.
const PAGE_WAIT: Duration = Duration::from_secs(30);

/// Where the browser and its driver are expected (Debian's packages).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: Client<HttpConnector, Full<Bytes>>,
    _profile: tempdir::Dir,
}

/// Why the browser test cannot run here, if it cannot.
pub fn missing() -> Option<String> {
    let absent: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    (!absent.is_empty()).then(|| format!("not installed: {}", absent.join(", ")))
}

mod tempdir {
    /// A fresh directory removed on drop (the browser profile).
    pub struct Dir(pub std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Browser {
    pub async fn start() -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = std::env::temp_dir().join(format!("herald-console-{}", uuid::Uuid::new_v4()));
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            _profile: tempdir::Dir(profile.clone()),
        };
        let status_url = format!("{}/status", b.base);
        let client = b.client.clone();
        eventually_some("chromedriver answers", Duration::from_secs(30), || {
            let client = client.clone();
            let url = status_url.clone();
            async move {
                let req = Request::get(url).body(Full::new(Bytes::new())).ok()?;
                client
                    .request(req)
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
            }
        })
        .await;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let v = b.call(Method::POST, "/session", Some(caps)).await;
        b.session = v["sessionId"].as_str().expect("session id").to_owned();
        b
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(bytes))
            .expect("request");
        let res = tokio::time::timeout(Duration::from_secs(60), self.client.request(req))
            .await
            .unwrap_or_else(|_| panic!("webdriver {method} {path}: no answer in 60 s"))
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let status = res.status();
        let text = res.into_body().collect().await.expect("body").to_bytes();
        let v: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "webdriver {method} {path}: {status} {v}"
        );
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) {
        self.call(Method::POST, &self.s("/url"), Some(json!({ "url": url })))
            .await;
    }

    pub async fn current_url(&self) -> String {
        self.get_string("/url").await
    }

    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .call(
                Method::POST,
                &self.s("/elements"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting for it as [`Browser::wait_for`] does (a
    /// click's navigation may still be under way).
    pub async fn find(&self, css: &str) -> String {
        self.wait_for(css).await
    }

    /// The first element matching `css` once the page has one (after a navigation).
    pub async fn wait_for(&self, css: &str) -> String {
        eventually_some(&format!("an element matching {css}"), PAGE_WAIT, || async {
            self.find_all(css).await.into_iter().next()
        })
        .await
    }

    /// The current URL once it satisfies `ok` (a click's navigation may still be under way).
    pub async fn wait_for_url(&self, ok: impl Fn(&str) -> bool) -> String {
        eventually_some("the browser's URL", PAGE_WAIT, || async {
            Some(self.current_url().await).filter(|url| ok(url))
        })
        .await
    }

    /// The page's source once it contains `text`.
    pub async fn wait_for_text(&self, text: &str) -> String {
        eventually_some(&format!("{text:?} on the page"), PAGE_WAIT, || async {
            Some(self.source().await).filter(|source| source.contains(text))
        })
        .await
    }

    pub async fn click(&self, element: &str) {
        self.call(
            Method::POST,
            &self.s(&format!("/element/{element}/click")),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        self.call(
            Method::POST,
            &self.s(&format!("/element/{element}/value")),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn text(&self, element: &str) -> String {
        self.get_string(&format!("/element/{element}/text")).await
    }

    pub async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        let attribute = self.of_element(element, &format!("attribute/{name}")).await;
        attribute.as_str().map(str::to_owned)
    }

    /// `GET path` of this session, a string (empty when it is not one).
    async fn get_string(&self, path: &str) -> String {
        let value = self.call(Method::GET, &self.s(path), None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// `GET /element/{element}/{what}` of this session.
    async fn of_element(&self, element: &str, what: &str) -> Value {
        let path = self.s(&format!("/element/{element}/{what}"));
        self.call(Method::GET, &path, None).await
    }

    pub async fn source(&self) -> String {
        self.get_string("/source").await
    }

    /// The value of a script expression run in the page (`return ...`).
    pub async fn eval(&self, script: &str) -> Value {
        self.call(
            Method::POST,
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    pub async fn cookies(&self) -> Vec<Value> {
        self.call(Method::GET, &self.s("/cookie"), None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn delete_cookies(&self) {
        self.call(Method::DELETE, &self.s("/cookie"), None).await;
    }

    /// Saves a PNG of the viewport under `dir`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        use base64::Engine;
        let v = self.call(Method::GET, &self.s("/screenshot"), None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 screenshot"))
            .expect("screenshot decodes");
        std::fs::create_dir_all(dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    pub async fn quit(mut self) {
        let path = self.s("");
        self.call(Method::DELETE, &path, None).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
