//! Answers held whole in memory are handed to the connection a slice at a time. actix-web copies a
//! body into the connection's write buffer as soon as it has it, whole, and keeps that copy until the
//! client has taken it: 2,000 clients asking for Swagger UI's 1.5 MB bundle without reading it held
//! 1.9 GiB of `serve`. Sliced, a connection holds one slice (and the shared original) at a time; the
//! `Content-Length` stays.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Bytes;

/// The largest piece of a body handed to the connection at once.
const SLICE: usize = 32 * 1024;

/// A body already in memory, sent in [`SLICE`]s of it (no copy: each is a view of `bytes`).
struct Sliced {
    bytes: Bytes,
}

impl MessageBody for Sliced {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.bytes.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.bytes.is_empty() {
            return Poll::Ready(None);
        }
        let n = this.bytes.len().min(SLICE);
        Poll::Ready(Some(Ok(this.bytes.split_to(n))))
    }
}

/// Middleware: a response whose body is in memory and longer than a slice is sent sliced.
pub async fn slice_large_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    Ok(res.map_body(|_, body| match body.try_into_bytes() {
        Ok(bytes) if bytes.len() > SLICE => Sliced { bytes }.boxed(),
        Ok(bytes) => bytes.boxed(),
        Err(body) => body.boxed(),
    }))
}

/// A file of Swagger UI (`/docs/…`), served from the binary without a copy (utoipa-swagger-ui's own
/// handler copies each file into a new buffer for every request).
pub fn swagger_file(
    path: &str,
    config: std::sync::Arc<utoipa_swagger_ui::Config<'static>>,
) -> actix_web::HttpResponse {
    use actix_web::http::header::{ContentEncoding, CONTENT_ENCODING};
    match utoipa_swagger_ui::serve(path, config) {
        Ok(Some(file)) => {
            let mut response = actix_web::HttpResponse::Ok();
            if file.gzpipped {
                response.insert_header((CONTENT_ENCODING, ContentEncoding::Gzip));
            }
            let bytes = match file.bytes {
                std::borrow::Cow::Borrowed(b) => Bytes::from_static(b),
                std::borrow::Cow::Owned(v) => Bytes::from(v),
            };
            response.content_type(file.content_type).body(bytes)
        }
        Ok(None) => actix_web::HttpResponse::NotFound().finish(),
        Err(e) => {
            tracing::error!(error = %e, "serving Swagger UI");
            actix_web::HttpResponse::InternalServerError().finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as actix_test;
    use actix_web::{web, App, HttpResponse};

    /// The sizes of the pieces a body is handed over in.
    async fn pieces(body: impl MessageBody) -> Vec<usize> {
        let mut body = Box::pin(body);
        let mut sizes = Vec::new();
        while let Some(piece) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
            sizes.push(piece.map_err(|_| "a body error").unwrap().len());
        }
        sizes
    }

    #[actix_web::test]
    async fn an_answer_longer_than_a_slice_is_handed_over_in_slices_with_its_length() {
        let app = actix_test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(slice_large_bodies))
                .route(
                    "/big",
                    web::get().to(|| async { HttpResponse::Ok().body(vec![7u8; 100_000]) }),
                )
                .route(
                    "/small",
                    web::get().to(|| async { HttpResponse::Ok().body(vec![7u8; 1_000]) }),
                ),
        )
        .await;
        let big = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/big").to_request(),
        )
        .await;
        let body = big.into_body();
        assert_eq!(body.size(), BodySize::Sized(100_000));
        assert_eq!(pieces(body).await, [32_768, 32_768, 32_768, 1_696]);
        let small = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/small").to_request(),
        )
        .await;
        assert_eq!(pieces(small.into_body()).await, [1_000]);
    }

    #[test]
    fn swagger_ui_files_are_the_binary_s_own_bytes() {
        let config = std::sync::Arc::new(utoipa_swagger_ui::Config::new(["/api/openapi.json"]));
        let file = utoipa_swagger_ui::serve("swagger-ui-bundle.js", config.clone())
            .unwrap()
            .unwrap();
        assert!(
            matches!(file.bytes, std::borrow::Cow::Borrowed(_)),
            "no copy"
        );
        let response = swagger_file("swagger-ui-bundle.js", config.clone());
        assert_eq!(response.status(), actix_web::http::StatusCode::OK);
        assert_eq!(
            swagger_file("no-such-file.js", config).status(),
            actix_web::http::StatusCode::NOT_FOUND
        );
    }

    #[actix_web::test]
    async fn a_sliced_body_is_the_whole_body_with_its_length() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let body = Sliced {
            bytes: Bytes::from(data.clone()),
        };
        assert_eq!(body.size(), BodySize::Sized(100_000));
        let got = actix_web::body::to_bytes(body).await.unwrap();
        assert_eq!(got, data);
    }
}
