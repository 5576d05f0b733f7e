//! Affinity at target level: a conversation stays on the provider, model and key that served
//! it under every strategy, moves only when they cool or fail, and the log says which; the
//! per-provider prompt-cache hit rate.

use serde_json::json;
use switchboard_mock_upstream::Fault;

use crate::common::*;

const A: &str = "sk-aff-a-aaaaaaaaaaaaaaaaaa";
const B: &str = "sk-aff-b-bbbbbbbbbbbbbbbbbb";

/// Two providers (one key each) behind route `m` with `strategy`; each answer reports 5
/// cached input tokens.
fn two_targets(
    strategy: &'static str,
) -> impl FnOnce(&switchboard_mock_upstream::MockUpstream) -> String {
    move |mock| {
        provider_toml("p1", mock, &[A])
            + &provider_toml("p2", mock, &[B])
            + &format!(
                "[[routes]]\nalias = \"m\"\nstrategy = \"{strategy}\"\ntargets = [\
                 {{ provider = \"p1\", model = \"x@cached=5\" }}, \
                 {{ provider = \"p2\", model = \"y@cached=5\" }}]\n"
            )
    }
}

async fn turn(sb: &Sb, conversation: &str, n: usize) -> u16 {
    sb.http
        .post(format!("{}/v1/chat/completions", sb.url))
        .bearer_auth(ACCESS)
        .header("session-id", conversation)
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": format!("turn {n} of a conversation long enough to count")}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The newest logged request's (provider, key id, affinity).
async fn last(sb: &Sb, n: usize) -> (Option<String>, Option<i64>, Option<String>) {
    let r = sb.logged(n).await.swap_remove(0);
    (r.provider, r.key_id, r.affinity)
}

#[tokio::test]
async fn a_20_turn_conversation_stays_on_one_target_and_moves_when_it_cools() {
    let sb = Sb::start(two_targets("weighted")).await;
    for n in 0..20 {
        assert_eq!(turn(&sb, "conv-1", n).await, 200);
    }
    let (a, b) = (sb.mock.count_for_key(A), sb.mock.count_for_key(B));
    assert!(
        a == 20 || b == 20,
        "one target served all 20 turns: {a} / {b}"
    );
    let rows = sb.logged(20).await;
    let first = rows.last().unwrap();
    assert_eq!(
        first.affinity, None,
        "a new conversation has nothing to keep"
    );
    assert!(
        rows[..19]
            .iter()
            .all(|r| r.affinity.as_deref() == Some("kept")
                && r.provider == first.provider
                && r.key_id == first.key_id),
        "{:?}",
        rows.iter()
            .map(|r| (&r.provider, r.key_id, &r.affinity))
            .collect::<Vec<_>>()
    );
    let (sticky, other) = if a == 20 { (A, B) } else { (B, A) };

    // A second conversation pinned to the same target (the weighted rotation alternates, so
    // one of two new conversations lands there).
    let mut same = None;
    for (i, c) in ["conv-2", "conv-3"].into_iter().enumerate() {
        let before = sb.mock.count_for_key(sticky);
        assert_eq!(turn(&sb, c, 0).await, 200);
        sb.logged(21 + i).await;
        if sb.mock.count_for_key(sticky) > before {
            same = Some(c);
        }
    }
    let same = same.expect("one new conversation landed on the sticky target");
    let mut seen = 22;

    // The sticky target rate-limits: the conversation's next turn fails there and moves.
    sb.mock.set_fault_for_key(
        sticky,
        Some("fault=429,retry_after=600".parse::<Fault>().unwrap()),
    );
    let before = sb.mock.count_for_key(sticky);
    assert_eq!(turn(&sb, "conv-1", 20).await, 200);
    seen += 1;
    let rows = sb.logged(seen).await;
    assert_eq!(rows[0].affinity.as_deref(), Some("moved: failed"));
    let outcomes: Vec<&str> = rows[0]
        .attempts
        .iter()
        .map(|a| a.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["rate_limited", "ok"]);
    assert_ne!(rows[0].provider, first.provider);
    assert_eq!(sb.mock.count_for_key(sticky), before + 1);

    // The other conversation finds its target cooling and moves without trying it.
    assert_eq!(turn(&sb, same, 1).await, 200);
    seen += 1;
    let (provider, _, affinity) = last(&sb, seen).await;
    assert_eq!(affinity.as_deref(), Some("moved: cooling"));
    assert_ne!(provider, first.provider);
    assert_eq!(
        sb.mock.count_for_key(sticky),
        before + 1,
        "the cooling key was not tried"
    );

    // Then the moved conversation stays where it went, even once the old target recovers.
    sb.mock.set_fault_for_key(sticky, None);
    let other_before = sb.mock.count_for_key(other);
    for n in 21..25 {
        assert_eq!(turn(&sb, "conv-1", n).await, 200);
        seen += 1;
        assert_eq!(last(&sb, seen).await.2.as_deref(), Some("kept"));
    }
    assert_eq!(sb.mock.count_for_key(other), other_before + 4);

    // The cache-hit rate per provider: cached input tokens over input tokens.
    let hits = sb.get("/api/v1/usage/cache-hits").await;
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    for h in hits {
        let (tin, cached) = (
            h["tokens_in"].as_f64().unwrap(),
            h["tokens_cached"].as_f64().unwrap(),
        );
        assert!(tin > 0.0 && cached > 0.0, "{h}");
        let rate = h["hit_rate"].as_f64().unwrap();
        assert!((rate - cached / tin).abs() < 1e-9, "{h}");
    }
}

#[tokio::test]
async fn every_strategy_keeps_a_conversation_on_its_target() {
    for strategy in [
        "weighted",
        "round_robin",
        "least_busy",
        "fastest",
        "cheapest",
        "priority",
    ] {
        let sb = Sb::start(two_targets(strategy)).await;
        for n in 0..8 {
            assert_eq!(turn(&sb, "conv", n).await, 200, "{strategy}");
            // Other conversations move the strategy's rotation in between.
            assert_eq!(turn(&sb, &format!("other-{n}"), 0).await, 200, "{strategy}");
        }
        let rows = sb.logged(16).await;
        let conv: Vec<_> = rows
            .iter()
            .rev()
            .step_by(2)
            .map(|r| (r.provider.clone(), r.key_id))
            .collect();
        assert!(
            conv.iter().all(|t| *t == conv[0]),
            "{strategy}: the conversation moved: {conv:?}"
        );
        assert!(
            rows.iter()
                .rev()
                .step_by(2)
                .skip(1)
                .all(|r| r.affinity.as_deref() == Some("kept")),
            "{strategy}"
        );
    }
}
