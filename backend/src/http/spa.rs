//! The single-page app: static files from the built `frontend/dist`, and `index.html` for client routes.
//! The build leaves Brotli and gzip copies beside the large assets (`app_bg.wasm.br`, `.gz`, …); a
//! client gets the Brotli copy when it accepts `br`, else the gzip copy when it accepts gzip, so the
//! embedded mode sends the web UI compressed without nginx.

use std::path::PathBuf;

use actix_files::{Files, NamedFile};
use actix_web::dev::{fn_service, HttpServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, ContentEncoding};
use actix_web::http::{Method, StatusCode};
use actix_web::{guard, web, HttpRequest, HttpResponse, Responder};

use crate::config::PublicPath;
use crate::error::AppError;

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><base href=\"/\"><meta charset=\"utf-8\"><title>chap-scheduler</title></head>\
<body><h1>chap-scheduler</h1><p>The web UI has not been built. Run <code>scripts/build-frontend.sh</code> \
(or start the service with <code>scripts/run</code>, which builds it), then reload. The API and its documentation \
are available at <a href=\"docs/\">docs/</a>.</p></body></html>";

/// What `index.html` holds for the server to point at the public path.
const BASE_MARKER: &str = "<base href=\"/\">";

/// `html` with its `<base href="/">` pointing at the public path (`<base href="/chap-scheduler/">`):
/// the page's assets and the SPA's links and API calls are relative to it. A page without the marker
/// gets the element right after `<head>`. The prefix is validated plain text, safe in an attribute.
fn with_base(html: &str, prefix: &PublicPath) -> String {
    let base = format!("<base href=\"{prefix}/\">");
    if html.contains(BASE_MARKER) {
        html.replacen(BASE_MARKER, &base, 1)
    } else if let Some(at) = html.find("<head>") {
        let at = at + "<head>".len();
        format!("{}{base}{}", &html[..at], &html[at..])
    } else {
        format!("{base}{html}")
    }
}

/// `index.html` (or the "not built" page) with the public path in its `<base>`.
async fn index_page(index: PathBuf, prefix: &PublicPath) -> HttpResponse {
    let html = match tokio::fs::read_to_string(&index).await {
        Ok(html) => html,
        Err(_) => NOT_BUILT.to_owned(),
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(with_base(&html, prefix))
}

/// `/` and `/index.html`: the SPA's page, with the public path in its `<base>`.
pub fn index(dir: PathBuf, prefix: PublicPath) -> impl HttpServiceFactory {
    let index = dir.join("index.html");
    web::resource(["/", "/index.html"]).route(
        web::route()
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .to(move || {
                let (index, prefix) = (index.clone(), prefix.clone());
                async move { index_page(index, &prefix).await }
            }),
    )
}

/// Whether `Accept-Encoding` lists `coding` (without `q=0`).
fn accepts(req: &HttpRequest, coding: &str) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|listed| {
            let mut parts = listed.split(';').map(str::trim);
            parts.next().is_some_and(|c| c.eq_ignore_ascii_case(coding))
                && !parts.any(|p| {
                    let p = p.replace(' ', "");
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                })
        })
}

/// Opens a file on the blocking pool.
async fn open(path: PathBuf) -> std::io::Result<NamedFile> {
    web::block(move || NamedFile::open(path))
        .await
        .map_err(std::io::Error::other)?
}

/// Whether `name` is one of the web UI's lazy modules named by its content's hash
/// (`split_runs-d1611b3838.wasm`, `chunk_4-34e302eabc.wasm`; `scripts/build-frontend.sh`).
fn is_content_hashed(name: &str) -> bool {
    let Some((stem, hash)) = name
        .strip_suffix(".wasm")
        .and_then(|base| base.rsplit_once('-'))
    else {
        return false;
    };
    (stem.starts_with("split_") || stem.starts_with("chunk_"))
        && hash.len() == 10
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `/{name}.wasm|.js|.css` at the top of `dir`: the Brotli or gzip copy when there is one and the
/// client takes it (Brotli first), else the file itself; `Vary: Accept-Encoding` either way. A lazy
/// module named by its hash may be cached for good; every other asset is revalidated on each use
/// (`no-cache`: a 304 when unchanged), so a page never mixes the files of two builds.
pub fn precompressed(dir: PathBuf) -> impl HttpServiceFactory {
    web::resource(r"/{name:[A-Za-z0-9_-]+\.(?:wasm|js|css)}").route(web::get().to(
        move |req: HttpRequest, name: web::Path<String>| {
            let dir = dir.clone();
            async move {
                let plain = dir.join(name.as_str());
                let ext = plain.extension().and_then(|e| e.to_str()).unwrap_or("");
                let mime = actix_files::file_extension_to_mime(ext);
                let mut response = None;
                // A copy left beside a file that is gone is not served.
                if plain.is_file() {
                    for (suffix, coding, encoding) in [
                        ("br", "br", ContentEncoding::Brotli),
                        ("gz", "gzip", ContentEncoding::Gzip),
                    ] {
                        if !accepts(&req, coding) {
                            continue;
                        }
                        if let Ok(file) = open(dir.join(format!("{name}.{suffix}"))).await {
                            response = Some(
                                file.set_content_type(mime.clone())
                                    .set_content_encoding(encoding)
                                    .respond_to(&req),
                            );
                            break;
                        }
                    }
                }
                let mut response = match response {
                    Some(r) => r,
                    None => match open(plain.clone()).await {
                        Ok(file) => file.respond_to(&req),
                        Err(_) => HttpResponse::NotFound().finish(),
                    },
                };
                let status = response.status();
                response.headers_mut().insert(
                    header::VARY,
                    header::HeaderValue::from_static("accept-encoding"),
                );
                if status.is_success() || status == StatusCode::NOT_MODIFIED {
                    let policy = if is_content_hashed(name.as_str()) {
                        "public, max-age=31536000, immutable"
                    } else {
                        "no-cache"
                    };
                    response.headers_mut().insert(
                        header::CACHE_CONTROL,
                        header::HeaderValue::from_static(policy),
                    );
                }
                response
            }
        },
    ))
}

/// The application's default service: a JSON 404 for what no route and no client route matches.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound("no such page or API route".into()))
}

/// Server paths whose other spellings must never fall through to the SPA.
const SERVER_PREFIXES: &[&str] = &["api", "docs", "info", "health", "ready", "metrics"];

/// Whether a path (as sent, not decoded) can be one of the SPA's client routes: plainly spelled (no
/// percent-encoding, empty or dot segments) and not a server path in another case. Anything else is
/// a 404, so no odd spelling of a server path is answered with a page.
fn is_client_route(raw_path: &str) -> bool {
    let Some(rest) = raw_path.strip_prefix('/') else {
        return false;
    };
    let first = rest.split('/').next().unwrap_or("");
    if SERVER_PREFIXES
        .iter()
        .any(|p| first.eq_ignore_ascii_case(p))
    {
        return false;
    }
    let plain = |seg: &str| {
        seg.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
            && seg != "."
            && seg != ".."
    };
    // A trailing slash is allowed; an empty segment elsewhere (`//`) is not.
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    segments
        .iter()
        .enumerate()
        .all(|(i, seg)| plain(seg) && (!seg.is_empty() || i == last))
}

/// Serves `dir` at `/`; paths that are not files get `index.html` with the public path in its `<base>`
/// (history-API routing). Only GET and HEAD of plainly spelled paths reach it: anything else falls
/// through to [`not_found`].
pub fn service(dir: PathBuf, prefix: PublicPath) -> Files {
    let index = dir.join("index.html");
    Files::new("/", dir)
        .guard(guard::fn_guard(|ctx| {
            matches!(ctx.head().method, Method::GET | Method::HEAD)
                && is_client_route(ctx.head().uri.path())
        }))
        .prefer_utf8(true)
        .default_handler(fn_service(move |req: ServiceRequest| {
            let (index, prefix) = (index.clone(), prefix.clone());
            async move {
                let (req, _) = req.into_parts();
                let last = req.path().rsplit('/').next().unwrap_or("");
                let resp = if last.contains('.') {
                    // A missing asset, not a client route.
                    HttpResponse::NotFound().finish()
                } else {
                    index_page(index, &prefix).await
                };
                Ok(ServiceResponse::new(req, resp))
            }
        }))
}

#[cfg(test)]
mod tests {
    use super::{is_client_route, is_content_hashed, with_base, PublicPath, NOT_BUILT};

    #[test]
    fn the_page_gets_the_public_path_as_its_base() {
        let prefix = PublicPath::parse("/chap-scheduler").unwrap();
        let page = "<html><head><base href=\"/\"><link href=\"style.css\"></head></html>";
        assert_eq!(
            with_base(page, &prefix),
            "<html><head><base href=\"/chap-scheduler/\"><link href=\"style.css\"></head></html>"
        );
        assert_eq!(with_base(page, &PublicPath::default()), page);
        // A page built without the marker still gets one, first thing in <head>.
        assert_eq!(
            with_base("<html><head><title>x</title></head></html>", &prefix),
            "<html><head><base href=\"/chap-scheduler/\"><title>x</title></head></html>"
        );
        assert!(with_base(NOT_BUILT, &prefix).contains("<base href=\"/chap-scheduler/\">"));
    }

    #[test]
    fn only_lazy_modules_with_a_ten_digit_hex_hash_count_as_content_hashed() {
        for hashed in ["split_runs-d1611b3838.wasm", "chunk_4-34e302eabc.wasm"] {
            assert!(is_content_hashed(hashed), "{hashed}");
        }
        for plain in [
            "app_bg.wasm",
            "split_runs.wasm",
            "split_runs-d1611b383.wasm",
            "split_runs-D1611B3838.wasm",
            "split_runs-d1611b3838.js",
            "app-d1611b3838.wasm",
            "chunk_4-34e302eabg.wasm",
        ] {
            assert!(!is_content_hashed(plain), "{plain}");
        }
    }

    #[test]
    fn only_plainly_spelled_paths_outside_the_server_routes_are_client_routes() {
        for ok in [
            "/",
            "/runs",
            "/runs/",
            "/deployments/abc-1/schedules",
            "/no/such/page",
        ] {
            assert!(is_client_route(ok), "{ok}");
        }
        for refused in [
            "",
            "//api/v1/runs",
            "/%2Fapi/v1/runs",
            "/%61pi/v1",
            "/./api/v1/runs",
            "/x/../api",
            "/API/v1/runs",
            "/Info",
            "/DOCS/",
            "/runs//x",
            "/runs/%20",
            "/api",
            "/metrics",
        ] {
            assert!(!is_client_route(refused), "{refused}");
        }
    }
}
