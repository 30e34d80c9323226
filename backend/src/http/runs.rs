//! `/api/v1/runs`: list, detail, cancel, retry, logs (paged and live over SSE), artifacts, stats.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chap_scheduler_api::{
    ArtifactView, ErrorBody, LogLevel, LogPage, Page, RetryRunRequest, RunDetail, RunStats, RunView,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::deployments::trigger_name;
use super::extract::Operator;
use super::input::{parse_body, QueryParams};
use super::log_stream::{self, TailRequest};
use super::AppState;
use crate::auth::Principal;
use crate::db::audit::{self, Cursor};
use crate::db::entities::{deployment, flow_run};
use crate::error::{AppError, AppResult};
use crate::orchestrator::store::{self, RunFilter};
use crate::orchestrator::{deployments, Trigger, TriggerAudit};

/// Registers the routes (`stats` before `{id}`).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(run_stats)
        .service(list_runs)
        .service(get_run)
        .service(cancel_run)
        .service(retry_run)
        .service(run_logs)
        .service(stream_logs)
        .service(run_artifacts);
}

/// Days listed when no `since` is given.
const DEFAULT_DAYS: i64 = 30;

/// Filters of the run list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RunQuery {
    /// Comma-separated states, e.g. `FAILED,CRASHED`.
    #[param(
        pattern = "^ *(SCHEDULED|PENDING|RUNNING|COMPLETED|FAILED|CRASHED|CANCELLED|CANCELLING|AWAITING_RETRY) *(, *(SCHEDULED|PENDING|RUNNING|COMPLETED|FAILED|CRASHED|CANCELLED|CANCELLING|AWAITING_RETRY) *)*$"
    )]
    state: Option<String>,
    /// Only runs of this deployment.
    deployment_id: Option<Uuid>,
    /// Only runs of this flow.
    flow_name: Option<String>,
    /// Created at or after (default: 30 days ago).
    since: Option<DateTime<Utc>>,
    /// Created before.
    until: Option<DateTime<Utc>>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

async fn find_run(state: &AppState, id: Uuid) -> AppResult<flow_run::Model> {
    store::get(state.engine.db(), id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no run with id {id}")))
}

/// Runs, newest first, filtered and keyset-paginated.
#[utoipa::path(
    tag = "runs",
    params(RunQuery),
    responses((status = 200, body = Page<RunView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[get("/runs")]
async fn list_runs(
    _principal: Principal,

    state: web::Data<AppState>,
    query: QueryParams<RunQuery>,
) -> AppResult<web::Json<Page<RunView>>> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 200"));
    }
    let mut filter = RunFilter {
        deployment_id: q.deployment_id,
        flow_name: q.flow_name.clone(),
        since: q
            .since
            .unwrap_or_else(|| crate::db::clock::now() - chrono::Duration::days(DEFAULT_DAYS)),
        until: q.until,
        ..RunFilter::default()
    };
    if let Some(states) = &q.state {
        filter.states = states
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<_, String>>()
            .map_err(|e| AppError::field("state", e))?;
    }
    if let Some(raw) = &q.cursor {
        let c = Cursor::decode(raw)
            .ok_or_else(|| AppError::field("cursor", "not a cursor from this list"))?;
        filter.after = Some((c.at(), c.id()));
    }
    let (rows, more) = store::list_runs(state.engine.db(), &filter, limit).await?;
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|r| Cursor::new(r.created_at, r.id).encode())
        })
        .flatten();
    Ok(web::Json(Page {
        items: rows.iter().map(store::view).collect(),
        next_cursor,
    }))
}

/// A run with its state history and steps.
#[utoipa::path(
    tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/runs/{id}")]
async fn get_run(
    _principal: Principal,

    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<RunDetail>> {
    let run = find_run(&state, *id).await?;
    let (history, steps) = store::history_and_steps(state.engine.db(), run.id).await?;
    let retried_by = store::retried_by(state.engine.db(), run.id).await?;
    Ok(web::Json(RunDetail {
        run: store::view(&run),
        history: history.iter().map(store::state_change_view).collect(),
        task_runs: steps.iter().map(store::task_view).collect(),
        retried_by,
    }))
}

/// Cancel a run (operator): at once if not started; a running run goes CANCELLING, then CANCELLED.
#[utoipa::path(
    tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    responses(
        (status = 200, body = RunView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody),
    )
)]
#[post("/runs/{id}/cancel")]
async fn cancel_run(
    principal: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<RunView>> {
    let run = state.engine.cancel(*id, &trigger_name(&principal)).await?;
    audit::record(
        state.engine.db(),
        &principal.actor(),
        "run.cancelled",
        Some(format!("run:{}", run.id)),
        json!({}),
    )
    .await?;
    Ok(web::Json(store::view(&run)))
}

/// Retry a finished run (operator): a new run of the same deployment with the same parameters, linked
/// to this one. With `{"failed_setups_only": true}` the new run redoes only what failed (the
/// prediction flow: the failed setups); 409 when nothing failed.
#[utoipa::path(
    tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    request_body(content = Option<RetryRunRequest>, description = "Optional: `{\"failed_setups_only\": true}`"),
    responses(
        (status = 201, body = RunView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not finished, its deployment is gone or paused, or nothing failed", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/runs/{id}/retry")]
async fn retry_run(
    principal: Operator,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let request: RetryRunRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RetryRunRequest::default()
    } else {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| AppError::BadRequest(format!("the body is not valid JSON: {e}")))?;
        if value.is_null() {
            RetryRunRequest::default()
        } else {
            parse_body(value)?
        }
    };
    let old = find_run(&state, *id).await?;
    if !old.state.is_terminal() {
        return Err(AppError::Conflict(format!(
            "the run is {}; only a finished run can be retried",
            old.state
        )));
    }
    let dep_id = old
        .deployment_id
        .ok_or_else(|| AppError::Conflict("the run's deployment was deleted".into()))?;
    let dep = deployments::get(state.engine.db(), dep_id).await?;
    if dep.paused {
        return Err(AppError::Conflict(format!(
            "the deployment `{}` is paused; resume it first",
            dep.name
        )));
    }
    let parameters = if request.failed_setups_only {
        let flow = state.engine.registry().get(&old.flow_name).ok_or_else(|| {
            AppError::Conflict(format!(
                "the flow `{}` is not available in this service",
                old.flow_name
            ))
        })?;
        flow.failed_parts(&old.parameters, old.summary.as_ref())
            .map_err(|why| AppError::Conflict(format!("nothing to retry: {why}")))?
    } else {
        old.parameters.clone()
    };
    // The old run's parameters already include the defaults of its time: use them as they were.
    let frozen = deployment::Model {
        parameters: json!({}),
        ..dep
    };
    let (run, _) = state
        .engine
        .trigger(
            &frozen,
            Some(&parameters),
            Trigger::Retry(old.id),
            None,
            None,
            Some(TriggerAudit {
                actor: principal.actor(),
                action: "run.retried",
                detail: json!({
                    "retry_of": old.id,
                    "by": trigger_name(&principal),
                    "failed_setups_only": request.failed_setups_only,
                }),
            }),
        )
        .await?;
    Ok(HttpResponse::Created().json(store::view(&run)))
}

/// Log paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    /// Only lines with a larger id (the `next_after` of the previous page).
    after: Option<i64>,
    /// Page size, 1–1000 (default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// Lowest level: `debug`, `info`, `warning` or `error`.
    level: Option<LogLevel>,
}

/// The levels at or above `min` (all without one).
fn levels_from(min: Option<LogLevel>) -> Vec<LogLevel> {
    LogLevel::ALL
        .into_iter()
        .filter(|l| min.is_none_or(|m| *l >= m))
        .collect()
}

/// A run's log lines, oldest first.
#[utoipa::path(
    tag = "runs",
    params(("id" = Uuid, Path, description = "Run id"), LogQuery),
    responses((status = 200, body = LogPage), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/runs/{id}/logs")]
async fn run_logs(
    _principal: Principal,

    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: QueryParams<LogQuery>,
) -> AppResult<web::Json<LogPage>> {
    let run = find_run(&state, *id).await?;
    let limit = query.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 1000"));
    }
    let levels = levels_from(query.level);
    let items = store::logs_after(
        state.engine.db(),
        run.id,
        query.after.unwrap_or(0),
        limit,
        &levels,
    )
    .await?;
    let next_after = items.last().map(|l| l.id).or(query.after);
    Ok(web::Json(LogPage { items, next_after }))
}

/// Live log tail as Server-Sent Events.
///
/// Events: `log` (a LogView; the event id is the log id, so `Last-Event-ID` resumes), `state`
/// (a RunView whenever the state changes) and `end` once the run finished and every line was sent.
/// The server ends a stream without `end` after `CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS` (or when it
/// cannot read the log): resume with `Last-Event-ID` set to the last id received. A user holds at
/// most 10 streams at once, and the server `CHAP_SCHEDULER_LOG_STREAMS_MAX` in all (429 beyond).
#[utoipa::path(
    tag = "runs",
    params(("id" = Uuid, Path, description = "Run id"), LogQuery),
    responses(
        (status = 200, description = "text/event-stream of log lines and state changes"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 429, description = "The user holds 10 live streams already, or the server its `CHAP_SCHEDULER_LOG_STREAMS_MAX`; retry after `Retry-After` seconds", body = ErrorBody),
    )
)]
#[get("/runs/{id}/logs/stream")]
async fn stream_logs(
    principal: Principal,

    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: QueryParams<LogQuery>,
) -> AppResult<HttpResponse> {
    let run = find_run(&state, *id).await?;
    let slot = state.log_streams.take(principal.user_id)?;
    let levels = levels_from(query.level);
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let stream = log_stream::tail(
        state,
        TailRequest {
            run: run.id,
            after: resume.or(query.after).unwrap_or(0),
            levels,
        },
        slot,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// A run's artifacts (the run report).
#[utoipa::path(
    tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = Vec<ArtifactView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/runs/{id}/artifacts")]
async fn run_artifacts(
    _principal: Principal,

    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Vec<ArtifactView>>> {
    let run = find_run(&state, *id).await?;
    Ok(web::Json(
        store::list_artifacts(state.engine.db(), run.id, state.config.public_path.as_str()).await?,
    ))
}

/// Stats window.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// Days back including today, 1–90 (default 14).
    #[param(minimum = 1, maximum = 90)]
    days: Option<i64>,
}

/// Runs per day by state, plus how many are running and late now.
#[utoipa::path(
    tag = "runs",
    params(StatsQuery),
    responses((status = 200, body = RunStats), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[get("/runs/stats")]
async fn run_stats(
    _principal: Principal,

    state: web::Data<AppState>,
    query: QueryParams<StatsQuery>,
) -> AppResult<web::Json<RunStats>> {
    let days = query.days.unwrap_or(14);
    if !(1..=90).contains(&days) {
        return Err(AppError::field("days", "must be between 1 and 90"));
    }
    Ok(web::Json(store::run_stats(state.engine.db(), days).await?))
}
