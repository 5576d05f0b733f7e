//! Configuration edits: each one lands in the store and in the engine's snapshot (or its
//! policy) together, and survives a restart.

use serde_json::json;
use switchboard_control::ControlError;
use switchboard_router::health::CooldownPolicy;
use switchboard_router::{Route, Settings};

use crate::common::*;

const DEAD: &str = "http://127.0.0.1:9/v1";

#[tokio::test]
async fn every_edit_reaches_the_snapshot_and_the_store() {
    let mut ctl = Ctl::start().await;
    let c = ctl.control.clone();
    ctl.provider("p1", DEAD).await;
    assert!(c.engine().snapshot().providers.contains_key("p1"));
    let k = ctl.key("p1", "sk-a-000000000000").await;
    assert_eq!(c.engine().snapshot().providers["p1"].keys.len(), 1);

    let route: Route = serde_json::from_value(json!({
        "alias": "m", "targets": [{"provider": "p1", "model": "x"}],
    }))
    .unwrap();
    c.put_route(route).await.unwrap();
    assert!(c.engine().snapshot().routes.contains_key("m"));
    let bad: Route = serde_json::from_value(json!({
        "alias": "n", "targets": [{"provider": "nope", "model": "x"}],
    }))
    .unwrap();
    match c.put_route(bad).await {
        Err(ControlError::Invalid { field, .. }) => assert_eq!(field, "targets[0].provider"),
        other => panic!("{other:?}"),
    }

    let settings = Settings {
        attempt_budget: 0,
        ..Settings::default()
    };
    assert!(matches!(
        c.put_settings(settings).await,
        Err(ControlError::Invalid { .. })
    ));
    let settings = Settings {
        attempt_budget: 2,
        ..Settings::default()
    };
    c.put_settings(settings.clone()).await.unwrap();
    assert_eq!(c.engine().snapshot().settings.attempt_budget, 2);

    let policy = CooldownPolicy {
        rate_limited_ms: 1_234,
        ..CooldownPolicy::default()
    };
    c.put_cooldowns(policy).await.unwrap();
    assert_eq!(c.cooldowns(), policy);
    c.set_routing(false).await.unwrap();
    c.set_listening(false).await.unwrap();

    ctl.restart().await;
    let c = ctl.control.clone();
    assert_eq!(c.cooldowns(), policy, "the policy is read back at start");
    assert!(!c.routing_enabled());
    assert_eq!(c.stored_listening().await.unwrap(), Some(false));
    assert_eq!(c.settings().await.unwrap(), settings);
    assert_eq!(c.key_views(None)[0].key.id, k.id);

    c.delete_route("m").await.unwrap();
    assert!(!c.engine().snapshot().routes.contains_key("m"));
    c.delete_key(k.id).await.unwrap();
    assert!(c.key_views(None).is_empty());
    assert!(matches!(c.route_plan("m"), Err(ControlError::NotFound(_))));
    ctl.stop().await;
}

/// Model discovery reads the list through the engine's pooled clients and keeps manual
/// entries; an unreachable provider is an upstream error, not a crash or a config change.
#[tokio::test]
async fn discovery_merges_the_model_list_and_reports_an_unreachable_provider() {
    let mut ctl = Ctl::start().await;
    let mock = switchboard_mock_upstream::MockUpstream::start()
        .await
        .unwrap();
    let base = mock.base_url(switchboard_mock_upstream::Dialect::OpenAiChat);
    let mut p = ctl.provider("p1", &base).await;
    p.models = serde_json::from_value(json!([{ "id": "mine", "source": "manual" }])).unwrap();
    ctl.control.put_provider(p).await.unwrap();
    assert!(
        matches!(
            ctl.control.discover_models("p1").await,
            Err(ControlError::Invalid { .. })
        ),
        "no key to list with"
    );
    ctl.key("p1", "sk-a-000000000000").await;

    let found = ctl.control.discover_models("p1").await.unwrap();
    assert_eq!(found.models[0].id, "mine", "manual entries first, kept");
    assert!(found.models.len() > 1, "{:?}", found.models);
    assert_eq!(
        mock.requests().last().map(|r| r.path.clone()).as_deref(),
        Some("/v1/models")
    );
    assert_eq!(ctl.control.provider("p1").await.unwrap(), found, "stored");
    assert!(
        ctl.control
            .engine()
            .snapshot()
            .model_names()
            .iter()
            .any(|(m, _)| m == &found.models[1].id),
        "and routable"
    );

    ctl.provider("dead", DEAD).await;
    ctl.key("dead", "sk-b-000000000000").await;
    assert!(matches!(
        ctl.control.discover_models("dead").await,
        Err(ControlError::Upstream(_))
    ));
    assert!(matches!(
        ctl.control.discover_models("nope").await,
        Err(ControlError::NotFound(_))
    ));
    ctl.stop().await;
}

#[tokio::test]
async fn a_provider_pointing_at_this_router_is_refused() {
    let ctl = Ctl::start().await;
    let own: std::net::SocketAddr = "127.0.0.1:4141".parse().unwrap();
    ctl.control.set_listen_addr(own);
    for url in ["http://127.0.0.1:4141/v1", "http://localhost:4141/v1"] {
        let p: switchboard_router::Provider = serde_json::from_value(serde_json::json!({
            "name": "self", "kind": "openai_chat", "base_url": url,
        }))
        .unwrap();
        match ctl.control.put_provider(p).await {
            Err(switchboard_control::ControlError::Invalid { field, message }) => {
                assert_eq!(field, "base_url");
                assert!(message.contains("127.0.0.1:4141"), "{message}");
            }
            other => panic!("{url} was accepted: {other:?}"),
        }
    }
    assert!(ctl.control.providers().await.unwrap().is_empty());
    // Another port on the same host is another server.
    ctl.provider("other", "http://127.0.0.1:4142/v1").await;
}
