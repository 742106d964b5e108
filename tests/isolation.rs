//! Tenants that cannot cross, tried as an attacker holding organization A's
//! login would: whatever SQL it sends, B's rows stay invisible and
//! untouchable. Also the least-privilege load, and what `org grant` refuses.

mod common;

use common::*;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// A login role for this test, dropped at the end.
struct Login {
    name: String,
}

async fn login(pool: &PgPool, tag: &str) -> Login {
    let name = common::test_login_name(&format!("iso_{tag}"));
    sqlx::query(&format!("CREATE ROLE {name} LOGIN"))
        .execute(pool)
        .await
        .unwrap();
    Login { name }
}

/// The test database's URL, connecting as `user`.
fn url_as(pool: &PgPool, user: &str) -> String {
    url_of(pool).replacen("://postgres@", &format!("://{user}@"), 1)
}

async fn load_sample(url: &str, file: &str, org: Option<&str>) -> std::process::Output {
    let mut args = vec!["load", file, "--json"];
    if let Some(org) = org {
        args.extend(["--org", org]);
    }
    molingest_async(url, &args).await
}

async fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_tenant_login_cannot_reach_another_tenant_by_any_sql(pool: PgPool) {
    let a = molingest::db::add_org(&pool, "a").await.unwrap();
    let b = molingest::db::add_org(&pool, "b").await.unwrap();
    let admin = url_of(&pool);
    let out = load_sample(
        &admin,
        "sample_data/meeko__example__tutorial1__imatinib.sdf",
        Some("a"),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = load_sample(
        &admin,
        "sample_data/meeko__test__macrocycle_data__vancomycin.sdf",
        Some("b"),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let la = login(&pool, "a").await;
    molingest::db::grant_org(&pool, "a", &la.name)
        .await
        .unwrap();

    let mut c = PgConnection::connect(&url_as(&pool, &la.name))
        .await
        .unwrap();
    let b_rows = format!("SELECT count(*) FROM molecules WHERE organization_id = '{b}'");
    // SELECT: own rows only.
    assert_eq!(count(&mut c, "SELECT count(*) FROM molecules").await, 2);
    assert_eq!(count(&mut c, &b_rows).await, 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM organizations").await, 1);
    // INSERT for B: refused.
    let err = sqlx::query(&format!(
        "INSERT INTO molecules (organization_id, name, content_hash)
         VALUES ('{b}', 'intruder', decode(repeat('ab', 32), 'hex'))"
    ))
    .execute(&mut c)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    // UPDATE and DELETE of B's rows: nothing to touch.
    let n = sqlx::query(&format!(
        "UPDATE molecules SET name = 'x' WHERE organization_id = '{b}'"
    ))
    .execute(&mut c)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(n, 0);
    // DELETE: refused outright (a tenant holds no DELETE grant, which would
    // let it lock the shared tables; tests/availability.rs).
    let err = sqlx::query(&format!(
        "DELETE FROM molecules WHERE organization_id = '{b}'"
    ))
    .execute(&mut c)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    // COPY straight into the table: refused.
    assert!(c
        .copy_in_raw("COPY molecules (organization_id, name, content_hash) FROM STDIN")
        .await
        .is_err());
    // The old setting means nothing now.
    sqlx::query(&format!(
        "SELECT set_config('app.current_org_id', '{b}', false)"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    assert_eq!(count(&mut c, &b_rows).await, 0);
    // SET ROLE to B's role: refused; to the tenant group: no organization at all.
    let err = sqlx::query(&format!("SET ROLE {}", molingest::db::org_role(b)))
        .execute(&mut c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    sqlx::query("SET ROLE molingest_app")
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM molecules").await, 0);
    sqlx::query("RESET ROLE").execute(&mut c).await.unwrap();
    // Functions and views: no CREATE in public; temporary ones run as A.
    let err = sqlx::query(
        "CREATE FUNCTION public.peek() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'",
    )
    .execute(&mut c)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    sqlx::query(&format!(
        "CREATE FUNCTION pg_temp.peek() RETURNS bigint LANGUAGE sql SECURITY DEFINER
         AS $$ SELECT count(*) FROM public.molecules WHERE organization_id = '{b}' $$"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    assert_eq!(count(&mut c, "SELECT pg_temp.peek()").await, 0);
    sqlx::query("CREATE TEMP VIEW everything AS SELECT * FROM molecules")
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(
        count(
            &mut c,
            &format!("SELECT count(*) FROM everything WHERE organization_id = '{b}'")
        )
        .await,
        0
    );
    // Audit rows and properties of B: neither readable nor writable.
    assert!(sqlx::query(&format!(
        "INSERT INTO audit_log (organization_id, action) VALUES ('{b}', 'forged')"
    ))
    .execute(&mut c)
    .await
    .is_err());
    assert_eq!(
        count(
            &mut c,
            &format!("SELECT count(*) FROM molecule_properties WHERE organization_id = '{b}'")
        )
        .await,
        0
    );
    // Administrative commands are not for a tenant login.
    for args in [
        vec!["migrate"],
        vec!["org", "add", "c"],
        vec!["org", "grant", "b", la.name.as_str()],
    ] {
        let url = url_as(&pool, &la.name);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            molingest(Some(&url), &args)
        })
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("needs the administrator"),
            "{}",
            show(&out)
        );
    }
    c.close().await.unwrap();

    // The owner does not silently bypass the policies: they are forced.
    let unforced: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.oid AND attname = 'organization_id')
           AND NOT c.relforcerowsecurity
           AND c.relname <> 'audit_log'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        unforced, 0,
        "every organization-scoped table forces RLS (audit_log: written by the owner's triggers, tenants only read)"
    );

    drop_roles(
        &pool,
        &[
            &la.name,
            &molingest::db::org_role(a),
            &molingest::db::org_role(b),
        ],
    )
    .await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn another_database_of_the_cluster_is_no_way_round(pool: PgPool) {
    // Organization B lives in a second database of the same server.
    let other = format!("iso_other_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {other}"))
        .execute(&pool)
        .await
        .unwrap();
    let admin_other = url_of(&pool).rsplit_once('/').unwrap().0.to_owned() + "/" + &other;
    let other_pool = PgPool::connect(&admin_other).await.unwrap();
    molingest::db::MIGRATOR.run(&other_pool).await.unwrap();
    let b = molingest::db::add_org(&other_pool, "b").await.unwrap();
    let out = load_sample(
        &admin_other,
        "sample_data/meeko__example__tutorial1__imatinib.sdf",
        Some("b"),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let a = molingest::db::add_org(&pool, "a").await.unwrap();
    let la = login(&pool, "a").await;
    molingest::db::grant_org(&pool, "a", &la.name)
        .await
        .unwrap();
    let url = admin_other.replacen("://postgres@", &format!("://{}@", la.name), 1);
    let mut c = PgConnection::connect(&url).await.unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM molecules").await, 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM organizations").await, 0);
    let err = sqlx::query("DELETE FROM molecules")
        .execute(&mut c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    c.close().await.unwrap();
    let mut admin = PgConnection::connect(&admin_other).await.unwrap();
    let kept: i64 = {
        let mut tx = molingest::db::tenant(&mut admin, b).await.unwrap();
        let n = sqlx::query_scalar("SELECT count(*) FROM molecules")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        n
    };
    assert_eq!(kept, 2, "B's rows in the other database are untouched");
    admin.close().await.unwrap();
    other_pool.close().await;
    sqlx::query(&format!("DROP DATABASE {other} WITH (FORCE)"))
        .execute(&pool)
        .await
        .unwrap();
    drop_roles(
        &pool,
        &[
            &la.name,
            &molingest::db::org_role(a),
            &molingest::db::org_role(b),
        ],
    )
    .await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_least_privilege_login_loads_its_organization(pool: PgPool) {
    let a = molingest::db::add_org(&pool, "Acme").await.unwrap();
    let la = login(&pool, "a").await;
    let out = tokio::task::spawn_blocking({
        let (url, login) = (url_of(&pool), la.name.clone());
        move || molingest(Some(&url), &["org", "grant", "acme", &login])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // No --org: the login acts for exactly one organization.
    let out = load_sample(
        &url_as(&pool, &la.name),
        "sample_data/meeko__example__tutorial1__imatinib.sdf",
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["organization"], "Acme");
    assert_eq!(v["records_inserted"], 2);
    // After-load maintenance ran as the tenant (a failure would be a
    // notice); the one notice says why this first load is not bulk.
    let notices = v["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0]
            .as_str()
            .unwrap()
            .contains("does not own the schema"),
        "{notices:?}"
    );
    let out = load_sample(
        &url_as(&pool, &la.name),
        "sample_data/meeko__example__tutorial1__imatinib.sdf",
        Some(" ACME "),
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "names match trimmed, whatever their case: {}",
        show(&out)
    );
    let mut tx = molingest::db::tenant(&pool, a).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM molecules")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n, 2);
    // A second name differing only by case, space or an invisible character is refused.
    for name in ["acme", " ACME", "ac\u{200b}me", "ac\tme"] {
        assert!(
            molingest::db::add_org(&pool, name).await.is_err(),
            "{name:?}"
        );
    }
    drop_roles(&pool, &[&la.name, &molingest::db::org_role(a)]).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn org_grant_refuses_roles_that_would_defeat_isolation(pool: PgPool) {
    let a = molingest::db::add_org(&pool, "a").await.unwrap();
    let b = molingest::db::add_org(&pool, "b").await.unwrap();
    let sup = common::test_login_name("iso_super");
    let bypass = common::test_login_name("iso_bypass");
    sqlx::query(&format!("CREATE ROLE {sup} LOGIN SUPERUSER"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE ROLE {bypass} LOGIN BYPASSRLS"))
        .execute(&pool)
        .await
        .unwrap();
    let la = login(&pool, "a").await;
    molingest::db::grant_org(&pool, "a", &la.name)
        .await
        .unwrap();
    for (role, why) in [
        (sup.as_str(), "superuser"),
        (bypass.as_str(), "BYPASSRLS"),
        (la.name.as_str(), "another organization"),
    ] {
        let err = molingest::db::grant_org(&pool, "b", role)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(why), "{role}: {err}");
    }
    drop_roles(
        &pool,
        &[
            &sup,
            &bypass,
            &la.name,
            &molingest::db::org_role(a),
            &molingest::db::org_role(b),
        ],
    )
    .await;
}
