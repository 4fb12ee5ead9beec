//! HTML for the console: escaping (everything user- or receiver-supplied goes through
//! [`esc`]), the page frame, and small builders. The pages carry no script at all; the
//! Content-Security-Policy forbids any.

use std::fmt::Write;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// The stylesheet, served at `/console/style.css`.
pub const STYLE: &str = include_str!("style.css");

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text, or a muted dash when absent.
pub fn opt_esc(text: Option<&str>) -> String {
    match text {
        Some(t) => esc(t),
        None => "<span class=\"muted\">-</span>".to_owned(),
    }
}

/// A query-string component.
pub fn url_part(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}

/// A whole page: title, navigation (with sign-out when `csrf` is given), body.
pub fn page(title: &str, csrf: Option<&str>, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} · Herald</title><link rel=\"stylesheet\" href=\"/console/style.css\"></head>\
         <body><header><span class=\"brand\">Herald</span>",
        esc(title)
    );
    if let Some(csrf) = csrf {
        let _ = write!(
            out,
            "<a href=\"/console/webhooks\">Webhooks</a><a href=\"/console/fleet\">Fleet</a>\
             <form method=\"post\" action=\"/console/logout\">{}<button type=\"submit\">Sign out</button></form>",
            hidden("csrf", csrf)
        );
    }
    let _ = write!(
        out,
        "</header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    out
}

/// An HTML answer with the console's security headers.
pub fn respond(status: StatusCode, html: String) -> Response<Full<Bytes>> {
    with_type(status, "text/html; charset=utf-8", html.into())
}

pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// 303 to `location`.
pub fn redirect(location: &str) -> Response<Full<Bytes>> {
    let mut res = with_type(StatusCode::SEE_OTHER, "text/plain", Bytes::new());
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// A notice box (escaped message).
pub fn notice(message: &str, error: bool) -> String {
    format!(
        "<div class=\"notice{}\" role=\"status\">{}</div>",
        if error { " error" } else { "" },
        esc(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_neutralises_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(url_part("a b&c"), "a+b%26c");
    }
}
