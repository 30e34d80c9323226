//! A request's body must have arrived `CHAP_SCHEDULER_CLIENT_TIMEOUT_SECONDS` (10 s) after its head:
//! actix-web bounds the wait for a head (5 s, then 408) but not for a body, so a client that sent a
//! head announcing a body and then nothing held its connection, its file descriptor and about 27 KiB
//! for as long as it liked. One client holding 20,000 of them (a login form's POST needs no
//! credentials) used up `serve`'s open files: no connection was accepted any more, and nothing else
//! that opens a file or a socket (an upstream call of a run, a reconnect) could either.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use futures_util::{Stream, StreamExt};

use super::AppState;
use crate::error::AppError;

/// Answers 408 `request_timeout` (and closes the connection: its body is unread) when the body of a
/// request that has one is not all in within the configured time of the head; a request whose body
/// arrived runs as long as it needs.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = match req.app_data::<web::Data<AppState>>() {
        Some(state) if has_body(req.headers()) => state.config.client_timeout,
        _ => return next.call(req).await,
    };
    let arrived = Rc::new(Cell::new(false));
    let payload = watched(req.take_payload(), arrived.clone());
    req.set_payload(payload);
    let call = next.call(req);
    tokio::pin!(call);
    tokio::select! {
        done = &mut call => return done,
        () = tokio::time::sleep(limit) => {}
    }
    if arrived.get() {
        return call.await;
    }
    Err(AppError::RequestTimeout(format!(
        "the request's body did not arrive within {} s of its head",
        limit.as_secs_f64()
    ))
    .into())
}

/// Whether the head announces a body.
fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    length.is_some_and(|n| n > 0) || headers.contains_key(TRANSFER_ENCODING)
}

/// `payload`, setting `arrived` once it has ended (or failed: nothing more will come).
fn watched(mut payload: Payload, arrived: Rc<Cell<bool>>) -> Payload {
    let stream = futures_util::stream::poll_fn(move |cx| {
        let item = payload.poll_next_unpin(cx);
        if matches!(item, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            arrived.set(true);
        }
        item
    });
    let boxed: Pin<Box<dyn Stream<Item = Result<web::Bytes, PayloadError>>>> = Box::pin(stream);
    Payload::from(boxed)
}
