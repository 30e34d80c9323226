//! Connections to a server that vanished. A PostgreSQL host that dies, is cut off, or is replaced in
//! a fail-over sends neither FIN nor RST: a query waiting for its answer waits for ever (nothing is
//! left to retransmit, so the kernel never gives up), and one sent on an idle pooled connection
//! waits for the kernel's retransmissions, about 15 minutes. sqlx then also keeps the connection's
//! pool slot for ever: a connection whose query was abandoned is pinged when it goes back to the
//! pool, without a timeout. One such fault held every connection of every process: the dispatcher
//! stopped (no scheduled run, no crashed run found) and the API answered 503 after its acquire
//! timeout, until each process was restarted.
//!
//! libpq's answer is TCP keepalive and `TCP_USER_TIMEOUT` on the connection's socket. sqlx sets
//! neither and offers no way to (launchbadge/sqlx#3540, open). So after sqlx opens a connection,
//! [`watch_sockets_to`] finds this process's TCP sockets connected to the database's port and sets
//! them: the kernel probes a quiet connection and ends one whose server has acknowledged nothing, nor
//! answered a probe, for the configured time. The waiting query then fails, sqlx closes the
//! connection, and the pool opens a new one to whoever answers at the address now. A server that is
//! alive but busy (a long query) answers the probes from its kernel, so nothing changes for it.
//!
//! The sockets belong to sqlx: their descriptors are found in `/proc/self/fd`, borrowed for a
//! `getpeername` (the workspace's one `unsafe`, see [`borrowed`]), and those connected to the
//! database's port duplicated; the options are set through the duplicate (they belong to the socket,
//! not to a descriptor). Where `/proc` cannot be read, a warning says so once and the connections work
//! as before.

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often keepalive probes are sent once a connection has been quiet for a third of `dead_after`:
/// every sixth of it (at least a second; the kernel counts in seconds).
fn keepalive_times(dead_after: Duration) -> (Duration, Duration) {
    let secs = dead_after.as_secs().max(1);
    (
        Duration::from_secs(secs.div_ceil(3).max(1)),
        Duration::from_secs(secs.div_ceil(6).max(1)),
    )
}

/// Unanswered probes before the kernel gives up. `TCP_USER_TIMEOUT` ends the connection once
/// `dead_after` has passed without an answer even with probes left (a third of it, then five sixths
/// more, is past it), so the count never decides.
const KEEPALIVE_PROBES: u32 = 5;

/// The keepalive of a connection taken for dead after `dead_after`: quiet time before the first
/// probe, time between probes, probes.
pub fn keepalive(dead_after: Duration) -> (Duration, Duration, u32) {
    let (idle, interval) = keepalive_times(dead_after);
    (idle, interval, KEEPALIVE_PROBES)
}

/// Sets keepalive and the user timeout on one TCP socket: its server is taken for gone once it has
/// acknowledged nothing and answered no probe for `dead_after`.
fn set_dead_after(socket: &OwnedFd, dead_after: Duration) -> std::io::Result<()> {
    use rustix::net::sockopt;
    let (idle, interval, probes) = keepalive(dead_after);
    sockopt::set_socket_keepalive(socket, true)?;
    sockopt::set_tcp_keepidle(socket, idle)?;
    sockopt::set_tcp_keepintvl(socket, interval)?;
    sockopt::set_tcp_keepcnt(socket, probes)?;
    sockopt::set_tcp_user_timeout(socket, user_timeout_ms(dead_after))?;
    Ok(())
}

fn user_timeout_ms(dead_after: Duration) -> u32 {
    u32::try_from(dead_after.as_millis())
        .unwrap_or(u32::MAX)
        .max(1)
}

/// This process's connected TCP sockets whose peer's port is `port`, as duplicates (closing one
/// leaves the socket open for its owner).
pub fn sockets_to(port: u16) -> std::io::Result<Vec<OwnedFd>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Ok(entry) = entry else { continue };
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        // Only sockets; the descriptor may have been closed since the listing (then skipped).
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        let second = borrowed(fd, |socket| {
            let peer = rustix::net::getpeername(socket)
                .ok()
                .flatten()
                .and_then(|addr| std::net::SocketAddr::try_from(addr).ok());
            if peer.is_some_and(|peer| peer.port() == port) {
                rustix::io::fcntl_dupfd_cloexec(socket, 0).ok()
            } else {
                None
            }
        });
        found.extend(second);
    }
    Ok(found)
}

/// `f` on this process's descriptor `fd`, borrowed for the call.
///
/// The one `unsafe` of the workspace (`unsafe_code` is denied everywhere else). sqlx owns its
/// sockets and hands out no descriptor; `pidfd_getfd(2)` on the process itself would give a second one
/// safely, but Docker's default seccomp profile refuses that call without `CAP_SYS_PTRACE`, which the
/// shipped compose file drops with all the others.
#[allow(unsafe_code)]
fn borrowed<T>(fd: RawFd, f: impl FnOnce(BorrowedFd<'_>) -> T) -> T {
    // SAFETY: `fd` was listed in /proc/self/fd just before, and the borrow lives only through `f`,
    // which makes socket calls on it (getpeername, a duplicate) and keeps nothing but the duplicate.
    // Another thread may close it meanwhile (sqlx dropping a connection): the calls then fail with
    // EBADF, or reach whatever file took the number since; neither touches memory of this process
    // beyond the calls' own arguments, and only a TCP socket whose peer is the database's port is
    // duplicated.
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    f(socket)
}

/// Whether the warning that sockets cannot be reached was given.
static WARNED: AtomicBool = AtomicBool::new(false);

/// This process's `CHAP_SCHEDULER_DEAD_CONNECTION_SECONDS`, in milliseconds (0 until [`configure`]).
static DEAD_AFTER_MS: AtomicU64 = AtomicU64::new(0);

/// Sets how long a database server may stay silent before its connection is ended, for every pool
/// of this process (one configuration per process).
pub fn configure(dead_after: Duration) {
    DEAD_AFTER_MS.store(u64::from(user_timeout_ms(dead_after)), Ordering::Relaxed);
}

/// For a pool's `after_connect`: every socket of this process to the database's `port` gets keepalive
/// and the configured user timeout (in a blocking thread: it reads `/proc`). Never fails.
pub async fn after_connect(port: u16) {
    let ms = DEAD_AFTER_MS.load(Ordering::Relaxed);
    if ms == 0 {
        return;
    }
    let dead_after = Duration::from_millis(ms);
    let set = tokio::task::spawn_blocking(move || watch_sockets_to(port, dead_after)).await;
    tracing::debug!(?set, port, "database sockets given keepalive");
}

/// Gives every TCP socket of this process connected to `port` (the database's) keepalive and the user
/// timeout of `dead_after`, unless it has them already; how many were set. Called after each new
/// database connection; never fails the connection.
pub fn watch_sockets_to(port: u16, dead_after: Duration) -> usize {
    let result = sockets_to(port).and_then(|sockets| {
        let wanted = user_timeout_ms(dead_after);
        let mut set = 0;
        for socket in &sockets {
            if rustix::net::sockopt::tcp_user_timeout(socket).ok() != Some(wanted) {
                set_dead_after(socket, dead_after)?;
                set += 1;
            }
        }
        Ok(set)
    });
    match result {
        Ok(set) => set,
        Err(e) => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    error = %e,
                    "cannot set TCP keepalive on the database's connections (is /proc mounted?): a \
                     database host that vanishes without closing them (a crash, a fail-over, a cut \
                     network) leaves queries waiting for up to 15 minutes or for ever"
                );
            }
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_starts_at_a_third_and_probes_every_sixth_in_whole_seconds() {
        assert_eq!(
            keepalive_times(Duration::from_secs(30)),
            (Duration::from_secs(10), Duration::from_secs(5))
        );
        assert_eq!(
            keepalive_times(Duration::from_secs(2)),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
        assert_eq!(
            keepalive_times(Duration::from_millis(1500)),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
        assert_eq!(user_timeout_ms(Duration::from_secs(30)), 30_000);
    }

    #[test]
    fn the_sockets_connected_to_a_port_get_keepalive_and_the_user_timeout_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let a = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let b = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let elsewhere = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        let dead_after = Duration::from_secs(7);

        assert_eq!(watch_sockets_to(port, dead_after), 2);
        use rustix::net::sockopt;
        for s in [&a, &b] {
            assert_eq!(sockopt::tcp_user_timeout(s).unwrap(), 7_000);
            assert!(sockopt::socket_keepalive(s).unwrap());
            assert_eq!(sockopt::tcp_keepidle(s).unwrap(), Duration::from_secs(3));
            assert_eq!(sockopt::tcp_keepintvl(s).unwrap(), Duration::from_secs(2));
        }
        for s in [&accepted, &elsewhere] {
            assert_eq!(
                sockopt::tcp_user_timeout(s).unwrap(),
                0,
                "not connected to the port"
            );
            assert!(!sockopt::socket_keepalive(s).unwrap());
        }
        assert_eq!(watch_sockets_to(port, dead_after), 0, "already set");
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(watch_sockets_to(port, dead_after), 1, "only the new one");
        assert_eq!(sockopt::tcp_user_timeout(&c).unwrap(), 7_000);
    }
}
