//! `herald.watch`: the condition is one expression over `new`/`old` and nothing else, and what
//! fires is fixed when the watch is made.

use tokio_postgres::Client;

use crate::harness::{count, unwatch_batches, value, TestDb, BATCH_TRIGGERS};

async fn setup(c: &Client) {
    c.batch_execute(
        "create table public.canary (x int);
         insert into public.canary values (1);
         create table public.batches (
             id       uuid primary key default gen_random_uuid(),
             owner_id uuid not null,
             status   text not null default 'running'
         );
         insert into public.batches (owner_id) values (gen_random_uuid());
         insert into herald.event_types (name, scope) values ('batch.completed', 'own');",
    )
    .await
    .expect("set up");
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_owned()).unwrap_or_default()
}

fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| e.to_string())
}

const WATCH: &str = "select herald.watch('public.batches', 'batch.completed', on_op => 'update',
                         condition => $1, user_column => 'owner_id')";

#[tokio::test]
async fn watch_refuses_injections_and_runs_none_of_them() {
    let (_db, c) = TestDb::with_client().await;
    setup(&c).await;
    // (condition, what the refusal mentions)
    let cases = [
        // The injection found by the probe: close the expression, run a statement, comment out
        // the rest.
        (
            "true); drop table public.canary; select 1 --",
            "unbalanced \")\"",
        ),
        // A second statement after a complete expression.
        ("true; drop table public.canary", "\";\""),
        // A comment hiding what follows (here the closing parenthesis Herald adds).
        (
            "true /* drop table public.canary",
            "comments are not allowed",
        ),
        ("true -- and the rest", "comments are not allowed"),
        // A subquery reading another table.
        (
            "(select count(*) from public.canary) > 0",
            "may not contain a subquery",
        ),
        ("exists (table public.canary)", "may not contain a subquery"),
        // Dollar quoting, which could carry a statement past a naive check.
        (
            "new.status = $x$ $x$; drop table public.canary; --",
            "dollar quoting",
        ),
        // An escape string whose \' must not be taken for the end of the string.
        (
            r"new.status = E'\\'; drop table public.canary; --'",
            "\";\"",
        ),
        // A condition that is not boolean, or reaches a table that is not new/old.
        ("new.status", "must be type boolean"),
        ("public.canary.x = 1", "missing FROM-clause entry"),
    ];
    for (condition, mentions) in cases {
        let err = c.execute(WATCH, &[&condition]).await.expect_err(condition);
        assert!(
            ["42601", "22023"].contains(&sqlstate(&err).as_str()),
            "{condition}: {} {}",
            sqlstate(&err),
            message(&err)
        );
        assert!(
            message(&err).contains(mentions),
            "{condition}: {:?} should mention {mentions:?}",
            message(&err)
        );
    }
    // Nothing ran, nothing was left behind, and the table works as before.
    assert_eq!(count(&c, "select count(*) from public.canary").await, 1);
    assert_eq!(count(&c, "select count(*) from herald.watches").await, 0);
    assert_eq!(count(&c, BATCH_TRIGGERS).await, 0);
    c.batch_execute("update public.batches set status = 'completed'")
        .await
        .expect("the watched table keeps working");
    assert_eq!(count(&c, "select count(*) from herald.events").await, 0);
}

#[tokio::test]
async fn watch_reads_strings_as_postgres_does_whatever_the_session_settings() {
    let (_db, c) = TestDb::with_client().await;
    setup(&c).await;
    // With standard_conforming_strings off, '\' would escape the quote and the rest would be
    // SQL. herald.watch reads (and its trigger runs) the condition with it on, so this is the
    // comparison with one string it looks like, and nothing else.
    c.batch_execute("set standard_conforming_strings = off")
        .await
        .expect("set");
    let condition = r"new.status <> '\' || '); drop table public.canary; select ('";
    c.execute(WATCH, &[&condition])
        .await
        .expect("a harmless string");
    c.batch_execute("update public.batches set status = 'completed'")
        .await
        .expect("update fires the watch");
    assert_eq!(count(&c, "select count(*) from public.canary").await, 1);
    assert_eq!(count(&c, "select count(*) from herald.events").await, 1);
}

#[tokio::test]
async fn watch_tampering_with_the_record_changes_nothing_that_fires() {
    let (_db, c) = TestDb::with_client().await;
    setup(&c).await;
    c.execute(WATCH, &[&"new.status = 'completed'"])
        .await
        .expect("watch");
    // Whoever can write herald.watches changes only the record.
    c.batch_execute(
        "update herald.watches
            set condition = 'true); drop table public.canary; --', event_type = 'nope',
                user_column = 'nope', on_op = 'insert', trigger_function = 'pg_sleep'",
    )
    .await
    .expect("tamper");
    c.batch_execute("update public.batches set status = 'completed'")
        .await
        .expect("update");
    c.batch_execute("delete from herald.watches")
        .await
        .expect("forget the record");
    c.batch_execute("update public.batches set status = 'running'; insert into public.batches (owner_id, status) values (gen_random_uuid(), 'completed')")
        .await
        .expect("more writes");
    c.batch_execute("update public.batches set status = 'completed' where status = 'running'")
        .await
        .expect("complete again");
    assert_eq!(count(&c, "select count(*) from public.canary").await, 1);
    // Exactly what the watch said: one event per update to completed, none for inserts.
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.events where event_type = 'batch.completed'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn watch_names_differing_by_a_dot_or_past_63_characters_do_not_collide() {
    let (_db, c) = TestDb::with_client().await;
    setup(&c).await;
    let long = "a".repeat(70);
    let types = [
        "batch.completed".to_owned(),
        "batch_completed".to_owned(),
        format!("{long}.one"),
        format!("{long}.two"),
    ];
    for t in &types {
        c.execute(
            "insert into herald.event_types (name, scope) values ($1, 'own') on conflict do nothing",
            &[t],
        )
        .await
        .expect("register");
        let watch =
            "select herald.watch('public.batches', $1, on_op => 'update', user_column => 'owner_id')";
        let trigger: String = value(&c, watch, &[t]).await;
        assert!(trigger.len() <= 63, "{trigger}");
    }
    assert_eq!(count(&c, "select count(*) from herald.watches").await, 4);
    c.batch_execute("update public.batches set status = 'completed'")
        .await
        .expect("update");
    for t in &types {
        let n: i64 = value(
            &c,
            "select count(*) from herald.events where event_type = $1",
            &[t],
        )
        .await;
        assert_eq!(n, 1, "{t} fired once");
    }
    // Unwatching one leaves the others.
    assert!(unwatch_batches(&c, &types[1]).await);
    c.batch_execute("update public.batches set status = 'done'")
        .await
        .expect("update again");
    assert_eq!(count(&c, "select count(*) from herald.events").await, 7);
}

#[tokio::test]
async fn watch_refuses_a_trigger_name_the_application_already_uses() {
    let (_db, c) = TestDb::with_client().await;
    setup(&c).await;
    let names =
        "select trigger_name from herald.watch_names('public.batches', 'batch.completed', 'update')";
    let name: String = value(&c, names, &[]).await;
    c.batch_execute(&format!(
        "create function public.mine() returns trigger language plpgsql as $$begin return null; end$$;
         create trigger {name} after update on public.batches for each statement execute function public.mine();"
    ))
    .await
    .expect("the application's own trigger");
    let err = c.execute(WATCH, &[&"true"]).await.expect_err("name taken");
    assert_eq!(sqlstate(&err), "42710", "{}", message(&err));
    assert!(
        message(&err).contains("not this watch"),
        "{}",
        message(&err)
    );
}
