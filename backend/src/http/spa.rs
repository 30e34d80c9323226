//! The single-page app: static files from the built `frontend/dist`, and `index.html` for client routes.
//! The build leaves a gzipped copy beside the large assets (`app_bg.wasm.gz`, …); a client that
//! accepts gzip gets that copy, so the embedded mode sends the web UI compressed without nginx.

use std::path::PathBuf;

use actix_files::{Files, NamedFile};
use actix_web::dev::{fn_service, HttpServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, ContentEncoding};
use actix_web::{web, HttpRequest, HttpResponse, Responder};

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>chap-scheduler</title></head>\
<body><h1>chap-scheduler</h1><p>The web UI has not been built. Run <code>scripts/build-frontend.sh</code> \
(or start the service with <code>scripts/run</code>, which builds it), then reload. The API and its documentation \
are available at <a href=\"/docs/\">/docs/</a>.</p></body></html>";

/// Whether `Accept-Encoding` lists gzip (without `q=0`).
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
                && !parts.any(|p| p.replace(' ', "") == "q=0")
        })
}

/// Opens a file on the blocking pool.
async fn open(path: PathBuf) -> std::io::Result<NamedFile> {
    web::block(move || NamedFile::open(path))
        .await
        .map_err(std::io::Error::other)?
}

/// `/{name}.wasm|.js|.css` at the top of `dir`: the gzipped copy when there is one and the client
/// takes it, else the file itself; `Vary: Accept-Encoding` either way.
pub fn precompressed(dir: PathBuf) -> impl HttpServiceFactory {
    web::resource(r"/{name:[A-Za-z0-9_-]+\.(?:wasm|js|css)}").route(web::get().to(
        move |req: HttpRequest, name: web::Path<String>| {
            let dir = dir.clone();
            async move {
                let plain = dir.join(name.as_str());
                let gzipped = dir.join(format!("{name}.gz"));
                let mut response = match open(gzipped).await {
                    // A copy left beside a file that is gone is not served.
                    Ok(_) if !plain.is_file() => HttpResponse::NotFound().finish(),
                    Ok(file) if accepts_gzip(&req) => {
                        let ext = plain.extension().and_then(|e| e.to_str()).unwrap_or("");
                        file.set_content_type(actix_files::file_extension_to_mime(ext))
                            .set_content_encoding(ContentEncoding::Gzip)
                            .respond_to(&req)
                    }
                    _ => match open(plain.clone()).await {
                        Ok(file) => file.respond_to(&req),
                        Err(_) => HttpResponse::NotFound().finish(),
                    },
                };
                response.headers_mut().insert(
                    header::VARY,
                    header::HeaderValue::from_static("accept-encoding"),
                );
                response
            }
        },
    ))
}

/// Serves `dir` at `/`; paths that are not files get `index.html` (history-API routing).
pub fn service(dir: PathBuf) -> Files {
    let index = dir.join("index.html");
    Files::new("/", dir)
        .index_file("index.html")
        .prefer_utf8(true)
        .default_handler(fn_service(move |req: ServiceRequest| {
            let index = index.clone();
            async move {
                let (req, _) = req.into_parts();
                let last = req.path().rsplit('/').next().unwrap_or("");
                let resp = if last.contains('.') {
                    // A missing asset, not a client route.
                    HttpResponse::NotFound().finish()
                } else {
                    match tokio::fs::read(&index).await {
                        Ok(bytes) => HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .insert_header((header::CACHE_CONTROL, "no-cache"))
                            .body(bytes),
                        Err(_) => HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .body(NOT_BUILT),
                    }
                };
                Ok(ServiceResponse::new(req, resp))
            }
        }))
}
