//! Administration: enrolment secrets, operators, API tokens and the audit
//! log (`patchline enrolment|users|tokens|audit`). Secrets and tokens are
//! shown once, when created; the server keeps only their hashes.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use jiff::{SignedDuration, Timestamp};
use patchline_api::audit::AuditEntry;
use patchline_api::auth::{
    CreateTokenRequest, CreateUserRequest, Role, TagScope, TokenView, UserView,
};
use patchline_api::enrolment::{CreateEnrolmentSecretRequest, EnrolmentSecretView};
use patchline_api::routes;

use crate::output::{self, Cell, JsonArg, OutputArgs, Table, Tone};
use crate::session::Session;
use crate::values::parse_key_value;

#[derive(Debug, Subcommand)]
pub enum EnrolmentCommand {
    /// Create an enrolment secret for agents (printed once).
    Create {
        name: String,
        #[arg(long)]
        max_uses: Option<u32>,
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Tag every node enrolled with this secret.
        #[arg(long, value_parser = parse_key_value, value_name = "KEY=VALUE")]
        tag: Vec<(String, String)>,
        #[command(flatten)]
        json: JsonArg,
    },
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Revoke a secret: agents can no longer enrol with it.
    Revoke { id: String },
}

#[derive(Debug, Clone, Args)]
pub struct RoleArgs {
    #[arg(long)]
    role: Role,
    /// The tag an app-team operator is confined to.
    #[arg(long, value_parser = parse_key_value, value_name = "KEY=VALUE")]
    scope: Option<(String, String)>,
}

impl RoleArgs {
    fn scope(&self) -> Option<TagScope> {
        self.scope
            .clone()
            .map(|(key, value)| TagScope { key, value })
    }
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an operator (the password is prompted, or read with
    /// --password-stdin).
    Create {
        username: String,
        #[command(flatten)]
        role: RoleArgs,
        #[arg(long)]
        password_stdin: bool,
    },
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token for automation (printed once).
    Create {
        name: String,
        #[command(flatten)]
        role: RoleArgs,
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        json: JsonArg,
    },
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    Revoke {
        id: String,
    },
}

pub async fn enrolment(command: EnrolmentCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    let client = &session.client;
    match command {
        EnrolmentCommand::Create {
            name,
            max_uses,
            expires_in_days,
            tag,
            json,
        } => {
            let expires_at = expires_in_days.map(days_from_now).transpose()?;
            let request = CreateEnrolmentSecretRequest {
                name: name.clone(),
                max_uses,
                expires_at,
                tags: tag.into_iter().collect::<BTreeMap<_, _>>(),
            };
            let created = session.check(
                client.create_enrolment_secret(&request).await,
                format!("cannot create enrolment secret {name}"),
            )?;
            if json.json {
                outln!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                outln!("Enrolment secret {name} created (id {}).", created.id);
                outln!("Secret (shown only now): {}", created.secret);
                let ca_cert = session
                    .credentials
                    .ca_cert_path
                    .as_ref()
                    .map(|path| format!(" --ca-cert {}", path.display()))
                    .unwrap_or_default();
                outln!("Enrol a node with:");
                outln!(
                    "  PATCHLINE_ENROL_SECRET=<secret> patchline-agent run --server {}{ca_cert} --state-dir /var/lib/patchline-agent",
                    session.credentials.server
                );
            }
        }
        EnrolmentCommand::List { output } => {
            let secrets: Vec<EnrolmentSecretView> = session.check(
                client.get(routes::ENROLMENT_SECRETS).await,
                "cannot list enrolment secrets",
            )?;
            output::print(output.format(), &secrets, || {
                let mut table =
                    Table::new(["id", "name", "uses", "max uses", "expires", "tags", "state"])
                        .right_align([2, 3]);
                for secret in &secrets {
                    table.row([
                        secret.id.as_str().into(),
                        secret.name.as_str().into(),
                        secret.uses.into(),
                        secret.max_uses.map_or_else(|| "-".into(), Cell::from),
                        output::optional_timestamp(secret.expires_at).into(),
                        output::tags(&secret.tags).into(),
                        revoked_cell(secret.revoked),
                    ]);
                }
                table
            })?;
        }
        EnrolmentCommand::Revoke { id } => {
            let path = routes::fill(routes::ENROLMENT_SECRET, &[&id]);
            session.check(
                client.delete(&path).await,
                format!("cannot revoke enrolment secret {id}"),
            )?;
            outln!("Enrolment secret {id} revoked.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn users(command: UsersCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    let client = &session.client;
    match command {
        UsersCommand::Create {
            username,
            role,
            password_stdin,
        } => {
            let password = new_password(&username, password_stdin)?;
            let request = CreateUserRequest {
                username: username.clone(),
                password,
                role: role.role,
                scope: role.scope(),
            };
            let user = session.check(
                client.create_user(&request).await,
                format!("cannot create user {username}"),
            )?;
            outln!("User {} created ({}).", user.username, user.role);
        }
        UsersCommand::List { output } => {
            let users: Vec<UserView> =
                session.check(client.get(routes::USERS).await, "cannot list users")?;
            output::print(output.format(), &users, || {
                let mut table = Table::new(["username", "role", "scope", "created"]);
                for user in &users {
                    table.row([
                        user.username.as_str().into(),
                        user.role.to_string().into(),
                        scope_text(user.scope.as_ref()).into(),
                        output::timestamp(user.created_at).into(),
                    ]);
                }
                table
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn tokens(command: TokensCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    let client = &session.client;
    match command {
        TokensCommand::Create {
            name,
            role,
            expires_in_days,
            json,
        } => {
            let request = CreateTokenRequest {
                name: name.clone(),
                role: role.role,
                scope: role.scope(),
                expires_in_days,
            };
            let created = session.check(
                client.create_token(&request).await,
                format!("cannot create token {name}"),
            )?;
            if json.json {
                outln!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                outln!("Token {name} created (id {}).", created.id);
                outln!("Token (shown only now): {}", created.token);
            }
        }
        TokensCommand::List { output } => {
            let tokens: Vec<TokenView> =
                session.check(client.get(routes::TOKENS).await, "cannot list tokens")?;
            output::print(output.format(), &tokens, || {
                let mut table =
                    Table::new(["id", "name", "role", "scope", "created", "expires", "state"]);
                for token in &tokens {
                    table.row([
                        token.id.as_str().into(),
                        token.name.as_str().into(),
                        token.role.to_string().into(),
                        scope_text(token.scope.as_ref()).into(),
                        output::timestamp(token.created_at).into(),
                        output::optional_timestamp(token.expires_at).into(),
                        revoked_cell(token.revoked),
                    ]);
                }
                table
            })?;
        }
        TokensCommand::Revoke { id } => {
            let path = routes::fill(routes::TOKEN, &[&id]);
            session.check(
                client.delete(&path).await,
                format!("cannot revoke token {id}"),
            )?;
            outln!("Token {id} revoked.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries after this id (page with the last id shown).
    #[arg(long)]
    after: Option<i64>,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn audit(args: AuditArgs) -> Result<ExitCode> {
    let session = Session::open()?;
    let entries: Vec<AuditEntry> = session.check(
        session.client.audit(args.after).await,
        "cannot read the audit log",
    )?;
    output::print(args.output.format(), &entries, || {
        let mut table = Table::new(["id", "at", "actor", "action", "target"]).right_align([0]);
        for entry in &entries {
            table.row([
                entry.id.into(),
                output::timestamp(entry.at).into(),
                entry.actor.as_str().into(),
                entry.action.as_str().into(),
                entry.target.as_str().into(),
            ]);
        }
        table
    })?;
    Ok(ExitCode::SUCCESS)
}

fn days_from_now(days: u32) -> Result<Timestamp> {
    Timestamp::now()
        .checked_add(SignedDuration::from_hours(i64::from(days) * 24))
        .with_context(|| format!("{days} days from now is out of range"))
}

fn revoked_cell(revoked: bool) -> Cell {
    if revoked {
        Cell::toned("revoked", Tone::Bad)
    } else {
        Cell::toned("active", Tone::Good)
    }
}

fn scope_text(scope: Option<&TagScope>) -> String {
    scope.map_or_else(
        || "-".into(),
        |scope| format!("{}={}", scope.key, scope.value),
    )
}

/// The new operator's password: prompted twice on a terminal, or the first
/// line of standard input.
fn new_password(username: &str, from_stdin: bool) -> Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("standard input is not a terminal: pass --password-stdin and pipe the password");
        }
        let first = rpassword::prompt_password(format!("Password for {username}: "))?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        first
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}
