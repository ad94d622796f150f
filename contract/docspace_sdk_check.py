#!/usr/bin/env python3
"""Contract check: the fake DocSpace's wire format against the official Python SDK.

Decodes the fake's answers with ONLYOFFICE's own generated client (PyPI `docspace-api-sdk`,
`docspace_api_sdk.*Api` classes over `ApiClient`, host = the fake) and asserts the fields the
bridge relies on. Envelope-level facts the SDK models do not carry (`total`, error envelopes, bare
401s, 400 on count > 100, no `contentType`, date-string format) are checked on the raw JSON.

Where the SDK and the real wire disagree (reference docspace.md 2.2 and 3):
  * Dates: the OpenAPI says `ApiDateTime` objects `{utcTime, timeZoneOffset}`; the server writes
    strings `yyyy-MM-ddTHH:mm:ss.fffffff+hh:mm` (`Z` at offset 0). SDK 3.7.0's
    `ApiDateTime.from_dict` accepts a bare string (it wraps it as `utcTime`), so the SDK decodes
    the wire form; `timeZoneOffset` then stays None. We assert the string form on the raw JSON.
  * Auth: the SDK's `ApiKeyBearer` scheme sends a header literally named `ApiKeyBearer`, which the
    server ignores. API keys go in `Authorization: Bearer sk-...`, i.e. the SDK's `access_token`.
  * Some operations (get_file_info, get_folder_by_folder_id, get_folder_info) declare no
    security scheme, so the SDK sends no credentials for them; we add a default header.
  * Envelope: the SDK's wrappers have no `total` field (GET group has it) and no `error` object.
  * Listings: `FolderContentDtoInteger` types `files`/`folders` as the base `FileEntryBaseDto`, so
    the SDK keeps only the base fields of each entry (no `id`, `version`, `roomType`); entries are
    decoded again from the raw JSON with `FileDtoInteger` / `FolderDtoInteger`.
  * Enums are ints on the wire; the SDK's int enums decode them (`searchArea` goes out as its
    number: Active 0, Archive 1, Any 2).
  * Model-validation failures (count > 100) come back as ASP.NET ValidationProblemDetails inside
    the envelope's `response`; the SDK validates `count` itself, so that is checked raw.
  * A key without a route's scope is refused by ASP.NET authorization: 403, no body.

Usage: DOCSPACE_URL=http://127.0.0.1:PORT DOCSPACE_API_KEY=sk-... python docspace_sdk_check.py
The fake must be the bridge's `bridge-fakes` binary (test data is created via its `/_fake/` API).
Exits non-zero on any failure; the last line is "docspace contract: N passed, M failed".
"""

import json
import os
import re
import sys
import traceback
import urllib.error
import urllib.request
import uuid
import warnings

warnings.filterwarnings("ignore")  # the SDK's models warn about a field named "copy"

import docspace_api_sdk  # noqa: E402
from docspace_api_sdk import (  # noqa: E402
    ApiClient,
    Configuration,
    FilesApi,
    FoldersApi,
    GroupApi,
    ProfilesApi,
    RoomsApi,
)
from docspace_api_sdk.exceptions import ApiException  # noqa: E402
from docspace_api_sdk.models.employee_activation_status import EmployeeActivationStatus  # noqa: E402
from docspace_api_sdk.models.employee_status import EmployeeStatus  # noqa: E402
from docspace_api_sdk.models.file_type import FileType  # noqa: E402
from docspace_api_sdk.models.folder_type import FolderType  # noqa: E402
from docspace_api_sdk.models.group_array_wrapper import GroupArrayWrapper  # noqa: E402
from docspace_api_sdk.models.file_dto_integer import FileDtoInteger  # noqa: E402
from docspace_api_sdk.models.folder_content_integer_wrapper import FolderContentIntegerWrapper  # noqa: E402
from docspace_api_sdk.models.folder_dto_integer import FolderDtoInteger  # noqa: E402
from docspace_api_sdk.models.room_type import RoomType  # noqa: E402
from docspace_api_sdk.models.search_area import SearchArea  # noqa: E402

BASE = os.environ.get("DOCSPACE_URL", "").rstrip("/")
KEY = os.environ.get("DOCSPACE_API_KEY", "")
# Names carry a per-run tag so the check can run repeatedly against one fake.
RUN = uuid.uuid4().hex[:8]
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}(Z|[+-]\d\d:\d\d)$")

passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"PASS {name}")
    except Exception as e:  # noqa: BLE001 - report every failure and go on
        failed += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}")
        if os.environ.get("CONTRACT_VERBOSE"):
            traceback.print_exc()


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def raw(method, path, body=None, auth=True, headers=None):
    """(status, headers, bytes) of a plain HTTP call to the fake."""
    req = urllib.request.Request(BASE + path, method=method)
    if auth:
        req.add_header("Authorization", f"Bearer {KEY}")
    req.add_header("Accept", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data=data, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw_json(path, **kw):
    status, _, body = raw("GET", path, **kw)
    expect(status == 200, f"GET {path}: HTTP {status} {body[:200]!r}")
    return json.loads(body)


def control(method, path, body=None):
    status, _, data = raw(method, "/_fake" + path, body=body, auth=False)
    expect(status in (200, 204), f"control {method} {path}: HTTP {status} {data[:200]!r}")
    return json.loads(data) if data else None


def all_dates(obj, out):
    """Collects (key, value) of every date-bearing field in a DTO tree."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("created", "updated", "registrationDate", "terminated") and v is not None:
                out.append((k, v))
            all_dates(v, out)
    elif isinstance(obj, list):
        for v in obj:
            all_dates(v, out)
    return out


def main():
    if not BASE or not KEY:
        print("DOCSPACE_URL and DOCSPACE_API_KEY must be set")
        print("docspace contract: 0 passed, 1 failed")
        return 1
    print(f"docspace-api-sdk {getattr(docspace_api_sdk, '__version__', '?')} against {BASE}")

    # ---- test data through the fake's control API ----
    info = control("GET", "/info")
    uid = {}
    for key, first, last, email, status in [
        ("ann", "Ann", "Able", f"ann.{RUN}@example.com", 1),
        ("ben", "Ben", "Best", f"ben.{RUN}@example.com", 4),
        ("cat", "Cat", "Cole", f"cat.{RUN}@example.com", 2),
    ]:
        uid[key] = control("POST", "/users", {"first_name": first, "last_name": last, "email": email,
                                              "status": status})["id"]
    group_id = control("POST", "/groups", {"name": f"Contract Group {RUN}",
                                           "members": [uid["ann"], uid["ben"], uid["cat"]]})["id"]
    control("POST", "/groups", {"name": f"Contract Managed {RUN}", "manager": uid["ann"],
                                "members": [uid["ann"]]})
    room_id = control("POST", "/rooms", {"title": "Contract Room"})["id"]
    folder_id = control("POST", "/folders", {"parent_id": room_id, "title": "Specs"})["id"]
    file_id = control("POST", "/files", {"folder_id": folder_id, "title": "Spec.docx",
                                         "size": 5000, "created_by": uid["ann"]})["id"]
    control("POST", f"/files/{file_id}/versions", {"size": 7000})
    control("POST", "/files", {"folder_id": folder_id, "title": "Empty.txt", "size": 0})

    cfg = Configuration(host=BASE, access_token=KEY)
    # Some operations (file info, folder content, folder info) declare no security in the spec
    # (they also serve share links), so the SDK sends no credentials for them: add the header
    # to every request.
    client = ApiClient(cfg, header_name="Authorization", header_value=f"Bearer {KEY}")
    groups_api, people_api = GroupApi(client), ProfilesApi(client)
    files_api, folders_api = FilesApi(client), FoldersApi(client)

    # ---- groups ----
    def group_list_decodes():
        w = groups_api.get_groups(filter_value=RUN)
        names = sorted(g.name for g in w.response)
        expect(names == [f"Contract Group {RUN}", f"Contract Managed {RUN}"], f"names {names}")
        expect(w.count == 2 and w.status == 0 and w.status_code == 200, "envelope count/status")
        for g in w.response:
            expect(g.members is None, "list must not include members")
            expect(g.is_ldap is False, "isLDAP")
        managed = next(g for g in w.response if g.name.startswith("Contract Managed"))
        expect(managed.manager is not None and managed.manager.email == f"ann.{RUN}@example.com",
               "manager EmployeeFullDto")

    def group_list_paging_total():
        body = raw_json(f"/api/2.0/group?count=1&startIndex=1&filterValue={RUN}")
        expect(body["count"] == 1 and body["total"] == 2, f"count/total {body.get('count')}/{body.get('total')}")
        expect(len(body["response"]) == 1, "one item")
        w = GroupArrayWrapper.from_dict(body)
        expect(w.response[0].name == f"Contract Managed {RUN}", "second page item (sorted by name)")
        expect(body["links"][0]["action"] == "GET" and "href" in body["links"][0], "links")

    def group_count_over_100_is_400():
        status, _, _ = raw("GET", "/api/2.0/group?count=101")
        expect(status == 400, f"HTTP {status}")

    def group_with_members_decodes():
        w = groups_api.get_group(group_id, include_members=True)
        g = w.response
        expect(str(g.id) == group_id and g.name == f"Contract Group {RUN}", "id/name")
        emails = sorted(m.email for m in g.members)
        # Terminated users are not members in the API's eyes.
        expect(emails == [f"ann.{RUN}@example.com", f"ben.{RUN}@example.com"], f"members {emails}")
        ann = next(m for m in g.members if m.email.startswith("ann"))
        ben = next(m for m in g.members if m.email.startswith("ben"))
        expect(ann.status == EmployeeStatus.Active, f"ann status {ann.status}")
        expect(ann.activation_status == EmployeeActivationStatus.Activated, "ann activation")
        expect(ben.status == EmployeeStatus.Pending, f"ben status {ben.status}")
        expect(ann.display_name == "Ann Able" and ann.first_name == "Ann" and ann.user_name, "names")
        expect(ann.is_admin is False and ann.is_visitor is False and ann.is_owner is False, "flags")
        expect(any(str(x.id) == group_id for x in ann.groups), "groups[] lists the group")
        expect(ann.registration_date is not None and ann.registration_date.utc_time is not None,
               "registrationDate string decoded by the SDK")

    def group_member_dates_are_strings():
        body = raw_json(f"/api/2.0/group/{group_id}")
        dates = all_dates(body["response"], [])
        expect(dates, "some dates")
        for k, v in dates:
            expect(isinstance(v, str) and DATE_RE.match(v), f"{k}={v!r} is not an ApiDateTime string")
        for m in body["response"]["members"]:
            expect(isinstance(m["status"], int) and isinstance(m["activationStatus"], int), "enums as ints")

    def unknown_group_is_404_envelope():
        status, _, body = raw("GET", "/api/2.0/group/00000000-0000-0000-0000-0000000000aa")
        expect(status == 404, f"HTTP {status}")
        env = json.loads(body)
        expect(env["status"] == 1 and env["statusCode"] == 404, "status/statusCode")
        expect(isinstance(env["error"]["message"], str) and env["error"]["message"], "error.message")
        for k in ("type", "stack", "hresult"):
            expect(k in env["error"], f"error.{k}")
        try:
            groups_api.get_group("00000000-0000-0000-0000-0000000000aa")
            raise AssertionError("SDK did not raise")
        except ApiException as e:
            expect(e.status == 404, f"SDK status {e.status}")

    def missing_and_wrong_key_are_401():
        status, _, _ = raw("GET", "/api/2.0/people/@self", auth=False)
        expect(status == 401, f"no key: HTTP {status}")
        status, _, _ = raw("GET", "/api/2.0/people/@self", auth=False,
                           headers={"Authorization": "Bearer sk-wrong"})
        expect(status == 401, f"wrong key: HTTP {status}")
        bad = ApiClient(Configuration(host=BASE, access_token="sk-wrong"),
                        header_name="Authorization", header_value="Bearer sk-wrong")
        try:
            ProfilesApi(bad).get_self_profile()
            raise AssertionError("SDK did not raise")
        except ApiException as e:
            expect(e.status == 401, f"SDK status {e.status}")

    def wrong_key_is_bare_403_where_anonymous_callers_are_served():
        # [AllowAnonymous] routes take an unknown key as no credentials; the API key scope
        # filter then forbids with an empty body (ApiKeyScopesFilter).
        for path in (f"/api/2.0/files/file/{file_id}", f"/api/2.0/files/{folder_id}",
                     f"/api/2.0/files/folder/{folder_id}"):
            status, _, body = raw("GET", path, auth=False,
                                  headers={"Authorization": "Bearer sk-wrong"})
            expect(status == 403 and not body.strip(), f"{path}: HTTP {status} {body[:80]!r}")
        bad = ApiClient(Configuration(host=BASE, access_token="sk-wrong"),
                        header_name="Authorization", header_value="Bearer sk-wrong")
        try:
            FilesApi(bad).get_file_info(file_id)
            raise AssertionError("SDK did not raise")
        except ApiException as e:
            expect(e.status == 403, f"SDK status {e.status}")

    # ---- people ----
    def self_profile_decodes():
        me = people_api.get_self_profile().response
        expect(str(me.id) == info["self_user_id"], f"id {me.id}")
        expect(me.email == "bridge@example.com", f"email {me.email}")
        expect(me.display_name and me.status == EmployeeStatus.Active, "displayName/status")

    # ---- files ----
    def file_info_decodes():
        w = files_api.get_file_info(file_id)
        f = w.response
        expect(f.id == file_id and f.title == "Spec.docx", "id/title")
        expect(f.folder_id == folder_id, f"folderId {f.folder_id}")
        expect(f.version == 2 and f.version_group == 2, f"version {f.version}")
        expect(f.pure_content_length == 7000, f"pureContentLength {f.pure_content_length}")
        expect(isinstance(f.content_length, str) and f.content_length.endswith("KB"), f"contentLength {f.content_length!r}")
        expect(f.file_exst == ".docx" and f.file_type == FileType.Document, "fileExst/fileType")
        expect(f.root_folder_type == FolderType.VirtualRooms, f"rootFolderType {f.root_folder_type}")
        expect(f.view_url.startswith(BASE + "/filehandler.ashx?action=download"), f"viewUrl {f.view_url}")
        expect(f.security is not None and f.security.download is True, "security.Download")
        expect(f.created_by is not None and f.created_by.display_name == "Ann Able", "createdBy")
        expect(f.created is not None and f.created.utc_time is not None, "created decoded")

    def file_info_old_version_and_wire_details():
        body = raw_json(f"/api/2.0/files/file/{file_id}?version=1")
        r = body["response"]
        expect(r["version"] == 1 and r["pureContentLength"] == 5000, "version 1 metadata")
        expect("contentType" not in r, "FileDto has no contentType")
        for k, v in all_dates(r, []):
            expect(DATE_RE.match(v), f"{k}={v!r}")
        status, _, _ = raw("GET", f"/api/2.0/files/file/{file_id}?version=9")
        expect(status == 404, f"unknown version: HTTP {status}")

    def empty_file_omits_pure_content_length():
        listing = raw_json(f"/api/2.0/files/{folder_id}")
        empty = next(f for f in listing["response"]["files"] if f["title"] == "Empty.txt")
        expect("pureContentLength" not in empty, "omitted when 0")
        expect(empty["contentLength"] == "0 bytes", f"contentLength {empty['contentLength']!r}")

    def folder_listing_decodes():
        w = folders_api.get_folder_by_folder_id(folder_id)
        c = w.response
        expect(c.total == 2 and c.count == 2 and c.start_index == 0, f"total/count {c.total}/{c.count}")
        expect(sorted(f.title for f in c.files) == ["Empty.txt", "Spec.docx"], "files")
        expect(c.current.id == folder_id and c.current.title == "Specs", "current")
        expect(c.current.parent_id == room_id and c.current.in_room is True, "current parent/inRoom")
        parts = c.path_parts
        expect(isinstance(parts, list) and [p["title"] for p in parts] == ["Rooms", "Contract Room", "Specs"],
               f"pathParts {parts}")
        expect(parts[1]["roomType"] == RoomType.CustomRoom.value, "room part has roomType")

    def folder_listing_paging():
        w = folders_api.get_folder_by_folder_id(folder_id, count=1, start_index=1)
        c = w.response
        expect(c.total == 2 and c.count == 1 and c.start_index == 1, "paging fields")
        expect([f.title for f in c.files] == ["Spec.docx"], "second page")

    def room_folder_info_decodes():
        w = folders_api.get_folder_info(room_id)
        r = w.response
        expect(r.id == room_id and r.title == "Contract Room", "id/title")
        expect(r.room_type == RoomType.CustomRoom and r.root_folder_type == FolderType.VirtualRooms, "types")
        expect(r.folders_count == 1, f"foldersCount {r.folders_count}")

    def presigned_uri_decodes_and_streams():
        w = files_api.get_presigned_uri(file_id)
        url = w.response
        expect(isinstance(url, str), "response is a plain string")
        expect(url.startswith(BASE + "/filehandler.ashx?action=stream&fileid="), f"url {url}")
        expect("stream_auth=" in url and "version=2" in url, f"url {url}")
        status, headers, data = raw("GET", url[len(BASE):], headers={"Range": "bytes=0-99"})
        expect(status == 206 and len(data) == 100, f"range HTTP {status} len {len(data)}")
        status, _, data = raw("GET", url[len(BASE):])
        expect(status == 200 and len(data) == 7000, f"full HTTP {status} len {len(data)}")
        hashed = control("GET", f"/files/{file_id}/content-hash")
        expect(hashed["size"] == 7000 and len(hashed["content_hash"]) == 64, "content hash")

    # ---- rooms and folder listings, as a file reconcile walks them ----
    rooms_api = RoomsApi(client)
    listed_rooms = {}
    for title in ("Alpha", "Bravo", "Charlie"):
        listed_rooms[title] = control("POST", "/rooms", {"title": f"Reconcile {RUN} {title}"})["id"]
    control("POST", f"/rooms/{listed_rooms['Charlie']}/archive")
    nested_parent = control("POST", "/folders", {"parent_id": listed_rooms["Alpha"], "title": "2026"})["id"]
    nested = control("POST", "/folders", {"parent_id": nested_parent, "title": "Q1"})["id"]
    bulk = control("POST", "/files/bulk", {"folder_id": nested, "count": 5, "size": 10, "prefix": "Doc ", "ext": ".docx"})["ids"]
    control("PUT", f"/files/{bulk[0]}/updated", {"updated": "2020-01-02T03:04:05Z"})
    control("POST", f"/files/{bulk[4]}/trash")

    def rooms_listing_decodes_and_pages():
        w = rooms_api.get_rooms_folder(filter_value=f"Reconcile {RUN}", count=1, start_index=1)
        expect(isinstance(w, FolderContentIntegerWrapper), type(w).__name__)
        c = w.response
        expect(c.total == 2 and c.count == 1 and c.start_index == 1, f"total/count/start {c.total}/{c.count}/{c.start_index}")
        # Last modified first (a key user who never chose an order): Bravo, then Alpha.
        expect([f.title for f in c.folders] == [f"Reconcile {RUN} Alpha"], f"folders {[f.title for f in c.folders]}")
        expect(c.files == [], "no files in the Rooms section")
        expect(c.current.id == 1 and c.current.title == "Rooms", f"current {c.current.id}")
        expect(c.folders[0].updated is not None and c.folders[0].updated.utc_time is not None, "updated decoded")
        body = raw_json(f"/api/2.0/files/rooms?count=1&startIndex=1&filterValue=Reconcile%20{RUN}")
        expect(body["count"] == 1 and "total" not in body, "envelope count 1, total inside response")
        expect(body["response"]["total"] == 2, "response.total")
        room = FolderDtoInteger.from_dict(body["response"]["folders"][0])
        expect(room.id == listed_rooms["Alpha"], f"id {room.id}")
        expect(room.room_type == RoomType.CustomRoom and room.parent_id == 1, "roomType/parentId")

    def rooms_listing_search_areas():
        archived = rooms_api.get_rooms_folder(filter_value=f"Reconcile {RUN}", search_area=SearchArea.Archive)
        titles = [f.title for f in archived.response.folders]
        expect(titles == [f"Reconcile {RUN} Charlie"], f"archive {titles}")
        expect(archived.response.current.id == 3, "the Archive section")
        expect(archived.response.folders[0].root_folder_type == FolderType.Archive, "rootFolderType Archive")
        body = raw_json(f"/api/2.0/files/rooms?searchArea=1&filterValue=Reconcile%20{RUN}")
        expect(FolderDtoInteger.from_dict(body["response"]["folders"][0]).parent_id == 3, "parent: Archive")
        every = rooms_api.get_rooms_folder(filter_value=f"Reconcile {RUN}", search_area=SearchArea.Any)
        expect(every.response.total == 3, f"any {every.response.total}")
        active = rooms_api.get_rooms_folder(filter_value=f"Reconcile {RUN}", search_area=SearchArea.Active)
        expect(active.response.total == 2, f"active {active.response.total}")

    def nested_folder_listing_pages_without_trash():
        w = folders_api.get_folder_by_folder_id(listed_rooms["Alpha"])
        expect([f.title for f in w.response.folders] == ["2026"], "room lists its folder")
        seen, start = [], 0
        while True:
            page = folders_api.get_folder_by_folder_id(nested, count=2, start_index=start).response
            expect(len(page.files) + len(page.folders) <= 2, "at most count entries")
            expect(page.count == len(page.files) + len(page.folders), "count = entries on the page")
            raw_page = raw_json(f"/api/2.0/files/{nested}?count=2&startIndex={start}")["response"]
            seen.extend(FileDtoInteger.from_dict(f) for f in raw_page["files"])
            start += 2
            if start >= page.total:
                break
        expect(sorted(f.id for f in seen) == sorted(bulk[:4]), f"ids {[f.id for f in seen]} (trashed left out)")
        old = next(f for f in seen if f.id == bulk[0])
        expect(old.version == 1 and old.folder_id == nested and old.file_exst == ".docx", "entry fields")
        expect(old.pure_content_length == 10, "pureContentLength")
        body = raw_json(f"/api/2.0/files/{nested}?count=100")
        entry = next(f for f in body["response"]["files"] if f["id"] == bulk[0])
        expect(entry["updated"] == "2020-01-02T03:04:05.0000000Z", f"updated {entry['updated']}")
        parts = [p["title"] for p in body["response"]["pathParts"]]
        expect(parts == ["Rooms", f"Reconcile {RUN} Alpha", "2026", "Q1"], f"pathParts {parts}")

    def count_over_100_is_validation_problem():
        for path in ("/api/2.0/files/rooms?count=101", f"/api/2.0/files/{nested}?count=101"):
            status, _, body = raw("GET", path)
            expect(status == 400, f"{path}: HTTP {status}")
            env = json.loads(body)
            expect(env["status"] == 1 and env["statusCode"] == 400, "status/statusCode")
            expect("title" not in env and "error" not in env, "problem details only inside response")
            r = env["response"]
            expect(r["title"] == "One or more validation errors occurred." and r["status"] == 400, "title/status")
            expect(list(r["errors"]) == ["count"], f"errors {r['errors']}")

    def restricted_key_gets_403_from_the_sdk():
        key = control("POST", "/api_keys", {"permissions": ["files:read"]})["key"]
        restricted = ApiClient(Configuration(host=BASE, access_token=key),
                               header_name="Authorization", header_value=f"Bearer {key}")
        w = FoldersApi(restricted).get_folder_by_folder_id(nested)
        expect(w.response.current.id == nested, "files:read lists folders")
        for call in (lambda: GroupApi(restricted).get_groups(),
                     lambda: RoomsApi(restricted).get_rooms_folder(),
                     lambda: ProfilesApi(restricted).get_self_profile()):
            try:
                call()
                raise AssertionError("SDK did not raise")
            except ApiException as e:
                expect(e.status == 403, f"SDK status {e.status}")
                expect(not e.body, f"no body: {e.body!r}")
        rooms_key = control("POST", "/api_keys", {"permissions": ["rooms:read"]})["key"]
        status, _, _ = raw("GET", "/api/2.0/files/rooms", auth=False,
                           headers={"Authorization": f"Bearer {rooms_key}"})
        expect(status == 200, f"rooms:read lists rooms: HTTP {status}")

    def refused_download_is_403_with_the_key():
        control("PUT", f"/files/{bulk[1]}/download", {"denied": True})
        url = files_api.get_presigned_uri(bulk[1]).response
        status, _, data = raw("GET", url[len(BASE):])
        expect(status == 403 and data == b"", f"HTTP {status} {data[:80]!r}")
        url = files_api.get_presigned_uri(bulk[2]).response
        status, _, data = raw("GET", url[len(BASE):])
        expect(status == 200 and len(data) == 10, f"other file: HTTP {status}")

    def unreadable_folder_is_403_envelope():
        control("PUT", f"/folders/{nested_parent}/readable", {"readable": False})
        try:
            folders_api.get_folder_by_folder_id(nested)
            raise AssertionError("SDK did not raise")
        except ApiException as e:
            expect(e.status == 403, f"SDK status {e.status}")
            env = json.loads(e.body)
            expect(env["statusCode"] == 403 and env["error"]["message"], "error envelope")
        finally:
            control("PUT", f"/folders/{nested_parent}/readable", {"readable": True})

    for name, fn in [
        ("group list decodes as GroupArrayWrapper (no members)", group_list_decodes),
        ("group list envelope has count + total, pages by startIndex", group_list_paging_total),
        ("group list count>100 is 400", group_count_over_100_is_400),
        ("group with members decodes as GroupWrapper/EmployeeFullDto", group_with_members_decodes),
        ("dates are ApiDateTime strings, enums ints", group_member_dates_are_strings),
        ("unknown group is a 404 error envelope", unknown_group_is_404_envelope),
        ("missing/wrong API key is 401", missing_and_wrong_key_are_401),
        ("wrong API key is a bare 403 on [AllowAnonymous] file routes",
         wrong_key_is_bare_403_where_anonymous_callers_are_served),
        ("people/@self decodes as EmployeeFullWrapper", self_profile_decodes),
        ("file info decodes as FileIntegerWrapper", file_info_decodes),
        ("file info ?version, no contentType, date strings", file_info_old_version_and_wire_details),
        ("empty file omits pureContentLength", empty_file_omits_pure_content_length),
        ("folder listing decodes as FolderContentIntegerWrapper", folder_listing_decodes),
        ("folder listing pages", folder_listing_paging),
        ("room folder info decodes as FolderIntegerWrapper", room_folder_info_decodes),
        ("presigneduri decodes as StringWrapper and streams", presigned_uri_decodes_and_streams),
        ("files/rooms decodes as FolderContentIntegerWrapper and pages", rooms_listing_decodes_and_pages),
        ("files/rooms searchArea Active/Archive/Any", rooms_listing_search_areas),
        ("files/{folderId} pages nested folders, trash left out, updated as set",
         nested_folder_listing_pages_without_trash),
        ("count>100 on listings is ValidationProblemDetails inside response", count_over_100_is_validation_problem),
        ("a key without the route's scope gets 403 through the SDK", restricted_key_gets_403_from_the_sdk),
        ("a download refused to the key's user is 403", refused_download_is_403_with_the_key),
        ("an unreadable folder is a 403 error envelope", unreadable_folder_is_403_envelope),
    ]:
        check(name, fn)

    print(f"docspace contract: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - setup failures still end with the summary line
        traceback.print_exc()
        print(f"docspace contract: {passed} passed, {failed + 1} failed")
        sys.exit(1)
