//! The groups walkthrough of the README, from the CLI alone: create a group,
//! invite two users, chat, kick one, and see each user's list change; then
//! friends, remarks and renames.

mod common;

use common::*;
use serde_json::Value;

fn ids(list: &[Value]) -> Vec<String> {
    list.iter().map(|c| c["chat_id"].as_str().unwrap().to_owned()).collect()
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter().find(|c| c["chat_id"] == id).unwrap_or_else(|| panic!("{id} not in {list:#?}"))
}

#[test]
fn a_group_from_the_command_line() {
    let server = Server::demo();
    let (alice, bob, ming) = (server.token(ALICE), server.token(BOB), server.token(MING));

    let group =
        server.client(&alice, &["group", "create", "读书会", "--introduction", "每周一本"]).ok().trim().to_owned();
    assert!(group.parse::<u64>().is_ok(), "prints the new id: {group:?}");
    assert_eq!(ids(&server.list_json(&alice))[0], group, "at the top of Alice's list");
    server.client(&alice, &["group", "invite", &group, BOB, MING]).ok();
    for token in [&bob, &ming] {
        let list = server.list_json(token);
        assert_eq!(ids(&list)[0], group);
        assert_eq!(find(&list, &group)["unread_count"], 0, "joined read");
    }
    server.client(&alice, &["send", &group, "--type", "group", "第一章"]).ok();
    assert_eq!(find(&server.list_json(&ming), &group)["unread_count"], 1);

    let members = server.client(&alice, &["group", "members", &group]).ok().to_owned();
    assert!(members.contains("owner") && members.contains("小明") && members.contains("3 of 3"), "{members}");
    server.client(&alice, &["group", "kick", &group, MING]).ok();
    assert!(!ids(&server.list_json(&ming)).contains(&group), "the group left 小明's list");
    let err = server.client(&ming, &["send", &group, "--type", "group", "还在吗"]).fails().to_owned();
    assert!(err.contains(&format!("not a member of group {group}")), "{err}");
    server.client(&alice, &["send", &group, "--type", "group", "第二章"]).ok();
    let bobs = server.list_json(&bob);
    assert_eq!(
        (find(&bobs, &group)["unread_count"].as_u64(), find(&bobs, &group)["chat_content"].as_str()),
        (Some(2), Some("Alice: 第二章"))
    );

    let info = server.client(&bob, &["group", "info", &group]).ok().to_owned();
    assert!(info.contains("读书会") && info.contains("members  2") && info.contains("you      member"), "{info}");
    let info = server.client(&bob, &["group", "info", &group, "--json"]).json();
    assert_eq!(info["group"]["owner"], ALICE);

    // Friends: a request, seen by 小明, accepted; both address books.
    server.client(&bob, &["add-friend", MING, "--note", "书友"]).ok();
    let requests = server.client(&ming, &["requests", "--json"]).json();
    let id = requests[0]["request_id"].as_i64().unwrap().to_string();
    assert_eq!(requests[0]["note"], "书友");
    server.client(&ming, &["accept", &id]).ok();
    let friends = server.client(&bob, &["friends"]).ok().to_owned();
    assert!(friends.contains("小明") && friends.contains("用户"), "{friends}");
    let err = server.client(&bob, &["add-friend", MING]).fails().to_owned();
    assert!(err.contains("-9") && err.contains("您已添加过对方"), "{err}");

    // A rename shows in others' lists at once; a remark only in one's own.
    server.client(&bob, &["rename", "Robert"]).ok();
    assert_eq!(find(&server.list_json(&ming), BOB)["name"], "Robert");
    assert_eq!(find(&server.list_json(&alice), BOB)["real_name"], "Robert");
    server.client(&ming, &["remark", BOB, "老罗"]).ok();
    assert_eq!(find(&server.list_json(&ming), BOB)["name"], "老罗");
    let whois = server.client(&ming, &["whois", BOB]).ok().to_owned();
    assert!(whois.contains("Robert") && whois.contains("老罗"), "{whois}");

    server.client(&alice, &["group", "dismiss", &group]).ok();
    assert!(!ids(&server.list_json(&bob)).contains(&group), "dismissed: gone from every list");
    server.stop();
}
