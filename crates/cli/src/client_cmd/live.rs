//! `yhconv client live`: the conversation list in the terminal, kept
//! current in place from the push socket ([`yhconv_client::LiveList`]) until
//! Ctrl-C. It reconnects by itself and catches up with a delta list.

use std::time::Duration;

use anyhow::bail;
use serde_json::Value;
use yhconv_client::live::Applied;
use yhconv_client::{pb, Client, LiveList, PushEvent};

use super::{emit, fail, now_ms, render, ClientArgs, HEARTBEAT_EVERY};

/// How often the view is drawn again with nothing new (relative times move).
const REDRAW_EVERY: Duration = Duration::from_secs(15);
/// How long to wait before connecting again after the socket closed.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);
/// Clears the screen and moves the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Runs `yhconv client live`.
pub async fn live(client: &Client, args: &ClientArgs) -> anyhow::Result<()> {
    let me = client.user_info().await.map_err(fail("user info"))?;
    let mut list = LiveList::new(&me.id);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut first = true;
    loop {
        let mut push = match client.connect_live_push(&me.id, &args.platform, &args.device_id).await {
            Ok(push) => push,
            Err(e) if first => return Err(fail("push socket")(e)),
            Err(e) => {
                tracing::warn!(error = %e, "push socket: reconnecting");
                tokio::select! {
                    _ = &mut ctrl_c => return Ok(()),
                    _ = tokio::time::sleep(RECONNECT_AFTER) => continue,
                }
            }
        };
        first = false;
        // Whatever changed while the socket was down, in one delta.
        list.resync(client).await.map_err(fail("list"))?;
        draw(&me, &list, args.json, "live")?;
        let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
        let mut redraw = tokio::time::interval_at(tokio::time::Instant::now() + REDRAW_EVERY, REDRAW_EVERY);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => {
                    let _ = push.close().await;
                    return Ok(());
                }
                _ = beat.tick() => {
                    push.heartbeat().await.map_err(fail("push socket"))?;
                }
                _ = redraw.tick() => draw(&me, &list, args.json, "live")?,
                event = push.next_event() => match event {
                    Ok(Some(event)) => {
                        if matches!(event, PushEvent::HeartbeatAck { .. } | PushEvent::Other { .. }) {
                            continue;
                        }
                        if list.apply(&event) == Applied::NeedsResync {
                            list.resync(client).await.map_err(fail("list"))?;
                        }
                        draw(&me, &list, args.json, "live")?;
                    }
                    Ok(None) => match push.close_reason() {
                        Some(close) if close.kind == Some(yhconv_proto::CloseReason::LoggedOut) => {
                            bail!("push socket: the server closed it: {} ({})", close.reason, close.code)
                        }
                        _ => break,
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "push socket failed");
                        break;
                    }
                },
            }
        }
        draw(&me, &list, args.json, "reconnecting")?;
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// Draws the list: the table in place of the last one, or, with `--json`,
/// one line holding every row.
fn draw(me: &pb::UserInfoData, list: &LiveList, json: bool, state: &str) -> anyhow::Result<()> {
    let rows: Vec<pb::Conversation> = list
        .rows()
        .into_iter()
        .map(|row| {
            let mut row = row.clone();
            if let Some(draft) = list.draft(&row.chat_id) {
                row.chat_content = format!("[草稿] {draft}");
            }
            row
        })
        .collect();
    if json {
        let items: Vec<Value> = rows.iter().map(|c| render::conversation_json(c, &list.md5())).collect();
        return emit(&format!("{}\n", Value::Array(items)));
    }
    let header = format!(
        "{} ({}): {} unread, {} conversations, {state}; Ctrl-C to stop\n\n",
        me.name,
        me.id,
        list.unread_total(),
        rows.len()
    );
    emit(&format!("{CLEAR}{header}{}", render::conversation_table(&rows, now_ms())))
}
