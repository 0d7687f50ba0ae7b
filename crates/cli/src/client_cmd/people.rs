//! `yhconv client` commands for profiles, groups and friends: `whois`,
//! `group …`, `friends`, `requests`, `add-friend`, `accept`, `remark`,
//! `rename`, `avatar`.

use clap::Subcommand;
use serde_json::json;
use yhconv_client::{pb, ChatType, Client};

use super::text::{one_line, table, truncate, utc_datetime};
use super::{emit, emit_json, fail, ok};

/// Widest name cell, in columns.
const NAME_COLUMNS: usize = 24;

/// The profile, group and friend commands.
#[derive(Subcommand, Debug)]
pub enum PeopleCommand {
    /// Show a user's profile (get-user), with your remark for them.
    Whois { user_id: String },
    /// Groups: info, members, create, invite, kick, leave, dismiss, gag.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Show your address book: friends, groups and bots.
    Friends,
    /// Show the friend requests you sent and received.
    Requests,
    /// Ask a user to be friends, join a group, or add a bot (friend/apply).
    AddFriend {
        /// The user, group or bot id.
        chat_id: String,
        /// What CHAT_ID names: user, group or bot.
        #[arg(long = "type", value_name = "user|group|bot", default_value = "user")]
        chat_type: ChatType,
        /// A note for the other user.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Agree to a friend request (or --reject it).
    Accept {
        /// The request id (`requests` shows it).
        request_id: i64,
        /// Reject instead.
        #[arg(long)]
        reject: bool,
    },
    /// Set what you call a user or bot; an empty name clears it.
    Remark { target_id: String, name: String },
    /// Change your name.
    Rename { name: String },
    /// Change your avatar (a full URL).
    Avatar { url: String },
}

/// `yhconv client group …`.
#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Show a group's info (your level, mute and pin if you are a member).
    Info { group_id: String },
    /// List a group's members (members only).
    Members {
        group_id: String,
        /// Only those whose name contains this.
        #[arg(long, default_value = "")]
        keyword: String,
        /// The page, from 1.
        #[arg(long, default_value_t = 1)]
        page: i32,
        /// Members per page (at most 500).
        #[arg(long, default_value_t = 50)]
        size: i32,
    },
    /// Create a group you own; prints its id.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        introduction: String,
    },
    /// Add users (or bots, with --type bot) to a group.
    Invite {
        group_id: String,
        #[arg(required = true)]
        ids: Vec<String>,
        /// What the ids name: user or bot.
        #[arg(long = "type", value_name = "user|bot", default_value = "user")]
        chat_type: ChatType,
    },
    /// Remove a member (owner or admin).
    Kick { group_id: String, user_id: String },
    /// Leave a group.
    Leave { group_id: String },
    /// Dismiss a group you own.
    Dismiss { group_id: String },
    /// Gag a member for SECONDS (0 lifts it, -1 until lifted).
    Gag {
        group_id: String,
        user_id: String,
        #[arg(allow_negative_numbers = true)]
        seconds: i64,
    },
    /// Make a member an admin (or --off: a plain member again); owner only.
    Admin {
        group_id: String,
        user_id: String,
        #[arg(long)]
        off: bool,
    },
}

/// The level's name: owner, admin or member.
fn level_name(level: i32) -> &'static str {
    match level {
        100 => "owner",
        2 => "admin",
        _ => "member",
    }
}

/// Runs one of these commands.
pub async fn run(client: &Client, command: &PeopleCommand, json: bool) -> anyhow::Result<()> {
    match command {
        PeopleCommand::Whois { user_id } => {
            let user = client.get_user(user_id).await.map_err(fail("whois"))?;
            if json {
                return emit_json(&serde_json::to_value(&user)?);
            }
            let remark = user.remark_info.as_ref().map(|r| r.remark_name.as_str()).unwrap_or("");
            let intro = user.profile_info.as_ref().map(|p| p.introduction.as_str()).unwrap_or("");
            emit(&format!(
                "id          {}\nname        {}\nremark      {remark}\navatar      {}\nregistered  {}\nintro       {}\n",
                user.id,
                user.name,
                user.avatar_url,
                user.register_time,
                one_line(intro)
            ))
        }
        PeopleCommand::Group(group) => run_group(client, group, json).await,
        PeopleCommand::Friends => {
            let book = client.address_book(None).await.map_err(fail("friends"))?;
            if json {
                return emit_json(&serde_json::to_value(&book.data)?);
            }
            let rows: Vec<Vec<String>> = book
                .data
                .iter()
                .flat_map(|section| {
                    section.data.iter().map(move |e| {
                        vec![
                            truncate(&one_line(&e.remark), NAME_COLUMNS),
                            section.list_name.clone(),
                            if section.chat_type == 2 {
                                level_name(e.permisson_level).to_owned()
                            } else {
                                String::new()
                            },
                            if e.no_disturb { "yes".into() } else { String::new() },
                            e.chat_id.clone(),
                        ]
                    })
                })
                .collect();
            match rows.is_empty() {
                true => emit("no friends, groups or bots\n"),
                false => emit(&table(&["NAME", "SECTION", "ROLE", "MUTED", "ID"], &rows)),
            }
        }
        PeopleCommand::Requests => {
            let list = client.friend_requests().await.map_err(fail("requests"))?;
            if json {
                return emit_json(&serde_json::to_value(&list.requests)?);
            }
            let state = |r: &pb::FriendRequest| match r.result {
                0 => "pending",
                1 => "agreed",
                2 => "rejected",
                _ => "ignored",
            };
            let rows: Vec<Vec<String>> = list
                .requests
                .iter()
                .map(|r| {
                    vec![
                        r.request_id.to_string(),
                        format!("{} ({})", truncate(&one_line(&r.name), NAME_COLUMNS), r.inviter_id),
                        format!("{} ({})", truncate(&one_line(&r.receiver_name), NAME_COLUMNS), r.receiver_id),
                        state(r).to_owned(),
                        truncate(&one_line(&r.note), 30),
                        utc_datetime(r.invite_at.max(0) as u64 * 1000),
                    ]
                })
                .collect();
            match rows.is_empty() {
                true => emit("no friend requests\n"),
                false => emit(&table(&["ID", "FROM", "TO", "STATE", "NOTE", "SENT (UTC)"], &rows)),
            }
        }
        PeopleCommand::AddFriend { chat_id, chat_type, note } => {
            client.apply(chat_id, *chat_type, note).await.map_err(fail("add-friend"))?;
            ok(json)
        }
        PeopleCommand::Accept { request_id, reject } => {
            client.answer_request(*request_id, !reject).await.map_err(fail("accept"))?;
            ok(json)
        }
        PeopleCommand::Remark { target_id, name } => {
            client.save_remark(target_id, name).await.map_err(fail("remark"))?;
            ok(json)
        }
        PeopleCommand::Rename { name } => {
            client.edit_nickname(name).await.map_err(fail("rename"))?;
            ok(json)
        }
        PeopleCommand::Avatar { url } => {
            client.edit_avatar(url).await.map_err(fail("avatar"))?;
            ok(json)
        }
    }
}

async fn run_group(client: &Client, command: &GroupCommand, json: bool) -> anyhow::Result<()> {
    match command {
        GroupCommand::Info { group_id } => {
            let info = client.group_info(group_id).await.map_err(fail("group info"))?;
            let data = info.data.unwrap_or_default();
            if json {
                return emit_json(&json!({ "group": data, "bots": info.bot }));
            }
            let bots: Vec<&str> = info.bot.iter().map(|b| b.name.as_str()).collect();
            let or_none = |items: String| if items.is_empty() { "none".to_owned() } else { items };
            emit(&format!(
                "id       {}\nname     {}\nintro    {}\nmembers  {}\nowner    {}\nadmins   {}\nbots     {}\nyou      {}{}{}\n",
                data.group_id,
                data.name,
                one_line(&data.introduction),
                data.headcount,
                data.owner,
                or_none(data.admin.join(", ")),
                or_none(bots.join(", ")),
                level_name(data.permisson_level),
                if data.do_not_disturb { ", muted" } else { "" },
                if data.top { ", pinned" } else { "" },
            ))
        }
        GroupCommand::Members { group_id, keyword, page, size } => {
            let (members, total) =
                client.group_members(group_id, *page, *size, keyword).await.map_err(fail("group members"))?;
            if json {
                return emit_json(&json!({ "members": members, "total": total }));
            }
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|m| {
                    let user = m.user_info.clone().unwrap_or_default();
                    vec![
                        truncate(&one_line(&user.name), NAME_COLUMNS),
                        level_name(m.permission_level).to_owned(),
                        match (m.is_gag, m.gag_time) {
                            (false, _) => String::new(),
                            (true, -1) => "until lifted".to_owned(),
                            (true, until) => format!("until {}", utc_datetime(until.max(0) as u64 * 1000)),
                        },
                        user.user_id,
                    ]
                })
                .collect();
            let mut out = table(&["NAME", "ROLE", "GAGGED", "USER ID"], &rows);
            out.push_str(&format!("{} of {total}\n", members.len()));
            emit(&out)
        }
        GroupCommand::Create { name, introduction } => {
            let id = client.create_group(name, introduction).await.map_err(fail("group create"))?;
            match json {
                true => emit_json(&json!({ "group_id": id })),
                false => emit(&format!("{id}\n")),
            }
        }
        GroupCommand::Invite { group_id, ids, chat_type } => {
            for id in ids {
                client.invite(group_id, id, *chat_type).await.map_err(fail("group invite"))?;
            }
            ok(json)
        }
        GroupCommand::Kick { group_id, user_id } => {
            client.remove_member(group_id, user_id).await.map_err(fail("group kick"))?;
            ok(json)
        }
        GroupCommand::Leave { group_id } => {
            client.leave_group(group_id).await.map_err(fail("group leave"))?;
            ok(json)
        }
        GroupCommand::Dismiss { group_id } => {
            client.dismiss_group(group_id).await.map_err(fail("group dismiss"))?;
            ok(json)
        }
        GroupCommand::Gag { group_id, user_id, seconds } => {
            client.gag_member(group_id, user_id, *seconds).await.map_err(fail("group gag"))?;
            ok(json)
        }
        GroupCommand::Admin { group_id, user_id, off } => {
            client.set_admin(group_id, user_id, !off).await.map_err(fail("group admin"))?;
            ok(json)
        }
    }
}
