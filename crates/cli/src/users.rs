//! `switchboard users`: the named users who sign in to the dashboard and admin API — in the
//! data directory, or with `--database` (`SWITCHBOARD_DATABASE_URL`) in a team's shared
//! PostgreSQL database. A password is read from stdin (one line), never from the command line.

use std::io::BufRead;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use switchboard_control::{NewUser, UserUpdate};
use switchboard_store::Role;

use crate::DataDir;

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Reads and edits everything.
    Admin,
    /// Reads the dashboard; no edits, no secrets.
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

#[derive(Subcommand)]
pub enum UsersAction {
    /// Add a user; the password is read from stdin (one line).
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password from stdin (the default; accepted for scripts that say so).
        #[arg(long, conflicts_with = "no_password")]
        password_stdin: bool,
        /// No password: the user signs in only through single sign-on (OpenID Connect).
        #[arg(long)]
        no_password: bool,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// List users (name, role, state).
    List {
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Set a user's password from stdin (one line); their sessions end.
    Passwd {
        name: String,
        /// Read the password from stdin (the default).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Change a user's role; their sessions end.
    SetRole {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Disable a user (their sessions end; they cannot sign in).
    Disable {
        name: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Enable a disabled user.
    Enable {
        name: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Delete a user and their sessions.
    Delete {
        name: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

/// One line of stdin, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let p = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!p.is_empty(), "no password on stdin (give it as one line)");
    Ok(p)
}

pub async fn run(action: UsersAction, database: Option<String>) -> anyhow::Result<()> {
    let (data_dir, password) = match &action {
        UsersAction::Add {
            data_dir,
            no_password,
            ..
        } => (data_dir, (!no_password).then(read_password).transpose()?),
        UsersAction::Passwd { data_dir, .. } => (data_dir, Some(read_password()?)),
        UsersAction::List { data_dir }
        | UsersAction::SetRole { data_dir, .. }
        | UsersAction::Disable { data_dir, .. }
        | UsersAction::Enable { data_dir, .. }
        | UsersAction::Delete { data_dir, .. } => (data_dir, None),
    };
    let control = match database {
        // Team mode: the users every instance shares.
        Some(url) => {
            let key = crate::env_secret(switchboard_store::MASTER_KEY_ENV).with_context(|| {
                format!(
                    "team mode needs {}: the key every instance of the team shares",
                    switchboard_store::MASTER_KEY_ENV
                )
            })?;
            let store = switchboard_store::Store::open_team(&url, &key).await?;
            switchboard_control::Control::offline(store).await?
        }
        None => crate::open_control(&data_dir.resolve()?).await?,
    };
    let done = async {
        match action {
            UsersAction::Add { name, role, .. } => {
                let u = control
                    .add_user(NewUser {
                        name,
                        role: role.into(),
                        password,
                    })
                    .await?;
                Ok(format!("added {} ({})", u.name, u.role.as_str()))
            }
            UsersAction::List { .. } => {
                let users = control.list_users().await?;
                Ok(users
                    .iter()
                    .map(|u| {
                        format!(
                            "{}\t{}\t{}{}",
                            u.name,
                            u.role.as_str(),
                            if u.disabled { "disabled" } else { "enabled" },
                            if u.has_password { "" } else { "\tsso-only" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            UsersAction::Passwd { name, .. } => {
                control
                    .update_user(
                        &name,
                        UserUpdate {
                            password,
                            ..UserUpdate::default()
                        },
                    )
                    .await?;
                Ok(format!("password of {name} set; their sessions ended"))
            }
            UsersAction::SetRole { name, role, .. } => {
                let u = control
                    .update_user(
                        &name,
                        UserUpdate {
                            role: Some(role.into()),
                            ..UserUpdate::default()
                        },
                    )
                    .await?;
                Ok(format!("{} is now {}", u.name, u.role.as_str()))
            }
            UsersAction::Disable { name, .. } => {
                control
                    .update_user(
                        &name,
                        UserUpdate {
                            disabled: Some(true),
                            ..UserUpdate::default()
                        },
                    )
                    .await?;
                Ok(format!("disabled {name}; their sessions ended"))
            }
            UsersAction::Enable { name, .. } => {
                control
                    .update_user(
                        &name,
                        UserUpdate {
                            disabled: Some(false),
                            ..UserUpdate::default()
                        },
                    )
                    .await?;
                Ok(format!("enabled {name}"))
            }
            UsersAction::Delete { name, .. } => {
                control.delete_user(&name).await?;
                Ok(format!("deleted {name}"))
            }
        }
    }
    .await;
    control.close().await;
    let line: String = done.map_err(|e: switchboard_control::ControlError| anyhow::anyhow!(e))?;
    crate::say(&line);
    Ok(())
}
