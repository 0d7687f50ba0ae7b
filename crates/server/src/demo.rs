//! The demo world for `yhconv serve --demo`: three users, a group, a bot, a
//! remark, and a few conversations already active.

use yhconv_proto::pb::{MsgContent, SendMessage};
use yhconv_proto::{ChatType, ContentType};

use crate::domain::error::Result;
use crate::domain::ids::Id;
use crate::service::identity::{World, WorldBot, WorldGroup, WorldRemark, WorldUser};
use crate::service::Service;

/// A demo login: email and password.
pub struct DemoLogin {
    pub id: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub password: &'static str,
}

/// The demo users.
pub const LOGINS: [DemoLogin; 3] = [
    DemoLogin { id: "10001", name: "Alice", email: "alice@example.com", password: "alice-demo" },
    DemoLogin { id: "10002", name: "Bob", email: "bob@example.com", password: "bob-demo" },
    DemoLogin { id: "10003", name: "小明", email: "xiaoming@example.com", password: "xiaoming-demo" },
];

/// The demo group's id.
pub const GROUP_ID: &str = "20001";
/// The demo bot's id.
pub const BOT_ID: &str = "30001";

/// The demo world's identities.
pub fn world() -> World {
    World {
        users: LOGINS
            .iter()
            .map(|l| WorldUser {
                id: l.id.into(),
                name: l.name.into(),
                email: Some(l.email.into()),
                password: Some(l.password.into()),
                avatar_url: format!("https://example.com/avatar/{}.png", l.id),
                avatar_id: 0,
            })
            .collect(),
        groups: vec![WorldGroup {
            id: GROUP_ID.into(),
            name: "yhconv 开发组".into(),
            avatar_url: "https://example.com/avatar/group.png".into(),
            avatar_id: 0,
            certification_level: 0,
            owner: Some("10001".into()),
            members: LOGINS.iter().map(|l| l.id.to_string()).collect(),
            admins: vec![],
        }],
        bots: vec![WorldBot {
            id: BOT_ID.into(),
            name: "天气机器人".into(),
            avatar_url: "https://example.com/avatar/bot.png".into(),
            avatar_id: 0,
        }],
        remarks: vec![WorldRemark { user: "10001".into(), target: "10002".into(), remark: "老鲍 (Bob)".into() }],
    }
}

fn message(
    msg_id: &str,
    chat_id: &str,
    chat_type: ChatType,
    content_type: ContentType,
    text: &str,
    mentions: &[&str],
) -> SendMessage {
    SendMessage {
        msg_id: msg_id.into(),
        chat_id: chat_id.into(),
        chat_type: chat_type.code(),
        content: Some(MsgContent {
            text: text.into(),
            image_url: if content_type == ContentType::Image {
                "https://example.com/cat.jpg".into()
            } else {
                String::new()
            },
            mentioned_id: mentions.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        }),
        content_type: content_type.code(),
        command_id: 0,
        quote_msg_id: String::new(),
    }
}

/// Imports the demo world and, the first time, sends its opening messages
/// (their `msg_id`s are fixed, so a second run stores nothing new).
pub async fn seed(service: &Service) -> Result<()> {
    service.import_world(world()).await?;
    let (alice, bob, ming) = (Id::from_raw(10001), Id::from_raw(10002), Id::from_raw(10003));
    let script = [
        (bob, message("demo-1", "10001", ChatType::User, ContentType::Text, "你好 Alice！今晚一起吃饭吗？", &[])),
        (alice, message("demo-2", "10002", ChatType::User, ContentType::Text, "好呀，七点见 🍜", &[])),
        (ming, message("demo-3", GROUP_ID, ChatType::Group, ContentType::Text, "大家好 👋 新版本今天发布", &[])),
        (bob, message("demo-4", GROUP_ID, ChatType::Group, ContentType::Text, "@Alice 请看一下 PR #42", &["10001"])),
        (ming, message("demo-5", GROUP_ID, ChatType::Group, ContentType::Image, "", &[])),
        (alice, message("demo-6", BOT_ID, ChatType::Bot, ContentType::Text, "/weather 上海", &[])),
        (ming, message("demo-7", "10002", ChatType::User, ContentType::Markdown, "**周报** 已经写好了\n请查收", &[])),
    ];
    for (sender, msg) in script {
        service.send_message(sender, msg.into()).await?;
    }
    Ok(())
}
