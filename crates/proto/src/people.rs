//! Protobuf messages of profiles, groups, bots and the address book
//! (`shared/research/protocol-next.md` §4–§5). Re-exported by [`crate::pb`].
//!
//! Field numbers are facts of the protocol; the golden byte tests at the
//! bottom of this file fail if one slips.

use prost::Message;

use crate::pb::Status;

/// A protobuf answer with a `Status` only (the same bytes as
/// [`crate::pb::StatusOnly`]), named for the calls that answer it.
pub type StatusResponse = crate::pb::StatusOnly;

/// Body of `user/get-user`, `bot/bot-info`: the id asked about.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct IdRequest {
    #[prost(string, tag = "2")]
    pub id: String,
}

/// Answer of `user/get-user`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct GetUserResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "2")]
    pub data: Option<UserProfileData>,
}

/// A user's public profile, and the caller's remark for them.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct UserProfileData {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(uint64, tag = "3")]
    pub name_id: u64,
    #[prost(string, tag = "4")]
    pub avatar_url: String,
    #[prost(uint64, tag = "5")]
    pub avatar_id: u64,
    /// "YYYY-MM-DD hh:mm:ss" (UTC).
    #[prost(string, tag = "7")]
    pub register_time: String,
    #[prost(uint64, tag = "11")]
    pub online_day: u64,
    #[prost(uint64, tag = "12")]
    pub continuous_online_day: u64,
    #[prost(bool, tag = "13")]
    pub is_vip: bool,
    /// Only for a caller with a valid token.
    #[prost(message, optional, tag = "18")]
    pub remark_info: Option<RemarkInfo>,
    #[prost(message, optional, tag = "19")]
    pub profile_info: Option<ProfileInfo>,
}

/// What the caller noted about a user.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct RemarkInfo {
    #[prost(string, tag = "1")]
    pub remark_name: String,
    #[prost(string, tag = "2")]
    pub phone: String,
    /// A JSON string such as `[{"key":"他是","value":"我的朋友"}]`.
    #[prost(string, tag = "3")]
    pub extra_remark: String,
}

/// A user's self-description.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ProfileInfo {
    #[prost(string, tag = "1")]
    pub last_active_time: String,
    #[prost(string, tag = "2")]
    pub introduction: String,
}

/// Body of `user/edit-nickname` (field 3: the server ignores field 1).
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct EditNicknameRequest {
    #[prost(string, tag = "3")]
    pub name: String,
}

/// Body of `user/edit-avatar`: a full URL.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct EditAvatarRequest {
    #[prost(string, tag = "2")]
    pub url: String,
}

/// Body of `group/info`, `group/bot-list`, `group/dismiss-group`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct GroupIdRequest {
    #[prost(string, tag = "2")]
    pub group_id: String,
}

/// Answer of `group/info`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct GroupInfoResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "2")]
    pub data: Option<GroupData>,
    /// The group's bots (`history_bot`).
    #[prost(message, repeated, tag = "3")]
    pub bot: Vec<BotData>,
}

/// A group's info; the caller's own fields only for members.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct GroupData {
    #[prost(string, tag = "1")]
    pub group_id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub avatar_url: String,
    #[prost(uint64, tag = "4")]
    pub avatar_id: u64,
    #[prost(string, tag = "5")]
    pub introduction: String,
    /// Members (`member` in two clients).
    #[prost(uint64, tag = "6")]
    pub headcount: u64,
    #[prost(string, tag = "7")]
    pub create_by: String,
    /// The caller's level: 100 owner, 2 admin, 0 member.
    #[prost(int32, tag = "9")]
    pub permisson_level: i32,
    #[prost(bool, tag = "14")]
    pub do_not_disturb: bool,
    /// The caller pinned it.
    #[prost(bool, tag = "19")]
    pub top: bool,
    #[prost(string, repeated, tag = "20")]
    pub admin: Vec<String>,
    /// Seconds.
    #[prost(uint64, tag = "21")]
    pub create_time: u64,
    #[prost(string, tag = "23")]
    pub owner: String,
    #[prost(string, tag = "28")]
    pub my_group_nickname: String,
}

/// A bot as group/info and group/bot-list show it.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct BotData {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub avatar_url: String,
    #[prost(uint64, tag = "5")]
    pub avatar_id: u64,
    #[prost(string, tag = "6")]
    pub introduction: String,
    #[prost(string, tag = "7")]
    pub create_by: String,
    /// Seconds.
    #[prost(uint64, tag = "8")]
    pub create_time: u64,
}

/// Answer of `group/bot-list`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct BotListResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, repeated, tag = "2")]
    pub bot: Vec<BotData>,
}

/// Body of `group/list-member`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ListMemberRequest {
    #[prost(message, optional, tag = "2")]
    pub data: Option<Page>,
    #[prost(string, tag = "3")]
    pub group_id: String,
    /// Filters by name (substring, case-insensitive).
    #[prost(string, tag = "4")]
    pub keywords: String,
}

/// A page: `page` from 1.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct Page {
    #[prost(int32, tag = "1")]
    pub size: i32,
    #[prost(int32, tag = "2")]
    pub page: i32,
}

/// Answer of `group/list-member`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct ListMemberResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, repeated, tag = "2")]
    pub user: Vec<GroupMember>,
    /// Every member that matches, on all pages.
    #[prost(int32, tag = "3")]
    pub total: i32,
}

/// One member of a group.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct GroupMember {
    #[prost(string, tag = "1")]
    pub group_id: String,
    #[prost(message, optional, tag = "2")]
    pub user_info: Option<MemberUser>,
    /// 100 owner, 2 admin, 0 member.
    #[prost(int32, tag = "3")]
    pub permission_level: i32,
    /// End of the gag, seconds; -1 until lifted.
    #[prost(int64, tag = "4")]
    pub gag_time: i64,
    #[prost(bool, tag = "5")]
    pub is_gag: bool,
}

/// Who a member is.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct MemberUser {
    #[prost(string, tag = "1")]
    pub user_id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub avatar_url: String,
    #[prost(bool, tag = "6")]
    pub is_vip: bool,
}

/// Answer of `bot/bot-info`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct BotInfoResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "2")]
    pub data: Option<BotInfoData>,
}

/// A bot's info; `do_not_disturb` and `top` are the caller's.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct BotInfoData {
    #[prost(string, tag = "1")]
    pub bot_id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(int64, tag = "3")]
    pub name_id: i64,
    #[prost(string, tag = "4")]
    pub avatar_url: String,
    #[prost(int64, tag = "5")]
    pub avatar_id: i64,
    #[prost(string, tag = "6")]
    pub introduction: String,
    #[prost(string, tag = "7")]
    pub create_by: String,
    /// Seconds.
    #[prost(int64, tag = "8")]
    pub create_time: i64,
    /// Users who have it in their address book.
    #[prost(int64, tag = "9")]
    pub headcount: i64,
    #[prost(bool, tag = "15")]
    pub do_not_disturb: bool,
    #[prost(bool, tag = "18")]
    pub top: bool,
}

/// Body of `bot/board`: the chat whose board is asked for.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct BoardRequest {
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(uint64, tag = "4")]
    pub chat_type: u64,
}

/// Answer of `bot/board`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct BoardResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "2")]
    pub data: Option<BoardData>,
}

/// A bot's board in a chat (empty when the bot set none).
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct BoardData {
    #[prost(string, tag = "1")]
    pub bot_id: String,
    #[prost(string, tag = "2")]
    pub chat_id: String,
    #[prost(uint64, tag = "3")]
    pub chat_type: u64,
    #[prost(string, tag = "4")]
    pub content: String,
    /// 1 text, 2 markdown, 3 html.
    #[prost(uint64, tag = "5")]
    pub content_type: u64,
    #[prost(int64, tag = "6")]
    pub last_update_time: i64,
    #[prost(string, tag = "7")]
    pub bot_name: String,
}

/// Body of `friend/address-book-list` (may be empty).
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct AddressBookRequest {
    /// The fingerprint of the address book the client holds.
    #[prost(string, tag = "2")]
    pub md5: String,
}

/// Answer of `friend/address-book-list`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct AddressBookResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    /// Empty when the request's md5 matched.
    #[prost(message, repeated, tag = "2")]
    pub data: Vec<AddressBookSection>,
    #[prost(string, tag = "3")]
    pub md5: String,
}

/// One section: `用户`, `我加入的群聊` or `机器人`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct AddressBookSection {
    #[prost(string, tag = "1")]
    pub list_name: String,
    #[prost(message, repeated, tag = "2")]
    pub data: Vec<AddressBookEntry>,
    #[prost(uint64, tag = "3")]
    pub chat_type: u64,
}

/// One user, group or bot of the address book.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct AddressBookEntry {
    #[prost(string, tag = "1")]
    pub chat_id: String,
    /// What the caller sees: their remark, else the name.
    #[prost(string, tag = "2")]
    pub remark: String,
    #[prost(string, tag = "3")]
    pub avatar_url: String,
    /// Groups only: 100 owner, 2 admin, 0 member.
    #[prost(int32, tag = "4")]
    pub permisson_level: i32,
    /// The same flag as conversation field 11.
    #[prost(bool, tag = "5")]
    pub no_disturb: bool,
    /// The real name.
    #[prost(string, tag = "8")]
    pub name: String,
}

/// Body of `group/create-group`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct CreateGroupRequest {
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub introduction: String,
    #[prost(string, tag = "4")]
    pub avatar_url: String,
    #[prost(string, tag = "5")]
    pub category: String,
    #[prost(int32, tag = "6")]
    pub category_id: i32,
}

/// Answer of `group/create-group`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct CreateGroupResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(string, tag = "2")]
    pub group_id: String,
}

/// The protobuf body one client posts to the JSON call `group/invite`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct InviteRequest {
    #[prost(string, tag = "2")]
    pub group_id: String,
    #[prost(string, repeated, tag = "3")]
    pub user_id: Vec<String>,
}

/// Answer of `friend/request-list`.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct RequestListResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(message, repeated, tag = "2")]
    pub requests: Vec<FriendRequest>,
    #[prost(int32, tag = "3")]
    pub total: i32,
    /// Requests still waiting for the caller.
    #[prost(int32, tag = "4")]
    pub pending: i32,
}

/// A friend request the caller sent or received.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
pub struct FriendRequest {
    #[prost(string, tag = "1")]
    pub receiver_name: String,
    #[prost(string, tag = "2")]
    pub receiver_avatar: String,
    /// The requester.
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub avatar: String,
    /// The requester's id.
    #[prost(string, tag = "7")]
    pub inviter_id: String,
    /// 1: from a user.
    #[prost(int32, tag = "9")]
    pub source_type: i32,
    /// 1: to a user.
    #[prost(int32, tag = "10")]
    pub target_type: i32,
    #[prost(string, tag = "11")]
    pub target_id: String,
    #[prost(string, tag = "12")]
    pub receiver_id: String,
    /// 0 pending, 1 agreed, 2 rejected, 3 ignored.
    #[prost(int32, tag = "13")]
    pub result: i32,
    /// Seconds.
    #[prost(int64, tag = "14")]
    pub processed_at: i64,
    /// Seconds.
    #[prost(int64, tag = "16")]
    pub invite_at: i64,
    #[prost(string, tag = "17")]
    pub invite_at_str: String,
    /// What agree-apply and ignore-apply take as `id`.
    #[prost(int32, tag = "18")]
    pub request_id: i32,
    #[prost(string, tag = "22")]
    pub processor_name: String,
    #[prost(string, tag = "23")]
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_field_numbers() {
        assert_eq!(IdRequest { id: "7".into() }.encode_to_vec(), [0x12, 1, b'7']);
        assert_eq!(EditNicknameRequest { name: "n".into() }.encode_to_vec(), [0x1a, 1, b'n']);
        assert_eq!(EditAvatarRequest { url: "u".into() }.encode_to_vec(), [0x12, 1, b'u']);
        assert_eq!(GroupIdRequest { group_id: "9".into() }.encode_to_vec(), [0x12, 1, b'9']);
        assert_eq!(AddressBookRequest { md5: "m".into() }.encode_to_vec(), [0x12, 1, b'm']);
        assert_eq!(BoardRequest { id: "3".into(), chat_type: 2 }.encode_to_vec(), [0x1a, 1, b'3', 0x20, 2]);
        let r =
            ListMemberRequest { data: Some(Page { size: 50, page: 2 }), group_id: "9".into(), keywords: "k".into() };
        assert_eq!(r.encode_to_vec(), [0x12, 4, 0x08, 50, 0x10, 2, 0x1a, 1, b'9', 0x22, 1, b'k']);
        let r = CreateGroupRequest {
            name: "g".into(),
            introduction: "i".into(),
            avatar_url: "a".into(),
            category: "c".into(),
            category_id: 3,
        };
        assert_eq!(r.encode_to_vec(), [0x12, 1, b'g', 0x1a, 1, b'i', 0x22, 1, b'a', 0x2a, 1, b'c', 0x30, 3]);
        let r = InviteRequest { group_id: "9".into(), user_id: vec!["1".into(), "2".into()] };
        assert_eq!(r.encode_to_vec(), [0x12, 1, b'9', 0x1a, 1, b'1', 0x1a, 1, b'2']);
    }

    #[test]
    fn answers_carry_their_data_in_field_2() {
        assert_eq!(GetUserResponse { status: None, data: Some(UserProfileData::default()) }.encode_to_vec(), [0x12, 0]);
        assert_eq!(BotInfoResponse { status: None, data: Some(BotInfoData::default()) }.encode_to_vec(), [0x12, 0]);
        assert_eq!(BoardResponse { status: None, data: Some(BoardData::default()) }.encode_to_vec(), [0x12, 0]);
        assert_eq!(
            GroupInfoResponse { status: None, data: Some(GroupData::default()), bot: vec![] }.encode_to_vec(),
            [0x12, 0]
        );
        let status = Some(Status { number: 0, code: 1, msg: String::new() });
        assert_eq!(StatusResponse { status }.encode_to_vec(), [0x0a, 2, 0x10, 1]);
    }

    #[test]
    fn get_user_field_numbers() {
        let d = UserProfileData {
            id: "1".into(),
            name: "n".into(),
            name_id: 3,
            avatar_url: "a".into(),
            avatar_id: 5,
            register_time: "t".into(),
            online_day: 11,
            continuous_online_day: 12,
            is_vip: true,
            remark_info: Some(RemarkInfo { remark_name: "r".into(), phone: "p".into(), extra_remark: "x".into() }),
            profile_info: Some(ProfileInfo { last_active_time: "l".into(), introduction: "i".into() }),
        };
        let expected: Vec<u8> = vec![
            0x0a, 1, b'1', // 1 id
            0x12, 1, b'n', // 2 name
            0x18, 3, // 3 name_id
            0x22, 1, b'a', // 4 avatar_url
            0x28, 5, // 5 avatar_id
            0x3a, 1, b't', // 7 register_time
            0x58, 11, // 11 online_day
            0x60, 12, // 12 continuous_online_day
            0x68, 1, // 13 is_vip
            0x92, 0x01, 9, 0x0a, 1, b'r', 0x12, 1, b'p', 0x1a, 1, b'x', // 18 remark_info
            0x9a, 0x01, 6, 0x0a, 1, b'l', 0x12, 1, b'i', // 19 profile_info
        ];
        assert_eq!(d.encode_to_vec(), expected);
    }

    #[test]
    fn group_info_field_numbers() {
        let d = GroupData {
            group_id: "1".into(),
            name: "n".into(),
            avatar_url: "a".into(),
            avatar_id: 4,
            introduction: "i".into(),
            headcount: 6,
            create_by: "c".into(),
            permisson_level: 100,
            do_not_disturb: true,
            top: true,
            admin: vec!["x".into()],
            create_time: 21,
            owner: "o".into(),
            my_group_nickname: "m".into(),
        };
        let expected: Vec<u8> = vec![
            0x0a, 1, b'1', 0x12, 1, b'n', 0x1a, 1, b'a', 0x20, 4, 0x2a, 1, b'i', 0x30, 6, 0x3a, 1, b'c', // 1-7
            0x48, 100, // 9 permisson_level
            0x70, 1, // 14 do_not_disturb
            0x98, 0x01, 1, // 19 top
            0xa2, 0x01, 1, b'x', // 20 admin
            0xa8, 0x01, 21, // 21 create_time
            0xba, 0x01, 1, b'o', // 23 owner
            0xe2, 0x01, 1, b'm', // 28 my_group_nickname
        ];
        assert_eq!(d.encode_to_vec(), expected);
        let bot = BotData {
            id: "b".into(),
            name: "n".into(),
            avatar_url: "a".into(),
            avatar_id: 5,
            introduction: "i".into(),
            create_by: "c".into(),
            create_time: 8,
        };
        assert_eq!(
            bot.encode_to_vec(),
            [0x0a, 1, b'b', 0x12, 1, b'n', 0x22, 1, b'a', 0x28, 5, 0x32, 1, b'i', 0x3a, 1, b'c', 0x40, 8]
        );
        let r = GroupInfoResponse { status: None, data: None, bot: vec![BotData::default()] };
        assert_eq!(r.encode_to_vec(), [0x1a, 0]);
        assert_eq!(BotListResponse { status: None, bot: vec![BotData::default()] }.encode_to_vec(), [0x12, 0]);
    }

    #[test]
    fn member_list_field_numbers() {
        let m = GroupMember {
            group_id: "g".into(),
            user_info: Some(MemberUser { user_id: "u".into(), name: "n".into(), avatar_url: "a".into(), is_vip: true }),
            permission_level: 2,
            gag_time: -1,
            is_gag: true,
        };
        let mut expected: Vec<u8> = vec![
            0x0a, 1, b'g', 0x12, 11, 0x0a, 1, b'u', 0x12, 1, b'n', 0x22, 1, b'a', 0x30, 1, // 1, 2
            0x18, 2,    // 3
            0x20, // 4: -1 as a ten-byte varint
        ];
        expected.extend([0xff; 9]);
        expected.extend([0x01, 0x28, 1]);
        assert_eq!(m.encode_to_vec(), expected);
        assert_eq!(ListMemberResponse { status: None, user: vec![], total: 3 }.encode_to_vec(), [0x18, 3]);
    }

    #[test]
    fn bot_info_and_board_field_numbers() {
        let d = BotInfoData {
            bot_id: "b".into(),
            name: "n".into(),
            name_id: 3,
            avatar_url: "a".into(),
            avatar_id: 5,
            introduction: "i".into(),
            create_by: "c".into(),
            create_time: 8,
            headcount: 9,
            do_not_disturb: true,
            top: true,
        };
        let expected: Vec<u8> = vec![
            0x0a, 1, b'b', 0x12, 1, b'n', 0x18, 3, 0x22, 1, b'a', 0x28, 5, 0x32, 1, b'i', 0x3a, 1, b'c', 0x40, 8, 0x48,
            9, // 1-9
            0x78, 1, // 15
            0x90, 0x01, 1, // 18
        ];
        assert_eq!(d.encode_to_vec(), expected);
        let b = BoardData {
            bot_id: "b".into(),
            chat_id: "c".into(),
            chat_type: 2,
            content: "x".into(),
            content_type: 1,
            last_update_time: 6,
            bot_name: "n".into(),
        };
        assert_eq!(
            b.encode_to_vec(),
            [0x0a, 1, b'b', 0x12, 1, b'c', 0x18, 2, 0x22, 1, b'x', 0x28, 1, 0x30, 6, 0x3a, 1, b'n']
        );
    }

    #[test]
    fn address_book_field_numbers() {
        let r = AddressBookResponse {
            status: None,
            data: vec![AddressBookSection {
                list_name: "l".into(),
                data: vec![AddressBookEntry {
                    chat_id: "1".into(),
                    remark: "r".into(),
                    avatar_url: "a".into(),
                    permisson_level: 2,
                    no_disturb: true,
                    name: "n".into(),
                }],
                chat_type: 2,
            }],
            md5: "m".into(),
        };
        let entry = [0x0a, 1, b'1', 0x12, 1, b'r', 0x1a, 1, b'a', 0x20, 2, 0x28, 1, 0x42, 1, b'n'];
        let mut section = vec![0x0a, 1, b'l', 0x12, entry.len() as u8];
        section.extend(entry);
        section.extend([0x18, 2]);
        let mut expected = vec![0x12, section.len() as u8];
        expected.extend(section);
        expected.extend([0x1a, 1, b'm']);
        assert_eq!(r.encode_to_vec(), expected);
    }

    #[test]
    fn create_group_and_requests_field_numbers() {
        let r = CreateGroupResponse { status: None, group_id: "9".into() };
        assert_eq!(r.encode_to_vec(), [0x12, 1, b'9']);
        let q = FriendRequest {
            receiver_name: "r".into(),
            receiver_avatar: "a".into(),
            name: "n".into(),
            avatar: "v".into(),
            inviter_id: "i".into(),
            source_type: 1,
            target_type: 1,
            target_id: "t".into(),
            receiver_id: "e".into(),
            result: 1,
            processed_at: 14,
            invite_at: 16,
            invite_at_str: "s".into(),
            request_id: 18,
            processor_name: "p".into(),
            note: "o".into(),
        };
        let expected: Vec<u8> = vec![
            0x0a, 1, b'r', 0x12, 1, b'a', 0x1a, 1, b'n', 0x22, 1, b'v', // 1-4
            0x3a, 1, b'i', // 7
            0x48, 1, 0x50, 1, // 9, 10
            0x5a, 1, b't', 0x62, 1, b'e', // 11, 12
            0x68, 1, 0x70, 14, // 13, 14
            0x80, 0x01, 16, // 16
            0x8a, 0x01, 1, b's', // 17
            0x90, 0x01, 18, // 18
            0xb2, 0x01, 1, b'p', // 22
            0xba, 0x01, 1, b'o', // 23
        ];
        assert_eq!(q.encode_to_vec(), expected);
        let list = RequestListResponse { status: None, requests: vec![], total: 3, pending: 4 };
        assert_eq!(list.encode_to_vec(), [0x18, 3, 0x20, 4]);
    }
}
