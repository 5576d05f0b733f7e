//! Alerts from the control plane's key standings (and spending): what is worth telling the
//! user, and how a burst becomes one message. The desktop app shows them as notifications;
//! webhooks (`webhooks.rs`) deliver the same messages to servers' receivers.
//!
//! This module is pure (no clock of its own, no I/O). [`IncidentTracker`] turns standing
//! changes ([`StandingChanged`]) and the set of unusable aliases into [`Incident`]s; it never
//! looks at raw health scopes, only at the standing the control plane judged. [`Coalescer`]
//! is fed [`Incident`]s with
//! the current [`Instant`] and hands back at most one [`Notice`] per flush. A burst of 429s on
//! five keys within the coalescing window is one notice naming all five; notices are spaced
//! by a minimum interval (what arrives meanwhile waits and is merged); each kind can be muted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::{BudgetEvent, BudgetLevel, BudgetPeriod, KeyView, StandingChanged, Summary};
use serde::{Deserialize, Serialize};
use switchboard_router::health::{CoolReason, HealthState, KeyStanding, StandingClass};

/// What a notice is about; each kind can be muted in the app settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A model alias has no usable key left (the most urgent: requests fail).
    AliasUnusable,
    /// A client reached a hard spend budget: its requests are refused until the period ends.
    BudgetExhausted,
    /// A key failed authentication (401/403): the user must act.
    AuthFailed,
    /// A key is out of balance (402 / insufficient quota).
    OutOfBalance,
    /// A client's spend passed the alert threshold of a budget.
    BudgetWarning,
    /// A key is rate limited and cooling down.
    RateLimited,
    /// A key or alias works again.
    Recovered,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 7] = [
        NoticeKind::AliasUnusable,
        NoticeKind::BudgetExhausted,
        NoticeKind::AuthFailed,
        NoticeKind::OutOfBalance,
        NoticeKind::BudgetWarning,
        NoticeKind::RateLimited,
        NoticeKind::Recovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::AliasUnusable => "alias_unusable",
            NoticeKind::BudgetExhausted => "budget_exhausted",
            NoticeKind::BudgetWarning => "budget_warning",
            NoticeKind::AuthFailed => "auth_failed",
            NoticeKind::OutOfBalance => "out_of_balance",
            NoticeKind::RateLimited => "rate_limited",
            NoticeKind::Recovered => "recovered",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn phrase(self, n: usize) -> &'static str {
        match (self, n) {
            (NoticeKind::AliasUnusable, 1) => "has no usable key",
            (NoticeKind::AliasUnusable, _) => "have no usable key",
            (NoticeKind::BudgetExhausted, 1) => "reached its spend budget (requests refused)",
            (NoticeKind::BudgetExhausted, _) => "reached their spend budgets (requests refused)",
            (NoticeKind::BudgetWarning, 1) => "passed its budget alert threshold",
            (NoticeKind::BudgetWarning, _) => "passed their budget alert thresholds",
            (NoticeKind::AuthFailed, 1) => "failed authentication",
            (NoticeKind::AuthFailed, _) => "failed authentication",
            (NoticeKind::OutOfBalance, 1) => "is out of balance",
            (NoticeKind::OutOfBalance, _) => "are out of balance",
            (NoticeKind::RateLimited, 1) => "is rate limited (cooling down)",
            (NoticeKind::RateLimited, _) => "are rate limited (cooling down)",
            (NoticeKind::Recovered, 1) => "works again",
            (NoticeKind::Recovered, _) => "work again",
        }
    }
}

/// What an incident is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// A key: its id (for the dashboard link) and a display name (`provider/label`).
    Key { id: i64, name: String },
    /// A model alias.
    Alias(String),
    /// A client's budget, as shown (`codex (daily budget)`).
    Client(String),
}

impl Subject {
    fn name(&self) -> &str {
        match self {
            Subject::Key { name, .. } => name,
            Subject::Alias(a) => a,
            Subject::Client(c) => c,
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub kind: NoticeKind,
    pub subject: Subject,
}

/// What to show: one desktop notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub summary: String,
    pub body: String,
    /// The dashboard location a click opens (URL fragment, e.g. `#/keys?focus=12,13`).
    pub link: String,
    /// Every key and alias the notice names, in order.
    pub subjects: Vec<String>,
}

/// The incident a client's budget event is: a warning at the soft threshold, a stop at the
/// budget.
pub fn budget_incident(ev: &BudgetEvent) -> Incident {
    let period = match ev.period {
        BudgetPeriod::Daily => "daily",
        BudgetPeriod::Monthly => "monthly",
    };
    Incident {
        kind: match ev.level {
            BudgetLevel::Soft => NoticeKind::BudgetWarning,
            BudgetLevel::Hard => NoticeKind::BudgetExhausted,
        },
        subject: Subject::Client(format!(
            "{} ({period} budget ${:.2} of ${:.2})",
            ev.client,
            ev.spent_micros as f64 / 1e6,
            ev.budget_micros as f64 / 1e6
        )),
    }
}

/// What a standing is worth telling the user, if anything.
fn failure_kind(standing: &KeyStanding) -> Option<NoticeKind> {
    match (standing.state, standing.reason) {
        (HealthState::AuthError, _) => Some(NoticeKind::AuthFailed),
        (HealthState::Cooling, Some(CoolReason::InsufficientBalance)) => {
            Some(NoticeKind::OutOfBalance)
        }
        (HealthState::Cooling, Some(CoolReason::RateLimited)) => Some(NoticeKind::RateLimited),
        // Temporary errors (5xx, timeouts, an open breaker) come and go, and a probe is
        // already under way: not worth a notification.
        _ => None,
    }
}

/// Follows key standings and alias usability, turning their changes into incidents.
#[derive(Debug, Default)]
pub struct IncidentTracker {
    /// Keys announced as failing, by id, with the kind announced.
    failing: BTreeMap<i64, NoticeKind>,
    /// Aliases announced as unusable.
    dead_aliases: BTreeSet<String>,
}

impl IncidentTracker {
    /// Starts from the current standings and aliases without announcing what is already
    /// broken (its recovery is announced).
    pub fn new(views: &[KeyView], summary: &Summary) -> IncidentTracker {
        IncidentTracker {
            failing: views
                .iter()
                .filter_map(|v| Some((v.key.id, failure_kind(&v.standing)?)))
                .collect(),
            dead_aliases: summary.unusable_aliases.iter().cloned().collect(),
        }
    }

    /// The incident a standing change causes, if any.
    pub fn on_change(&mut self, change: &StandingChanged) -> Option<Incident> {
        self.apply(change.key_id, &change.provider, &change.label, &change.to)
    }

    /// After a gap in the change stream: applies every key's current standing (what was
    /// already announced is not announced again) and forgets keys that are gone.
    pub fn resync(&mut self, views: &[KeyView]) -> Vec<Incident> {
        self.failing
            .retain(|id, _| views.iter().any(|v| v.key.id == *id));
        views
            .iter()
            .filter_map(|v| self.apply(v.key.id, &v.key.provider, &v.key.label, &v.standing))
            .collect()
    }

    fn apply(
        &mut self,
        key_id: i64,
        provider: &str,
        label: &str,
        to: &KeyStanding,
    ) -> Option<Incident> {
        let subject = Subject::Key {
            id: key_id,
            name: format!("{provider}/{label}"),
        };
        match failure_kind(to) {
            Some(kind) if self.failing.get(&key_id) != Some(&kind) => {
                self.failing.insert(key_id, kind);
                Some(Incident { kind, subject })
            }
            Some(_) => None,
            // A failing key given a new secret is untested, not recovered: nothing to announce
            // until a request or a probe says how it stands.
            None if to.state == HealthState::Untested => {
                self.failing.remove(&key_id);
                None
            }
            None if to.class() == StandingClass::Healthy => {
                self.failing.remove(&key_id).map(|_| Incident {
                    kind: NoticeKind::Recovered,
                    subject,
                })
            }
            // Switched off by the user: nothing to announce, now or when it comes back.
            None if to.state == HealthState::Disabled => {
                self.failing.remove(&key_id);
                None
            }
            None => None,
        }
    }

    /// The aliases that became unusable, or usable again, since the last summary.
    pub fn on_summary(&mut self, summary: &Summary) -> Vec<Incident> {
        let dead: BTreeSet<String> = summary.unusable_aliases.iter().cloned().collect();
        let mut out: Vec<Incident> = dead
            .difference(&self.dead_aliases)
            .map(|alias| Incident {
                kind: NoticeKind::AliasUnusable,
                subject: Subject::Alias(alias.clone()),
            })
            .collect();
        out.extend(self.dead_aliases.difference(&dead).map(|alias| Incident {
            kind: NoticeKind::Recovered,
            subject: Subject::Alias(alias.clone()),
        }));
        self.dead_aliases = dead;
        out
    }
}

/// Tuning for [`Coalescer`].
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// How long after the first incident of a burst the notice goes out.
    pub window: Duration,
    /// The least time between two notices.
    pub min_interval: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            window: Duration::from_secs(2),
            min_interval: Duration::from_secs(30),
        }
    }
}

/// Turns a stream of incidents into few, merged notices.
#[derive(Debug)]
pub struct Coalescer {
    pacing: Pacing,
    muted: BTreeSet<NoticeKind>,
    pending: Vec<Incident>,
    first_pending: Option<Instant>,
    last_sent: Option<Instant>,
}

impl Coalescer {
    pub fn new(pacing: Pacing) -> Coalescer {
        Coalescer {
            pacing,
            muted: BTreeSet::new(),
            pending: Vec::new(),
            first_pending: None,
            last_sent: None,
        }
    }

    /// Mutes or unmutes a kind; pending incidents of a newly muted kind are dropped.
    pub fn set_muted(&mut self, kind: NoticeKind, muted: bool) {
        if muted {
            self.muted.insert(kind);
            self.pending.retain(|i| i.kind != kind);
            if self.pending.is_empty() {
                self.first_pending = None;
            }
        } else {
            self.muted.remove(&kind);
        }
    }

    pub fn is_muted(&self, kind: NoticeKind) -> bool {
        self.muted.contains(&kind)
    }

    /// Records an incident. Duplicates within one notice are merged; a recovery cancels a
    /// pending failure of the same subject (and the other way round), so a flapping key does
    /// not produce a notice at all.
    pub fn push(&mut self, incident: Incident, now: Instant) {
        if self.muted.contains(&incident.kind) {
            return;
        }
        let recovered = incident.kind == NoticeKind::Recovered;
        let before = self.pending.len();
        self.pending.retain(|p| {
            p.subject != incident.subject || (p.kind == NoticeKind::Recovered) == recovered
        });
        if self.pending.len() != before {
            // It flapped inside the window: nothing to say about this subject.
            if self.pending.is_empty() {
                self.first_pending = None;
            }
            return;
        }
        if self.pending.contains(&incident) {
            return;
        }
        self.pending.push(incident);
        self.first_pending.get_or_insert(now);
    }

    /// When [`Coalescer::poll`] should next be called, if anything is pending.
    pub fn due_at(&self) -> Option<Instant> {
        let first = self.first_pending?;
        let window_end = first + self.pacing.window;
        Some(match self.last_sent {
            Some(last) => window_end.max(last + self.pacing.min_interval),
            None => window_end,
        })
    }

    /// The notice to show now, if the window has closed and the rate limit allows.
    pub fn poll(&mut self, now: Instant) -> Option<Notice> {
        let due = self.due_at()?;
        if now < due {
            return None;
        }
        let incidents = std::mem::take(&mut self.pending);
        self.first_pending = None;
        self.last_sent = Some(now);
        compose(incidents)
    }
}

/// One notice for a batch: the summary names the most urgent kind, the body lists every
/// subject by kind.
pub fn compose(mut incidents: Vec<Incident>) -> Option<Notice> {
    incidents.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.subject.cmp(&b.subject)));
    let top = incidents.first()?.kind;
    let mut body = Vec::new();
    let mut subjects = Vec::new();
    let mut summary = String::new();
    for kind in NoticeKind::ALL {
        let names: Vec<&str> = incidents
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.subject.name())
            .collect();
        if names.is_empty() {
            continue;
        }
        let line = format!("{} {}", names.join(", "), kind.phrase(names.len()));
        if kind == top {
            summary = match (kind, names.len()) {
                (
                    NoticeKind::AliasUnusable
                    | NoticeKind::BudgetExhausted
                    | NoticeKind::BudgetWarning,
                    _,
                ) => format!("Switchboard: {line}"),
                (NoticeKind::Recovered, 1) => "Switchboard: a key works again".to_owned(),
                (NoticeKind::Recovered, n) => format!("Switchboard: {n} keys work again"),
                (_, 1) => "Switchboard: a key is cooling down".to_owned(),
                (_, n) => format!("Switchboard: {n} keys are cooling down"),
            };
        }
        body.push(line);
        subjects.extend(names.iter().map(|s| (*s).to_owned()));
    }
    let keys: Vec<i64> = incidents
        .iter()
        .filter_map(|i| match i.subject {
            Subject::Key { id, .. } => Some(id),
            Subject::Alias(_) | Subject::Client(_) => None,
        })
        .collect();
    let budgets = incidents
        .iter()
        .any(|i| matches!(i.subject, Subject::Client(_)));
    let link = if keys.is_empty() && budgets {
        "#/clients".to_owned()
    } else if keys.is_empty() {
        "#/routes".to_owned()
    } else {
        let ids: Vec<String> = keys.iter().map(i64::to_string).collect();
        format!("#/keys?focus={}", ids.join(","))
    };
    Some(Notice {
        summary,
        body: body.join("\n"),
        link,
        subjects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_router::health::StandingScope;

    fn key(id: i64, name: &str, kind: NoticeKind) -> Incident {
        Incident {
            kind,
            subject: Subject::Key {
                id,
                name: name.to_owned(),
            },
        }
    }

    fn cooling(reason: CoolReason, scope: StandingScope) -> KeyStanding {
        KeyStanding {
            state: HealthState::Cooling,
            class: StandingClass::Cooling,
            reason: Some(reason),
            scope: Some(scope),
            model: (scope == StandingScope::KeyModel).then(|| "m1".to_owned()),
            until_ms: Some(30_000),
        }
    }

    fn change(key_id: i64, from: KeyStanding, to: KeyStanding) -> StandingChanged {
        StandingChanged {
            key_id,
            provider: "mock".into(),
            label: ["a", "b", "c"][usize::try_from(key_id - 1).unwrap()].into(),
            from,
            to,
        }
    }

    fn view(key_id: i64, standing: KeyStanding) -> KeyView {
        let c = change(key_id, KeyStanding::healthy(), KeyStanding::healthy());
        KeyView {
            key: switchboard_router::KeyInfo {
                id: key_id,
                provider: c.provider,
                label: c.label,
                weight: 1,
                enabled: standing.state != HealthState::Disabled,
                fingerprint: "0123456789ab".into(),
                last4: "abcd".into(),
                env_ref: None,
            },
            standing,
            last_error: None,
            quota: Vec::new(),
            balance: None,
        }
    }

    fn summary(unusable: &[&str]) -> Summary {
        Summary {
            routing: true,
            counts: crate::Counts::default(),
            state: crate::OverallState::SomeCooling,
            unusable_aliases: unusable.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn standing_changes_of_a_burst_and_its_recovery() {
        let healthy = KeyStanding::healthy;
        let limited = || cooling(CoolReason::RateLimited, StandingScope::KeyModel);
        let mut t = IncidentTracker::new(&[], &summary(&[]));
        let mut all: Vec<Incident> = (1..=3)
            .filter_map(|k| t.on_change(&change(k, healthy(), limited())))
            .collect();
        all.extend(t.on_summary(&summary(&["gpt-5.5"])));
        let kinds: Vec<_> = all.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            [
                NoticeKind::RateLimited,
                NoticeKind::RateLimited,
                NoticeKind::RateLimited,
                NoticeKind::AliasUnusable
            ]
        );
        assert_eq!(
            all[0].subject,
            Subject::Key {
                id: 1,
                name: "mock/a".into()
            }
        );
        // The same kind again (a later cooldown) says nothing new; nor does the same set of
        // unusable aliases.
        assert_eq!(t.on_change(&change(1, limited(), limited())), None);
        assert!(t.on_summary(&summary(&["gpt-5.5"])).is_empty());
        // Temporary errors and an open breaker are not announced.
        let breaker = cooling(CoolReason::TemporaryError, StandingScope::Provider);
        assert_eq!(t.on_change(&change(2, limited(), breaker.clone())), None);
        // A key out of balance is another kind: announced.
        let broke = cooling(CoolReason::InsufficientBalance, StandingScope::Key);
        assert_eq!(
            t.on_change(&change(2, breaker, broke)).map(|i| i.kind),
            Some(NoticeKind::OutOfBalance)
        );
        let mut rec: Vec<Incident> = t
            .on_change(&change(1, limited(), healthy()))
            .into_iter()
            .collect();
        rec.extend(t.on_summary(&summary(&[])));
        assert_eq!(rec.len(), 2);
        assert!(rec.iter().all(|i| i.kind == NoticeKind::Recovered));
        assert!(
            rec.iter()
                .any(|i| i.subject == Subject::Alias("gpt-5.5".into()))
        );
        // Recovered once; a key that was never announced recovers silently; a disabled key
        // is the user's doing.
        assert_eq!(t.on_change(&change(1, healthy(), healthy())), None);
        assert_eq!(
            t.on_change(&change(2, limited(), KeyStanding::disabled())),
            None
        );
        assert_eq!(
            t.on_change(&change(2, KeyStanding::disabled(), healthy())),
            None
        );
    }

    #[test]
    fn a_failed_authentication_is_announced_and_a_gap_resyncs_from_the_views() {
        let auth = KeyStanding {
            state: HealthState::AuthError,
            class: StandingClass::Down,
            reason: None,
            scope: Some(StandingScope::Key),
            model: None,
            until_ms: None,
        };
        let limited = cooling(CoolReason::RateLimited, StandingScope::Key);
        // Started with key 1 already rate limited: not announced again, its recovery is.
        let mut t = IncidentTracker::new(&[view(1, limited.clone())], &summary(&[]));
        assert_eq!(t.resync(&[view(1, limited)]), vec![]);
        let missed = t.resync(&[view(1, KeyStanding::healthy()), view(2, auth.clone())]);
        assert_eq!(
            missed,
            vec![
                Incident {
                    kind: NoticeKind::Recovered,
                    subject: Subject::Key {
                        id: 1,
                        name: "mock/a".into()
                    }
                },
                Incident {
                    kind: NoticeKind::AuthFailed,
                    subject: Subject::Key {
                        id: 2,
                        name: "mock/b".into()
                    }
                },
            ]
        );
        assert_eq!(t.on_change(&change(2, auth.clone(), auth)), None);
        // A key that is gone is forgotten: it does not recover later.
        assert_eq!(t.resync(&[]), vec![]);
        assert_eq!(
            t.on_change(&change(2, KeyStanding::healthy(), KeyStanding::healthy())),
            None
        );
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_failing_key_given_a_new_secret_is_untested_not_recovered() {
        let limited = || cooling(CoolReason::RateLimited, StandingScope::Key);
        let untested = KeyStanding {
            state: HealthState::Untested,
            class: StandingClass::Healthy,
            reason: None,
            scope: None,
            model: None,
            until_ms: None,
        };
        let mut t = IncidentTracker::new(&[], &summary(&[]));
        let first = t.on_change(&change(1, KeyStanding::healthy(), limited()));
        assert_eq!(first.map(|i| i.kind), Some(NoticeKind::RateLimited));
        assert_eq!(t.on_change(&change(1, limited(), untested.clone())), None);
        assert_eq!(
            t.on_change(&change(1, untested, KeyStanding::healthy())),
            None
        );
    }

    #[test]
    fn a_burst_on_five_keys_is_one_notice_naming_all() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(Pacing::default());
        for (i, n) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let id = i64::try_from(i).unwrap();
            c.push(
                key(id, &format!("mock/{n}"), NoticeKind::RateLimited),
                t0 + ms(10 * id as u64),
            );
            // The same key again inside the burst changes nothing.
            c.push(
                key(id, &format!("mock/{n}"), NoticeKind::RateLimited),
                t0 + ms(10 * id as u64 + 1),
            );
        }
        assert_eq!(c.poll(t0 + ms(1999)), None, "window still open");
        let n = c.poll(t0 + ms(2000)).expect("one notice");
        assert_eq!(n.summary, "Switchboard: 5 keys are cooling down");
        assert_eq!(
            n.subjects,
            ["mock/a", "mock/b", "mock/c", "mock/d", "mock/e"]
        );
        assert!(
            n.body
                .contains("mock/a, mock/b, mock/c, mock/d, mock/e are rate limited")
        );
        assert_eq!(n.link, "#/keys?focus=0,1,2,3,4");
        assert_eq!(c.poll(t0 + ms(5000)), None, "nothing left");
    }

    #[test]
    fn kinds_merge_and_the_most_urgent_leads() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(Pacing::default());
        c.push(key(1, "ds/a", NoticeKind::RateLimited), t0);
        c.push(key(2, "ds/b", NoticeKind::AuthFailed), t0);
        c.push(
            Incident {
                kind: NoticeKind::AliasUnusable,
                subject: Subject::Alias("gpt-5.5".into()),
            },
            t0,
        );
        let n = c.poll(t0 + ms(2000)).unwrap();
        assert_eq!(n.summary, "Switchboard: gpt-5.5 has no usable key");
        assert_eq!(
            n.body,
            "gpt-5.5 has no usable key\nds/b failed authentication\nds/a is rate limited (cooling down)"
        );
    }

    #[test]
    fn rate_limit_holds_later_incidents_and_merges_them() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(Pacing {
            window: ms(100),
            min_interval: ms(1000),
        });
        c.push(key(1, "p/a", NoticeKind::RateLimited), t0);
        assert!(c.poll(t0 + ms(100)).is_some());
        c.push(key(2, "p/b", NoticeKind::RateLimited), t0 + ms(200));
        c.push(key(3, "p/c", NoticeKind::OutOfBalance), t0 + ms(900));
        assert_eq!(c.due_at(), Some(t0 + ms(1100)));
        assert_eq!(
            c.poll(t0 + ms(1000)),
            None,
            "too soon after the last notice"
        );
        let n = c.poll(t0 + ms(1100)).unwrap();
        assert_eq!(n.subjects, ["p/c", "p/b"]);
        assert_eq!(n.link, "#/keys?focus=3,2");
    }

    #[test]
    fn muted_kinds_are_dropped_and_can_be_unmuted() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(Pacing::default());
        c.push(key(1, "p/a", NoticeKind::RateLimited), t0);
        c.set_muted(NoticeKind::RateLimited, true);
        assert_eq!(c.due_at(), None, "pending incidents of a muted kind go");
        c.push(key(2, "p/b", NoticeKind::RateLimited), t0);
        c.push(key(3, "p/c", NoticeKind::AuthFailed), t0);
        let n = c.poll(t0 + ms(2000)).unwrap();
        assert_eq!(n.subjects, ["p/c"]);
        assert_eq!(n.link, "#/keys?focus=3");
        c.set_muted(NoticeKind::RateLimited, false);
        assert!(!c.is_muted(NoticeKind::RateLimited));
    }

    #[test]
    fn a_flap_inside_the_window_says_nothing() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(Pacing::default());
        c.push(key(1, "p/a", NoticeKind::RateLimited), t0);
        c.push(key(1, "p/a", NoticeKind::Recovered), t0 + ms(500));
        assert_eq!(c.poll(t0 + ms(5000)), None);
        c.push(key(1, "p/a", NoticeKind::Recovered), t0 + ms(6000));
        let n = c.poll(t0 + ms(8000)).unwrap();
        assert_eq!(n.summary, "Switchboard: a key works again");
    }

    #[test]
    fn budget_events_become_warnings_and_stops_naming_the_client() {
        let ev = |level| BudgetEvent {
            client: "codex".into(),
            period: BudgetPeriod::Daily,
            level,
            spent_micros: 8_100_000,
            budget_micros: 10_000_000,
        };
        let soft = budget_incident(&ev(BudgetLevel::Soft));
        assert_eq!(soft.kind, NoticeKind::BudgetWarning);
        assert_eq!(
            soft.subject,
            Subject::Client("codex (daily budget $8.10 of $10.00)".into())
        );
        let notice = compose(vec![soft, budget_incident(&ev(BudgetLevel::Hard))]).unwrap();
        assert!(
            notice.summary.contains("reached its spend budget"),
            "{notice:?}"
        );
        assert!(notice.body.contains("passed its budget alert threshold"));
        assert_eq!(notice.link, "#/clients");
    }

    #[test]
    fn kind_names_round_trip() {
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(NoticeKind::parse("nope"), None);
    }
}
