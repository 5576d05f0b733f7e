//! Config export and import: a round trip into an empty data dir, keys sealed with a
//! passphrase, a wrong passphrase, the import plan, and refusals.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_control::transfer::{self, Change, Export, Import, TransferError};
use switchboard_mock_upstream::Dialect as MockDialect;
use switchboard_router::Secret;

use crate::common::*;

const KEY_A: &str = "sk-export-key-aaaaaaaaaaaa";
const KEY_B: &str = "sk-export-key-bbbbbbbbbbbb";
const PASS: &str = "correct horse battery staple";

fn source(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    provider_toml("mock", mock, &[KEY_A, KEY_B])
        + "[[routes]]\nalias = \"gpt-5.5\"\nstrategy = \"round_robin\"\n\
           targets = [{ provider = \"mock\", model = \"deepseek-chat\" }]\n\n\
           [[routes]]\nalias = \"small\"\ntargets = [{ provider = \"mock\", model = \"mini\", weight = 3 }]\n"
}

async fn empty() -> Sb {
    Sb::start(|_| String::new()).await
}

async fn post(sb: &Sb, path: &str, body: Value) -> (u16, Value) {
    sb.admin(Method::POST, path, Some(body)).await
}

fn names(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn export_then_import_into_an_empty_data_dir_reproduces_providers_and_routes() {
    let from = Sb::start(source).await;
    let (status, exported) = post(&from, "/api/v1/config/export", json!({})).await;
    assert_eq!(status, 200, "{exported}");
    let text = serde_json::to_string(&exported["export"]).unwrap();
    assert!(!text.contains(KEY_A) && !text.contains(KEY_B), "no secrets");
    assert!(exported["export"].get("sealed").is_none());
    assert!(exported["token"].as_str().unwrap().starts_with("sbx1."));

    let to = empty().await;
    // The plan lists everything as added and the keys as needing their secret.
    let (status, plan) = post(
        &to,
        "/api/v1/config/import/plan",
        json!({ "data": text.clone() }),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["providers"][0]["name"], "mock");
    assert_eq!(plan["providers"][0]["change"], "added");
    assert_eq!(names(&plan["routes"], "name"), ["gpt-5.5", "small"]);
    assert!(
        plan["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["change"] == "needs_secret"),
        "{plan}"
    );
    assert!(
        to.get("/api/v1/providers")
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "planning writes nothing"
    );

    let (status, applied) = post(
        &to,
        "/api/v1/config/import/apply",
        json!({ "data": exported["token"] }),
    )
    .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(
        to.get("/api/v1/providers").await,
        from.get("/api/v1/providers").await
    );
    assert_eq!(
        to.get("/api/v1/routes").await,
        from.get("/api/v1/routes").await
    );
    assert_eq!(
        to.get("/api/v1/settings").await,
        from.get("/api/v1/settings").await
    );
    // Without secrets the keys are listed, not silently created or dropped.
    assert!(to.get("/api/v1/keys").await.as_array().unwrap().is_empty());

    // Importing the same export again changes nothing.
    let (_, again) = post(&to, "/api/v1/config/import/plan", json!({ "data": text })).await;
    assert_eq!(again["providers"][0]["change"], "unchanged");
    assert_eq!(again["routes"][0]["change"], "unchanged");
}

#[tokio::test]
async fn keys_round_trip_with_a_passphrase_and_serve_requests() {
    let from = Sb::start(source).await;
    let (status, exported) = post(
        &from,
        "/api/v1/config/export",
        json!({ "with_secrets": true, "passphrase": PASS }),
    )
    .await;
    assert_eq!(status, 200, "{exported}");
    let text = serde_json::to_string(&exported["export"]).unwrap();
    assert!(
        !text.contains(KEY_A) && !text.contains(KEY_B),
        "secrets are sealed, never in clear"
    );
    assert_eq!(exported["export"]["sealed"]["kdf"]["alg"], "argon2id");
    assert_eq!(exported["export"]["sealed"]["cipher"], "xchacha20-poly1305");

    let to = empty().await;
    let (status, plan) = post(
        &to,
        "/api/v1/config/import/plan",
        json!({ "data": text, "passphrase": PASS }),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    assert!(
        plan["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["change"] == "added"),
        "{plan}"
    );
    let (status, _) = post(
        &to,
        "/api/v1/config/import/apply",
        json!({ "data": exported["token"], "passphrase": PASS }),
    )
    .await;
    assert_eq!(status, 200);
    let keys = to.get("/api/v1/keys").await;
    let want = from.get("/api/v1/keys").await;
    let strip = |v: &Value| -> Vec<(Value, Value, Value)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["label"].clone(),
                    k["fingerprint"].clone(),
                    k["last4"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(strip(&keys), strip(&want));

    // Requests through the imported router reach the mock with the imported keys: the first
    // key, then (with the first switched off) the second.
    from.mock.reset();
    let resp = to.chat("gpt-5.5").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let first = keys[0]["id"].as_i64().unwrap();
    let (status, _) = to
        .admin(
            Method::PATCH,
            &format!("/api/v1/keys/{first}"),
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(status, 200);
    let resp = to.chat("gpt-5.5").await;
    assert_eq!(resp.status(), 200);
    let seen: Vec<String> = from
        .mock
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(seen, [format!("Bearer {KEY_A}"), format!("Bearer {KEY_B}")]);
}

#[tokio::test]
async fn a_wrong_passphrase_fails_clearly_and_changes_nothing() {
    let from = Sb::start(source).await;
    let (_, exported) = post(
        &from,
        "/api/v1/config/export",
        json!({ "with_secrets": true, "passphrase": PASS }),
    )
    .await;
    let to = empty().await;
    for path in ["/api/v1/config/import/plan", "/api/v1/config/import/apply"] {
        let (status, body) = post(
            &to,
            path,
            json!({ "data": exported["token"], "passphrase": "not the passphrase" }),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            body["error"]["message"],
            "wrong passphrase or corrupted export"
        );
        let (status, body) = post(&to, path, json!({ "data": exported["token"] })).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("passphrase"),
            "{body}"
        );
    }
    assert!(
        to.get("/api/v1/providers")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        to.get("/api/v1/routes")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(to.get("/api/v1/keys").await.as_array().unwrap().is_empty());

    // A flipped byte in the ciphertext is refused the same way.
    let mut export: Export = serde_json::from_value(exported["export"].clone()).unwrap();
    let sealed = export.sealed.as_mut().unwrap();
    let mut c: Vec<char> = sealed.ciphertext.chars().collect();
    c[4] = if c[4] == 'A' { 'B' } else { 'A' };
    sealed.ciphertext = c.into_iter().collect();
    let err = Import::open(export, Some(&Secret::new(PASS))).unwrap_err();
    assert!(matches!(err, TransferError::WrongPassphrase), "{err}");
}

#[tokio::test]
async fn the_plan_lists_changes_and_import_keeps_what_the_export_lacks() {
    let from = Sb::start(source).await;
    let export = from.handle().control().export(None).await.unwrap();

    // The target already has the same provider with another priority, one of its keys,
    // and a route of its own.
    let to = Sb::start(|mock| {
        let mut t = provider_toml("mock", mock, &[KEY_A]);
        t = t.replace("keys =", "priority = 5\nkeys =");
        t + "[[routes]]\nalias = \"mine\"\ntargets = [{ provider = \"mock\", model = \"x\" }]\n"
    })
    .await;
    let (_, key) = to.admin(Method::GET, "/api/v1/keys", None).await;
    let id = key[0]["id"].as_i64().unwrap();
    let (status, _) = to
        .admin(
            Method::PATCH,
            &format!("/api/v1/keys/{id}"),
            Some(json!({ "weight": 7 })),
        )
        .await;
    assert_eq!(status, 200);

    let import = Import::open(export.clone(), None).unwrap();
    let plan = to.handle().control().plan_import(&import).await.unwrap();
    let provider = &plan.providers[0];
    assert_eq!(provider.change, Change::Changed);
    assert!(
        provider.fields.contains(&"base_url".to_owned()),
        "{provider:?}"
    );
    assert!(
        provider.fields.contains(&"priority".to_owned()),
        "{provider:?}"
    );
    // The key both sides have is matched by fingerprint (its weight changes); the other needs
    // its secret.
    assert_eq!(plan.keys[0].change, Change::Changed);
    assert_eq!(plan.keys[0].fields, ["weight"]);
    assert_eq!(plan.keys[1].change, Change::NeedsSecret);
    assert_eq!(plan.needs_secret().count(), 1);
    let mine = plan.routes.iter().find(|r| r.name == "mine").unwrap();
    assert_eq!(mine.change, Change::Kept);
    assert!(plan.has_changes());

    // The provider here is pointed at another server: shown, and not applied unconfirmed.
    assert_eq!(plan.host_changes.len(), 1, "{:?}", plan.host_changes);
    let hc = &plan.host_changes[0];
    assert_eq!(hc.provider, "mock");
    assert_eq!(
        (hc.from.as_str(), hc.to.as_str()),
        (
            transfer::origin(&to.mock.base_url(MockDialect::OpenAiChat)).as_str(),
            transfer::origin(&from.mock.base_url(MockDialect::OpenAiChat)).as_str()
        )
    );
    assert_ne!(hc.from, hc.to);
    let before = to.handle().control().providers().await.unwrap();
    let err = to
        .handle()
        .control()
        .import(&import, false)
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::HostsNotConfirmed(_)), "{err}");
    assert!(err.to_string().contains(&hc.to), "{err}");
    let (status, body) = to
        .admin(
            Method::POST,
            "/api/v1/config/import/apply",
            Some(json!({ "data": export.to_json() })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&hc.to),
        "{body}"
    );
    assert_eq!(
        to.handle().control().providers().await.unwrap(),
        before,
        "nothing written"
    );

    let applied = to.handle().control().import(&import, true).await.unwrap();
    assert_eq!(applied, plan);
    let store = to.handle().control().store();
    assert_eq!(
        store.list_routes().await.unwrap().len(),
        3,
        "nothing deleted"
    );
    assert_eq!(store.list_keys(None).await.unwrap()[0].weight, 1);
    assert_eq!(
        store.list_providers().await.unwrap(),
        from.handle()
            .control()
            .store()
            .list_providers()
            .await
            .unwrap()
    );
    let after = to.handle().control().plan_import(&import).await.unwrap();
    assert!(!after.has_changes(), "{after:?}");
}

#[test]
fn unknown_versions_and_foreign_documents_are_refused() {
    let doc = json!({
        "format": "switchboard-export", "version": 2, "exported_at": "x",
        "providers": [], "keys": [], "routes": [], "settings": {}
    });
    let err = Export::parse(&doc.to_string()).unwrap_err();
    assert!(
        matches!(err, TransferError::UnsupportedVersion { found: 2 }),
        "{err}"
    );
    assert!(err.to_string().contains("version 2"));

    let err = Export::parse("{\"hello\": 1}").unwrap_err();
    assert!(matches!(err, TransferError::NotAnExport(_)), "{err}");
    let err = Export::parse("sbx9.abc").unwrap_err();
    assert!(matches!(err, TransferError::NotAnExport(_)), "{err}");

    let mut doc = doc;
    doc["version"] = json!(1);
    doc["surprise"] = json!(true);
    let err = Export::parse(&doc.to_string()).unwrap_err();
    assert!(
        err.to_string().contains("surprise"),
        "unknown fields are not dropped: {err}"
    );

    doc.as_object_mut().unwrap().remove("surprise");
    let export = Export::parse(&doc.to_string()).unwrap();
    let again = Export::parse(&export.to_token()).unwrap();
    assert_eq!(again.to_json(), export.to_json());
}
