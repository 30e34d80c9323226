//! The dashboard's runs per day: counted by the database, by the UTC day of each run's expected start,
//! each run in exactly one day of the window, and none of the days before it or after today.
use chap_scheduler::db::entities::flow_run;
use chap_scheduler_api::RunState;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

/// Midnight (UTC) starting `day`, moved by `offset`.
fn at(day: NaiveDate, offset: Duration) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap().and_utc() + offset
}

#[tokio::test]
async fn runs_per_day_count_each_run_on_its_utc_day_of_start_and_nothing_outside_the_window() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let today = Utc::now().date_naive();
    let template = app.completed_run_row(&token).await;

    // A window of 3 days: the day before yesterday, yesterday and today.
    let first = today - Duration::days(2);
    let yesterday = today - Duration::days(1);
    let tick = Duration::microseconds(1);
    let runs = [
        // Today's first instant, and twice in its middle.
        (at(today, Duration::zero()), RunState::Completed),
        (at(today, Duration::hours(12)), RunState::Failed),
        (at(today, Duration::hours(12) + tick), RunState::Failed),
        // Yesterday's last instant.
        (at(today, -tick), RunState::Completed),
        (at(yesterday, Duration::hours(3)), RunState::Cancelled),
        // The window's first instant, and the last one before it.
        (at(first, Duration::zero()), RunState::Crashed),
        (at(first, -tick), RunState::Completed),
        (at(first, -Duration::days(5)), RunState::Failed),
        // Expected after today: scheduled ahead, in no day of the window.
        (
            at(today + Duration::days(1), Duration::zero()),
            RunState::Scheduled,
        ),
    ];
    let rows = runs.iter().map(|(start, state)| {
        let mut row = template.clone();
        row.id = Uuid::new_v4();
        row.idempotency_key = None;
        row.expected_start_at = *start;
        row.state = *state;
        row.into_active_model().reset_all()
    });
    flow_run::Entity::insert_many(rows)
        .exec_without_returning(&app.db)
        .await
        .unwrap();

    let stats = body(app.get("/api/v1/runs/stats?days=3", &token).await).await;
    if Utc::now().date_naive() != today {
        // Midnight passed while the test ran: the service's window is another one.
        return;
    }
    let days = stats["days"].as_array().unwrap();
    let dates: Vec<&str> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
    assert_eq!(
        dates,
        [first, yesterday, today].map(|d| d.to_string()),
        "{stats}"
    );
    assert_eq!(days[0]["counts"], json!({ "CRASHED": 1 }), "{stats}");
    assert_eq!(
        days[1]["counts"],
        json!({ "COMPLETED": 1, "CANCELLED": 1 }),
        "{stats}"
    );
    // The template run itself ran today.
    assert_eq!(
        days[2]["counts"],
        json!({ "COMPLETED": 2, "FAILED": 2 }),
        "{stats}"
    );
}
