//! Reading the body of an answer from another server (DHIS2, chap, a webhook's receiver) with a bound
//! on how much of it this process holds: a misbehaving proxy or a hostile server could otherwise
//! stream until the request's timeout, and the process (with `serve`, the whole service) would hold
//! all of it, gigabytes a second on a fast link.

/// A body read by [`read`].
#[derive(Debug)]
pub enum Body {
    /// The whole body.
    Whole(Vec<u8>),
    /// Longer than the limit, by its `Content-Length` or by the bytes received: the rest was not read
    /// (the connection is closed, not reused).
    TooLarge,
}

/// The body of `response` if it is at most `limit` bytes long, else [`Body::TooLarge`] as soon as
/// that is known. `Err` as reqwest reports a broken or timed-out body.
pub async fn read(mut response: reqwest::Response, limit: u64) -> Result<Body, reqwest::Error> {
    let declared = response.content_length();
    if declared.is_some_and(|n| n > limit) {
        return Ok(Body::TooLarge);
    }
    // A declared length is a promise the server may not keep: reserve at most 1 MiB for it.
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(1 << 20) as usize);
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Ok(Body::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Body::Whole(body))
}

/// At most the first `limit` bytes of the body of `response` (an error's explanation); the rest is
/// not read.
pub async fn prefix(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while (body.len() as u64) < limit {
        let Some(chunk) = response.chunk().await? else {
            break;
        };
        let room = (limit - body.len() as u64).min(chunk.len() as u64) as usize;
        body.extend_from_slice(&chunk[..room]);
    }
    Ok(body)
}
