//! Global variables: the API, the 30,000-character limit, and atomic read-modify-write under
//! concurrency.

use axum::http::StatusCode;
use rulebook::store::variables::{self, UpdateVariableError, MAX_VARIABLE_CHARS};

use crate::helpers::{
    spawn_app, Backend, ACCOUNT, ADMIN, MEMBER, OTHER_ACCOUNT, OTHER_ADMIN, START_MS,
};

crate::on_both_databases!(
    concurrent_appends_lose_nothing,
    concurrent_counters_count_every_increment,
    a_value_over_the_limit_is_refused_and_the_old_value_kept,
    a_refused_update_changes_nothing,
    variables_are_set_read_listed_and_deleted_through_the_api,
    variables_are_per_account,
);

async fn concurrent_appends_lose_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    const WRITERS: usize = 40;

    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let db = app.db().clone();
            tokio::spawn(async move {
                variables::append_to_variable(&db, ACCOUNT, "log", &format!("<{i}>"), START_MS)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("append");
    }

    let value = variables::get_variable(app.db(), ACCOUNT, "log")
        .await
        .expect("read")
        .expect("exists")
        .value;
    for i in 0..WRITERS {
        assert_eq!(
            value.matches(&format!("<{i}>")).count(),
            1,
            "append {i} lost or doubled in {value}"
        );
    }
    assert_eq!(value.matches('<').count(), WRITERS);
}

async fn concurrent_counters_count_every_increment(backend: Backend) {
    let app = spawn_app(backend).await;
    const INCREMENTS: usize = 30;

    let tasks: Vec<_> = (0..INCREMENTS)
        .map(|_| {
            let db = app.db().clone();
            tokio::spawn(async move {
                variables::update_variable(&db, ACCOUNT, "counter", START_MS, |current| {
                    let n: i64 = current.unwrap_or("0").parse().map_err(|_| "not a number")?;
                    Ok::<_, &str>((n + 1).to_string())
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("increment");
    }

    let value = variables::get_variable(app.db(), ACCOUNT, "counter")
        .await
        .expect("read")
        .expect("exists")
        .value;
    assert_eq!(value, INCREMENTS.to_string());
}

async fn a_value_over_the_limit_is_refused_and_the_old_value_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    let exactly = "я".repeat(MAX_VARIABLE_CHARS);
    app.put_variable(ADMIN, "big", &exactly)
        .await
        .expect(StatusCode::OK);

    let refused = app
        .put_variable(ADMIN, "big", &"x".repeat(MAX_VARIABLE_CHARS + 1))
        .await;
    let appended = variables::append_to_variable(app.db(), ACCOUNT, "big", "!", START_MS).await;

    let body = refused.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(body["errors"][0]["code"], "too_long");
    assert!(appended.is_err());
    let stored = app.get_variable(MEMBER, "big").await.expect(StatusCode::OK);
    assert_eq!(
        stored["value"].as_str().map(|v| v.chars().count()),
        Some(MAX_VARIABLE_CHARS)
    );
}

async fn a_refused_update_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;

    let result = variables::update_variable(app.db(), ACCOUNT, "fresh", START_MS, |_| {
        Err::<String, _>("bad formula")
    })
    .await;
    variables::set_variable(app.db(), ACCOUNT, "kept", "1", START_MS)
        .await
        .expect("set");
    let result2 = variables::update_variable(app.db(), ACCOUNT, "kept", START_MS, |_| {
        Err::<String, _>("bad formula")
    })
    .await;

    assert!(matches!(
        result,
        Err(UpdateVariableError::Refused("bad formula"))
    ));
    assert!(matches!(result2, Err(UpdateVariableError::Refused(_))));
    assert!(variables::get_variable(app.db(), ACCOUNT, "fresh")
        .await
        .expect("read")
        .is_none());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM variables WHERE name = 'fresh'")
            .await,
        0
    );
    assert_eq!(
        variables::get_variable(app.db(), ACCOUNT, "kept")
            .await
            .expect("read")
            .expect("kept")
            .value,
        "1"
    );
}

async fn variables_are_set_read_listed_and_deleted_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;

    app.put_variable(ADMIN, "greeting", "hello")
        .await
        .expect(StatusCode::OK);
    app.put_variable(ADMIN, "greeting", "hola")
        .await
        .expect(StatusCode::OK);
    app.put_variable(ADMIN, "another", "1")
        .await
        .expect(StatusCode::OK);
    app.put_variable(MEMBER, "greeting", "nope")
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");

    assert_eq!(
        app.get_variable(MEMBER, "greeting")
            .await
            .expect(StatusCode::OK)["value"],
        "hola"
    );
    let list = app.list_variables(MEMBER).await.expect(StatusCode::OK);
    let names: Vec<_> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, vec!["another", "greeting"]);
    app.delete_variable(ADMIN, "greeting")
        .await
        .expect(StatusCode::NO_CONTENT);
    app.get_variable(ADMIN, "greeting")
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.delete_variable(ADMIN, "greeting")
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn variables_are_per_account(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_variable(ADMIN, "x", "mine")
        .await
        .expect(StatusCode::OK);
    app.put_variable(OTHER_ADMIN, "x", "theirs")
        .await
        .expect(StatusCode::OK);

    assert_eq!(
        app.get_variable(ADMIN, "x").await.expect(StatusCode::OK)["value"],
        "mine"
    );
    let theirs = variables::get_variable(app.db(), OTHER_ACCOUNT, "x")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(theirs.value, "theirs");
}
