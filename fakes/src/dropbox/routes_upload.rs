//! Upload-style routes on the content host (`files/upload`, `upload_session/start`,
//! `append_v2`, `finish`) and the two batch RPC routes (`start_batch`, `finish_batch_v2`).
//!
//! Bodies are streamed: each chunk goes straight into the content hashers and is dropped, so a
//! request never holds more than one network chunk in memory. Every early refusal still drains
//! the body, so a client in the middle of sending 150 MiB reads the error instead of a reset.

use axum::body::Body;
use futures::StreamExt;
use serde_json::{json, Value};

use super::args::{
    self, FinishBatchArg, SessionAppendArg, SessionFinishArg, SessionStartArg, StartBatchArg,
    UploadArg,
};
use super::error::{ApiError, ApiResult};
use super::hash::{
    hash_from_block_digests, is_block_aligned, BlockSplitter, ContentHasher, BLOCK_SIZE,
};
use super::paths::{self, PathPattern, PathRef};
use super::server::{drain, Call};
use super::sessions::{
    incorrect_offset, Session, SessionKind, MAX_REQUEST_BYTES, MAX_SESSION_SIZE,
};
use super::state::State;
use super::tree::Commit;

const ARG_HEADER: &str = "HTTP header \"Dropbox-API-Arg\"";

/// How much of the body arrived, and whether it went over the per-request limit.
struct BodyRead {
    len: u64,
    too_large: bool,
}

/// Streams the whole body; `sink` sees bytes only while the total stays within 150 MiB.
async fn stream_body(body: Body, mut sink: impl FnMut(&[u8])) -> Result<BodyRead, ApiError> {
    let mut stream = body.into_data_stream();
    let mut len = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("Error reading request body: {e}")))?;
        len += chunk.len() as u64;
        if len <= MAX_REQUEST_BYTES {
            sink(&chunk);
        }
    }
    Ok(BodyRead {
        len,
        too_large: len > MAX_REQUEST_BYTES,
    })
}

/// `Sha256HexHash` is exactly 64 characters.
fn check_hash_arg(route: &str, h: &Option<String>) -> Result<(), ApiError> {
    match h {
        Some(h) if h.len() != 64 => Err(ApiError::bad_input(
            route,
            format!("{ARG_HEADER}: content_hash: '{h}' length must be 64"),
        )),
        _ => Ok(()),
    }
}

/// Hasher for the `content_hash` argument, only when one was sent.
fn request_hasher(h: &Option<String>) -> Option<ContentHasher> {
    h.as_ref().map(|_| ContentHasher::new())
}

fn hash_matches(expected: &Option<String>, hasher: Option<ContentHasher>) -> bool {
    match (expected, hasher) {
        (Some(want), Some(h)) => h.finalize() == want.to_ascii_lowercase(),
        _ => true,
    }
}

macro_rules! or_drain {
    ($body:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => {
                drain($body).await;
                return Err(err);
            }
        }
    };
}

/// Entry point for upload-style routes.
pub(crate) async fn upload(call: &Call<'_>, arg: Value, body: Body) -> ApiResult {
    match call.route {
        "files/upload" => upload_file(call, arg, body).await,
        "files/upload_session/start" => start(call, arg, body).await,
        "files/upload_session/append_v2" => append(call, arg, body).await,
        "files/upload_session/finish" => finish(call, arg, body).await,
        other => {
            drain(body).await;
            Err(ApiError::bad_input(
                other,
                format!("Unknown API function: /2/{other}"),
            ))
        }
    }
}

fn session_type(route: &str, v: &Option<Value>) -> Result<bool, ApiError> {
    match v {
        None => Ok(false),
        Some(v) => Ok(
            args::void_union(route, "session_type", v, &["sequential", "concurrent"])?
                == "concurrent",
        ),
    }
}

/// `files/upload`.
async fn upload_file(call: &Call<'_>, arg: Value, body: Body) -> ApiResult {
    let route = call.route;
    let a: UploadArg = or_drain!(body, args::parse(route, ARG_HEADER, arg));
    let (commit, pref) = or_drain!(
        body,
        (|| {
            let commit = a.commit_info().to_commit(route)?;
            let pref = paths::parse_path(route, "path", &a.path, PathPattern::WriteOrId)?;
            check_hash_arg(route, &a.content_hash)?;
            Ok::<_, ApiError>((commit, pref))
        })()
    );
    let mut hasher = ContentHasher::new();
    let read = stream_body(body, |c| hasher.update(c)).await?;
    if read.too_large {
        return Err(ApiError::tag("payload_too_large"));
    }
    let session_hasher = hasher.clone();
    let hash = hasher.finalize();
    if let Some(want) = &a.content_hash {
        if want.to_ascii_lowercase() != hash {
            return Err(ApiError::tag("content_hash_mismatch"));
        }
    }
    let mut st = call.shared.state();
    let result = st
        .resolve(&pref, &call.root)
        .map_err(|e| e.write())
        .and_then(|display| {
            if display.is_empty() {
                Err(json!({".tag": "malformed_path"}))
            } else {
                st.commit_file(&display, &commit, read.len, &hash)
            }
        });
    result.map_err(|reason| {
        // UploadWriteFailed carries a session holding the data, reusable with finish.
        let id = st.new_opaque("pid_upload_session:");
        st.sessions
            .insert(id.clone(), Session::sequential(session_hasher, false));
        let chain = super::error::ApiError::route(reason.clone());
        let summary = match chain {
            ApiError::Route { summary, .. } => format!("path/{summary}"),
            _ => "path".to_string(),
        };
        ApiError::route_with_summary(
            json!({".tag": "path", "reason": reason, "upload_session_id": id}),
            summary,
        )
    })
}

/// `files/upload_session/start`.
async fn start(call: &Call<'_>, arg: Value, body: Body) -> ApiResult {
    let route = call.route;
    let a: SessionStartArg = or_drain!(body, args::parse(route, ARG_HEADER, arg));
    let concurrent = or_drain!(body, session_type(route, &a.session_type));
    or_drain!(body, check_hash_arg(route, &a.content_hash));
    let mut hasher = ContentHasher::new();
    let read = stream_body(body, |c| hasher.update(c)).await?;
    if read.too_large {
        return Err(ApiError::tag("payload_too_large"));
    }
    if concurrent && read.len > 0 {
        return Err(ApiError::tag("concurrent_session_data_not_allowed"));
    }
    if concurrent && a.close {
        return Err(ApiError::tag("concurrent_session_close_not_allowed"));
    }
    if !hash_matches(&a.content_hash, Some(hasher.clone())) {
        return Err(ApiError::tag("content_hash_mismatch"));
    }
    let mut st = call.shared.state();
    let id = st.new_opaque("pid_upload_session:");
    let session = if concurrent {
        Session::concurrent()
    } else {
        Session::sequential(hasher, a.close)
    };
    st.sessions.insert(id.clone(), session);
    Ok(json!({ "session_id": id }))
}

/// `files/upload_session/append_v2`.
async fn append(call: &Call<'_>, arg: Value, body: Body) -> ApiResult {
    let route = call.route;
    let a: SessionAppendArg = or_drain!(body, args::parse(route, ARG_HEADER, arg));
    or_drain!(body, check_hash_arg(route, &a.content_hash));
    let offset = a.cursor.offset;
    let id = a.cursor.session_id.clone();
    // Check the offset before reading: a stale offset must answer incorrect_offset at once.
    let snapshot = {
        let st = call.shared.state();
        match st.sessions.get(&id) {
            None => Err(ApiError::tag("not_found")),
            Some(s) => s
                .precheck_append(offset)
                .map_err(ApiError::route)
                .map(|_| s.kind.clone()),
        }
    };
    let kind = or_drain!(body, snapshot);
    let mut req = request_hasher(&a.content_hash);
    let mut aligned_hash = None;
    let (read, new_kind) = match kind {
        // A request starting on a block boundary is checked from the block digests the session
        // computes anyway: every byte is hashed once, as for a request without a hash.
        SessionKind::Sequential(mut h) if req.is_some() && is_block_aligned(offset) => {
            let mut digests = Vec::new();
            let read = stream_body(body, |c| h.update_with(c, |d| digests.push(*d))).await?;
            let partial = h.pending_block_digest();
            aligned_hash = Some(hash_from_block_digests(digests.iter().chain(&partial)));
            req = None;
            (read, AppendData::Sequential(h))
        }
        SessionKind::Sequential(mut h) => {
            let read = stream_body(body, |c| {
                h.update(c);
                if let Some(r) = req.as_mut() {
                    r.update(c);
                }
            })
            .await?;
            (read, AppendData::Sequential(h))
        }
        SessionKind::Concurrent { .. } => {
            let mut digests = Vec::new();
            let mut splitter = BlockSplitter::default();
            let read = stream_body(body, |c| splitter.update(c, |d| digests.push(d))).await?;
            let partial = splitter.finish();
            (read, AppendData::Concurrent { digests, partial })
        }
    };
    if read.too_large {
        return Err(ApiError::tag("payload_too_large"));
    }
    if let AppendData::Concurrent { digests, partial } = &new_kind {
        if !a.close && !is_block_aligned(read.len) {
            return Err(ApiError::tag("concurrent_session_invalid_data_size"));
        }
        if let Some(want) = &a.content_hash {
            // The request starts on a block boundary, so its hash is built from the same
            // block digests the session keeps.
            let got = hash_from_block_digests(digests.iter().chain(partial.iter()));
            if got != want.to_ascii_lowercase() {
                return Err(ApiError::tag("content_hash_mismatch"));
            }
        }
    } else if let Some(got) = aligned_hash {
        if a.content_hash.map(|w| w.to_ascii_lowercase()) != Some(got) {
            return Err(ApiError::tag("content_hash_mismatch"));
        }
    } else if !hash_matches(&a.content_hash, req) {
        return Err(ApiError::tag("content_hash_mismatch"));
    }
    if offset + read.len > MAX_SESSION_SIZE {
        return Err(ApiError::tag("too_large"));
    }
    let mut st = call.shared.state();
    let Some(s) = st.sessions.get_mut(&id) else {
        return Err(ApiError::tag("not_found"));
    };
    if s.closed {
        return Err(ApiError::tag("closed"));
    }
    match (&mut s.kind, new_kind) {
        (SessionKind::Sequential(h), AppendData::Sequential(new_h)) => {
            // Another append may have won the race for this offset.
            if h.len() != offset {
                return Err(ApiError::route(incorrect_offset(h.len())));
            }
            *h = new_h;
        }
        (SessionKind::Concurrent { blocks, end }, AppendData::Concurrent { digests, partial }) => {
            let first = offset / BLOCK_SIZE as u64;
            let full = digests.len() as u64;
            for (i, d) in digests.into_iter().enumerate() {
                blocks.insert(first + i as u64, (d, BLOCK_SIZE as u64));
            }
            if let Some(p) = partial {
                blocks.insert(first + full, (p, read.len % BLOCK_SIZE as u64));
            }
            if a.close {
                *end = Some(offset + read.len);
            }
        }
        _ => return Err(ApiError::Server(500)),
    }
    if a.close {
        s.closed = true;
    }
    Ok(Value::Null)
}

enum AppendData {
    Sequential(ContentHasher),
    Concurrent {
        digests: Vec<[u8; 32]>,
        partial: Option<[u8; 32]>,
    },
}

fn lookup_failed(inner: Value) -> Value {
    json!({".tag": "lookup_failed", "lookup_failed": inner})
}

/// Commits a session whose data is complete. Err: an `UploadSessionFinishError` value.
fn commit_session(
    st: &mut State,
    call: &Call<'_>,
    session_id: &str,
    offset: u64,
    commit: &Commit,
    pref: &PathRef,
    require_closed: bool,
) -> Result<Value, Value> {
    let Some(s) = st.sessions.get(session_id) else {
        return Err(lookup_failed(json!({".tag": "not_found"})));
    };
    if require_closed && !s.closed {
        return Err(lookup_failed(json!({".tag": "not_closed"})));
    }
    if s.is_concurrent() && !s.closed {
        return Err(json!({".tag": "concurrent_session_not_closed"}));
    }
    if s.offset() != offset {
        return Err(lookup_failed(incorrect_offset(s.offset())));
    }
    let (size, hash) = s.completed().map_err(|tag| json!({".tag": tag}))?;
    let display = st
        .resolve(pref, &call.root)
        .map_err(|e| json!({".tag": "path", "path": e.write()}))?;
    if display.is_empty() {
        return Err(json!({".tag": "path", "path": {".tag": "malformed_path"}}));
    }
    let meta = st
        .commit_file(&display, commit, size, &hash)
        .map_err(|w| json!({".tag": "path", "path": w}))?;
    st.sessions.remove(session_id);
    Ok(meta)
}

fn finish_prep(route: &str, a: &SessionFinishArg) -> Result<(Commit, PathRef), ApiError> {
    let commit = a.commit.to_commit(route)?;
    let pref = paths::parse_path(route, "commit.path", &a.commit.path, PathPattern::WriteOrId)?;
    check_hash_arg(route, &a.content_hash)?;
    Ok((commit, pref))
}

/// `files/upload_session/finish`.
async fn finish(call: &Call<'_>, arg: Value, body: Body) -> ApiResult {
    let route = call.route;
    let a: SessionFinishArg = or_drain!(body, args::parse(route, ARG_HEADER, arg));
    let (commit, pref) = or_drain!(body, finish_prep(route, &a));
    let id = a.cursor.session_id.clone();
    let offset = a.cursor.offset;
    let snapshot = {
        let st = call.shared.state();
        match st.sessions.get(&id) {
            None => Err(ApiError::route(lookup_failed(json!({".tag": "not_found"})))),
            Some(s) => match &s.kind {
                SessionKind::Sequential(h) if h.len() != offset => {
                    Err(ApiError::route(lookup_failed(incorrect_offset(h.len()))))
                }
                kind => Ok((kind.clone(), s.closed)),
            },
        }
    };
    let (kind, closed) = or_drain!(body, snapshot);
    let mut req = request_hasher(&a.content_hash);
    let mut seq = match kind {
        SessionKind::Sequential(h) => Some(h),
        SessionKind::Concurrent { .. } => None,
    };
    let read = stream_body(body, |c| {
        if let Some(h) = seq.as_mut() {
            h.update(c);
        }
        if let Some(r) = req.as_mut() {
            r.update(c);
        }
    })
    .await?;
    if read.too_large {
        return Err(ApiError::tag("payload_too_large"));
    }
    if read.len > 0 {
        if seq.is_none() {
            return Err(ApiError::tag("concurrent_session_data_not_allowed"));
        }
        if closed {
            return Err(ApiError::route(lookup_failed(json!({".tag": "closed"}))));
        }
    }
    if !hash_matches(&a.content_hash, req) {
        return Err(ApiError::tag("content_hash_mismatch"));
    }
    let mut st = call.shared.state();
    if let (Some(new_h), true) = (seq, read.len > 0) {
        // Keep the data in the session even if the commit below fails (retry with an empty
        // body at the new offset, as the spec says).
        match st.sessions.get_mut(&id) {
            Some(Session {
                kind: SessionKind::Sequential(h),
                ..
            }) if h.len() == offset => *h = new_h,
            Some(s) => return Err(ApiError::route(lookup_failed(incorrect_offset(s.offset())))),
            None => return Err(ApiError::route(lookup_failed(json!({".tag": "not_found"})))),
        }
    }
    commit_session(&mut st, call, &id, offset + read.len, &commit, &pref, false)
        .map_err(ApiError::route)
}

/// `files/upload_session/start_batch` (RPC).
pub(crate) fn start_batch(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: StartBatchArg = args::parse(call.route, "request body", arg)?;
    if !(1..=1000).contains(&a.num_sessions) {
        return Err(ApiError::bad_input(
            call.route,
            format!(
                "request body: num_sessions: {} is not within range [1, 1000]",
                a.num_sessions
            ),
        ));
    }
    let concurrent = session_type(call.route, &a.session_type)?;
    let mut st = call.shared.state();
    let ids: Vec<String> = (0..a.num_sessions)
        .map(|_| {
            let id = st.new_opaque("pid_upload_session:");
            let s = if concurrent {
                Session::concurrent()
            } else {
                Session::sequential(ContentHasher::new(), false)
            };
            st.sessions.insert(id.clone(), s);
            id
        })
        .collect();
    Ok(json!({ "session_ids": ids }))
}

/// `files/upload_session/finish_batch_v2` (RPC, synchronous; every session must be closed).
pub(crate) fn finish_batch(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: FinishBatchArg = args::parse(call.route, "request body", arg)?;
    if a.entries.len() > 1000 {
        return Err(ApiError::bad_input(
            call.route,
            "request body: entries: list has more than 1000 items",
        ));
    }
    let prepared = a
        .entries
        .iter()
        .map(|e| finish_prep(call.route, e))
        .collect::<Result<Vec<_>, _>>()?;
    let mut st = call.shared.state();
    let entries: Vec<Value> = a
        .entries
        .iter()
        .zip(prepared)
        .map(|(e, (commit, pref))| {
            match commit_session(
                &mut st,
                call,
                &e.cursor.session_id,
                e.cursor.offset,
                &commit,
                &pref,
                true,
            ) {
                Ok(Value::Object(mut meta)) => {
                    meta.insert(".tag".into(), json!("success"));
                    Value::Object(meta)
                }
                Ok(other) => other,
                Err(err) => json!({".tag": "failure", "failure": err}),
            }
        })
        .collect();
    Ok(json!({ "entries": entries }))
}
