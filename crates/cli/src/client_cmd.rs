//! `yhconv client`: the protocol from the command line, against this server
//! or Yunhu's own hosts. A readable table or lines by default, `--json` for
//! scripts.
//!
//! - here: the arguments, authentication and one function per command.
//! - `live`: `yhconv client live`, the list kept current in place.
//! - `people`: profiles, groups and friends (`whois`, `group …`, `friends`).
//! - `render`: protocol values as text lines, tables and JSON (pure).
//! - `text`: display widths, truncation, aligned tables, times (pure).

mod live;
mod people;
mod render;
pub(crate) mod text;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use yhconv_client::{ChatType, Client, Error, PushEvent};

/// How often `watch` sends a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// How long `watch` waits for a heartbeat's ack before calling the socket
/// dead (a refused login shows only as silence).
const ACK_WITHIN: Duration = Duration::from_secs(10);

/// `yhconv client [OPTIONS] <COMMAND>`: talk to a server as a user.
#[derive(Args, Debug)]
pub struct ClientArgs {
    /// Server base URL: this server, or Yunhu's https://chat-go.jwzhd.com.
    #[arg(long, env = "YHCONV_BASE_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub base_url: String,
    /// Push socket URL [default: the base URL with ws:// or wss:// and /ws;
    /// Yunhu's is wss://chat-ws-go.jwzhd.com/ws].
    #[arg(long, env = "YHCONV_WS_URL", global = true)]
    pub ws_url: Option<String>,
    /// Session token (from `login`); takes precedence over --email/--password.
    #[arg(long, env = "YHCONV_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Log in with this email (needs --password) when no token is given.
    #[arg(long, env = "YHCONV_EMAIL", global = true)]
    pub email: Option<String>,
    /// Password for --email.
    #[arg(long, env = "YHCONV_PASSWORD", hide_env_values = true, global = true)]
    pub password: Option<String>,
    /// Device id sent when logging in and on the push socket.
    #[arg(long, env = "YHCONV_DEVICE_ID", default_value = "yhconv-cli", global = true)]
    pub device_id: String,
    /// Platform sent when logging in and on the push socket (windows, macos,
    /// android, linux, ios, fuchsia or Web).
    #[arg(long, default_value = default_platform(), global = true)]
    pub platform: String,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ClientCommand,
}

/// The `yhconv client` commands.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Log in with --email and --password and print the token.
    Login,
    /// Show the conversation list.
    List,
    /// Mark a conversation read (dismiss-notification).
    Read { chat_id: String },
    /// Hide a conversation until its next message.
    Remove { chat_id: String },
    /// Bring a conversation to the top, creating it if needed (sort-change).
    Top { target_id: String },
    /// Turn do-not-disturb on or off for a conversation (no-notify).
    Mute { chat_id: String, state: OnOff },
    /// Send a text message; prints its msg id.
    Send {
        /// The recipient: user, group or bot id.
        chat_id: String,
        /// What CHAT_ID names: user, group or bot.
        #[arg(long = "type", value_name = "user|group|bot")]
        chat_type: ChatType,
        /// The message text.
        text: String,
        /// Mention a user id (or `all`); repeatable.
        #[arg(long = "mention", value_name = "ID")]
        mentions: Vec<String>,
    },
    /// Show a chat's latest messages, oldest first (times in UTC).
    Messages {
        /// The chat: user, group or bot id.
        chat_id: String,
        /// What CHAT_ID names: user, group or bot.
        #[arg(long = "type", value_name = "user|group|bot")]
        chat_type: ChatType,
        /// How many messages.
        #[arg(long, default_value_t = 20)]
        count: u64,
        /// Show the messages before this msg id.
        #[arg(long, value_name = "MSG_ID")]
        before: Option<String>,
    },
    /// Show the messages after a sequence number, oldest first
    /// (list-message-by-seq; 0: the newest 31).
    History {
        /// The chat: user, group or bot id.
        chat_id: String,
        /// What CHAT_ID names: user, group or bot.
        #[arg(long = "type", value_name = "user|group|bot")]
        chat_type: ChatType,
        /// Show the messages after this seq (at most 31).
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        after: u64,
    },
    /// Give one of your text messages a new text (edit-message).
    Edit {
        /// The chat: user, group or bot id.
        chat_id: String,
        /// What CHAT_ID names: user, group or bot.
        #[arg(long = "type", value_name = "user|group|bot")]
        chat_type: ChatType,
        /// The message to edit.
        msg_id: String,
        /// Its new text.
        text: String,
        /// Mention a user id (or `all`); repeatable. They replace the old mentions.
        #[arg(long = "mention", value_name = "ID")]
        mentions: Vec<String>,
    },
    /// Recall messages of one chat, all or nothing (recall-msg; yours, or
    /// anyone's in a group you own or administer).
    Recall {
        /// The chat: user, group or bot id.
        chat_id: String,
        /// What CHAT_ID names: user, group or bot.
        #[arg(long = "type", value_name = "user|group|bot")]
        chat_type: ChatType,
        /// The messages to recall.
        #[arg(required = true)]
        msg_ids: Vec<String>,
    },
    /// Pin a chat (sticky/add).
    Pin {
        chat_id: String,
        /// What CHAT_ID names: user, group or bot.
        #[arg(long = "type", value_name = "user|group|bot")]
        chat_type: ChatType,
    },
    /// Unpin a chat (sticky/delete).
    Unpin {
        chat_id: String,
        /// What CHAT_ID names: user, group or bot.
        #[arg(long = "type", value_name = "user|group|bot")]
        chat_type: ChatType,
    },
    /// Show your pins, the most recently pinned or moved first (sticky/list).
    Pins,
    /// Show who the token belongs to.
    Whoami,
    /// Revoke the token (its push sockets close too).
    Logout,
    /// Print pushed messages as they arrive, until Ctrl-C (times in UTC).
    Watch,
    #[command(flatten)]
    People(people::PeopleCommand),
    /// Show the conversation list and keep it current in place (names,
    /// badges, @, muted, previews, drafts, relative times) until Ctrl-C; on
    /// yhconv, read state and list changes made on other devices show by
    /// themselves.
    Live,
}

/// `on` or `off`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOff {
    On,
    Off,
}

/// Runs one `yhconv client` command. Every failure carries the server's code
/// and message when the server gave one ("server said -1: unknown chat 42").
pub async fn run(args: ClientArgs) -> anyhow::Result<()> {
    let mut client = Client::new(&args.base_url).map_err(fail("base url"))?;
    if let Some(ws_url) = given(&args.ws_url) {
        client = client.with_ws_url(ws_url);
    }
    if let ClientCommand::Login = args.command {
        let (email, password) = credentials(&args)?;
        let token =
            client.email_login(email, password, &args.device_id, &args.platform).await.map_err(fail("login"))?;
        return match args.json {
            true => emit_json(&json!({ "token": token })),
            false => emit(&format!("{token}\n")),
        };
    }
    let (client, temporary) = match given(&args.token) {
        Some(token) => (client.with_token(token), false),
        None => {
            let (email, password) = credentials(&args)?;
            let token =
                client.email_login(email, password, &args.device_id, &args.platform).await.map_err(fail("login"))?;
            (client.with_token(token), true)
        }
    };
    let result = command(&client, &args).await;
    if temporary {
        // The session was made for this one command: do not leave it behind.
        if let Err(e) = client.logout().await {
            tracing::debug!(error = %e, "logout of the temporary session failed");
        }
    }
    result
}

/// Runs a command that needs a logged-in client.
async fn command(client: &Client, args: &ClientArgs) -> anyhow::Result<()> {
    let json = args.json;
    match &args.command {
        ClientCommand::Login => bail!("login is handled before a session exists"),
        ClientCommand::List => {
            let list = client.conversation_list(None).await.map_err(fail("list"))?;
            if json {
                let items: Vec<Value> = list.data.iter().map(|c| render::conversation_json(c, &list.md5)).collect();
                emit_json(&Value::Array(items))
            } else {
                emit(&render::conversation_table(&list.data, now_ms()))
            }
        }
        ClientCommand::Read { chat_id } => {
            client.dismiss_notification(chat_id).await.map_err(fail("read"))?;
            ok(json)
        }
        ClientCommand::Remove { chat_id } => {
            client.remove_conversation(chat_id).await.map_err(fail("remove"))?;
            ok(json)
        }
        ClientCommand::Top { target_id } => {
            client.sort_change(target_id).await.map_err(fail("top"))?;
            ok(json)
        }
        ClientCommand::Mute { chat_id, state } => {
            let on = *state == OnOff::On;
            client.set_no_notify(chat_id, on).await.map_err(fail("mute"))?;
            ok(json)
        }
        ClientCommand::Send { chat_id, chat_type, text, mentions } => {
            let mentions: Vec<&str> = mentions.iter().map(String::as_str).collect();
            let msg_id = client.send_text(chat_id, *chat_type, text, &mentions).await.map_err(fail("send"))?;
            match json {
                true => emit_json(&json!({ "msg_id": msg_id })),
                false => emit(&format!("{msg_id}\n")),
            }
        }
        ClientCommand::Messages { chat_id, chat_type, count, before } => {
            let mut msgs =
                client.list_messages(chat_id, *chat_type, *count, before.as_deref()).await.map_err(fail("messages"))?;
            msgs.reverse(); // the server sends newest first
            messages_out(&msgs, json)
        }
        ClientCommand::History { chat_id, chat_type, after } => {
            let msgs = client.list_messages_after(chat_id, *chat_type, *after).await.map_err(fail("history"))?;
            messages_out(&msgs, json)
        }
        ClientCommand::Edit { chat_id, chat_type, msg_id, text, mentions } => {
            let mentions: Vec<&str> = mentions.iter().map(String::as_str).collect();
            client.edit_text(chat_id, *chat_type, msg_id, text, &mentions).await.map_err(fail("edit"))?;
            ok(json)
        }
        ClientCommand::Recall { chat_id, chat_type, msg_ids } => {
            let ids: Vec<&str> = msg_ids.iter().map(String::as_str).collect();
            client.recall(chat_id, *chat_type, &ids).await.map_err(fail("recall"))?;
            ok(json)
        }
        ClientCommand::Pin { chat_id, chat_type } => {
            client.pin(chat_id, *chat_type).await.map_err(fail("pin"))?;
            ok(json)
        }
        ClientCommand::Unpin { chat_id, chat_type } => {
            client.unpin(chat_id, *chat_type).await.map_err(fail("unpin"))?;
            ok(json)
        }
        ClientCommand::Pins => {
            let pins = client.pins().await.map_err(fail("pins"))?;
            match json {
                true => emit_json(&serde_json::to_value(&pins)?),
                false => emit(&render::pin_table(&pins, now_ms())),
            }
        }
        ClientCommand::Whoami => {
            let me = client.user_info().await.map_err(fail("whoami"))?;
            match json {
                true => emit_json(&render::user_json(&me)),
                false => emit(&format!("id     {}\nname   {}\nemail  {}\n", me.id, me.name, me.email)),
            }
        }
        ClientCommand::Logout => {
            client.logout().await.map_err(fail("logout"))?;
            ok(json)
        }
        ClientCommand::Watch => watch(client, args).await,
        ClientCommand::People(command) => people::run(client, command, json).await,
        ClientCommand::Live => live::live(client, args).await,
    }
}

/// `watch`: one line (or JSON object) per pushed message until Ctrl-C or
/// the server closes the socket. Each heartbeat must be acked within
/// [`ACK_WITHIN`], which also catches a refused login early.
async fn watch(client: &Client, args: &ClientArgs) -> anyhow::Result<()> {
    let me = client.user_info().await.map_err(fail("user info"))?;
    let mut push = client.connect_push(&me.id, &args.platform, &args.device_id).await.map_err(fail("push socket"))?;
    // The protocol does not answer a login; the ack of the first heartbeat
    // (sent right away, after the login) says the socket is subscribed, so
    // "watching" is announced only then: a script that waits for the line
    // misses no message sent after it.
    let mut announced = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
    let mut ack_deadline: Option<tokio::time::Instant> = None;
    loop {
        let deadline = ack_deadline.unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            _ = &mut ctrl_c => {
                push.close().await.map_err(fail("push socket"))?;
                return Ok(());
            }
            _ = beat.tick() => {
                push.heartbeat().await.map_err(fail("push socket"))?;
                ack_deadline.get_or_insert(tokio::time::Instant::now() + ACK_WITHIN);
            }
            _ = tokio::time::sleep_until(deadline), if ack_deadline.is_some() => {
                bail!(
                    "push socket: no heartbeat ack within {}s (login refused or connection dead)",
                    ACK_WITHIN.as_secs()
                );
            }
            event = push.next_event() => match event.map_err(fail("push socket"))? {
                None => match push.close_reason() {
                    // Revoked token, bad frames, or fell behind: not a clean end.
                    Some(close) if close.kind.map_or(matches!(close.code, 1008 | 1013), |kind| !kind.is_routine()) => {
                        bail!("push socket: the server closed it: {} ({})", close.reason, close.code)
                    }
                    Some(close) => {
                        eprintln!("the server closed the connection: {} ({})", close.reason, close.code);
                        return Ok(());
                    }
                    None => {
                        eprintln!("the server closed the connection");
                        return Ok(());
                    }
                },
                Some(PushEvent::HeartbeatAck { .. }) => {
                    ack_deadline = None;
                    if !announced {
                        announced = true;
                        eprintln!("watching as {} ({}); Ctrl-C to stop", me.name, me.id);
                    }
                }
                Some(PushEvent::Message(m)) => match args.json {
                    true => emit(&format!("{}\n", render::push_json(&m)))?,
                    false => emit(&format!("{}\n", render::push_line(&m)))?,
                },
                Some(PushEvent::Edited(m)) => match args.json {
                    true => {
                        let mut value = render::push_json(&m);
                        value["edited"] = serde_json::Value::Bool(true);
                        emit(&format!("{value}\n"))?
                    }
                    false => emit(&format!("{} (edited)\n", render::push_line(&m)))?,
                },
                Some(PushEvent::Other { cmd }) => tracing::debug!(%cmd, "ignored push frame"),
                Some(PushEvent::Draft(_) | PushEvent::ListRows(_)) => {}
            },
        }
    }
}

/// History, oldest first: one line per message, or a JSON array.
fn messages_out(msgs: &[yhconv_client::pb::Msg], json: bool) -> anyhow::Result<()> {
    if json {
        emit_json(&Value::Array(msgs.iter().map(render::message_json).collect()))
    } else {
        let lines: String = msgs.iter().map(|m| render::message_line(m) + "\n").collect();
        emit(&lines)
    }
}

/// Email and password, or a clear error saying what is missing.
fn credentials(args: &ClientArgs) -> anyhow::Result<(&str, &str)> {
    match (given(&args.email), given(&args.password)) {
        (Some(email), Some(password)) => Ok((email, password)),
        (Some(_), None) => bail!("--email needs --password (or YHCONV_PASSWORD)"),
        (None, Some(_)) => bail!("--password needs --email (or YHCONV_EMAIL)"),
        (None, None) => bail!(
            "not logged in: give --token (or YHCONV_TOKEN), or --email and --password \
             (or YHCONV_EMAIL and YHCONV_PASSWORD)"
        ),
    }
}

/// A non-empty option value (an empty environment variable counts as unset).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Turns a client error into an error naming what failed, keeping the
/// server's code and message and every cause (e.g. "connection refused").
fn fail(what: &'static str) -> impl FnOnce(Error) -> anyhow::Error {
    move |e| {
        let mut text = format!("{what}: {e}");
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            // reqwest repeats its own message as its first cause.
            let c_text = c.to_string();
            if !text.contains(&c_text) {
                text.push_str(&format!(": {c_text}"));
            }
            cause = c.source();
        }
        if e.is_unauthorized() {
            text.push_str(" (the token is missing, expired or revoked: log in again)");
        }
        anyhow!(text)
    }
}

/// The short confirmation of a command that returns nothing.
fn ok(json: bool) -> anyhow::Result<()> {
    match json {
        true => emit_json(&json!({ "ok": true })),
        false => emit("ok\n"),
    }
}

/// Pretty JSON and a newline on stdout.
fn emit_json(value: &Value) -> anyhow::Result<()> {
    emit(&format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The protocol's name for the platform this runs on.
fn default_platform() -> &'static str {
    match std::env::consts::OS {
        "windows" => "windows",
        "macos" => "macos",
        "android" => "android",
        "ios" => "ios",
        _ => "linux",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Subcommand, Debug)]
    enum Top {
        Client(ClientArgs),
    }

    fn parse(argv: &[&str]) -> Result<ClientArgs, clap::Error> {
        let argv = ["yhconv", "client"].iter().chain(argv);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Top::Client(args) => args,
        })
    }

    #[test]
    fn json_works_before_and_after_the_command() {
        assert!(parse(&["--json", "list"]).unwrap().json);
        assert!(parse(&["list", "--json"]).unwrap().json);
        assert!(!parse(&["list"]).unwrap().json);
    }

    #[test]
    fn options_work_after_the_command() {
        let args = parse(&["list", "--base-url", "http://h:1", "--token", "t"]).unwrap();
        assert_eq!(args.base_url, "http://h:1");
        assert_eq!(args.token.as_deref(), Some("t"));
        let args = parse(&["--base-url", "http://h:2", "list"]).unwrap();
        assert_eq!(args.base_url, "http://h:2");
    }

    #[test]
    fn send_and_messages_parse() {
        let args = parse(&["send", "42", "--type", "group", "你好", "--mention", "7", "--mention", "all"]).unwrap();
        let ClientCommand::Send { chat_id, chat_type, text, mentions } = args.command else {
            panic!("not send");
        };
        assert_eq!((chat_id.as_str(), chat_type, text.as_str()), ("42", ChatType::Group, "你好"));
        assert_eq!(mentions, ["7", "all"]);
        let args = parse(&["messages", "5", "--type", "user"]).unwrap();
        assert!(matches!(args.command, ClientCommand::Messages { count: 20, before: None, .. }));
        assert!(parse(&["send", "42", "--type", "channel", "x"]).is_err());
        assert!(parse(&["mute", "42", "maybe"]).is_err());
        let args = parse(&["mute", "42", "off"]).unwrap();
        assert!(matches!(args.command, ClientCommand::Mute { state: OnOff::Off, .. }));
    }

    #[test]
    fn missing_credentials_are_explained() {
        let mut args = parse(&["list"]).unwrap();
        args.token = None;
        args.email = None;
        args.password = None;
        let err = credentials(&args).unwrap_err().to_string();
        assert!(err.contains("--token") && err.contains("--email"), "{err}");
        args.email = Some("a@b.c".into());
        let err = credentials(&args).unwrap_err().to_string();
        assert!(err.contains("--password"), "{err}");
        args.password = Some(String::new());
        assert!(credentials(&args).is_err(), "an empty password counts as none");
    }

    #[test]
    fn errors_carry_the_server_code_and_msg() {
        let err = fail("send")(Error::Api { code: -1, msg: "unknown chat 42".into() });
        assert_eq!(err.to_string(), "send: server said -1: unknown chat 42");
        let err = fail("list")(Error::Api { code: -101, msg: "未登录".into() });
        assert!(err.to_string().starts_with("list: server said -101: 未登录 ("));
    }
}
