//! The single-page app: static files from the built `frontend/dist`, and `index.html` for client routes.

use std::path::PathBuf;

use actix_files::Files;
use actix_web::dev::{fn_service, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::HttpResponse;

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>chap-scheduler</title></head>\
<body><h1>chap-scheduler</h1><p>The web UI has not been built. Run <code>scripts/build-frontend.sh</code> \
(or start the service with <code>scripts/run</code>, which builds it), then reload. The API and its documentation \
are available at <a href=\"/docs/\">/docs/</a>.</p></body></html>";

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
