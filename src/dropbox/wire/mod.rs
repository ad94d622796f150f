//! Dropbox API v2 wire types: argument and result structs with the provider's exact snake_case
//! names, and `.tag` unions as internally tagged serde enums. Every union has an `Other`
//! catch-all so a tag Dropbox adds later never fails decoding; result structs default their
//! optional fields and ignore unknown ones. One file per Dropbox namespace: [`auth`] (tokens,
//! rate limits), [`users`], [`files`] (metadata, folders, listing, uploads), [`sharing`] (shared
//! folders and their members); what every route shares (the error envelope, the path-root header)
//! lives here. Everything is re-exported flat, as `wire::Name`.
//!
//! These mirror Dropbox; they are not the bridge's own API types.

use serde::{Deserialize, Serialize};

pub mod auth;
pub mod files;
pub mod sharing;
pub mod users;

pub use auth::*;
pub use files::*;
pub use sharing::*;
pub use users::*;

/// Value of the `Dropbox-API-Path-Root` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum PathRootHeader {
    Home,
    Root { root: String },
    NamespaceId { namespace_id: String },
}

/// Body of a non-2xx answer in JSON form: `{"error_summary", "error", "user_message"?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiErrorBody {
    #[serde(default)]
    pub error_summary: Option<String>,
    #[serde(default)]
    pub error: serde_json::Value,
    #[serde(default)]
    pub user_message: Option<UserMessage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserMessage {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub locale: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unions_decode_nested_inlined_and_unknown_tags() {
        let e: CreateFolderError = serde_json::from_value(
            json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"folder"}}}),
        )
        .expect("decode");
        assert_eq!(
            e,
            CreateFolderError::Path {
                path: WriteError::Conflict {
                    conflict: WriteConflictError::Folder
                }
            }
        );
        let e: UploadSessionAppendError =
            serde_json::from_value(json!({".tag":"incorrect_offset","correct_offset":8388608}))
                .expect("decode");
        assert_eq!(
            e,
            UploadSessionAppendError::IncorrectOffset(UploadSessionOffsetError {
                correct_offset: 8388608
            })
        );
        let e: WriteError =
            serde_json::from_value(json!({".tag":"brand_new_tag","x":1})).expect("decode");
        assert_eq!(e, WriteError::Other);
        let s: ShareFolderError = serde_json::from_value(json!({".tag":"bad_path","bad_path":{
            ".tag":"already_shared","shared_folder_id":"84528192421","name":"dir",
            "access_type":{".tag":"owner"},"policy":{}}}))
        .expect("decode");
        match s {
            ShareFolderError::BadPath {
                bad_path: SharePathError::AlreadyShared(m),
            } => {
                assert_eq!(m.shared_folder_id, "84528192421");
                assert_eq!(m.access_type, Some(AccessLevel::Owner));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn args_serialize_like_stone() {
        let c = CommitInfo::new(
            "/a.txt",
            WriteMode::Update {
                update: "a1c10ce0dd78".into(),
            },
        );
        let v = serde_json::to_value(UploadArg {
            commit: &c,
            content_hash: "h".into(),
        })
        .expect("ser");
        assert_eq!(v["mode"], json!({".tag":"update","update":"a1c10ce0dd78"}));
        assert_eq!(v["path"], "/a.txt");
        assert_eq!(v["content_hash"], "h");
        let v = serde_json::to_value(AddMember {
            member: MemberSelector::Email {
                email: "a@b.com".into(),
            },
            access_level: AccessLevel::Editor,
        })
        .expect("ser");
        assert_eq!(
            v,
            json!({"member":{".tag":"email","email":"a@b.com"},"access_level":{".tag":"editor"}})
        );
        let v = serde_json::to_value(PathRootHeader::Root { root: "7".into() }).expect("ser");
        assert_eq!(v, json!({".tag":"root","root":"7"}));
    }
}
