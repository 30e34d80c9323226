//! CPU time that the processes of a burst used, from `/proc`: ours by process id, and the local
//! PostgreSQL server's (its postmaster, every child alive, and the children it has already reaped).
//! On a machine whose speed drifts, the simulator's CPU (the same work in every burst) is the yardstick:
//! the others' CPU divided by it compares two binaries across bursts.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Clock ticks per second of `/proc/<pid>/stat` (Linux's `USER_HZ`, 100 on every architecture it
/// runs on today).
const TICKS_PER_SECOND: f64 = 100.0;

/// The fields of `/proc/<pid>/stat` after the command's name (`state` is the first).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    // `state` is a letter; the fields after it are numbers.
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// (parent id, user + system seconds, reaped children's user + system seconds).
fn times(pid: u32) -> Option<(u32, f64, f64)> {
    let f = stat_fields(pid)?;
    // After `state`: ppid is field 0, utime 10, stime 11, cutime 12, cstime 13.
    let ticks = |i: usize| f.get(i).copied().unwrap_or(0) as f64 / TICKS_PER_SECOND;
    Some((
        f.first().copied().unwrap_or(0) as u32,
        ticks(10) + ticks(11),
        ticks(12) + ticks(13),
    ))
}

/// User + system seconds process `pid` has used so far (0 once it is gone).
pub fn seconds(pid: u32) -> f64 {
    times(pid).map_or(0.0, |(_, own, _)| own)
}

/// The local PostgreSQL server `db` is connected to, by its postmaster's id: `None` when the server
/// runs elsewhere (its backend is not a process here) or `db` is not PostgreSQL.
pub async fn postgres_server(db: &DatabaseConnection) -> Option<u32> {
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .ok()??;
    let backend: i32 = row.try_get("", "pid").ok()?;
    times(backend as u32).map(|(parent, _, _)| parent)
}

/// User + system seconds the PostgreSQL server whose postmaster is `postmaster` has used: its own,
/// its children's alive now, and those of the children it has reaped. The difference of two readings
/// is what the server used in between, also of connections opened or closed meanwhile.
pub fn postgres_seconds(postmaster: u32) -> f64 {
    let Some((_, own, reaped)) = times(postmaster) else {
        return 0.0;
    };
    let children: f64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(times)
        .filter(|(parent, _, _)| *parent == postmaster)
        .map(|(_, own, _)| own)
        .sum();
    own + reaped + children
}
