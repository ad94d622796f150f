#!/usr/bin/env python3
"""Contract check: drive a running fake Dropbox with the official `dropbox` Python SDK.

If the fake's wire format drifts from real Dropbox, the SDK's own (strict, generated) decoders
fail here. Every route the fake serves is called through the SDK's typed methods, results are
decoded into SDK types and checked, and errors are decoded into the SDK's error unions.

Environment:
  FAKE_DROPBOX_API_URL      e.g. http://127.0.0.1:41234 (RPC host, /oauth2/token, /_fake)
  FAKE_DROPBOX_CONTENT_URL  e.g. http://127.0.0.1:41235 (content host)

Transport: the SDK always builds https://{host}/... URLs from DROPBOX_API_HOST /
DROPBOX_API_CONTENT_HOST (read once, at import, by dropbox/session.py). We point those at two
placeholder host names and mount a requests transport adapter on "https://" that rewrites each
request to the fake's plain-http origin. No TLS listener is needed in the fake.

The fake must have been started with DropboxOptions::default() (app key "fake-app-key",
secret "fake-app-secret", refresh token "fake-refresh-token", owner "owner@example.com").
Prints "dropbox contract: N passed, M failed" and exits non-zero on any failure.
"""

import os
import sys
import traceback
import urllib.parse

API_PLACEHOLDER = "api.fake-dropbox.invalid"
CONTENT_PLACEHOLDER = "content.fake-dropbox.invalid"
os.environ["DROPBOX_API_HOST"] = API_PLACEHOLDER
os.environ["DROPBOX_API_CONTENT_HOST"] = CONTENT_PLACEHOLDER

import requests  # noqa: E402
import requests.adapters  # noqa: E402

import dropbox  # noqa: E402
from dropbox import common, exceptions, files, sharing  # noqa: E402

API_URL = os.environ.get("FAKE_DROPBOX_API_URL", "").rstrip("/")
CONTENT_URL = os.environ.get("FAKE_DROPBOX_CONTENT_URL", "").rstrip("/")
APP_KEY, APP_SECRET, REFRESH = "fake-app-key", "fake-app-secret", "fake-refresh-token"
BLOCK = 4 * 1024 * 1024


class RewriteToFake(requests.adapters.HTTPAdapter):
    """Sends https://<placeholder>/path to the fake's http origin for that placeholder."""

    def __init__(self, origins):
        super().__init__()
        self.origins = origins

    def send(self, request, **kwargs):
        parts = urllib.parse.urlsplit(request.url)
        origin = self.origins.get(parts.netloc)
        if origin is None:
            raise RuntimeError("unexpected host in SDK request: %s" % parts.netloc)
        request.url = origin + parts.path + ("?" + parts.query if parts.query else "")
        return super().send(request, **kwargs)


def make_session():
    s = requests.Session()
    s.mount("https://", RewriteToFake({API_PLACEHOLDER: API_URL, CONTENT_PLACEHOLDER: CONTENT_URL}))
    return s


def control(method, path, body=None):
    r = requests.request(method, API_URL + "/_fake/" + path, json=body, timeout=10)
    r.raise_for_status()
    return r.json()


def client(**kw):
    args = dict(
        oauth2_refresh_token=REFRESH,
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        session=make_session(),
        max_retries_on_error=0,
    )
    args.update(kw)
    return dropbox.Dropbox(**args)


PASSED, FAILED = [], []


def check(name):
    def wrap(fn):
        try:
            fn()
            PASSED.append(name)
            print("ok   %s" % name)
        except Exception:  # noqa: BLE001 - report every failure and keep going
            FAILED.append(name)
            print("FAIL %s" % name)
            traceback.print_exc()
        return fn

    return wrap


def expect_api_error(fn):
    try:
        fn()
    except exceptions.ApiError as e:
        return e.error
    raise AssertionError("expected ApiError")


def content_hash(data):
    import hashlib

    outer = hashlib.sha256()
    for i in range(0, len(data), BLOCK):
        outer.update(hashlib.sha256(data[i : i + BLOCK]).digest())
    return outer.hexdigest()


def main():
    if not API_URL or not CONTENT_URL:
        print("set FAKE_DROPBOX_API_URL and FAKE_DROPBOX_CONTENT_URL", file=sys.stderr)
        return 2
    dbx = client()
    state = {}

    @check("users/get_current_account decodes FullAccount with root_info")
    def _():
        acct = dbx.users_get_current_account()
        assert isinstance(acct, dropbox.users.FullAccount)
        assert acct.email == "owner@example.com"
        assert acct.account_id.startswith("dbid:")
        assert acct.root_info.root_namespace_id == acct.root_info.home_namespace_id
        assert acct.account_type.is_basic()
        state["root_ns"] = acct.root_info.root_namespace_id

    @check("files/create_folder_v2 and path/conflict/folder")
    def _():
        res = dbx.files_create_folder_v2("/Contract/Folder")
        assert isinstance(res.metadata, files.FolderMetadata)
        assert res.metadata.path_display == "/Contract/Folder"
        err = expect_api_error(lambda: dbx.files_create_folder_v2("/contract/folder"))
        assert err.is_path() and err.get_path().is_conflict()
        assert err.get_path().get_conflict().is_folder()

    @check("files/upload with non-ASCII name (header-safe JSON) and content_hash")
    def _():
        data = b"hello contract"
        md = dbx.files_upload(data, "/Contract/M\u00fcller \U0001F600.txt", mode=files.WriteMode.overwrite)
        assert isinstance(md, files.FileMetadata)
        assert md.name == "M\u00fcller \U0001F600.txt"
        assert md.size == len(data) and md.content_hash == content_hash(data)
        assert len(md.rev) >= 9
        again = dbx.files_upload(data, "/contract/m\u00fcller \U0001F600.txt")
        assert again.rev == md.rev, "same content must not create a new rev"
        err = expect_api_error(lambda: dbx.files_upload(b"other", "/Contract/M\u00fcller \U0001F600.txt"))
        assert err.is_path() and err.get_path().reason.get_conflict().is_file()

    @check("files/get_metadata, files/move_v2, files/delete_v2")
    def _():
        md = dbx.files_get_metadata("/contract/folder")
        assert isinstance(md, files.FolderMetadata)
        moved = dbx.files_move_v2("/Contract/Folder", "/Contract/Moved")
        assert moved.metadata.path_display == "/Contract/Moved" and moved.metadata.id == md.id
        deleted = dbx.files_delete_v2("/Contract/Moved")
        assert isinstance(deleted.metadata, files.FolderMetadata)
        err = expect_api_error(lambda: dbx.files_get_metadata("/Contract/Moved"))
        assert err.is_path() and err.get_path().is_not_found()

    @check("files/list_folder (+continue, get_latest_cursor) with deleted entries")
    def _():
        for i in range(3):
            dbx.files_upload(b"x%d" % i, "/Listing/f%d.txt" % i)
        res = dbx.files_list_folder("/Listing", recursive=True, include_deleted=True, limit=2)
        entries = list(res.entries)
        while res.has_more:
            res = dbx.files_list_folder_continue(res.cursor)
            entries.extend(res.entries)
        names = sorted(e.name for e in entries if isinstance(e, files.FileMetadata))
        assert names == ["f0.txt", "f1.txt", "f2.txt"], names
        latest = dbx.files_list_folder_get_latest_cursor("/Listing", recursive=True, include_deleted=True).cursor
        dbx.files_delete_v2("/Listing/f1.txt")
        res = dbx.files_list_folder_continue(latest)
        assert len(res.entries) == 1 and isinstance(res.entries[0], files.DeletedMetadata)
        control("POST", "reset_cursors")
        err = expect_api_error(lambda: dbx.files_list_folder_continue(res.cursor))
        assert err.is_reset()

    @check("upload_session sequential: start/append_v2/finish and incorrect_offset")
    def _():
        data = bytes(range(256)) * 20000  # 5,120,000 bytes: crosses a 4 MiB block
        start = dbx.files_upload_session_start(data[:1000000])
        cursor = files.UploadSessionCursor(start.session_id, 1000000)
        err = expect_api_error(
            lambda: dbx.files_upload_session_append_v2(data[1000000:], files.UploadSessionCursor(start.session_id, 5))
        )
        assert err.is_incorrect_offset() and err.get_incorrect_offset().correct_offset == 1000000
        dbx.files_upload_session_append_v2(data[1000000:3000000], cursor)
        cursor.offset = 3000000
        md = dbx.files_upload_session_finish(data[3000000:], cursor, files.CommitInfo("/Sessions/seq.bin"))
        assert md.size == len(data) and md.content_hash == content_hash(data)

    @check("upload_session concurrent + start_batch + finish_batch_v2")
    def _():
        data = b"\x07" * BLOCK + b"tail"
        ids = dbx.files_upload_session_start_batch(2, session_type=files.UploadSessionType.concurrent).session_ids
        assert len(ids) == 2
        dbx.files_upload_session_append_v2(data[:BLOCK], files.UploadSessionCursor(ids[0], 0))
        dbx.files_upload_session_append_v2(data[BLOCK:], files.UploadSessionCursor(ids[0], BLOCK), close=True)
        res = dbx.files_upload_session_finish_batch_v2(
            [
                files.UploadSessionFinishArg(files.UploadSessionCursor(ids[0], len(data)), files.CommitInfo("/Sessions/c.bin")),
                files.UploadSessionFinishArg(files.UploadSessionCursor(ids[1], 0), files.CommitInfo("/Sessions/d.bin")),
            ]
        )
        first, second = res.entries
        assert first.is_success() and first.get_success().content_hash == content_hash(data)
        assert second.is_failure() and second.get_failure().get_lookup_failed().is_not_closed()
        s = dbx.files_upload_session_start(b"", session_type=files.UploadSessionType.concurrent)
        err = expect_api_error(
            lambda: dbx.files_upload_session_append_v2(b"x" * 10, files.UploadSessionCursor(s.session_id, 0))
        )
        assert err.is_concurrent_session_invalid_data_size()

    @check("sharing/share_folder, already_shared, get_folder_metadata")
    def _():
        launch = dbx.sharing_share_folder("/Shared/Team")
        assert launch.is_complete()
        meta = launch.get_complete()
        assert isinstance(meta, sharing.SharedFolderMetadata)
        assert meta.access_type.is_owner() and meta.name == "Team"
        state["sfid"] = meta.shared_folder_id
        err = expect_api_error(lambda: dbx.sharing_share_folder("/Shared/Team"))
        assert err.is_bad_path() and err.get_bad_path().is_already_shared()
        assert err.get_bad_path().get_already_shared().shared_folder_id == meta.shared_folder_id
        again = dbx.sharing_get_folder_metadata(meta.shared_folder_id)
        assert again.path_lower == "/shared/team"
        fmd = dbx.files_get_metadata("/Shared/Team")
        assert fmd.sharing_info.shared_folder_id == meta.shared_folder_id

    @check("sharing/share_folder force_async + check_share_job_status")
    def _():
        launch = dbx.sharing_share_folder("/Shared/Async", force_async=True)
        assert launch.is_async_job_id()
        job = launch.get_async_job_id()
        assert dbx.sharing_check_share_job_status(job).is_in_progress()
        done = dbx.sharing_check_share_job_status(job)
        assert done.is_complete() and done.get_complete().name == "Async"
        state["async_sfid"] = done.get_complete().shared_folder_id

    @check("sharing/add_folder_member, list_folder_members (+continue), member errors")
    def _():
        control("POST", "users", {"email": "bob@example.com"})
        sfid = state["sfid"]
        dbx.sharing_add_folder_member(
            sfid,
            [
                sharing.AddMember(sharing.MemberSelector.email("bob@example.com"), sharing.AccessLevel.editor),
                sharing.AddMember(sharing.MemberSelector.email("carol@example.org"), sharing.AccessLevel.viewer),
            ],
            quiet=True,
        )
        page = dbx.sharing_list_folder_members(sfid, limit=2)
        users = list(page.users)
        invitees = list(page.invitees)
        while page.cursor:
            page = dbx.sharing_list_folder_members_continue(page.cursor)
            users.extend(page.users)
            invitees.extend(page.invitees)
        assert [u.user.email for u in users] == ["owner@example.com", "bob@example.com"]
        assert users[0].access_type.is_owner() and users[1].access_type.is_editor()
        assert invitees[0].invitee.get_email() == "carol@example.org"
        assert invitees[0].access_type.is_viewer()
        control("POST", "member_error", {"email": "dave@example.com", "error": "invalid_email"})
        err = expect_api_error(
            lambda: dbx.sharing_add_folder_member(
                sfid, [sharing.AddMember(sharing.MemberSelector.email("dave@example.com"), sharing.AccessLevel.viewer)]
            )
        )
        assert err.is_bad_member() and err.get_bad_member().get_invalid_email() == "dave@example.com"
        control("POST", "member_error", {"email": "erin@example.com", "error": "too_many_members"})
        err = expect_api_error(
            lambda: dbx.sharing_add_folder_member(
                sfid, [sharing.AddMember(sharing.MemberSelector.email("erin@example.com"), sharing.AccessLevel.viewer)]
            )
        )
        assert err.is_too_many_members()

    @check("sharing/add_folder_member and share_folder: email_unverified, banned_member of the caller")
    def _():
        sfid = state["sfid"]
        invite = lambda: dbx.sharing_add_folder_member(
            sfid, [sharing.AddMember(sharing.MemberSelector.email("frank@example.com"), sharing.AccessLevel.viewer)]
        )
        control("POST", "knobs", {"account_email_unverified": True})
        try:
            assert expect_api_error(invite).is_email_unverified()
            err = expect_api_error(lambda: dbx.sharing_share_folder("/Unverified share"))
            assert err.is_email_unverified()
        finally:
            control("POST", "knobs", {"account_email_unverified": False})
        control("POST", "knobs", {"account_banned": True})
        try:
            assert expect_api_error(invite).is_banned_member()
        finally:
            control("POST", "knobs", {"account_banned": False})

    @check("sharing/update_folder_member decodes MemberAccessLevelResult, member_error/not_a_member")
    def _():
        sfid = state["sfid"]
        users = dbx.sharing_list_folder_members(sfid).users
        bob = [u.user.account_id for u in users if u.user.email == "bob@example.com"][0]
        res = dbx.sharing_update_folder_member(sfid, sharing.MemberSelector.dropbox_id(bob), sharing.AccessLevel.viewer)
        assert isinstance(res, sharing.MemberAccessLevelResult)
        assert res.access_level is None and res.warning is None and res.access_details is None
        levels = {u.user.email: u.access_type for u in dbx.sharing_list_folder_members(sfid).users}
        assert levels["bob@example.com"].is_viewer(), levels
        stranger = control("POST", "users", {"email": "stranger@example.com"})["account_id"]
        err = expect_api_error(
            lambda: dbx.sharing_update_folder_member(
                sfid, sharing.MemberSelector.dropbox_id(stranger), sharing.AccessLevel.editor
            )
        )
        assert isinstance(err, sharing.UpdateFolderMemberError)
        assert err.is_member_error() and err.get_member_error().is_not_a_member()
        owner = users[0].user.account_id
        err = expect_api_error(
            lambda: dbx.sharing_update_folder_member(
                sfid, sharing.MemberSelector.dropbox_id(owner), sharing.AccessLevel.viewer
            )
        )
        assert err.is_no_permission()
        err = expect_api_error(
            lambda: dbx.sharing_update_folder_member(
                "999", sharing.MemberSelector.dropbox_id(bob), sharing.AccessLevel.viewer
            )
        )
        assert err.is_access_error() and err.get_access_error().is_invalid_id()

    @check("sharing/remove_folder_member + check_remove_member_job_status, folder_owner")
    def _():
        sfid = state["sfid"]
        err = expect_api_error(
            lambda: dbx.sharing_remove_folder_member(sfid, sharing.MemberSelector.email("owner@example.com"), False)
        )
        assert err.is_folder_owner()
        launch = dbx.sharing_remove_folder_member(sfid, sharing.MemberSelector.email("bob@example.com"), False)
        assert launch.is_async_job_id()
        job = launch.get_async_job_id()
        assert dbx.sharing_check_remove_member_job_status(job).is_in_progress()
        assert dbx.sharing_check_remove_member_job_status(job).is_complete()
        emails = [u.user.email for u in dbx.sharing_list_folder_members(sfid).users]
        assert emails == ["owner@example.com"], emails

    @check("sharing/unshare_folder + check_job_status")
    def _():
        launch = dbx.sharing_unshare_folder(state["async_sfid"])
        if launch.is_async_job_id():
            job = launch.get_async_job_id()
            status = dbx.sharing_check_job_status(job)
            while status.is_in_progress():
                status = dbx.sharing_check_job_status(job)
            assert status.is_complete()
        err = expect_api_error(lambda: dbx.sharing_get_folder_metadata(state["async_sfid"]))
        assert err.is_invalid_id()

    @check("sharing/mount_folder: a deleted shared folder is only unmounted and mounts back")
    def _():
        launch = dbx.sharing_share_folder("/Groups/Mountable")
        meta = launch.get_complete()
        sfid = meta.shared_folder_id
        control("POST", "users", {"email": "mona@example.com"})
        dbx.sharing_add_folder_member(
            sfid, [sharing.AddMember(sharing.MemberSelector.email("mona@example.com"), sharing.AccessLevel.editor)],
            quiet=True,
        )
        dbx.files_upload(b"kept", "/Groups/Mountable/kept.txt")
        dbx.files_delete_v2("/Groups/Mountable")
        err = expect_api_error(lambda: dbx.files_get_metadata("/Groups/Mountable"))
        assert err.is_path() and err.get_path().is_not_found()
        unmounted = dbx.sharing_get_folder_metadata(sfid)
        assert unmounted.shared_folder_id == sfid and unmounted.name == "Mountable"
        assert unmounted.path_lower is None and unmounted.path_display is None
        emails = [u.user.email for u in dbx.sharing_list_folder_members(sfid).users]
        assert "mona@example.com" in emails, emails
        mounted = dbx.sharing_mount_folder(sfid)
        assert isinstance(mounted, sharing.SharedFolderMetadata)
        assert mounted.shared_folder_id == sfid
        assert mounted.path_display == "/Mountable" and mounted.path_lower == "/mountable"
        moved = dbx.files_move_v2("/Mountable", "/Groups/Mountable")
        assert moved.metadata.path_display == "/Groups/Mountable"
        assert moved.metadata.sharing_info.shared_folder_id == sfid
        again = dbx.sharing_get_folder_metadata(sfid)
        assert again.path_lower == "/groups/mountable" and again.shared_folder_id == sfid
        assert dbx.files_get_metadata("/Groups/Mountable/kept.txt").size == 4
        err = expect_api_error(lambda: dbx.sharing_mount_folder(sfid))
        assert isinstance(err, sharing.MountFolderError) and err.is_already_mounted()
        err = expect_api_error(lambda: dbx.sharing_mount_folder("999"))
        assert err.is_access_error() and err.get_access_error().is_invalid_id()
        control("POST", "mount_error", {"shared_folder_id": sfid, "error": "insufficient_quota"})
        dbx.files_delete_v2("/Groups/Mountable")
        err = expect_api_error(lambda: dbx.sharing_mount_folder(sfid))
        assert err.is_insufficient_quota() and err.get_insufficient_quota().space_needed == 4
        control("POST", "mount_error", {"shared_folder_id": sfid, "error": None})
        assert dbx.sharing_mount_folder(sfid).path_display == "/Mountable"
        dbx.sharing_unmount_folder(sfid)
        err = expect_api_error(lambda: dbx.sharing_unmount_folder(sfid))
        assert err.is_access_error() and err.get_access_error().is_unmounted()
        state["unmounted_sfid"] = sfid

    @check("unsharing really ends a shared folder (invalid_id afterwards)")
    def _():
        sfid = state["unmounted_sfid"]
        control("POST", "unshare", {"shared_folder_id": sfid})
        err = expect_api_error(lambda: dbx.sharing_get_folder_metadata(sfid))
        assert err.is_invalid_id()
        err = expect_api_error(lambda: dbx.sharing_mount_folder(sfid))
        assert err.get_access_error().is_invalid_id()

    @check("share_folder answered async by the ratio knob + check_share_job_status")
    def _():
        control("POST", "knobs", {"share_folder_async_ratio": 1.0, "async_job_polls": 2})
        try:
            launch = dbx.sharing_share_folder("/Shared/Ratio")
            assert launch.is_async_job_id()
            job = launch.get_async_job_id()
            assert dbx.sharing_check_share_job_status(job).is_in_progress()
            assert dbx.sharing_check_share_job_status(job).is_in_progress()
            done = dbx.sharing_check_share_job_status(job)
            assert done.is_complete()
            meta = done.get_complete()
            assert meta.path_display == "/Shared/Ratio" and meta.access_type.is_owner()
        finally:
            control("POST", "knobs", {"share_folder_async_ratio": 0.0, "async_job_polls": 1})
        err = expect_api_error(lambda: dbx.sharing_check_share_job_status("dbjid:nope"))
        assert err.is_invalid_async_job_id()

    @check("SharedFolderAccessError: bare on folder routes, under access_error on member routes")
    def _():
        sfid = dbx.sharing_share_folder("/Shared/Locked").get_complete().shared_folder_id
        control("POST", "access_error", {"shared_folder_id": sfid, "error": "not_a_member"})
        try:
            err = expect_api_error(lambda: dbx.sharing_get_folder_metadata(sfid))
            assert isinstance(err, sharing.SharedFolderAccessError) and err.is_not_a_member()
            err = expect_api_error(lambda: dbx.sharing_list_folder_members(sfid))
            assert isinstance(err, sharing.SharedFolderAccessError) and err.is_not_a_member()
            err = expect_api_error(
                lambda: dbx.sharing_add_folder_member(
                    sfid, [sharing.AddMember(sharing.MemberSelector.email("x@example.com"), sharing.AccessLevel.viewer)]
                )
            )
            assert isinstance(err, sharing.AddFolderMemberError)
            assert err.is_access_error() and err.get_access_error().is_not_a_member()
            err = expect_api_error(
                lambda: dbx.sharing_remove_folder_member(sfid, sharing.MemberSelector.email("x@example.com"), False)
            )
            assert err.is_access_error() and err.get_access_error().is_not_a_member()
        finally:
            control("POST", "access_error", {"shared_folder_id": sfid, "error": None})
        assert dbx.sharing_get_folder_metadata(sfid).path_lower == "/shared/locked"

    @check("e-mails with ' # & pass the SDK's Stone pattern and the fake's")
    def _():
        sfid = state["sfid"]
        dbx.sharing_add_folder_member(
            sfid,
            [sharing.AddMember(sharing.MemberSelector.email(e), sharing.AccessLevel.viewer)
             for e in ("o'neil@example.com", "r&d#1@example.com")],
            quiet=True,
        )
        invited = [i.invitee.get_email() for i in dbx.sharing_list_folder_members(sfid).invitees]
        assert "o'neil@example.com" in invited and "r&d#1@example.com" in invited, invited
        # What the SDK refuses before sending, the fake refuses whole with a 400.
        try:
            sharing.MemberSelector.email("j\u00fcrgen@example.com")
        except Exception:  # noqa: BLE001 - the SDK's ValidationError
            pass
        else:
            raise AssertionError("the SDK accepted a non-ASCII local part")
        token = control("POST", "token")["access_token"]
        r = requests.post(
            API_URL + "/2/sharing/add_folder_member",
            headers={"Authorization": "Bearer " + token},
            json={"shared_folder_id": sfid, "members": [
                {"member": {".tag": "email", "email": "ok@example.com"}, "access_level": "viewer"},
                {"member": {".tag": "email", "email": "j\u00fcrgen@example.com"}, "access_level": "viewer"}]},
            timeout=10,
        )
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/plain"), r.text
        invited = [i.invitee.get_email() for i in dbx.sharing_list_folder_members(sfid).invitees]
        assert "ok@example.com" not in invited, invited

    @check("files/get_temporary_link (check's files.content.read probe): not_found, not_file, a link")
    def _():
        err = expect_api_error(lambda: dbx.files_get_temporary_link("/.bridge-check-nowhere"))
        assert isinstance(err, files.GetTemporaryLinkError)
        assert err.is_path() and err.get_path().is_not_found()
        err = expect_api_error(lambda: dbx.files_get_temporary_link("/Shared/Team"))
        assert err.is_path() and err.get_path().is_not_file()
        dbx.files_upload(b"linked", "/Shared/linked.txt", mode=files.WriteMode.overwrite)
        res = dbx.files_get_temporary_link("/shared/LINKED.txt")
        assert isinstance(res.metadata, files.FileMetadata) and res.metadata.size == 6
        assert res.link.startswith("https://")

    @check("a scope the app lacks decodes as AuthError missing_scope with required_scope")
    def _():
        control("POST", "knobs", {"granted_scopes": ["account_info.read", "files.metadata.read"]})
        try:
            assert dbx.users_get_current_account().email == "owner@example.com"
            try:
                dbx.files_get_temporary_link("/.bridge-check-nowhere")
            except exceptions.AuthError as e:
                assert e.error.is_missing_scope(), e.error
                assert e.error.get_missing_scope().required_scope == "files.content.read"
            else:
                raise AssertionError("expected AuthError")
            try:
                dbx.sharing_get_folder_metadata(state["sfid"])
            except exceptions.AuthError as e:
                assert e.error.get_missing_scope().required_scope == "sharing.read"
            else:
                raise AssertionError("expected AuthError")
        finally:
            control("POST", "knobs", {"granted_scopes": None})
        assert dbx.sharing_get_folder_metadata(state["sfid"]).shared_folder_id == state["sfid"]

    @check("expired access token is refreshed by the SDK with app key/secret/refresh token")
    def _():
        before = control("GET", "calls")["calls"].get("oauth2/token", 0)
        dbx.users_get_current_account()
        control("POST", "expire_tokens")
        acct = dbx.users_get_current_account()
        assert acct.email == "owner@example.com"
        after = control("GET", "calls")["calls"].get("oauth2/token", 0)
        assert after == before + 1, (before, after)

    @check("bad refresh token decodes as AuthError invalid_access_token")
    def _():
        bad = client(oauth2_refresh_token="wrong")
        try:
            bad.users_get_current_account()
        except exceptions.AuthError as e:
            assert e.error.is_invalid_access_token()
        else:
            raise AssertionError("expected AuthError")

    @check("rate limit: SDK decodes RateLimitError, and retries transparently")
    def _():
        control("POST", "fail_next", {"route": "files/get_metadata", "fault": {"kind": "rate_limit", "retry_after": 3}})
        strict = client(max_retries_on_rate_limit=0)
        try:
            strict.files_get_metadata("/Shared/Team")
        except exceptions.RateLimitError as e:
            assert e.backoff == 3 and e.error.reason.is_too_many_requests()
        else:
            raise AssertionError("expected RateLimitError")
        control("POST", "fail_next", {"route": "files/get_metadata", "fault": {"kind": "rate_limit_plain_text", "retry_after": 0}})
        md = dbx.files_get_metadata("/Shared/Team")
        assert md.name == "Team"

    @check("Dropbox-API-Path-Root: root ok, wrong root is PathRootError")
    def _():
        ok = dbx.with_path_root(common.PathRoot.root(state["root_ns"]))
        assert ok.files_get_metadata("/Shared/Team").name == "Team"
        bad = dbx.with_path_root(common.PathRoot.root("12345"))
        try:
            bad.files_get_metadata("/Shared/Team")
        except exceptions.PathRootError as e:
            assert e.error.is_invalid_root()
            assert e.error.get_invalid_root().root_namespace_id == state["root_ns"]
        else:
            raise AssertionError("expected PathRootError")

    print("dropbox contract: %d passed, %d failed" % (len(PASSED), len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
