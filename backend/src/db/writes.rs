//! Write transactions: durable ones ([`begin_write`]) and relaxed ones ([`RelaxedWrites`]), whose commit
//! does not wait for the disk.
//!
//! Which is which: a commit must be durable when something outside the database relies on it once it
//! returns (an API answer, a chap job submitted, a run's final state, from which notifications and
//! reports follow). A run's step starts, log lines, step ends, artifacts and flow states are followed by
//! such a durable commit of the same attempt (its final state, or a checkpoint): a durable commit
//! makes every earlier relaxed commit durable too (the WAL is one sequential file on both databases),
//! and losing relaxed commits in a power cut only loses them together with the durable commit that
//! would have followed, so the attempt is retried from its last checkpoint, as after any crash.
//! Heartbeats are relaxed too: a lost beat only makes its run look silent sooner after a crash.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, InsertStatement, Query, SubQueryStatement, WithClause,
};
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::sqlx::sqlite::{SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, ExecResult, QueryResult, SqliteTransactionMode, SqlxPostgresConnector,
    SqlxSqliteConnector, Statement, StatementBuilder, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Notify, OwnedMutexGuard};
use tracing::Instrument;

/// Connections of the relaxed SQLite pool: SQLite has one writer at a time, so more would only wait.
const RELAXED_SQLITE_CONNECTIONS: u32 = 2;

/// Connections of the relaxed PostgreSQL pool: a process's relaxed writers are its log writer, its
/// workers' claims and heartbeats, each a short transaction or a single statement.
const RELAXED_POSTGRES_CONNECTIONS: u32 = 4;

/// How long a relaxed SQLite connection stays open unused: only runs write through them, so once a
/// burst is over their threads and caches (a few hundred KiB each) are given back. The main pool
/// keeps its connections (sqlx hands its idle connections out in turn, and an idle `serve` queries a
/// few times a second, so none of them is idle for long).
const RELAXED_IDLE: Duration = Duration::from_secs(5);

/// How long a relaxed PostgreSQL connection beyond the first stays open unused: a burst's are given
/// back a minute after it (the first is kept, and renewed when it has been idle this long).
const RELAXED_POSTGRES_IDLE: Duration = Duration::from_secs(60);

/// Longest wait for this process's turn to write to an SQLite file: SQLite's own busy timeout
/// (sqlx's default), after which the write fails as the database being unavailable.
const SQLITE_WRITE_TURN: Duration = Duration::from_secs(5);

/// Who waits for a turn to write (see [`Line`]), lowest first.
#[derive(Debug, Clone, Copy)]
enum Class {
    /// What runs record as they go (steps, log lines, artifacts): relaxed commits; and housekeeping
    /// ([`begin_housekeeping_write`]).
    Relaxed = 0,
    /// A run's durable commits (a checkpoint, an attempt's end, the next run moved to PENDING).
    Run = 1,
    /// Everything else: API requests (a trigger, a cancel), the scheduler.
    Request = 2,
}

/// The writers of this process to one SQLite file, in line (see [`begin_write`]): first come, first
/// served within a class, and a class before the lower ones waiting — requests, then the runs'
/// durable commits, then their relaxed ones — so that a request waits for about one turn however
/// busy the runs are.
#[derive(Default)]
struct Line {
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Writers waiting for their turn, by class (indexed by [`Class`]).
    waiting: [AtomicUsize; 3],
    /// Told when no writer of a class waits any more.
    clear: Notify,
}

type Gate = Arc<Line>;

/// A writer waiting in [`Line`], counted in its class until it has its turn (or gives up waiting).
struct Waiting<'a>(&'a AtomicUsize, &'a Notify);

impl<'a> Waiting<'a> {
    fn new(line: &'a Line, class: Class) -> Self {
        let count = &line.waiting[class as usize];
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count, &line.clear)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.1.notify_waiters();
        }
    }
}

impl Line {
    /// Whether a writer of a class above `class` waits.
    fn outranked(&self, class: Class) -> bool {
        self.waiting[class as usize + 1..]
            .iter()
            .any(|n| n.load(Ordering::SeqCst) > 0)
    }

    /// Waits for the turn to write: in the order writers came within `class`, and after every writer
    /// of a higher class waiting (the mutex is first come, first served: a writer whose turn comes
    /// while one of a higher class waits gives it up and waits until none does).
    async fn take(&self, class: Class) -> OwnedMutexGuard<()> {
        let _waiting = Waiting::new(self, class);
        loop {
            let clear = self.clear.notified();
            tokio::pin!(clear);
            // Registered before the check: a notification between the two is not missed.
            clear.as_mut().enable();
            if self.outranked(class) {
                clear.await;
                continue;
            }
            let turn = self.turn.clone().lock_owned().await;
            if !self.outranked(class) {
                return turn;
            }
        }
    }
}

static SQLITE_GATES: LazyLock<Mutex<HashMap<PathBuf, Gate>>> = LazyLock::new(Mutex::default);

/// This process's line of writers to the SQLite file `db` is connected to; `None` on PostgreSQL.
fn sqlite_gate(db: &DatabaseConnection) -> Option<Gate> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return None;
    }
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let mut gates = SQLITE_GATES.lock().unwrap_or_else(|e| e.into_inner());
    Some(gates.entry(file).or_default().clone())
}

/// A write transaction ([`begin_write`], [`RelaxedWrites::begin`]): queries go through it as through a
/// [`DatabaseTransaction`]; on SQLite it holds this process's turn to write until it ends.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    /// Commits (and gives the turn to the next writer).
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    /// Rolls back (and gives the turn to the next writer).
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

type DbFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = Result<T, DbErr>> + Send + 'a>>;

/// Delegates to the transaction (the trait is `async_trait`-shaped: methods return boxed futures).
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.txn.get_database_backend()
    }

    fn execute_raw<'a, 'b>(&'a self, stmt: Statement) -> DbFuture<'b, ExecResult>
    where
        'a: 'b,
        Self: 'b,
    {
        self.txn.execute_raw(stmt)
    }

    fn execute_unprepared<'a, 'c, 'b>(&'a self, sql: &'c str) -> DbFuture<'b, ExecResult>
    where
        'a: 'b,
        'c: 'b,
        Self: 'b,
    {
        self.txn.execute_unprepared(sql)
    }

    fn query_one_raw<'a, 'b>(&'a self, stmt: Statement) -> DbFuture<'b, Option<QueryResult>>
    where
        'a: 'b,
        Self: 'b,
    {
        self.txn.query_one_raw(stmt)
    }

    fn query_all_raw<'a, 'b>(&'a self, stmt: Statement) -> DbFuture<'b, Vec<QueryResult>>
    where
        'a: 'b,
        Self: 'b,
    {
        self.txn.query_all_raw(stmt)
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.txn.is_mock_connection()
    }
}

/// Starts a durable transaction that reads and then writes. On SQLite it takes the write lock at
/// `BEGIN` (`IMMEDIATE`): a deferred transaction that read first cannot take the lock once another
/// connection has written, and fails at once with "database is locked" whatever the timeout. And the
/// writers of this process wait for their turn in line (first come, first served, woken the moment
/// the previous one ends) rather than in SQLite's busy handler, which retries after sleeps growing to
/// 100 ms and lets a late writer overtake one that has waited long; writers of other processes (a
/// CLI command) still meet in the busy handler. PostgreSQL ignores the mode and needs no line.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    begin_in_turn(db, sqlite_gate(db), Class::Request).await
}

/// [`begin_write`] for a run's durable commits (a checkpoint, an attempt's end, the next run moved
/// to PENDING): on SQLite they wait in line after the requests waiting, before the runs' relaxed
/// commits. Many runs commit at once in a burst; a trigger should not wait for all of them.
pub async fn begin_run_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    begin_in_turn(db, sqlite_gate(db), Class::Run).await
}

/// [`begin_write`] for housekeeping (retention's batches of deletes): durable, and on SQLite in line
/// with the runs' relaxed commits, after every request and run commit waiting. Not below them: a
/// purge under a steady stream of runs still gets its turns.
pub async fn begin_housekeeping_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    begin_in_turn(db, sqlite_gate(db), Class::Relaxed).await
}

async fn begin_in_turn(
    db: &DatabaseConnection,
    gate: Option<Gate>,
    class: Class,
) -> Result<WriteTxn, DbErr> {
    // Counted per part of a run by the `census` benchmark (docs/benchmarks.md).
    tracing::debug!(target: "chap_scheduler::cost", "begin");
    let turn = match gate {
        Some(gate) => Some(
            tokio::time::timeout(SQLITE_WRITE_TURN, gate.take(class))
                .instrument(tracing::debug_span!(target: "chap_scheduler::cost", "write_turn"))
                .await
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?,
        ),
        None => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn })
}

/// Inserts the rows of `inserts` all or none, durably, as a request's write ([`begin_write`]).
///
/// On PostgreSQL they are one statement in autocommit ([`writes_in`]): one round trip to the server
/// instead of a transaction's begin, one per insert and the commit. A request waits for each round
/// trip, and in a burst of runs each waits for the server to be given a CPU (issue 16: a trigger into
/// a full deployment). On SQLite they are one write transaction in turn.
pub async fn insert_together(
    db: &DatabaseConnection,
    inserts: Vec<InsertStatement>,
) -> Result<(), DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        return writes_in(db, inserts).await;
    }
    let txn = begin_write(db).await?;
    writes_in(&txn, inserts).await?;
    txn.commit().await
}

/// Executes `writes` (inserts, updates) on `conn` (a transaction, or autocommit on PostgreSQL): on
/// PostgreSQL as one statement, each write a data-modifying `WITH` query (one round trip, and all or
/// none by itself; they must not change the same row twice); on SQLite one after another.
pub async fn writes_in<W>(conn: &impl ConnectionTrait, writes: Vec<W>) -> Result<(), DbErr>
where
    W: StatementBuilder + Into<SubQueryStatement>,
{
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        for write in &writes {
            conn.execute(write).await?;
        }
        return Ok(());
    }
    match writes.len() {
        0 => return Ok(()),
        1 => {
            conn.execute(&writes[0]).await?;
            return Ok(());
        }
        _ => {}
    }
    let mut with = WithClause::new();
    for (at, write) in writes.into_iter().enumerate() {
        with.cte(cte(&format!("write_{at}"), write));
    }
    conn.execute(&with.query(Query::select().expr(Expr::cust("1")).to_owned()))
        .await?;
    Ok(())
}

/// `query` as the `WITH` query `name`.
pub fn cte(name: &str, query: impl Into<SubQueryStatement>) -> CommonTableExpression {
    CommonTableExpression::new()
        .query(query)
        .table_name(Alias::new(name))
        .to_owned()
}

/// The relaxed pool of the PostgreSQL database `db` is connected to (see [`RelaxedWrites`]): its
/// connections are opened as `db`'s are, with `synchronous_commit = off`.
fn relaxed_postgres(db: &DatabaseConnection) -> DatabaseConnection {
    let options = (*db.get_postgres_connection_pool().connect_options())
        .clone()
        .options([("synchronous_commit", "off")]);
    let port = options.get_port();
    let pool = PgPoolOptions::new()
        .max_connections(RELAXED_POSTGRES_CONNECTIONS)
        .min_connections(1)
        .idle_timeout(RELAXED_POSTGRES_IDLE)
        // Idle for at most [`RELAXED_POSTGRES_IDLE`]; one that broke meanwhile (the server
        // restarted) fails its statement once and is closed, as a connection that breaks in use does.
        .test_before_acquire(false)
        .after_connect(move |_, _| {
            Box::pin(async move {
                super::dead_peers::after_connect(port).await;
                Ok(())
            })
        })
        .connect_lazy_with(options);
    // One connection opened now, not by the first run's claim (a TLS handshake and a server process
    // forked: ~10 ms in front of a run started on an idle service). The pool keeps one from then on.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let pool = pool.clone();
        runtime.spawn(async move {
            if let Err(e) = pool.acquire().await {
                tracing::debug!(error = %e, "opening a relaxed connection failed; the first write will");
            }
        });
    }
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

/// How often `serve`'s dispatcher checkpoints the SQLite WAL ([`checkpoint_wal`]).
pub const WAL_CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies what the SQLite WAL holds into the database file (`PASSIVE`: it waits for no reader or
/// writer, and writers go on appending meanwhile), so that no writer's commit has to (see
/// `db::connect`). Nothing on PostgreSQL.
pub async fn checkpoint_wal(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
            .await?;
    }
    Ok(())
}

/// Where writes that need not be durable on their own go (see the module's text for which).
///
/// - PostgreSQL: a second pool of [`RELAXED_POSTGRES_CONNECTIONS`] connections to the same database,
///   opened with `synchronous_commit = off`: a commit does not wait for the WAL flush. A server crash
///   may lose the last such commits (at most about 0.6 s of them, `wal_writer_delay` × 3), never the
///   database's consistency. The setting is the connections' own, so a transaction or a single
///   statement in autocommit ([`RelaxedWrites::autocommit`]) needs no round trip to set it.
/// - SQLite: a second pool of [`RELAXED_SQLITE_CONNECTIONS`] connections to the same file with
///   `synchronous=NORMAL`: a commit appends to the WAL without an fsync. A killed process loses
///   nothing; a power cut or OS crash may lose the commits since the last durable commit or
///   checkpoint, never consistency. The main pool stays `synchronous=FULL`.
#[derive(Clone)]
pub struct RelaxedWrites {
    db: DatabaseConnection,
    /// The main pool, for the durable commits of the same writer ([`RelaxedWrites::begin_durable`]).
    main: DatabaseConnection,
    /// The main pool's line of writers (SQLite): both pools write to the same file.
    gate: Option<Gate>,
}

impl RelaxedWrites {
    /// Relaxed writes to the database `db` is connected to.
    pub fn of(db: &DatabaseConnection) -> Self {
        let Some(gate) = sqlite_gate(db) else {
            return RelaxedWrites {
                db: relaxed_postgres(db),
                main: db.clone(),
                gate: None,
            };
        };
        let options = (*db.get_sqlite_connection_pool().connect_options())
            .clone()
            .synchronous(SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new()
            .max_connections(RELAXED_SQLITE_CONNECTIONS)
            .idle_timeout(RELAXED_IDLE)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        RelaxedWrites {
            db: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
            main: db.clone(),
            gate: Some(gate),
        }
    }

    /// The database's kind.
    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// Where a write of one statement may go without a transaction (PostgreSQL: it commits by itself,
    /// relaxed); `None` on SQLite, where every write takes its turn in a transaction
    /// ([`RelaxedWrites::begin`]).
    pub fn autocommit(&self) -> Option<&DatabaseConnection> {
        self.gate.is_none().then_some(&self.db)
    }

    /// The connection, to attach a metric callback (the `census` benchmark).
    pub fn connection_mut(&mut self) -> &mut DatabaseConnection {
        &mut self.db
    }

    /// Starts a relaxed transaction that reads and then writes (locked as [`begin_write`], and in
    /// line after the durable writers waiting).
    pub async fn begin(&self) -> Result<WriteTxn, DbErr> {
        begin_in_turn(&self.db, self.gate.clone(), Class::Relaxed).await
    }

    /// Starts a durable transaction on the main pool, for a writer that mostly makes relaxed commits
    /// but must make this one durable (the log writer's batch that ends attempts). It waits in line as
    /// a relaxed writer does: after the requests and the runs' other durable commits waiting.
    pub async fn begin_durable(&self) -> Result<WriteTxn, DbErr> {
        begin_in_turn(&self.main, self.gate.clone(), Class::Relaxed).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

    use super::{begin_write, RelaxedWrites};

    async fn sqlite(dir: &tempfile::TempDir) -> DatabaseConnection {
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let mut opts = sea_orm::ConnectOptions::new(url);
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
        });
        let db = Database::connect(opts).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (n INTEGER NOT NULL)")
            .await
            .unwrap();
        db
    }

    async fn synchronous(conn: &impl ConnectionTrait) -> i64 {
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "PRAGMA synchronous",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    }

    #[tokio::test]
    async fn durable_writes_sync_every_commit_and_relaxed_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let durable = begin_write(&db).await.unwrap();
        assert_eq!(synchronous(&durable).await, 2, "FULL");
        durable.rollback().await.unwrap();
        let relaxed = RelaxedWrites::of(&db);
        let txn = relaxed.begin().await.unwrap();
        assert_eq!(synchronous(&txn).await, 1, "NORMAL");
        txn.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        // The relaxed pool writes the same file.
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) FROM t",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 1);
    }

    #[tokio::test]
    async fn requests_then_run_commits_then_relaxed_writers_take_their_turns() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let relaxed = RelaxedWrites::of(&db);
        let first = begin_write(&db).await.unwrap();
        let mut writers = Vec::new();
        for n in 0..12i64 {
            let (db, relaxed) = (db.clone(), relaxed.clone());
            writers.push(tokio::spawn(async move {
                // One line for all three classes, in turn: a request, a run's durable commit, a
                // relaxed commit.
                let txn = match n % 3 {
                    0 => begin_write(&db).await.unwrap(),
                    1 => super::begin_run_write(&db).await.unwrap(),
                    _ => relaxed.begin().await.unwrap(),
                };
                txn.execute_unprepared(&format!("INSERT INTO t VALUES ({n})"))
                    .await
                    .unwrap();
                txn.commit().await.unwrap();
            }));
            // Each writer is in line before the next one comes.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first.commit().await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT n FROM t ORDER BY rowid",
            ))
            .await
            .unwrap();
        let order: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get_by_index(0).unwrap())
            .collect();
        // The requests in the order they came, then the runs' durable commits in the order they
        // came, then the relaxed ones (in no promised order).
        assert_eq!(order[..8], [0, 3, 6, 9, 1, 4, 7, 10], "{order:?}");
        let mut relaxed: Vec<i64> = order[8..].to_vec();
        relaxed.sort();
        assert_eq!(relaxed, [2, 5, 8, 11], "{order:?}");
    }

    #[tokio::test]
    async fn a_relaxed_writer_gets_its_turn_once_no_durable_writer_waits() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let relaxed = RelaxedWrites::of(&db);
        let first = begin_write(&db).await.unwrap();
        let waiting = tokio::spawn({
            let relaxed = relaxed.clone();
            async move {
                let txn = relaxed.begin().await.unwrap();
                txn.execute_unprepared("INSERT INTO t VALUES (1)")
                    .await
                    .unwrap();
                txn.commit().await.unwrap();
            }
        });
        // A durable writer that gives up waiting (its request was dropped) leaves no one behind.
        let gave_up = tokio::time::timeout(Duration::from_millis(50), begin_write(&db)).await;
        assert!(gave_up.is_err(), "the first writer still holds the turn");
        first.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the relaxed writer got its turn")
            .unwrap();
    }

    #[tokio::test]
    async fn a_checkpoint_copies_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let file = dir.path().join("t.db");
        let before = std::fs::metadata(&file).unwrap().len();
        for n in 0..50 {
            let txn = begin_write(&db).await.unwrap();
            txn.execute_unprepared(&format!(
                "INSERT INTO t VALUES ({n} + length(zeroblob(4000)))"
            ))
            .await
            .unwrap();
            txn.execute_unprepared(&format!("CREATE TABLE pad{n} (b BLOB)"))
                .await
                .unwrap();
            txn.execute_unprepared(&format!("INSERT INTO pad{n} VALUES (zeroblob(4000))"))
                .await
                .unwrap();
            txn.commit().await.unwrap();
        }
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            before,
            "the commits are in the WAL only"
        );
        super::checkpoint_wal(&db).await.unwrap();
        let after = std::fs::metadata(&file).unwrap().len();
        assert!(after >= before + 50 * 4000, "{before} → {after} bytes");
    }

    #[tokio::test]
    async fn a_writer_that_never_gets_its_turn_fails_as_the_database_being_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let _held = begin_write(&db).await.unwrap();
        let err = begin_write(&db).await.err().expect("no turn");
        assert!(crate::db::is_unavailable(&err), "{err}");
    }
}
