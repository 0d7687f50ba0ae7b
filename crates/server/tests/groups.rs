//! Groups, friends and profiles over the wire (`shared/PROTOCOL.md`,
//! "Profiles and info", "Membership"): every call, the bodies real clients
//! send, each refusal with its code and message, and how each call changes
//! the lists of the users it touches.

mod common;

use std::time::Duration;

use common::*;
use prost::Message;
use yhconv_client::Client;
use yhconv_proto::ChatType;

/// A raw JSON POST as a client writes it; the answer's JSON.
async fn post_json(app: &TestApp, client: &Client, path: &str, body: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{}{path}", app.base_url))
        .header("token", client.token().unwrap())
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn ok(answer: &serde_json::Value) {
    assert_eq!(answer["code"], 1, "{answer}");
}

fn ids(list: &[yhconv_proto::pb::Conversation]) -> Vec<String> {
    list.iter().map(|c| c.chat_id.clone()).collect()
}

async fn members(client: &Client, group: &str) -> Vec<(String, i32)> {
    let (members, total) = client.group_members(group, 1, 50, "").await.unwrap();
    assert_eq!(total as usize, members.len());
    members.into_iter().map(|m| (m.user_info.unwrap().user_id, m.permission_level)).collect()
}

#[tokio::test]
async fn a_group_is_created_joined_chatted_in_and_left_by_a_kick() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    let ann_md5 = ann.conversation_list(None).await.unwrap().md5;

    let group = ann.create_group("  Book club ", "we read").await.unwrap();
    let first = &list(&ann).await[0];
    assert_eq!((first.chat_id.as_str(), first.name.as_str(), first.chat_type), (group.as_str(), "Book club", 2));
    assert_eq!((first.unread_count, first.chat_content.as_str()), (0, ""), "empty, at the top");
    assert_ne!(ann.conversation_list(None).await.unwrap().md5, ann_md5);
    assert_eq!(members(&ann, &group).await, [(ANN.to_owned(), 100)]);

    ann.invite(&group, BEN, ChatType::User).await.unwrap();
    ann.invite(&group, CAT, ChatType::User).await.unwrap();
    for member in [&ben, &cat] {
        let row = entry(member, &group).await;
        assert_eq!((row.unread_count, row.name.as_str()), (0, "Book club"), "joined read, at once");
        assert_eq!(ids(&list(member).await)[0], group, "at the top");
    }
    let mut cat_socket = acked_push(&cat, CAT, "cat-phone").await;
    ann.send_text(&group, ChatType::Group, "chapter one", &[]).await.unwrap();
    assert_eq!(entry(&cat, &group).await.unread_count, 1);
    assert_eq!(next_text(&mut cat_socket, Duration::from_secs(10)).await.as_deref(), Some("chapter one"));

    let cat_md5 = cat.conversation_list(None).await.unwrap().md5;
    ann.remove_member(&group, CAT).await.unwrap();
    assert!(!ids(&list(&cat).await).contains(&group), "the group left Cat's list");
    assert_ne!(cat.conversation_list(None).await.unwrap().md5, cat_md5);
    let not_member = (-1, format!("not a member of group {group}"));
    assert_eq!(api_error(cat.send_text(&group, ChatType::Group, "hey", &[]).await), not_member);
    assert_eq!(api_error(cat.list_messages(&group, ChatType::Group, 10, None).await), not_member);
    assert_eq!(api_error(cat.group_members(&group, 1, 10, "").await), not_member);
    ann.send_text(&group, ChatType::Group, "chapter two", &[]).await.unwrap();
    assert_eq!(next_text(&mut cat_socket, Duration::from_millis(500)).await, None, "no pushes after a kick");
    let ben_row = entry(&ben, &group).await;
    assert_eq!((ben_row.unread_count, ben_row.chat_content.as_str()), (2, "Ann: chapter two"));
    assert_eq!(members(&ben, &group).await, [(ANN.to_owned(), 100), (BEN.to_owned(), 0)]);
    app.shutdown().await;
}

#[tokio::test]
async fn owners_and_admins_manage_members_as_the_official_server_says() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    ann.invite(GROUP, CAT, ChatType::User).await.unwrap();
    let no_permission = (-1, "您无权操作此群聊，请联系群主或者管理员".to_owned());
    assert_eq!(api_error(ben.remove_member(GROUP, CAT).await), no_permission);
    assert_eq!(api_error(ben.gag_member(GROUP, CAT, 60).await), no_permission);
    assert_eq!(
        api_error(ben.set_admin(GROUP, CAT, true).await),
        (-1, "only the group's owner can make or unmake admins".into())
    );

    ann.set_admin(GROUP, BEN, true).await.unwrap();
    let info = ben.group_info(GROUP).await.unwrap().data.unwrap();
    assert_eq!((info.permisson_level, info.admin.clone(), info.owner.as_str()), (2, vec![BEN.to_owned()], ANN));
    assert_eq!(members(&ann, GROUP).await, [(ANN.to_owned(), 100), (BEN.to_owned(), 2), (CAT.to_owned(), 0)]);
    assert_eq!(api_error(ben.remove_member(GROUP, ANN).await), (-1, "不可以移除群主！".into()));
    assert_eq!(api_error(ben.remove_member(GROUP, "424242").await), (-1, "该用户不在这个群聊，请重试".into()));
    assert_eq!(api_error(ben.gag_member(GROUP, ANN, 60).await), (-1, "不可以禁言群主！".into()));

    // Gags: the member's sends are refused until the gag ends or is lifted.
    ben.gag_member(GROUP, CAT, 60).await.unwrap();
    let gagged = (-1, "you are gagged in this group".to_owned());
    assert_eq!(api_error(cat.send_text(GROUP, ChatType::Group, "hi", &[]).await), gagged);
    let (page, _) = ann.group_members(GROUP, 1, 10, "cat").await.unwrap();
    assert!(page[0].is_gag && page[0].gag_time > 1_700_000_000, "{:?}", page[0]);
    ben.gag_member(GROUP, CAT, 0).await.unwrap();
    cat.send_text(GROUP, ChatType::Group, "free", &[]).await.unwrap();
    ann.gag_member(GROUP, CAT, -1).await.unwrap();
    let (page, _) = ann.group_members(GROUP, 1, 10, "cat").await.unwrap();
    assert_eq!((page[0].is_gag, page[0].gag_time), (true, -1));
    // Though the server keeps what Cat's last send was decided on.
    assert_eq!(api_error(cat.send_text(GROUP, ChatType::Group, "still?", &[]).await), gagged);
    assert_eq!(
        api_error(ann.gag_member(GROUP, CAT, -5).await),
        (-1, "gagTime must be seconds, 0 (lift) or -1 (until lifted), got -5".into())
    );

    // An admin removes plain members, never another admin; the owner can.
    ann.set_admin(GROUP, CAT, true).await.unwrap();
    assert_eq!(api_error(ben.remove_member(GROUP, CAT).await), no_permission);
    ann.set_admin(GROUP, CAT, false).await.unwrap();
    ben.remove_member(GROUP, CAT).await.unwrap();
    assert_eq!(members(&ann, GROUP).await, [(ANN.to_owned(), 100), (BEN.to_owned(), 2)]);
    assert_eq!(api_error(ann.leave_group(GROUP).await), (-1, "the owner cannot leave the group".into()));
    app.shutdown().await;
}

#[tokio::test]
async fn a_dismissed_group_leaves_every_list_and_its_pins_at_once() {
    let app = TestApp::spawn().await;
    let (ann, ben) = (app.client(ANN).await, app.client(BEN).await);
    ann.send_text(GROUP, ChatType::Group, "last words", &[]).await.unwrap();
    ben.pin(GROUP, ChatType::Group).await.unwrap();
    let ben_md5 = ben.conversation_list(None).await.unwrap().md5;
    assert_eq!(api_error(ben.dismiss_group(GROUP).await), (-1, "only the group's owner can dismiss it".into()));
    ann.dismiss_group(GROUP).await.unwrap();
    for member in [&ann, &ben] {
        assert!(!ids(&list(member).await).contains(&GROUP.to_owned()), "gone from every list");
        assert!(member.pins().await.unwrap().is_empty(), "its pins too");
        let book = member.address_book(None).await.unwrap();
        assert!(book.data[1].data.is_empty(), "and from the address book");
    }
    assert_ne!(ben.conversation_list(None).await.unwrap().md5, ben_md5);
    let dismissed = (-1, format!("group {GROUP} was dismissed"));
    assert_eq!(api_error(ben.group_info(GROUP).await), dismissed);
    assert_eq!(api_error(ann.dismiss_group(GROUP).await), dismissed);
    assert_eq!(api_error(ben.apply(GROUP, ChatType::Group, "").await), dismissed);
    let not_member = (-1, format!("not a member of group {GROUP}"));
    assert_eq!(api_error(ben.send_text(GROUP, ChatType::Group, "anyone?", &[]).await), not_member);
    assert_eq!(api_error(ann.list_messages(GROUP, ChatType::Group, 5, None).await), not_member);
    app.shutdown().await;
}

#[tokio::test]
async fn profiles_renames_and_remarks_show_everywhere_at_once() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    ben.send_text(ANN, ChatType::User, "hi Ann", &[]).await.unwrap();
    ben.send_text(CAT, ChatType::User, "hi Cat", &[]).await.unwrap();

    // get-user: public fields for anyone, even without a token (as the
    // official server); the remark only for a caller it can tell.
    let public = app.anonymous().with_token("any-made-up-token").get_user(BEN).await.unwrap();
    assert_eq!((public.id.as_str(), public.name.as_str(), public.remark_info), (BEN, "Ben", None));
    let seen = ann.get_user(BEN).await.unwrap();
    assert_eq!(seen.remark_info.unwrap().remark_name, "Benny");
    assert_eq!(api_error(ann.get_user(BOT).await), (-1, "该用户不存在".into()));
    assert_eq!(api_error(ann.get_user("424242").await), (-1, "该用户不存在".into()));

    let (ann_md5, cat_md5) =
        (ann.conversation_list(None).await.unwrap().md5, cat.conversation_list(None).await.unwrap().md5);
    ben.edit_nickname("Benjamin").await.unwrap();
    ben.edit_avatar("https://a/ben-new.png").await.unwrap();
    let at_ann = entry(&ann, BEN).await;
    assert_eq!(
        (at_ann.name.as_str(), at_ann.real_name.as_str(), at_ann.avatar_url.as_str()),
        ("Benny", "Benjamin", "https://a/ben-new.png"),
        "the remark stays what Ann sees; field 15 is the new name"
    );
    assert_eq!(entry(&cat, BEN).await.name, "Benjamin");
    assert_ne!(ann.conversation_list(None).await.unwrap().md5, ann_md5);
    assert_ne!(cat.conversation_list(None).await.unwrap().md5, cat_md5);
    let history = cat.list_messages(BEN, ChatType::User, 5, None).await.unwrap();
    assert_eq!(history[0].sender.as_ref().unwrap().name, "Benjamin", "history senders too");
    let (page, _) = ann.group_members(GROUP, 1, 10, "benj").await.unwrap();
    assert_eq!(page[0].user_info.as_ref().unwrap().name, "Benjamin", "member lists too");
    assert_eq!(api_error(ben.edit_nickname("   ").await), (-1, "name is required".into()));
    assert_eq!(
        api_error(ben.edit_avatar("ben.png").await),
        (-1, "the avatar must be a full http(s) URL of at most 2048 bytes".into())
    );

    // A remark shows wherever its user sees the other; an empty one clears it.
    cat.save_remark(BEN, "老本").await.unwrap();
    assert_eq!(entry(&cat, BEN).await.name, "老本");
    assert_eq!(cat.get_user(BEN).await.unwrap().remark_info.unwrap().remark_name, "老本");
    assert_eq!(entry(&ann, BEN).await.name, "Benny", "remarks are their user's own");
    cat.save_remark(BEN, "").await.unwrap();
    assert_eq!(entry(&cat, BEN).await.name, "Benjamin");
    assert_eq!(api_error(cat.save_remark(GROUP, "x").await), (-1, "remarks are for users and bots, not groups".into()));
    app.shutdown().await;
}

#[tokio::test]
async fn friend_requests_are_seen_by_their_two_users_and_agreeing_makes_friends() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    cat.apply(BEN, ChatType::User, "we met at the club").await.unwrap();
    let bens = ben.friend_requests().await.unwrap();
    assert_eq!((bens.total, bens.pending), (1, 1));
    let request = &bens.requests[0];
    assert_eq!(
        (request.inviter_id.as_str(), request.name.as_str(), request.note.as_str(), request.result),
        (CAT, "Cat", "we met at the club", 0)
    );
    assert_eq!(cat.friend_requests().await.unwrap().pending, 0, "the sender waits; nothing is pending for her");
    assert_eq!(ann.friend_requests().await.unwrap().total, 0, "nobody else sees it");
    assert_eq!(
        api_error(ann.answer_request(i64::from(request.request_id), true).await),
        (-1, "no such friend request for you".into())
    );
    assert!(list(&ben).await.iter().all(|c| c.chat_id != CAT), "a request is no conversation");

    ben.answer_request(i64::from(request.request_id), true).await.unwrap();
    for (me, friend) in [(&ben, CAT), (&cat, BEN)] {
        let book = me.address_book(None).await.unwrap();
        let friends: Vec<&str> = book.data[0].data.iter().map(|e| e.chat_id.as_str()).collect();
        assert_eq!(friends, [friend]);
    }
    assert_eq!(
        api_error(ben.answer_request(i64::from(request.request_id), true).await),
        (-1, "that friend request was settled already".into())
    );
    assert_eq!(api_error(cat.apply(BEN, ChatType::User, "").await), (-9, "您已添加过对方".into()));
    assert_eq!(ben.friend_requests().await.unwrap().requests[0].result, 1);

    // Rejecting and ignoring leave no friendship.
    ann.apply(CAT, ChatType::User, "").await.unwrap();
    let id = cat.friend_requests().await.unwrap().requests[0].request_id;
    cat.ignore_request(i64::from(id)).await.unwrap();
    assert_eq!(cat.friend_requests().await.unwrap().pending, 0);
    assert!(cat.address_book(None).await.unwrap().data[0].data.iter().all(|e| e.chat_id != ANN));

    // Unfriending: both address books; the conversation stays.
    cat.send_text(BEN, ChatType::User, "hello friend", &[]).await.unwrap();
    cat.delete_friend(BEN, ChatType::User).await.unwrap();
    assert!(ben.address_book(None).await.unwrap().data[0].data.is_empty());
    assert_eq!(entry(&ben, CAT).await.chat_content, "hello friend");
    assert_eq!(
        api_error(cat.delete_friend(BEN, ChatType::User).await),
        (-1, format!("{BEN} is not in your address book"))
    );
    assert_eq!(api_error(cat.apply("424242", ChatType::User, "").await), (-1, "用户不存在".into()));
    assert_eq!(
        api_error(cat.apply(CAT, ChatType::User, "").await),
        (-1, "a conversation with yourself is not supported".into())
    );
    app.shutdown().await;
}

#[tokio::test]
async fn bots_join_address_books_and_groups() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    cat.apply(BOT, ChatType::Bot, "").await.unwrap();
    assert_eq!(api_error(cat.apply(BOT, ChatType::Bot, "").await), (-9, "您已添加过对方".into()));
    let book = cat.address_book(None).await.unwrap();
    assert_eq!((book.data[2].list_name.as_str(), book.data[2].chat_type), ("机器人", 3));
    assert_eq!(book.data[2].data[0].chat_id, BOT);
    let info = cat.bot_info(BOT).await.unwrap();
    assert_eq!((info.name.as_str(), info.headcount), ("Helper", 1));
    assert_eq!(api_error(cat.bot_info(BEN).await), (-1, "机器人不存在".into()));

    ann.invite(GROUP, BOT, ChatType::Bot).await.unwrap();
    let bots: Vec<String> = ben.group_bots(GROUP).await.unwrap().into_iter().map(|b| b.id).collect();
    assert_eq!(bots, [BOT]);
    assert_eq!(ben.group_info(GROUP).await.unwrap().bot.len(), 1);
    assert_eq!(api_error(cat.group_bots(GROUP).await), (-1, format!("not a member of group {GROUP}")));
    let board = ben.bot_board(GROUP, ChatType::Group).await.unwrap();
    assert_eq!((board.chat_id.as_str(), board.content.as_str()), (GROUP, ""), "an empty board");

    // Removing a bot takes it out of the address book and the list.
    cat.send_text(BOT, ChatType::Bot, "/help", &[]).await.unwrap();
    assert!(ids(&list(&cat).await).contains(&BOT.to_owned()));
    cat.delete_friend(BOT, ChatType::Bot).await.unwrap();
    assert!(!ids(&list(&cat).await).contains(&BOT.to_owned()));
    assert!(cat.address_book(None).await.unwrap().data[2].data.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn group_info_and_members_show_members_only_what_is_theirs() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    ben.pin(GROUP, ChatType::Group).await.unwrap();
    ben.set_no_notify(GROUP, true).await.unwrap();
    let mine = ben.group_info(GROUP).await.unwrap().data.unwrap();
    assert_eq!(
        (mine.name.as_str(), mine.headcount, mine.owner.as_str(), mine.top, mine.do_not_disturb),
        ("Team", 2, ANN, true, true)
    );
    // A non-member sees the public fields only.
    let public = cat.group_info(GROUP).await.unwrap();
    let data = public.data.unwrap();
    assert_eq!((data.name.as_str(), data.headcount, data.permisson_level, data.top), ("Team", 2, 0, false));
    assert!(data.admin.is_empty() && public.bot.is_empty());
    assert_eq!(api_error(cat.group_members(GROUP, 1, 10, "").await), (-1, format!("not a member of group {GROUP}")));
    assert_eq!(api_error(ann.group_info(BEN).await), (-1, format!("{BEN} is a user, not a group")));
    assert_eq!(api_error(ann.group_info("424242").await), (-1, "群聊不存在".into()));

    // Pages from 1, a keyword filter, `total` over all pages.
    for n in 0..5 {
        let id = ann.create_group(&format!("g{n}"), "").await.unwrap();
        assert!(id.parse::<i64>().unwrap() > 3001, "new ids are above every id in use");
    }
    ann.invite(GROUP, CAT, ChatType::User).await.unwrap();
    let (page1, total) = ann.group_members(GROUP, 1, 2, "").await.unwrap();
    let (page2, _) = ann.group_members(GROUP, 2, 2, "").await.unwrap();
    assert_eq!((page1.len(), page2.len(), total), (2, 1, 3));
    let (found, total) = ann.group_members(GROUP, 1, 50, "CA").await.unwrap();
    assert_eq!((found[0].user_info.as_ref().unwrap().name.as_str(), total), ("Cat", 1));
    // The address book lists the groups with the caller's level and mute flag.
    let book = ben.address_book(None).await.unwrap();
    let team = book.data[1].data.iter().find(|e| e.chat_id == GROUP).unwrap();
    assert_eq!((team.permisson_level, team.no_disturb, team.name.as_str()), (0, true, "Team"));
    let unchanged = ben.address_book(Some(&book.md5)).await.unwrap();
    assert!(unchanged.data.is_empty() && unchanged.md5 == book.md5, "a matching md5 gets no sections");
    app.shutdown().await;
}

#[tokio::test]
async fn the_bodies_real_clients_send_are_accepted() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    let group = ann.create_group("forms", "").await.unwrap();
    // invite: documented JSON, snake_case (RN), a list (ERIS), protobuf (VUE).
    ok(&post_json(
        &app,
        &ann,
        "/v1/group/invite",
        &format!(r#"{{"groupId":"{group}","chatId":"{BEN}","chatType":1}}"#),
    )
    .await);
    ok(&post_json(
        &app,
        &ann,
        "/v1/group/invite",
        &format!(r#"{{"group_id":"{group}","chat_id":"{BOT}","chat_type":"3"}}"#),
    )
    .await);
    ann.remove_member(&group, BEN).await.unwrap();
    ok(&post_json(
        &app,
        &ann,
        "/v1/group/invite",
        &format!(r#"{{"groupId":"{group}","userIdList":["{BEN}","{CAT}"]}}"#),
    )
    .await);
    assert_eq!(members(&ann, &group).await.len(), 3);
    ann.remove_member(&group, BEN).await.unwrap();
    let proto = yhconv_proto::pb::InviteRequest { group_id: group.clone(), user_id: vec![BEN.to_owned()] };
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/group/invite", app.base_url))
        .header("token", ann.token().unwrap())
        .body(proto.encode_to_vec())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ok(&answer);
    // remove-member snake_case; gag with `gag`.
    ok(&post_json(&app, &ann, "/v1/group/remove-member", &format!(r#"{{"group_id":"{group}","user_id":"{BEN}"}}"#))
        .await);
    ok(&post_json(
        &app,
        &ann,
        "/v1/group/gag-member",
        &format!(r#"{{"groupId":"{group}","userId":"{CAT}","gag":600}}"#),
    )
    .await);
    // invite with {groupId} alone: the caller joins (one web client).
    ok(&post_json(&app, &ben, "/v1/group/invite", &format!(r#"{{"groupId":"{group}"}}"#)).await);
    assert!(ids(&list(&ben).await).contains(&group));
    let bad = post_json(&app, &ben, "/v1/group/invite", "{}").await;
    assert_eq!(
        (bad["code"].as_i64(), bad["msg"].as_str()),
        (Some(-1), Some("malformed JSON body: missing field `groupId` at line 1 column 2"))
    );
    // apply as {id, sourceType} (web) and {userId, description} (ERIS).
    ok(&post_json(&app, &cat, "/v1/friend/apply", &format!(r#"{{"id":"{ANN}","sourceType":1}}"#)).await);
    ok(&post_json(&app, &ben, "/v1/friend/apply", &format!(r#"{{"userId":"{ANN}","description":"hi"}}"#)).await);
    let requests = ann.friend_requests().await.unwrap();
    assert_eq!(requests.pending, 2);
    // agree as {requestId,targetId,targetType} (web) and {userId} (ERIS).
    let from_cat = requests.requests.iter().find(|r| r.inviter_id == CAT).unwrap().request_id;
    ok(&post_json(
        &app,
        &ann,
        "/v1/friend/agree-apply",
        &format!(r#"{{"requestId":{from_cat},"targetId":"{CAT}","targetType":1}}"#),
    )
    .await);
    ok(&post_json(&app, &ann, "/v1/friend/agree-apply", &format!(r#"{{"userId":"{BEN}","description":""}}"#)).await);
    assert_eq!(ann.address_book(None).await.unwrap().data[0].data.len(), 2);
    // request-list in JSON (VUE) answers JSON.
    let answer = post_json(&app, &ann, "/v1/friend/request-list", r#"{"size":20,"page":1}"#).await;
    ok(&answer);
    assert_eq!(answer["data"]["list"].as_array().unwrap().len(), 2);
    // save-user-remarks as MD3 sends it; delete-friend with targetId (VUE).
    ok(&post_json(
        &app,
        &ann,
        "/v1/user/save-user-remarks",
        &format!(r#"{{"friendId":"{CAT}","name":"Kitty","phone":"","others":"[]"}}"#),
    )
    .await);
    assert_eq!(ann.get_user(CAT).await.unwrap().remark_info.unwrap().remark_name, "Kitty");
    ok(&post_json(&app, &ann, "/v1/friend/delete-friend", &format!(r#"{{"targetId":"{CAT}","chatType":1}}"#)).await);
    let admin = post_json(
        &app,
        &ann,
        "/v1/group/edit-admin",
        &format!(r#"{{"groupId":"{group}","userId":"{BEN}","admin":1}}"#),
    )
    .await;
    ok(&admin);
    assert_eq!(members(&ann, &group).await[1], (BEN.to_owned(), 2));
    app.shutdown().await;
}

/// Waits until the push hub indexes `users` online users.
async fn indexed(app: &TestApp, users: usize) {
    for _ in 0..500 {
        if app.metric("yhconv_push_online_users_indexed").await == users as f64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.metric("yhconv_push_online_users_indexed").await, users as f64);
}

/// A group message reaches the group's online members as of its send:
/// joins, leaves, kicks and a new group count at once, whether the hub has
/// loaded the users' groups again or not yet.
#[tokio::test]
async fn group_pushes_follow_joins_leaves_and_kicks_at_once() {
    let app = TestApp::spawn().await;
    let (ann, ben, cat) = (app.client(ANN).await, app.client(BEN).await, app.client(CAT).await);
    let mut ben_socket = ben.connect_push(BEN, "linux", "ben-phone").await.unwrap();
    let mut cat_socket = cat.connect_push(CAT, "linux", "cat-phone").await.unwrap();
    indexed(&app, 2).await;
    app.online_index_loaded().await;
    let quiet = Duration::from_millis(300);
    let wait = Duration::from_secs(10);
    for loaded in [false, true] {
        // A join: the very next message reaches the new member.
        ann.invite(GROUP, CAT, ChatType::User).await.unwrap();
        if loaded {
            app.online_index_loaded().await;
        }
        ann.send_text(GROUP, ChatType::Group, "welcome", &[]).await.unwrap();
        assert_eq!(next_text(&mut cat_socket, wait).await.as_deref(), Some("welcome"), "loaded: {loaded}");
        assert_eq!(next_text(&mut ben_socket, wait).await.as_deref(), Some("welcome"));
        // A leave: the next one does not.
        cat.delete_friend(GROUP, ChatType::Group).await.unwrap();
        if loaded {
            app.online_index_loaded().await;
        }
        ann.send_text(GROUP, ChatType::Group, "after the leave", &[]).await.unwrap();
        assert_eq!(next_text(&mut ben_socket, wait).await.as_deref(), Some("after the leave"));
        assert_eq!(next_text(&mut cat_socket, quiet).await, None, "loaded: {loaded}: no push after a leave");
    }
    // A kick, and a group created after the sockets logged in.
    ann.remove_member(GROUP, BEN).await.unwrap();
    ann.send_text(GROUP, ChatType::Group, "after the kick", &[]).await.unwrap();
    assert_eq!(next_text(&mut ben_socket, quiet).await, None, "no push after a kick");
    let club = ben.create_group("Club", "").await.unwrap();
    ben.send_text(&club, ChatType::Group, "first", &[]).await.unwrap();
    assert_eq!(next_text(&mut ben_socket, wait).await.as_deref(), Some("first"), "the owner of a new group");
    ben.invite(&club, CAT, ChatType::User).await.unwrap();
    ben.send_text(&club, ChatType::Group, "second", &[]).await.unwrap();
    assert_eq!(next_text(&mut cat_socket, wait).await.as_deref(), Some("second"));
    assert_eq!(next_text(&mut ben_socket, wait).await.as_deref(), Some("second"), "the sender's own socket");
    // A dismissal: the group's members are nobody's any more, and the hub
    // forgets nobody else.
    app.online_index_loaded().await;
    ben.dismiss_group(&club).await.unwrap();
    ann.invite(GROUP, CAT, ChatType::User).await.unwrap();
    ann.send_text(GROUP, ChatType::Group, "after the dismissal", &[]).await.unwrap();
    assert_eq!(next_text(&mut cat_socket, wait).await.as_deref(), Some("after the dismissal"));
    assert_eq!(next_text(&mut ben_socket, quiet).await, None);
    // The last socket goes: the user leaves the index.
    drop(ben_socket);
    indexed(&app, 1).await;
    app.shutdown().await;
}

/// A user who logs in while they are being added to a group gets every
/// message sent into it after the addition was answered.
#[tokio::test]
async fn a_login_during_a_join_misses_no_message_after_it() {
    let app = TestApp::spawn().await;
    let (ann, cat) = (app.client(ANN).await, app.client(CAT).await);
    for round in 0..8 {
        let group = ann.create_group(&format!("Round {round}"), "").await.unwrap();
        let device = format!("cat-{round}");
        let (mut socket, joined) =
            tokio::join!(acked_push(&cat, CAT, &device), ann.invite(&group, CAT, ChatType::User));
        joined.unwrap();
        ann.send_text(&group, ChatType::Group, "hello", &[]).await.unwrap();
        assert_eq!(next_text(&mut socket, Duration::from_secs(10)).await.as_deref(), Some("hello"), "round {round}");
    }
    app.shutdown().await;
}

/// Another process (here: another service on the same database, as
/// `yhconv admin` opens it) adds a member: no list fact reaches this
/// server, but the identity epoch moves, and the very next message reaches
/// the new member's socket, even with their groups loaded before.
#[tokio::test]
async fn a_member_added_by_another_process_gets_the_next_message() {
    let app = TestApp::spawn().await;
    let (ann, cat) = (app.client(ANN).await, app.client(CAT).await);
    let mut cat_socket = cat.connect_push(CAT, "linux", "cat-phone").await.unwrap();
    indexed(&app, 1).await;
    app.online_index_loaded().await;
    let other = yhconv_server::app::open_service(&yhconv_server::Config {
        db: app.db.clone(),
        list_cache_mib: 0,
        ..yhconv_server::Config::default()
    })
    .await
    .unwrap();
    let mut world = yhconv_server::World::default();
    world.groups = common::world().groups;
    world.groups[0].members.push(CAT.into());
    other.import_world(world).await.unwrap();
    ann.send_text(GROUP, ChatType::Group, "hello Cat", &[]).await.unwrap();
    assert_eq!(next_text(&mut cat_socket, Duration::from_secs(10)).await.as_deref(), Some("hello Cat"));
    app.shutdown().await;
}
