//! Route resolution + target order + key selection for one request, with 10, 100 and 1,000
//! keys on the provider: the cost must stay flat as key pools grow (budget: within 2× from
//! 10 to 1,000 keys), both when every key is healthy and when some are cooling down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use switchboard_router::clock::SystemClock;
use switchboard_router::health::{CooldownPolicy, HealthBoard, Outcome};
use switchboard_router::snapshot::{LatencyBook, Snapshot, order_targets, pick_key};
use switchboard_router::{Config, Key, KeyInfo, Provider, Route, Secret};

fn config(keys: usize) -> Config {
    let provider: Provider = serde_json::from_value(json!({
        "name": "pool", "kind": "openai_chat", "base_url": "http://127.0.0.1:1/v1",
        "models": [{"id": "up-model", "source": "manual"}],
    }))
    .unwrap();
    let keys = (0..keys)
        .map(|i| Key {
            info: KeyInfo {
                id: i as i64 + 1,
                provider: "pool".into(),
                label: format!("key-{i}"),
                weight: 1,
                enabled: true,
                fingerprint: String::new(),
                last4: String::new(),
                env_ref: None,
            },
            secret: Secret::new(format!("sk-bench-{i:06}")),
        })
        .collect();
    let route: Route = serde_json::from_value(json!({
        "alias": "gpt-5.5", "targets": [{"provider": "pool", "model": "up-model"}],
    }))
    .unwrap();
    Config {
        providers: vec![provider],
        keys,
        routes: vec![route],
        settings: Default::default(),
        prices: Default::default(),
        proxy_credentials: Default::default(),
        system_proxy: None,
    }
}

fn select(c: &mut Criterion) {
    for cooling in [false, true] {
        let name = if cooling {
            "route_key_cooling10"
        } else {
            "route_key_healthy"
        };
        let mut group = c.benchmark_group(name);
        for n in [10usize, 100, 1000] {
            let snap = Snapshot::build(&config(n), None);
            let health = HealthBoard::new(Arc::new(SystemClock), CooldownPolicy::default());
            if cooling {
                // Every tenth key is rate limited for this model.
                for id in (1..=n as i64).step_by(10) {
                    health.report(
                        "pool",
                        id,
                        "up-model",
                        &Outcome::RateLimited { retry_after: None },
                    );
                }
            }
            let latency = LatencyBook::default();
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| {
                    let route = snap.resolve(black_box("gpt-5.5")).unwrap();
                    let targets = order_targets(&route, &snap, &latency, false);
                    let prov = snap.providers.get(&targets[0].provider).unwrap();
                    let pick = pick_key(prov, &targets[0].model, &health, &[], None, None).unwrap();
                    black_box(pick.key.info.id)
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, select);
criterion_main!(benches);
