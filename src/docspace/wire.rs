//! DocSpace REST wire types: the `{response, count, total, status,
//! statusCode}` envelope and the DTOs the bridge reads, with DocSpace's exact camelCase names.
//! Lenient on purpose: ids may be numbers or strings (normalised to `String`), numbers may come
//! quoted, dates stay strings (an `{utcTime}` object is accepted too), unknown fields are
//! ignored, and every field the bridge can live without is optional.
//!
//! These mirror DocSpace; the client's own types are in `types.rs`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Success or error envelope. On errors `response` is absent and `error` set.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    #[serde(default = "none")]
    pub response: Option<T>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub count: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub total: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub status: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub status_code: Option<i64>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

fn none<T>() -> Option<T> {
    None
}

/// Only the error side of an envelope, for decoding failures whatever `response` holds.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    #[serde(default)]
    pub error: Option<ErrorBody>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub status: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub status_code: Option<i64>,
    /// A bare ASP.NET problem details body (not wrapped in the envelope).
    #[serde(default)]
    pub title: Option<String>,
    /// `ChunkedUploader.ashx` style `{"success":false,"message":..}`.
    #[serde(default)]
    pub message: Option<String>,
}

/// Model-validation failures (`count` out of range, a value that does not bind): ASP.NET's
/// `ValidationProblemDetails` wrapped as the envelope's `response`, with `status` 1.
#[derive(Debug, Deserialize)]
pub struct ProblemEnvelope {
    #[serde(default)]
    pub response: Option<ProblemDetails>,
}

/// `ValidationProblemDetails`: a `title` and, per field, what was wrong with it.
#[derive(Debug, Deserialize)]
pub struct ProblemDetails {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub errors: std::collections::BTreeMap<String, Value>,
}

impl ProblemDetails {
    /// `title (field: message; field: message)`.
    pub fn text(&self) -> Option<String> {
        let fields: Vec<String> = self
            .errors
            .iter()
            .map(|(field, msgs)| {
                let msgs: Vec<&str> = match msgs {
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    Value::String(s) => vec![s.as_str()],
                    _ => Vec::new(),
                };
                format!("{field}: {}", msgs.join(" "))
            })
            .collect();
        match (self.title.as_deref(), fields.is_empty()) {
            (Some(t), true) => Some(t.to_string()),
            (Some(t), false) => Some(format!("{t} ({})", fields.join("; "))),
            (None, false) => Some(fields.join("; ")),
            (None, true) => None,
        }
    }
}

impl ErrorEnvelope {
    /// What went wrong, in DocSpace's words, from whichever form the error body takes: the
    /// envelope's `error.message`, validation problem details inside `response`, a bare problem
    /// `title`, or a handler's `message`.
    pub fn text_of(body: &[u8]) -> Option<String> {
        let env: ErrorEnvelope = serde_json::from_slice(body).ok()?;
        let problem = || {
            serde_json::from_slice::<ProblemEnvelope>(body)
                .ok()
                .and_then(|p| p.response)
                .and_then(|p| p.text())
        };
        env.error
            .and_then(|e| e.message)
            .filter(|m| !m.trim().is_empty())
            .or_else(problem)
            .or(env.title)
            .or(env.message)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// `GroupDto`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupDto {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "isLDAP")]
    pub is_ldap: bool,
    #[serde(default)]
    pub is_system: bool,
    #[serde(default)]
    pub manager: Option<EmployeeDto>,
    #[serde(default)]
    pub members: Option<Vec<EmployeeDto>>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub members_count: Option<i64>,
}

/// `EmployeeFullDto` / `EmployeeDto` (the fields the bridge reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeDto {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub status: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub activation_status: Option<i64>,
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default)]
    pub is_owner: bool,
    #[serde(default)]
    pub is_visitor: bool,
}

/// `FileDto`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDto {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default, deserialize_with = "opt_id")]
    pub folder_id: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub version: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub version_group: Option<i64>,
    /// Human readable ("12.3 KB"); the byte count is `pureContentLength`.
    #[serde(default)]
    pub content_length: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub pure_content_length: Option<i64>,
    #[serde(default)]
    pub file_exst: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub file_type: Option<i64>,
    #[serde(default, deserialize_with = "opt_date")]
    pub created: Option<String>,
    #[serde(default, deserialize_with = "opt_date")]
    pub updated: Option<String>,
    #[serde(default)]
    pub updated_by: Option<EmployeeDto>,
    #[serde(default, deserialize_with = "opt_id")]
    pub root_folder_id: Option<String>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub root_folder_type: Option<i64>,
    #[serde(default)]
    pub view_url: Option<String>,
}

/// `FolderDto` (folder info, `current` of a listing, and the folders and rooms a listing holds).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderDto {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default, deserialize_with = "opt_id")]
    pub parent_id: Option<String>,
    /// `FolderType` of the section the folder is in (3 = trash, 20 = archived rooms).
    #[serde(default, deserialize_with = "opt_i64")]
    pub root_folder_type: Option<i64>,
    /// Set on rooms only.
    #[serde(default, deserialize_with = "opt_i64")]
    pub room_type: Option<i64>,
}

/// `GET files/{folderId}` and `GET files/rooms` content: one page of subfolders (rooms) and
/// files, with `total` inside `response`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderContentDto {
    #[serde(default)]
    pub current: Option<FolderDto>,
    #[serde(default)]
    pub path_parts: Vec<PathPartDto>,
    #[serde(default)]
    pub files: Vec<FileDto>,
    #[serde(default)]
    pub folders: Vec<FolderDto>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub start_index: Option<i64>,
    #[serde(default, deserialize_with = "opt_i64")]
    pub total: Option<i64>,
}

/// One `pathParts` entry: `{id, title, roomType?, folderType?}` on current servers, a bare id
/// on older ones.
#[derive(Debug)]
pub enum PathPartDto {
    Full {
        id: String,
        title: Option<String>,
        folder_type: Option<i64>,
        room_type: Option<i64>,
    },
    Id(String),
}

impl<'de> Deserialize<'de> for PathPartDto {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Object(o) => {
                let id = o
                    .get("id")
                    .and_then(value_id)
                    .ok_or_else(|| serde::de::Error::custom("pathParts entry without id"))?;
                Ok(PathPartDto::Full {
                    id,
                    title: o.get("title").and_then(Value::as_str).map(str::to_string),
                    folder_type: o.get("folderType").and_then(value_i64),
                    room_type: o.get("roomType").and_then(value_i64),
                })
            }
            other => value_id(other).map(PathPartDto::Id).ok_or_else(|| {
                serde::de::Error::custom("pathParts entry is neither object nor id")
            }),
        }
    }
}

fn value_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn value_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Id as int or string → `String`.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    value_id(&v).ok_or_else(|| serde::de::Error::custom("id must be a string or a number"))
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(value_id))
}

fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .as_ref()
        .and_then(value_i64))
}

/// Dates are strings on the wire; the OpenAPI files describe `{utcTime, ..}` objects: take both.
fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Object(o)) => o.get("utcTime").and_then(Value::as_str).map(str::to_string),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_ids_numbers_dates() {
        let f: FileDto = serde_json::from_value(json!({
            "id": 42, "title": "a.docx", "folderId": "17", "version": "3",
            "pureContentLength": 1234, "contentLength": "1.2 KB", "fileExst": ".docx",
            "updated": {"utcTime": "2026-01-01T00:00:00Z"}, "created": "2026-01-01T00:00:00.0000000+02:00",
            "unknownField": [1,2,3]
        }))
        .expect("decode");
        assert_eq!(f.id, "42");
        assert_eq!(f.folder_id.as_deref(), Some("17"));
        assert_eq!(f.version, Some(3));
        assert_eq!(f.updated.as_deref(), Some("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn path_parts_both_forms() {
        let c: FolderContentDto = serde_json::from_value(json!({
            "pathParts": [{"id": 1, "title": "Rooms", "folderType": 14}, 5, "x-7"]
        }))
        .expect("decode");
        assert!(
            matches!(&c.path_parts[0], PathPartDto::Full { id, title: Some(t), .. } if id == "1" && t == "Rooms")
        );
        assert!(matches!(&c.path_parts[1], PathPartDto::Id(id) if id == "5"));
        assert!(matches!(&c.path_parts[2], PathPartDto::Id(id) if id == "x-7"));
    }

    #[test]
    fn folder_content_page() {
        let c: FolderContentDto = serde_json::from_value(json!({
            "files": [{"id": 7, "title": "a.txt", "version": 2, "updated": "2026-01-01T00:00:00.0000000+03:00", "rootFolderType": 14}],
            "folders": [{"id": "12", "title": "Sub", "parentId": 5, "rootFolderType": 14}],
            "current": {"id": 5, "title": "Room", "roomType": 5, "rootFolderType": 14},
            "pathParts": [{"id": 1, "title": "Rooms"}, {"id": 5, "title": "Room"}],
            "startIndex": 0, "count": 2, "total": "140"
        }))
        .expect("decode");
        assert_eq!(c.files[0].id, "7");
        assert_eq!(c.folders[0].parent_id.as_deref(), Some("5"));
        assert_eq!(c.current.as_ref().and_then(|f| f.room_type), Some(5));
        assert_eq!(c.total, Some(140));
    }

    #[test]
    fn validation_problem_details_inside_the_envelope() {
        let body = serde_json::to_vec(&json!({
            "response": {
                "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
                "title": "One or more validation errors occurred.",
                "status": 400,
                "errors": {"count": ["The field Count must be between 1 and 100."]},
                "traceId": "00-ab-cd-00"
            },
            "count": 1, "status": 1, "statusCode": 400
        }))
        .expect("json");
        assert_eq!(
            ErrorEnvelope::text_of(&body).as_deref(),
            Some("One or more validation errors occurred. (count: The field Count must be between 1 and 100.)")
        );
        // A success envelope whose response is not an object has no problem text.
        let body = br#"{"response": "https://x/", "status": 1, "statusCode": 400}"#;
        assert_eq!(ErrorEnvelope::text_of(body), None);
        let body = br#"{"error": {"message": "Access denied"}, "status": 1, "statusCode": 403}"#;
        assert_eq!(
            ErrorEnvelope::text_of(body).as_deref(),
            Some("Access denied")
        );
    }

    #[test]
    fn envelope_with_total_and_error() {
        let e: Envelope<Vec<GroupDto>> = serde_json::from_value(json!({
            "response": [{"id": "g1", "name": "A"}], "count": 1, "total": 140, "status": 0, "statusCode": 200
        }))
        .expect("decode");
        assert_eq!(e.total, Some(140));
        let e: ErrorEnvelope = serde_json::from_value(json!({
            "error": {"message": "Access denied", "type": null, "stack": null, "hresult": 0},
            "status": 1, "statusCode": 403
        }))
        .expect("decode");
        assert_eq!(e.status_code, Some(403));
        assert_eq!(
            e.error.and_then(|b| b.message).as_deref(),
            Some("Access denied")
        );
    }
}
