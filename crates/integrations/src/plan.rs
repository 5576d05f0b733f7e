//! What the caller asks for: which Switchboard to point at, with which key and model aliases,
//! and what it knows about the router (turned into warnings).

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result};

/// The local access key. Debug and Display print a mask; [`AccessKey::expose`] is the one way
/// to read it, used only when the tool's config must hold it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey(String);

impl AccessKey {
    pub fn new(key: impl Into<String>) -> Self {
        AccessKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What previews show instead of the key: a fixed mask and, for long keys, the last four
    /// characters so the user can tell keys apart.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() >= 16 {
            let tail: String = chars[chars.len() - 4..].iter().collect();
            format!("****{tail}")
        } else {
            "****".to_owned()
        }
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessKey({})", self.masked())
    }
}

impl fmt::Display for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// This Switchboard: the server root (`http://127.0.0.1:9911`, no `/v1`) and the local
/// access key tools authenticate with.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub base_url: String,
    pub access_key: AccessKey,
}

/// Model aliases as the router knows them. `small` defaults to `main`; the Claude tiers
/// default to `main` (opus, sonnet) and `small` (haiku).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Models {
    pub main: String,
    pub small: Option<String>,
    pub opus: Option<String>,
    pub sonnet: Option<String>,
    pub haiku: Option<String>,
}

impl Models {
    pub fn new(main: impl Into<String>) -> Self {
        Models {
            main: main.into(),
            ..Models::default()
        }
    }

    pub(crate) fn small(&self) -> &str {
        self.small.as_deref().unwrap_or(&self.main)
    }

    /// Every distinct alias, main first.
    pub(crate) fn all(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for alias in [
            Some(self.main.as_str()),
            self.small.as_deref(),
            self.opus.as_deref(),
            self.sonnet.as_deref(),
            self.haiku.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            if !out.contains(&alias) {
                out.push(alias);
            }
        }
        out
    }
}

/// Token limits of the route behind the main alias, from its targets: the smallest context
/// window and the smallest output limit among them (a session must fit whichever target
/// answers). Written into the fields each tool budgets with; `None` leaves the tool's own
/// default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    pub context_window: Option<u64>,
    pub max_output: Option<u64>,
}

/// How tools that can read the key from the environment get it (Codex `env_key`, OpenCode
/// `{env:VAR}`). Other tools always hold the key inline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KeyDelivery {
    /// Write the key into the config file.
    #[default]
    Inline,
    /// Reference an environment variable. Refused unless the variable is set in the
    /// [`crate::Env`] given, because Codex exits at start when it is missing.
    EnvVar(String),
}

/// What the caller knows about the router; each `false` becomes a [`Warning`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterStatus {
    pub running: bool,
    pub routing_enabled: bool,
    /// Aliases the router currently serves, when known.
    pub known_aliases: Option<Vec<String>>,
}

/// One configuration request.
#[derive(Clone, Debug)]
pub struct Plan {
    pub endpoint: Endpoint,
    pub models: Models,
    /// Limits of the main alias's route.
    pub limits: Limits,
    pub key_delivery: KeyDelivery,
    pub router: Option<RouterStatus>,
    /// Allow an endpoint that is not on loopback (a Switchboard on another host).
    pub allow_remote: bool,
    /// Take over an entry under our provider name that we did not create.
    pub replace_existing: bool,
}

impl Plan {
    pub fn new(endpoint: Endpoint, models: Models) -> Self {
        Plan {
            endpoint,
            models,
            limits: Limits::default(),
            key_delivery: KeyDelivery::Inline,
            router: None,
            allow_remote: false,
            replace_existing: false,
        }
    }

    /// The validated server root, without a trailing slash.
    pub(crate) fn root_url(&self) -> Result<String> {
        let url = self.endpoint.base_url.trim();
        let refuse = |reason: &str| Error::EndpointRefused {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if self.models.main.trim().is_empty() {
            return Err(Error::InvalidPlan("the main model alias is empty".into()));
        }
        if self.endpoint.access_key.expose().is_empty() {
            return Err(Error::InvalidPlan("the access key is empty".into()));
        }
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| refuse("only http:// and https:// are supported"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if !path.trim_end_matches('/').is_empty() {
            return Err(refuse(
                "give the server root (no path such as /v1); each tool gets the path it needs",
            ));
        }
        if authority.contains('@') || authority.contains('?') || authority.contains('#') {
            return Err(refuse("credentials, queries and fragments are not allowed"));
        }
        let host = host_of(authority).ok_or_else(|| refuse("no host"))?;
        if !self.allow_remote && !is_loopback(host) {
            return Err(refuse(
                "not a loopback address; pointing tools elsewhere needs allow_remote",
            ));
        }
        Ok(format!("{}{}", &url[..url.len() - rest.len()], authority))
    }
}

fn host_of(authority: &str) -> Option<&str> {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Something the user should know before or after configuring a tool; never blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    RouterNotRunning,
    RoutingDisabled,
    /// The alias is not among the router's known aliases.
    UnknownAlias(String),
    /// Another provider in the tool's config already points at this Switchboard.
    DuplicateProvider(String),
    /// A setting outside what we own will override ours (for example a variable in the tool's
    /// config that takes precedence).
    Overridden {
        setting: String,
        detail: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::RouterNotRunning => f.write_str(
                "Switchboard is not running: the tool will fail to connect until it is started",
            ),
            Warning::RoutingDisabled => f.write_str(
                "routing is switched off: requests from the tool will be refused until it is on",
            ),
            Warning::UnknownAlias(alias) => {
                write!(f, "the router has no route for model alias `{alias}`")
            }
            Warning::DuplicateProvider(name) => write!(
                f,
                "provider `{name}` in this config already points at this Switchboard"
            ),
            Warning::Overridden { setting, detail } => write!(f, "`{setting}` {detail}"),
        }
    }
}

pub(crate) fn router_warnings(plan: &Plan) -> Vec<Warning> {
    let mut out = Vec::new();
    if let Some(status) = &plan.router {
        if !status.running {
            out.push(Warning::RouterNotRunning);
        } else if !status.routing_enabled {
            out.push(Warning::RoutingDisabled);
        }
        if let Some(known) = &status.known_aliases {
            for alias in plan.models.all() {
                if !known.iter().any(|k| k == alias) {
                    out.push(Warning::UnknownAlias(alias.to_owned()));
                }
            }
        }
    }
    out
}
