//! Markdown → HTML for run reports. Reports quote data from outside systems, so raw HTML in the
//! source is shown as text and only plain link targets survive: the output is safe for `inner_html`.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

/// Renders `source` to HTML with raw HTML escaped and unsafe link/image targets removed.
pub fn render(source: &str) -> String {
    render_with_base(source, "")
}

/// Like [`render`], with root-relative link and image targets (`/runs/…`, not `//host/…`) put under
/// `base`: the public path the service is served under (`/chap-scheduler`), or the absolute address
/// of the UI for a page read elsewhere (an e-mail). An empty `base` leaves them as written.
pub fn render_with_base(source: &str, base: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(source, options).map(|event| match event {
        // Raw HTML becomes text, which the HTML writer escapes.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: rebase(safe_url(dest_url), base),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: rebase(safe_url(dest_url), base),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// `url` under `base` when it is root-relative (`/runs/1` → `/chap-scheduler/runs/1`).
fn rebase<'a>(url: CowStr<'a>, base: &str) -> CowStr<'a> {
    if !base.is_empty() && url.starts_with('/') && !url.starts_with("//") {
        CowStr::from(format!("{base}{url}"))
    } else {
        url
    }
}

/// Keeps http(s), mailto, relative and fragment targets; anything else (`javascript:`, `data:`…)
/// becomes an empty target.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme_end = lower.find(':');
    let first_special = lower.find(['/', '?', '#']);
    let has_scheme = match (scheme_end, first_special) {
        (Some(colon), Some(special)) => colon < special,
        (Some(_), None) => true,
        _ => false,
    };
    if !has_scheme
        || lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("mailto:")
    {
        url
    } else {
        CowStr::Borrowed("")
    }
}

#[cfg(test)]
mod tests {
    use super::{render, render_with_base};

    #[test]
    fn renders_headings_lists_and_tables() {
        let html = render("# Report\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(html.contains("<h1>Report</h1>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
        assert!(html.contains("<td>1</td>"), "{html}");
    }

    #[test]
    fn raw_html_is_escaped() {
        let html = render("hello <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn unsafe_link_targets_are_dropped() {
        let html = render(
            "[x](javascript:alert(1)) [y](https://example.org/a) [z](/runs) [w](Data:text/html,hi)",
        );
        assert!(!html.to_lowercase().contains("javascript:"), "{html}");
        assert!(!html.to_lowercase().contains("data:"), "{html}");
        assert!(html.contains("href=\"https://example.org/a\""), "{html}");
        assert!(html.contains("href=\"/runs\""), "{html}");
    }

    #[test]
    fn root_relative_targets_go_under_the_base() {
        let source = "[run](/runs/1?setup=2#forecast) [far](https://example.org/a) [near](runs) \
                      [other](//example.org/x) [bad](javascript:alert(1))";
        let html = render_with_base(source, "/chap-scheduler");
        assert!(
            html.contains("href=\"/chap-scheduler/runs/1?setup=2#forecast\""),
            "{html}"
        );
        assert!(html.contains("href=\"https://example.org/a\""), "{html}");
        assert!(html.contains("href=\"runs\""), "{html}");
        assert!(html.contains("href=\"//example.org/x\""), "{html}");
        assert!(!html.contains("javascript"), "{html}");
        let html = render_with_base(source, "https://dhis2.example.org/chap-scheduler");
        assert!(
            html.contains(
                "href=\"https://dhis2.example.org/chap-scheduler/runs/1?setup=2#forecast\""
            ),
            "{html}"
        );
        assert_eq!(render_with_base(source, ""), render(source));
    }
}
