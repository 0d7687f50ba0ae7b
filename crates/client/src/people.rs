//! Profiles, groups, friends and the address book as methods on [`Client`].

use prost::Message;
use yhconv_proto::endpoints as ep;
use yhconv_proto::json::{
    AgreeBody, ApplyBody, DeleteFriendBody, EditAdminBody, GagBody, GroupUserBody, InviteBody, RequestIdBody,
    SaveRemarkBody,
};
use yhconv_proto::{pb, ChatType};

use crate::error::{Error, Result};
use crate::Client;

impl Client {
    /// `POST /v1/user/get-user`: a user's profile (the caller's remark for
    /// them in `remark_info`).
    pub async fn get_user(&self, user_id: &str) -> Result<pb::UserProfileData> {
        let body = pb::IdRequest { id: user_id.to_owned() }.encode_to_vec();
        let res: pb::GetUserResponse = self.post_proto(ep::GET_USER.path, body).await?;
        res.data.ok_or_else(|| Error::Decode("get-user answer has no data".into()))
    }

    /// `POST /v1/user/save-user-remarks`: what the caller calls a user or
    /// bot; an empty name clears it.
    pub async fn save_remark(&self, target_id: &str, name: &str) -> Result<()> {
        let body = SaveRemarkBody {
            friend_id: target_id.to_owned(),
            name: name.to_owned(),
            phone: String::new(),
            others: String::new(),
        };
        self.post_json(ep::SAVE_USER_REMARKS.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/user/edit-nickname`.
    pub async fn edit_nickname(&self, name: &str) -> Result<()> {
        let body = pb::EditNicknameRequest { name: name.to_owned() }.encode_to_vec();
        let _: pb::StatusOnly = self.post_proto(ep::EDIT_NICKNAME.path, body).await?;
        Ok(())
    }

    /// `POST /v1/user/edit-avatar`: a full URL.
    pub async fn edit_avatar(&self, url: &str) -> Result<()> {
        let body = pb::EditAvatarRequest { url: url.to_owned() }.encode_to_vec();
        let _: pb::StatusOnly = self.post_proto(ep::EDIT_AVATAR.path, body).await?;
        Ok(())
    }

    /// `POST /v1/group/info`: the group's data and its bots.
    pub async fn group_info(&self, group_id: &str) -> Result<pb::GroupInfoResponse> {
        let body = pb::GroupIdRequest { group_id: group_id.to_owned() }.encode_to_vec();
        self.post_proto(ep::GROUP_INFO.path, body).await
    }

    /// `POST /v1/group/list-member`: a page (from 1) of members whose name
    /// contains `keywords`, and how many match in all.
    pub async fn group_members(
        &self,
        group_id: &str,
        page: i32,
        size: i32,
        keywords: &str,
    ) -> Result<(Vec<pb::GroupMember>, i32)> {
        let body = pb::ListMemberRequest {
            data: Some(pb::Page { size, page }),
            group_id: group_id.to_owned(),
            keywords: keywords.to_owned(),
        };
        let res: pb::ListMemberResponse = self.post_proto(ep::GROUP_LIST_MEMBER.path, body.encode_to_vec()).await?;
        Ok((res.user, res.total))
    }

    /// `POST /v1/group/bot-list`.
    pub async fn group_bots(&self, group_id: &str) -> Result<Vec<pb::BotData>> {
        let body = pb::GroupIdRequest { group_id: group_id.to_owned() }.encode_to_vec();
        let res: pb::BotListResponse = self.post_proto(ep::GROUP_BOT_LIST.path, body).await?;
        Ok(res.bot)
    }

    /// `POST /v1/group/create-group`: the new group's id.
    pub async fn create_group(&self, name: &str, introduction: &str) -> Result<String> {
        let body = pb::CreateGroupRequest {
            name: name.to_owned(),
            introduction: introduction.to_owned(),
            ..Default::default()
        };
        let res: pb::CreateGroupResponse = self.post_proto(ep::CREATE_GROUP.path, body.encode_to_vec()).await?;
        Ok(res.group_id)
    }

    /// `POST /v1/group/invite`: adds a user (chat type 1) or bot (3).
    pub async fn invite(&self, group_id: &str, chat_id: &str, chat_type: ChatType) -> Result<()> {
        let body = InviteBody {
            group_id: group_id.to_owned(),
            chat_id: Some(chat_id.to_owned()),
            chat_type: Some(chat_type.code()),
            user_id_list: Vec::new(),
        };
        self.post_json(ep::GROUP_INVITE.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/group/remove-member`.
    pub async fn remove_member(&self, group_id: &str, user_id: &str) -> Result<()> {
        let body = GroupUserBody { group_id: group_id.to_owned(), user_id: user_id.to_owned() };
        self.post_json(ep::REMOVE_MEMBER.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/group/dismiss-group`.
    pub async fn dismiss_group(&self, group_id: &str) -> Result<()> {
        let body = pb::GroupIdRequest { group_id: group_id.to_owned() }.encode_to_vec();
        let _: pb::StatusOnly = self.post_proto(ep::DISMISS_GROUP.path, body).await?;
        Ok(())
    }

    /// `POST /v1/group/gag-member`: for `seconds` (0 lifts it, -1 until lifted).
    pub async fn gag_member(&self, group_id: &str, user_id: &str, seconds: i64) -> Result<()> {
        let body = GagBody { group_id: group_id.to_owned(), user_id: user_id.to_owned(), gag_time: seconds };
        self.post_json(ep::GAG_MEMBER.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/group/edit-admin`: makes a member an admin, or not.
    pub async fn set_admin(&self, group_id: &str, user_id: &str, admin: bool) -> Result<()> {
        let body = EditAdminBody { group_id: group_id.to_owned(), user_id: user_id.to_owned(), admin: u8::from(admin) };
        self.post_json(ep::EDIT_ADMIN.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/bot/bot-info`.
    pub async fn bot_info(&self, bot_id: &str) -> Result<pb::BotInfoData> {
        let body = pb::IdRequest { id: bot_id.to_owned() }.encode_to_vec();
        let res: pb::BotInfoResponse = self.post_proto(ep::BOT_INFO.path, body).await?;
        res.data.ok_or_else(|| Error::Decode("bot-info answer has no data".into()))
    }

    /// `POST /v1/bot/board`: the board of a bot or group chat.
    pub async fn bot_board(&self, chat_id: &str, chat_type: ChatType) -> Result<pb::BoardData> {
        let body = pb::BoardRequest { id: chat_id.to_owned(), chat_type: chat_type.code() }.encode_to_vec();
        let res: pb::BoardResponse = self.post_proto(ep::BOT_BOARD.path, body).await?;
        Ok(res.data.unwrap_or_default())
    }

    /// `POST /v1/friend/address-book-list`: sections and md5 (with the
    /// current md5, no sections).
    pub async fn address_book(&self, md5: Option<&str>) -> Result<pb::AddressBookResponse> {
        let body = match md5 {
            Some(md5) => pb::AddressBookRequest { md5: md5.to_owned() }.encode_to_vec(),
            None => Vec::new(),
        };
        self.post_proto(ep::ADDRESS_BOOK_LIST.path, body).await
    }

    /// `POST /v1/friend/apply`: asks a user to be friends (1), joins a
    /// group (2), adds a bot (3).
    pub async fn apply(&self, chat_id: &str, chat_type: ChatType, note: &str) -> Result<()> {
        let body =
            ApplyBody { chat_id: chat_id.to_owned(), chat_type: Some(chat_type.code()), remark: note.to_owned() };
        self.post_json(ep::FRIEND_APPLY.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/friend/request-list`: requests sent and received.
    pub async fn friend_requests(&self) -> Result<pb::RequestListResponse> {
        self.post_proto(ep::REQUEST_LIST.path, Vec::new()).await
    }

    /// `POST /v1/friend/agree-apply`: agrees to (true) or rejects a request.
    pub async fn answer_request(&self, request_id: i64, agree: bool) -> Result<()> {
        let body =
            AgreeBody { id: Some(request_id.max(0) as u64), user_id: None, agree: Some(if agree { 1 } else { 2 }) };
        self.post_json(ep::AGREE_APPLY.path, &body, true).await?;
        Ok(())
    }

    /// `POST /v1/friend/ignore-apply`.
    pub async fn ignore_request(&self, request_id: i64) -> Result<()> {
        self.post_json(ep::IGNORE_APPLY.path, &RequestIdBody { id: request_id }, true).await?;
        Ok(())
    }

    /// `POST /v1/friend/delete-friend`: unfriends a user (1), leaves a group
    /// (2), removes a bot (3).
    pub async fn delete_friend(&self, chat_id: &str, chat_type: ChatType) -> Result<()> {
        let body = DeleteFriendBody { chat_id: chat_id.to_owned(), chat_type: Some(chat_type.code()) };
        self.post_json(ep::DELETE_FRIEND.path, &body, true).await?;
        Ok(())
    }
}
