//! How many connections `serve` holds at once. Every connection is an open file: actix-web's own
//! default of 25,000 per worker is past the usual limit of open files (1,024 by default, 20,000 or
//! so in containers), and a process at that limit accepts nothing more and can open nothing else
//! either (an upstream call of a run, a reconnect to the database or the queue). So the limit is
//! raised to what the system allows, and the HTTP workers together hold at most half of it.
//!
//! A client that stops reading an answer holds its connection, and the part of the answer the kernel
//! could not take (an OpenAPI document of 118 KiB each: 10,000 such clients held 1.3 GiB of `serve`
//! and every connection it would accept) for as long as it stays connected: actix-web has no timeout
//! for writing. [`drop_stalled_readers`] gives each connection a TCP user timeout instead: the kernel
//! ends it once the client has acknowledged nothing (nor opened its window) for that long.

use std::any::Any;
use std::time::Duration;

/// The most open files asked for: enough for any connection count below, without asking the kernel
/// for a table of a million descriptors.
const MOST_OPEN_FILES: u64 = 1 << 20;

/// Raises this process's soft limit of open files to its hard limit (at most [`MOST_OPEN_FILES`]),
/// as Go's runtime does for every program; returns the soft limit then in force (`None` if it
/// cannot be read).
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit
        .maximum
        .unwrap_or(MOST_OPEN_FILES)
        .min(MOST_OPEN_FILES);
    let soft = limit.current.unwrap_or(hard);
    if soft < hard {
        let raised = Rlimit {
            current: Some(hard),
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Some(hard);
        }
    }
    limit.current.or(Some(soft))
}

/// Connections each of `workers` HTTP workers accepts at once with `open_files` as the limit: half
/// of the limit shared among them, at least 64 each and at most actix-web's default of 25,000;
/// connections past it wait in the listen queue until one closes.
pub fn per_worker(open_files: u64, workers: usize) -> usize {
    let share = open_files / 2 / workers.max(1) as u64;
    share.clamp(64, 25_000) as usize
}

/// For `HttpServer::on_connect`: a TCP connection whose client acknowledges none of the data sent to
/// it for `timeout` (it stopped reading, or it is gone) is ended by the kernel (`TCP_USER_TIMEOUT`,
/// which Linux applies to zero-window probes too). Connections idle on both sides are not affected.
pub fn drop_stalled_readers(connection: &dyn Any, timeout: Duration) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let ms = u32::try_from(timeout.as_millis())
            .unwrap_or(u32::MAX)
            .max(1);
        if let Err(e) = rustix::net::sockopt::set_tcp_user_timeout(tcp, ms) {
            tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT on a connection");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workers_share_half_of_the_open_files_within_bounds() {
        assert_eq!(per_worker(1024, 2), 256);
        assert_eq!(per_worker(20_000, 2), 5_000);
        assert_eq!(per_worker(20_000, 4), 2_500);
        assert_eq!(per_worker(256, 4), 64, "never below 64");
        assert_eq!(
            per_worker(1 << 20, 1),
            25_000,
            "never above actix-web's default"
        );
        assert_eq!(per_worker(1024, 0), 512, "no workers counts as one");
    }

    #[test]
    fn the_open_files_limit_is_raised_and_reported_as_in_force() {
        use rustix::process::{getrlimit, Resource};
        let before = getrlimit(Resource::Nofile).current;
        let limit = raise_open_files_limit().expect("a limit");
        assert_eq!(getrlimit(Resource::Nofile).current, Some(limit));
        assert!(before.is_none_or(|soft| limit >= soft.min(MOST_OPEN_FILES)));
    }
}
