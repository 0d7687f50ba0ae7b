//! `yhconv import` and `yhconv admin`: identities into a database.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use yhconv_server::app::open_service;
use yhconv_server::ids::Id;
use yhconv_server::service::identity::{World, WorldBot, WorldGroup, WorldRemark, WorldUser};
use yhconv_server::{Config, DbUrl, Service};

/// Flags of `yhconv import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Database URL: sqlite://FILE.
    #[arg(long, env = "YHCONV_DB", default_value = "sqlite://yhconv.db", hide_env_values = true)]
    db: DbUrl,
    /// The world file (JSON).
    file: PathBuf,
}

/// Flags of `yhconv admin`.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Database URL: sqlite://FILE.
    #[arg(long, env = "YHCONV_DB", default_value = "sqlite://yhconv.db", hide_env_values = true)]
    db: DbUrl,
    #[command(subcommand)]
    action: AdminAction,
}

#[derive(Subcommand, Debug)]
enum AdminAction {
    /// Add or update a user.
    AddUser {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value = "")]
        avatar_url: String,
    },
    /// Add or update a group (members may follow with add-member).
    AddGroup {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long = "member")]
        members: Vec<String>,
        /// A member who is an admin (added as a member if need be); repeatable.
        #[arg(long = "admin")]
        admins: Vec<String>,
        #[arg(long, default_value = "")]
        avatar_url: String,
        #[arg(long, default_value_t = 0)]
        certification_level: i64,
    },
    /// Add a user to a group.
    AddMember { group: String, user: String },
    /// Add or update a bot.
    AddBot {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        avatar_url: String,
    },
    /// Set what USER sees as TARGET's name.
    SetRemark { user: String, target: String, remark: String },
    /// Issue a login token for a user (printed once; stored hashed).
    Token { user: String },
}

async fn service(db: &DbUrl) -> anyhow::Result<Service> {
    open_service(&Config { db: db.clone(), sqlite_readers: 1, list_cache_mib: 0, ..Config::default() }).await
}

/// Runs `yhconv import`.
pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let world = World::from_json(&text)?;
    let stats = service(&args.db).await?.import_world(world).await?;
    println!(
        "imported {} users, {} groups ({} memberships), {} bots, {} remarks into {}",
        stats.users, stats.groups, stats.memberships, stats.bots, stats.remarks, args.db
    );
    Ok(())
}

/// Runs `yhconv admin`.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let service = service(&args.db).await?;
    let world = match args.action {
        AdminAction::AddUser { id, name, email, password, avatar_url } => {
            World { users: vec![WorldUser { id, name, email, password, avatar_url, avatar_id: 0 }], ..World::default() }
        }
        AdminAction::AddGroup { id, name, owner, members, admins, avatar_url, certification_level } => World {
            groups: vec![WorldGroup {
                id,
                name,
                avatar_url,
                avatar_id: 0,
                certification_level,
                owner,
                members,
                admins,
            }],
            ..World::default()
        },
        AdminAction::AddMember { group, user } => {
            let group_id = Id::parse(&group, "group")?;
            let existing = match service.entity(group_id).await? {
                Some(e) if e.kind == yhconv_proto::ChatType::Group => e,
                Some(e) => anyhow::bail!("{group} is a {}, not a group", e.kind.as_str()),
                None => anyhow::bail!("no group {group}"),
            };
            World {
                groups: vec![WorldGroup {
                    id: group,
                    name: existing.name,
                    avatar_url: existing.avatar_url,
                    avatar_id: existing.avatar_id,
                    certification_level: existing.certification_level,
                    owner: None,
                    members: vec![user],
                    admins: vec![],
                }],
                ..World::default()
            }
        }
        AdminAction::AddBot { id, name, avatar_url } => {
            World { bots: vec![WorldBot { id, name, avatar_url, avatar_id: 0 }], ..World::default() }
        }
        AdminAction::SetRemark { user, target, remark } => {
            World { remarks: vec![WorldRemark { user, target, remark }], ..World::default() }
        }
        AdminAction::Token { user } => {
            let id = Id::parse(&user, "user")?;
            match service.entity(id).await? {
                Some(e) if e.kind == yhconv_proto::ChatType::User => {}
                _ => anyhow::bail!("no user {user}"),
            }
            println!("{}", service.issue_token(id, "admin").await?);
            return Ok(());
        }
    };
    service.import_world(world).await?;
    println!("ok");
    Ok(())
}
