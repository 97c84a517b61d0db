//! Tenant isolation and member rights over every route of the API, read from the route table the
//! router is built from (`rulebook::http::routes`): a route added later is covered here without
//! editing this file, unless it names a new kind of path parameter (then `fill` says so).

use axum::http::{Method, StatusCode};
use rulebook::{
    http::routes::{Access, Route, Verb},
    queue::{
        kinds::RUN_DELAYED_ACTION,
        worker::{ClaimedJob, JobError, Outcome, Registry},
        NewJob,
    },
};
use serde_json::{json, Value};

use crate::helpers::*;

crate::on_both_databases!(
    no_route_reaches_another_accounts_data,
    every_change_is_refused_to_a_member,
    every_user_route_wants_a_token,
);

/// The other account's lead with a pending timer.
const THEIR_LEAD: i64 = 777;
/// What only the other account's data contains: no answer to us may show it.
const MARKER: &str = "their-secret-marker";

/// What the other account owns, created through the API as its administrator.
struct Theirs {
    rule: i64,
    variable: String,
    dead_job: i64,
    link: i64,
    receiver: i64,
    request: i64,
    launch: i64,
}

async fn given_another_accounts_data(app: &TestApp) -> Theirs {
    let rule = app
        .create_rule(
            OTHER_ADMIN,
            MARKER,
            json!({"schema_version": 2, "name": MARKER, "description": MARKER,
                   "trigger": {"kind": "manual", "entity": "lead"}}),
        )
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_i64()
        .expect("rule id");
    let variable = "their_variable".to_owned();
    app.put_variable(OTHER_ADMIN, &variable, MARKER)
        .await
        .expect(StatusCode::OK);

    let mut pending = NewJob::new(
        OTHER_ACCOUNT,
        RUN_DELAYED_ACTION,
        json!({ "marker": MARKER }),
        START_MS + 3_600_000,
    );
    pending.entity = Some(("leads".into(), THEIR_LEAD));
    app.queue().enqueue(&pending).await.expect("enqueue");
    let dead_job = app
        .queue()
        .enqueue(&NewJob::new(
            OTHER_ACCOUNT,
            RUN_DELAYED_ACTION,
            json!({ "marker": MARKER }),
            START_MS,
        ))
        .await
        .expect("enqueue");
    let worker = app.worker(
        Registry::new().register(RUN_DELAYED_ACTION, |_job: ClaimedJob| {
            std::future::ready(Err(JobError::Permanent("refused".into())))
        }),
    );
    assert_eq!(
        worker.try_run_one().await.expect("run"),
        Outcome::DeadLettered { job_id: dead_job }
    );
    let link = app
        .create_trigger_link(
            OTHER_ADMIN,
            rule,
            &json!({ "name": MARKER, "target_url": "https://example.com/their-secret-marker" }),
        )
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_i64()
        .expect("link id");
    let receiver = app
        .send_json(
            axum::http::Method::POST,
            "/api/v1/receivers",
            OTHER_ADMIN,
            &json!({ "name": MARKER }),
        )
        .await
        .expect(StatusCode::CREATED);
    let receiver_path = receiver["url"]
        .as_str()
        .and_then(|u| u.strip_prefix(PUBLIC_URL))
        .expect("our URL")
        .to_owned();
    app.post_hook(
        &receiver_path,
        format!(r#"{{"secret":"{MARKER}"}}"#).as_bytes(),
        "application/json",
        &[],
    )
    .await
    .expect(StatusCode::OK);
    let receiver = receiver["id"].as_i64().expect("receiver id");
    let request = app
        .get(
            &format!("/api/v1/receivers/{receiver}/requests"),
            OTHER_ADMIN,
        )
        .await
        .expect(StatusCode::OK)[0]["id"]
        .as_i64()
        .expect("request id");
    // A run of their rule for their lead, which "why not" for that lead shows them alone.
    rulebook::store::execution_log::record_execution(
        app.db(),
        &rulebook::store::execution_log::NewExecution {
            account_id: OTHER_ACCOUNT,
            rule_id: rule,
            event_id: None,
            entity: Some(("leads".into(), THEIR_LEAD)),
            outcome: rulebook::store::execution_log::ExecutionOutcome::Error,
            verdict: domain::api::Verdict::Error,
            started_at: START_MS,
            duration_ms: 1,
            operations: 1,
            trace: json!({ "actions": [{ "status": "error", "error": MARKER }] }),
        },
    )
    .await
    .expect("record");
    // A launch of their rule on their lead.
    let launch = app
        .send_json(
            axum::http::Method::POST,
            &format!("/api/v1/rules/{rule}/run"),
            OTHER_ADMIN,
            &json!({ "entity_type": "leads", "entity_ids": [THEIR_LEAD] }),
        )
        .await
        .expect(StatusCode::ACCEPTED)["launch_id"]
        .as_i64()
        .expect("launch id");
    Theirs {
        rule,
        variable,
        dead_job,
        link,
        receiver,
        request,
        launch,
    }
}

/// The other account's state, to compare before and after.
async fn their_state(app: &TestApp, theirs: &Theirs) -> Value {
    json!({
        "rule": app.get_rule(OTHER_ADMIN, theirs.rule).await.expect(StatusCode::OK),
        "variable": app.get_variable(OTHER_ADMIN, &theirs.variable).await.expect(StatusCode::OK),
        "jobs": app.entity_jobs(OTHER_ADMIN, "leads", THEIR_LEAD).await.expect(StatusCode::OK),
        "dead": app.get("/api/v1/jobs/dead", OTHER_ADMIN).await.expect(StatusCode::OK),
        "hooks": app.hook_urls(OTHER_ADMIN).await.expect(StatusCode::OK),
        "links": app.get("/api/v1/links", OTHER_ADMIN).await.expect(StatusCode::OK),
        "keys": app.get("/api/v1/inbound-keys", OTHER_ADMIN).await.expect(StatusCode::OK),
        "receivers": app.get("/api/v1/receivers", OTHER_ADMIN).await.expect(StatusCode::OK),
        "requests": app
            .get(&format!("/api/v1/receivers/{}/requests", theirs.receiver), OTHER_ADMIN)
            .await
            .expect(StatusCode::OK),
        "runs": app.get(&format!("/api/v1/entities/leads/{THEIR_LEAD}/runs"), OTHER_ADMIN).await.expect(StatusCode::OK),
        "rule_stats": app.get("/api/v1/rules/stats", OTHER_ADMIN).await.expect(StatusCode::OK),
        "launch": app.get(&format!("/api/v1/launches/{}", theirs.launch), OTHER_ADMIN).await.expect(StatusCode::OK),
    })
}

/// The route's path with each parameter filled from `ids`; panics, naming the route, on a parameter
/// this test does not know yet.
fn fill(route: &Route, ids: &Theirs) -> String {
    let resource = route.path.split('/').nth(3).unwrap_or_default();
    route
        .path
        .split('/')
        .map(|segment| match segment {
            "{id}" if resource == "rules" => ids.rule.to_string(),
            "{id}" if resource == "jobs" => ids.dead_job.to_string(),
            "{id}" if resource == "links" => ids.link.to_string(),
            "{id}" if resource == "receivers" => ids.receiver.to_string(),
            "{id}" if resource == "launches" => ids.launch.to_string(),
            "{request_id}" => ids.request.to_string(),
            "{job_id}" => ids.dead_job.to_string(),
            "{name}" => ids.variable.clone(),
            "{version}" => "1".into(),
            "{entity_type}" => "leads".into(),
            "{entity_id}" => THEIR_LEAD.to_string(),
            s if s.starts_with('{') => panic!(
                "{} {}: teach the tenancy test what {s} names",
                route.verb.as_str(),
                route.path
            ),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A body the route would accept from its own account, so that only ownership can refuse it.
fn body_for(route: &Route, ids: &Theirs) -> Value {
    let tail = route.path.rsplit('/').next().unwrap_or_default();
    match (route.verb, tail) {
        (Verb::Put, "{id}") if route.path.starts_with("/api/v1/links/") => json!({
            "rule_id": ids.rule, "name": "ours"
        }),
        (Verb::Put, "{id}") if route.path.starts_with("/api/v1/receivers/") => json!({
            "name": "ours"
        }),
        (Verb::Put, "{id}") | (Verb::Post, "rules") => json!({
            "name": "ours", "rule": rule_json("ours")
        }),
        (Verb::Put, "{name}") => json!({ "value": "overwritten" }),
        (Verb::Post, "run") => json!({ "entity_type": "leads", "entity_ids": [THEIR_LEAD] }),
        (Verb::Post, "dry-run") if !route.path.contains("{id}") => json!({
            "rule": rule_json("ours"), "entity_id": THEIR_LEAD, "entity_type": "lead"
        }),
        (Verb::Post, "replay") if !route.path.contains("{id}") => json!({
            "rule": rule_json("ours"), "event_id": ids.dead_job
        }),
        (Verb::Post, "dry-run") => json!({ "entity_id": THEIR_LEAD, "entity_type": "lead" }),
        (Verb::Post, "replay") => json!({ "event_id": ids.dead_job }),
        (Verb::Post, "links") if route.path == "/api/v1/links" => json!({
            "rule_id": ids.rule, "name": "ours", "target_url": "https://example.com/"
        }),
        (Verb::Put, "position") => json!({ "position": 0 }),
        (Verb::Post, "import") => json!({
            "format": "rulebook.rules", "format_version": 1, "account_id": OTHER_ACCOUNT,
            "rules": [{ "name": "ours", "rule": rule_json("ours") }]
        }),
        (Verb::Post, "links") => json!({ "name": "ours", "target_url": "https://example.com/" }),
        (Verb::Post, "receivers") => json!({ "name": "ours" }),
        _ => json!({}),
    }
}

fn method(verb: Verb) -> Method {
    match verb {
        Verb::Get => Method::GET,
        Verb::Post | Verb::Any => Method::POST,
        Verb::Put => Method::PUT,
        Verb::Delete => Method::DELETE,
    }
}

fn user_routes() -> Vec<Route> {
    rulebook::http::routes()
        .into_iter()
        .filter(|r| {
            matches!(
                r.access,
                Access::Member | Access::MemberAction | Access::Admin
            )
        })
        .collect()
}

async fn no_route_reaches_another_accounts_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let theirs = given_another_accounts_data(&app).await;
    let before = their_state(&app, &theirs).await;
    assert!(
        before["runs"].to_string().contains(MARKER),
        "their lead's run is there to be hidden: {before}"
    );

    let routes = user_routes();
    assert!(routes.len() >= 15, "the table lists the API: {routes:?}");
    for route in &routes {
        let path = fill(route, &theirs);
        let answer = app
            .send_json(method(route.verb), &path, ADMIN, &body_for(route, &theirs))
            .await;
        // Ids are theirs. A name is a key in each account's own namespace (a PUT under their name
        // creates our own): no answer shows their value, and their state is compared at the end.
        let names_theirs = route.path.contains("{id}");
        if names_theirs {
            assert_eq!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{} {path} with the other account's id: {}",
                route.verb.as_str(),
                answer.body
            );
        }
        assert!(
            !answer.body.to_string().contains(MARKER) && !answer.body.to_string().contains("777"),
            "{} {path} shows the other account's data: {}",
            route.verb.as_str(),
            answer.body
        );
    }
    assert_eq!(
        their_state(&app, &theirs).await,
        before,
        "the other account's data is unchanged"
    );
}

async fn every_change_is_refused_to_a_member(backend: Backend) {
    let app = spawn_app(backend).await;
    // Our own rule, variable and jobs: only the member's rights can refuse.
    let ours = Theirs {
        rule: app.given_a_rule("ours").await,
        variable: "our_variable".into(),
        dead_job: 1,
        link: 1,
        receiver: 1,
        request: 1,
        launch: 1,
    };
    app.put_variable(ADMIN, &ours.variable, "kept")
        .await
        .expect(StatusCode::OK);

    for route in rulebook::http::routes() {
        assert!(
            route.verb == Verb::Get || route.access != Access::Member,
            "{} {} changes something but is open to every member; make it Admin, or \
             MemberAction if every user may do it",
            route.verb.as_str(),
            route.path
        );
    }
    let admin_routes: Vec<_> = user_routes()
        .into_iter()
        .filter(|r| r.access == Access::Admin)
        .collect();
    assert!(admin_routes.len() >= 8, "{admin_routes:?}");
    for route in &admin_routes {
        let path = fill(route, &ours);
        app.send_json(method(route.verb), &path, MEMBER, &body_for(route, &ours))
            .await
            .expect_problem(StatusCode::FORBIDDEN, "admin_required");
    }
    assert_eq!(
        app.get_variable(MEMBER, &ours.variable)
            .await
            .expect(StatusCode::OK)["value"],
        "kept"
    );
    app.get_rule(MEMBER, ours.rule).await.expect(StatusCode::OK);
}

async fn every_user_route_wants_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let ours = Theirs {
        rule: app.given_a_rule("ours").await,
        variable: "v".into(),
        dead_job: 1,
        link: 1,
        receiver: 1,
        request: 1,
        launch: 1,
    };
    for route in user_routes() {
        let path = fill(&route, &ours);
        app.send(method(route.verb), &path, None, None, None, &[])
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "token_missing");
    }
}
