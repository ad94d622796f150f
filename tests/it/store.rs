//! The storage contract, run against SQLite and (with TEST_DATABASE_URL) PostgreSQL.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use docspace_dropbox_bridge::store::{
    self, Backoff, Delivery, DynStore, ExportRecord, GroupFolder, JobOutcome, JobRetention,
    JobState, Lease, NewJob, Received, StoreError,
};
use serde_json::json;

use crate::common::{each_store, job};

#[tokio::test]
async fn queued_jobs_coalesce_until_claimed() {
    each_store(|s, b| {
        Box::pin(async move {
            let a = s.enqueue(vec![job("k")]).await.expect("enqueue").remove(0);
            let a2 = s.enqueue(vec![job("k")]).await.expect("enqueue").remove(0);
            assert_eq!(a.id, a2.id, "{b}: coalesced");
            let claimed = s
                .claim("w1", 10, Duration::from_secs(30))
                .await
                .expect("claim");
            assert_eq!(claimed.len(), 1);
            assert_eq!(claimed[0].state, JobState::Running);
            let c = s.enqueue(vec![job("k")]).await.expect("enqueue").remove(0);
            assert_ne!(
                c.id, a.id,
                "{b}: a running job does not absorb new requests"
            );
        })
    })
    .await;
}

#[tokio::test]
async fn deliveries_are_deduplicated() {
    each_store(|s, b| {
        Box::pin(async move {
            let d = Delivery {
                delivery_id: Some("docspace:1".into()),
                jobs: vec![job("x")],
                received: None,
            };
            let first = s.ingest(d.clone()).await.expect("ingest");
            assert!(!first.duplicate);
            let second = s.ingest(d).await.expect("ingest");
            assert!(second.duplicate, "{b}");
            assert!(second.job_ids.is_empty());
            assert_eq!(s.queue_depth().await.expect("depth")[&JobState::Queued], 1);
            // Retention is compared at millisecond resolution: let one pass.
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(s.prune_deliveries(Duration::ZERO).await.expect("prune"), 1);
            assert_eq!(s.prune_deliveries(Duration::ZERO).await.expect("prune"), 0);
        })
    })
    .await;
}

#[tokio::test]
async fn leases_retries_and_releases() {
    each_store(|s, b| {
        Box::pin(async move {
            let j = s.enqueue(vec![job("r")]).await.expect("enqueue").remove(0);
            let c = s
                .claim("w1", 10, Duration::from_secs(30))
                .await
                .expect("claim");
            assert_eq!(c[0].attempts, 1);
            let intruder = Lease {
                job_id: j.id,
                token: "intruder".into(),
            };
            assert!(
                !s.finish(&intruder, JobOutcome::Succeeded { result: json!({}) })
                    .await
                    .expect("finish"),
                "{b}: only the lease holder may finish"
            );
            let later = Duration::from_secs(60);
            assert!(s
                .finish(
                    &c[0].lease,
                    JobOutcome::Retry {
                        error: "5xx".into(),
                        after: later
                    }
                )
                .await
                .expect("finish"));
            assert!(
                s.claim("w2", 10, Duration::from_secs(30))
                    .await
                    .expect("claim")
                    .is_empty(),
                "{b}: not due yet"
            );
            let got = s.get_job(j.id).await.expect("get").expect("job");
            assert_eq!(got.state, JobState::Failed);
            assert_eq!(got.last_error.as_deref(), Some("5xx"));

            let k = s
                .enqueue(vec![job("rel")])
                .await
                .expect("enqueue")
                .remove(0);
            let c = s
                .claim("w3", 10, Duration::from_secs(30))
                .await
                .expect("claim");
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].id, k.id);
            let released = c[0].lease.clone();
            s.release(&released).await.expect("release");
            let again = s
                .claim("w4", 10, Duration::from_secs(30))
                .await
                .expect("claim");
            assert_eq!(again.len(), 1);
            assert_eq!(again[0].attempts, 1, "{b}: a released run is not counted");
            assert!(s
                .renew_lease(&again[0].lease, Duration::from_secs(30))
                .await
                .expect("renew"));
            assert!(!s
                .renew_lease(&released, Duration::from_secs(30))
                .await
                .expect("renew"));
        })
    })
    .await;
}

#[tokio::test]
async fn expired_leases_return_to_the_queue_and_dead_jobs_can_be_redriven() {
    each_store(|s, b| {
        Box::pin(async move {
            let j = s.enqueue(vec![job("e")]).await.expect("enqueue").remove(0);
            s.claim("dies", 1, Duration::from_millis(1))
                .await
                .expect("claim");
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(
                s.requeue_expired(5, Backoff::default())
                    .await
                    .expect("requeue"),
                1,
                "{b}"
            );
            let c = s
                .claim("w", 1, Duration::from_secs(30))
                .await
                .expect("claim");
            assert_eq!(c[0].id, j.id);
            assert_eq!(c[0].attempts, 2);
            assert!(matches!(
                s.retry_dead(j.id).await,
                Err(StoreError::Conflict(_))
            ));
            s.finish(
                &c[0].lease,
                JobOutcome::Dead {
                    error: "path/malformed_path".into(),
                    result: None,
                },
            )
            .await
            .expect("finish");
            let r = s.retry_dead(j.id).await.expect("retry");
            assert_eq!(r.attempts, 0);
            assert!(matches!(
                s.retry_dead(424242).await,
                Err(StoreError::NotFound)
            ));
        })
    })
    .await;
}

#[tokio::test]
async fn concurrent_claimers_never_get_the_same_job() {
    each_store(|s, b| {
        Box::pin(async move {
            let jobs: Vec<NewJob> = (0..200).map(|i| job(&format!("c{i}"))).collect();
            s.enqueue(jobs).await.expect("enqueue");
            let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for w in 0..4 {
                let s = s.clone();
                let seen = seen.clone();
                tasks.push(tokio::spawn(async move {
                    loop {
                        let c = s
                            .claim(&format!("w{w}"), 7, Duration::from_secs(30))
                            .await
                            .expect("claim");
                        if c.is_empty() {
                            break;
                        }
                        seen.lock()
                            .expect("lock")
                            .extend(c.into_iter().map(|j| j.id));
                    }
                }));
            }
            for t in tasks {
                t.await.expect("task");
            }
            let seen = seen.lock().expect("lock").clone();
            let unique: HashSet<i64> = seen.iter().copied().collect();
            assert_eq!(seen.len(), 200, "{b}");
            assert_eq!(unique.len(), 200, "{b}: a job was claimed twice");
        })
    })
    .await;
}

/// Writes that arrive together are committed together on SQLite: one that is refused is
/// refused alone, and every other one is kept.
#[tokio::test]
async fn concurrent_writes_are_kept_or_refused_one_by_one() {
    each_store(|s, b| {
        Box::pin(async move {
            let folder = |id: String, path: String| GroupFolder {
                group_name: id.clone(),
                shared_folder_id: Some(format!("sf-{id}")),
                group_id: id,
                path,
                active: true,
            };
            for i in 0..16 {
                s.put_group_folder(&folder(format!("g{i}"), format!("/G/{i}")))
                    .await
                    .expect("setup");
            }
            // 48 new groups, and between them 16 that claim a path another group holds.
            let writes: Vec<GroupFolder> = (16..64)
                .map(|i| folder(format!("g{i}"), format!("/G/{i}")))
                .chain((0..16).map(|i| folder(format!("h{i}"), format!("/g/{i}"))))
                .collect();
            let results = futures::future::join_all(writes.iter().map(|w| {
                let s = s.clone();
                async move { s.put_group_folder(w).await }
            }))
            .await;
            for (w, r) in writes.iter().zip(results) {
                let stored = s.group_folder(&w.group_id).await.expect("read");
                if w.group_id.starts_with('h') {
                    assert!(matches!(r, Err(StoreError::Conflict(_))), "{b}: {r:?}");
                    assert_eq!(stored, None, "{b}: a refused write leaves nothing");
                } else {
                    r.unwrap_or_else(|e| panic!("{b}: {} refused: {e}", w.group_id));
                    assert_eq!(stored.as_ref(), Some(w), "{b}: kept beside refused ones");
                }
            }
        })
    })
    .await;
}

#[tokio::test]
async fn mappings_and_cursors_round_trip() {
    each_store(|s, b| {
        Box::pin(async move {
            let f = GroupFolder {
                group_id: "g1".into(),
                group_name: "Sales".into(),
                path: "/DocSpace Groups/Sales".into(),
                shared_folder_id: Some("123".into()),
                active: true,
            };
            s.put_group_folder(&f).await.expect("put");
            assert_eq!(s.group_folder("g1").await.expect("get"), Some(f.clone()));
            let clash = GroupFolder {
                group_id: "g2".into(),
                path: "/docspace groups/SALES".into(),
                ..f.clone()
            };
            assert!(
                matches!(
                    s.put_group_folder(&clash).await,
                    Err(StoreError::Conflict(_))
                ),
                "{b}: paths are unique case-insensitively"
            );
            // One call records every address; case and repeats fold into one entry.
            s.record_members_added("g1", &["A@Example.com".into(), "a@example.com".into()])
                .await
                .expect("add");
            s.record_members_added("g1", &["a@example.com".into()])
                .await
                .expect("add again");
            assert_eq!(
                s.added_members("g1").await.expect("list"),
                vec!["a@example.com".to_string()]
            );
            // The account a member was listed under is kept with them, and goes with them.
            assert!(s.member_accounts("g1").await.expect("accounts").is_empty());
            s.record_member_accounts("g1", &[("A@example.com".into(), "dbid:a".into())])
                .await
                .expect("account");
            assert_eq!(
                s.member_accounts("g1").await.expect("accounts"),
                [("a@example.com".to_string(), "dbid:a".to_string())].into()
            );
            s.record_member_removed("g1", "A@EXAMPLE.COM")
                .await
                .expect("rm");
            assert!(s.added_members("g1").await.expect("list").is_empty());
            assert!(s.member_accounts("g1").await.expect("accounts").is_empty());

            // Refusals: kept per group, newest tag wins, filtered by age, forgotten on add.
            s.record_member_refused("g1", "Bob@Example.com", "bad_member")
                .await
                .expect("refuse");
            s.record_member_refused("g1", "bob@example.com", "cant_share_outside_team")
                .await
                .expect("refuse again");
            let bob = vec![(
                "bob@example.com".to_string(),
                "cant_share_outside_team".to_string(),
            )];
            let day = Duration::from_secs(86_400);
            assert_eq!(s.member_refusals("g1", day).await.expect("list"), bob);
            assert!(s.member_refusals("g2", day).await.expect("list").is_empty());
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert!(s
                .member_refusals("g1", Duration::from_millis(1))
                .await
                .expect("list")
                .is_empty());
            s.record_members_added("g1", &["BOB@example.com".into()])
                .await
                .expect("add");
            assert!(
                s.member_refusals("g1", day).await.expect("list").is_empty(),
                "{b}: an invited member is no longer refused"
            );

            let e = ExportRecord {
                file_id: "42".into(),
                docspace_version: 3,
                dropbox_path: "/DocSpace Export/Finance/Q1.xlsx".into(),
                dropbox_id: Some("id:abc".into()),
                rev: "015f".into(),
                content_hash: "ab".repeat(32),
                size: 10,
            };
            s.put_export(&e).await.expect("put");
            assert_eq!(s.export("42").await.expect("get"), Some(e.clone()));
            assert_eq!(
                s.exports_under("/docspace export/finance/q1.XLSX")
                    .await
                    .expect("exact path"),
                vec![e.clone()]
            );
            assert_eq!(
                s.exports_under("/DOCSPACE EXPORT/Finance")
                    .await
                    .expect("below a folder"),
                vec![e.clone()]
            );
            assert!(s
                .exports_under("/docspace export/fin")
                .await
                .expect("prefix")
                .is_empty());
            // LIKE wildcards in paths are literal.
            let under = |id: &str, p: &str| ExportRecord {
                file_id: id.into(),
                dropbox_path: p.into(),
                ..e.clone()
            };
            s.put_export(&under("43", "/DocSpace Export/X_Y/f.txt"))
                .await
                .expect("put");
            s.put_export(&under("44", "/DocSpace Export/XzY/g.txt"))
                .await
                .expect("put");
            let got = s
                .exports_under("/docspace export/x_y")
                .await
                .expect("wildcard");
            assert_eq!(
                got.iter().map(|r| r.file_id.as_str()).collect::<Vec<_>>(),
                vec!["43"],
                "{b}"
            );
            assert_eq!(s.cursor("dbid:a").await.expect("cursor"), None);
            s.put_cursor("dbid:a", "c1").await.expect("put");
            s.put_cursor("dbid:a", "c2").await.expect("put");
            assert_eq!(
                s.cursor("dbid:a").await.expect("cursor").as_deref(),
                Some("c2")
            );
        })
    })
    .await;
}

#[tokio::test]
async fn a_shared_folder_is_mapped_to_one_group_only() {
    each_store(|s, b| {
        Box::pin(async move {
            let mapping = |group: &str, path: &str, sf: Option<&str>| GroupFolder {
                group_id: group.into(),
                group_name: group.into(),
                path: path.into(),
                shared_folder_id: sf.map(String::from),
                active: true,
            };
            // Written decomposed (e + combining acute), found composed and in other case.
            let cafe = mapping("g1", "/G/Cafe\u{301}", Some("100"));
            s.put_group_folder(&cafe).await.expect("put");
            assert_eq!(
                s.group_folder_at("/g/CAF\u{C9}").await.expect("get"),
                Some(cafe.clone()),
                "{b}"
            );
            assert_eq!(
                s.group_folder_of_share("100").await.expect("get"),
                Some(cafe.clone()),
                "{b}"
            );
            assert!(
                matches!(
                    s.put_group_folder(&mapping("g2", "/G/Caf\u{E9}", None))
                        .await,
                    Err(StoreError::Conflict(_))
                ),
                "{b}: composed and decomposed paths are one path"
            );
            assert!(
                matches!(
                    s.put_group_folder(&mapping("g2", "/G/Other", Some("100")))
                        .await,
                    Err(StoreError::Conflict(_))
                ),
                "{b}: another group cannot map the same shared folder"
            );
            // Inactive (deleted group) mappings keep their shared folder too.
            s.put_group_folder(&GroupFolder {
                active: false,
                ..cafe.clone()
            })
            .await
            .expect("deactivate");
            assert!(matches!(
                s.put_group_folder(&mapping("g2", "/G/Other", Some("100")))
                    .await,
                Err(StoreError::Conflict(_))
            ));
            // Any number of groups may wait for a shared folder; the group itself may re-map.
            for g in ["g2", "g3"] {
                s.put_group_folder(&mapping(g, &format!("/G/{g}"), None))
                    .await
                    .expect("claim without a shared folder");
            }
            s.put_group_folder(&mapping("g1", "/G/Renamed", Some("100")))
                .await
                .expect("the owner moves its own folder");
            assert_eq!(
                s.group_folder_at("/G/Cafe\u{301}").await.expect("get"),
                None
            );
        })
    })
    .await;
}

#[tokio::test]
async fn export_guards_let_one_export_of_a_file_run_at_a_time() {
    each_store(|s, b| {
        Box::pin(async move {
            let lease = Duration::from_secs(60);
            assert!(s.acquire_export_guard("f1", "a", lease).await.expect("a"));
            assert!(
                !s.acquire_export_guard("f1", "b", lease).await.expect("b"),
                "{b}"
            );
            assert!(s
                .acquire_export_guard("f2", "b", lease)
                .await
                .expect("other file"));
            assert!(s
                .acquire_export_guard("f1", "a", lease)
                .await
                .expect("again"));
            assert!(s.renew_export_guard("f1", "a", lease).await.expect("renew"));
            assert!(!s
                .renew_export_guard("f1", "b", lease)
                .await
                .expect("renew b"));

            // Only the holder records an intent; it outlives the guard.
            let intent = store::ExportIntent {
                dropbox_path: "/E/a.txt".into(),
                content_hash: "abc".into(),
                docspace_version: 3,
                stamp: Some("2026-12-05T10:00:00Z".into()),
            };
            assert!(!s
                .set_export_intent("f1", "b", Some(&intent))
                .await
                .expect("b"));
            assert!(s
                .set_export_intent("f1", "a", Some(&intent))
                .await
                .expect("a"));
            s.release_export_guard("f1", "b")
                .await
                .expect("not b's to release");
            assert!(!s
                .acquire_export_guard("f1", "b", lease)
                .await
                .expect("still a's"));
            s.release_export_guard("f1", "a").await.expect("release");
            assert_eq!(
                s.export_intent("f1").await.expect("read"),
                Some(intent),
                "{b}"
            );
            assert!(!s.renew_export_guard("f1", "a", lease).await.expect("gone"));
            assert!(s
                .acquire_export_guard("f1", "b", lease)
                .await
                .expect("free now"));
            assert!(s.set_export_intent("f1", "b", None).await.expect("forget"));
            s.release_export_guard("f1", "b").await.expect("release");
            assert_eq!(s.export_intent("f1").await.expect("read"), None);

            // A holder that stops renewing loses the guard once its lease is over.
            assert!(s
                .acquire_export_guard("f3", "crashed", Duration::ZERO)
                .await
                .expect("take"));
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert!(s
                .acquire_export_guard("f3", "next", lease)
                .await
                .expect("expired"));
            assert!(!s
                .renew_export_guard("f3", "crashed", lease)
                .await
                .expect("lost"));
        })
    })
    .await;
}

#[tokio::test]
async fn concurrent_enqueues_of_one_key_coalesce_into_one_queued_job() {
    each_store(|s, b| {
        Box::pin(async move {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let s = s.clone();
                    tokio::spawn(async move { s.enqueue(vec![job("same")]).await })
                })
                .collect();
            let mut ids = HashSet::new();
            for t in tasks {
                let jobs = t
                    .await
                    .expect("task")
                    .expect("enqueue never fails on a race");
                ids.insert(jobs[0].id);
            }
            assert_eq!(ids.len(), 1, "{b}: {ids:?}");
            assert_eq!(s.queue_depth().await.expect("depth")[&JobState::Queued], 1);
        })
    })
    .await;
}

/// Deliveries that arrive at the same time (and so share a transaction where the store batches
/// them) end as they would one after the other: one of two deliveries with the same id is a
/// duplicate that enqueues nothing, jobs coalesce on their key across deliveries, deliveries
/// without an id and jobs without a key are each kept, and every kept delivery is linked to
/// its jobs.
#[tokio::test]
async fn deliveries_arriving_together_end_as_one_after_the_other() {
    each_store(|s, b| {
        Box::pin(async move {
            let docspace = |n: usize| Delivery {
                delivery_id: Some(format!("docspace:{n}")),
                jobs: vec![job(&format!("g{}", n % 4))],
                received: Some(store::Received {
                    source: "docspace".into(),
                    event_id: Some(n.to_string()),
                    trigger: Some("group.updated".into()),
                    request_id: Some(format!("req-{n}")),
                }),
            };
            let mut sent: Vec<Delivery> = (0..24).chain(0..24).map(docspace).collect();
            // A Dropbox notification (kept, no delivery id) and an API enqueue (not kept) with
            // a job of a key seen above, a job of a new key twice, and a job without a key.
            sent.push(Delivery {
                delivery_id: None,
                jobs: vec![job("g1")],
                received: Some(store::Received {
                    source: "dropbox".into(),
                    ..Default::default()
                }),
            });
            sent.push(Delivery {
                delivery_id: None,
                jobs: vec![
                    job("new"),
                    job("new"),
                    NewJob::new("group.sync", None, json!({ "group_id": "unkeyed" })),
                ],
                received: None,
            });
            let tasks: Vec<_> = sent
                .into_iter()
                .map(|d| {
                    let s = s.clone();
                    let keys: Vec<_> = d.jobs.iter().map(|j| j.dedupe_key.clone()).collect();
                    tokio::spawn(async move { (d.delivery_id.clone(), keys, s.ingest(d).await) })
                })
                .collect();
            let mut accepted = std::collections::HashMap::new();
            let mut duplicates = 0;
            let mut job_of_key = std::collections::HashMap::new();
            let mut api_jobs = vec![];
            for t in tasks {
                let (id, keys, out) = t.await.expect("task");
                let out = out.unwrap_or_else(|e| panic!("{b}: ingest failed: {e}"));
                if out.duplicate {
                    assert!(out.job_ids.is_empty(), "{b}: a duplicate enqueues nothing");
                    assert!(out.jobs.is_empty(), "{b}");
                    duplicates += 1;
                    continue;
                }
                assert_eq!(
                    out.job_ids.len(),
                    keys.len(),
                    "{b}: a job for each asked for"
                );
                for (key, &job) in keys.iter().zip(&out.job_ids) {
                    if let Some(key) = key {
                        let first = *job_of_key.entry(key.clone()).or_insert(job);
                        assert_eq!(first, job, "{b}: {key} coalesced into one job");
                    }
                }
                match id {
                    Some(id) => {
                        assert!(out.jobs.is_empty(), "{b}: a kept delivery names ids only");
                        assert!(accepted.insert(id, out.job_ids).is_none(), "{b}: kept once");
                    }
                    None if out.job_ids.len() == 3 => {
                        let rows: Vec<i64> = out.jobs.iter().map(|j| j.id).collect();
                        assert_eq!(rows, out.job_ids, "{b}: an enqueue reads its jobs' rows");
                        api_jobs = out.jobs;
                    }
                    None => assert_eq!(out.job_ids, vec![job_of_key["g1"]], "{b}"),
                }
            }
            assert_eq!(duplicates, 24, "{b}: one of each pair is a duplicate");
            assert_eq!(accepted.len(), 24, "{b}");
            assert_eq!(api_jobs[0].id, api_jobs[1].id, "{b}: one key, one job");
            assert_ne!(api_jobs[2].id, api_jobs[0].id, "{b}");
            assert_eq!(api_jobs[2].dedupe_key, None, "{b}");
            assert_eq!(
                s.queue_depth().await.expect("depth")[&JobState::Queued],
                6,
                "{b}: g0..g3, new and the job without a key"
            );

            let kept = s
                .list_deliveries(&store::DeliveryFilter {
                    limit: 100,
                    ..Default::default()
                })
                .await
                .expect("list");
            assert_eq!(
                kept.len(),
                25,
                "{b}: 24 DocSpace deliveries and one Dropbox"
            );
            for d in &kept {
                match d.event_id.as_deref() {
                    Some(n) => {
                        let jobs = &accepted[&format!("docspace:{n}")];
                        assert_eq!(d.job_ids, vec![jobs[0]], "{b}: delivery {n}");
                        assert_eq!(d.request_id.as_deref(), Some(&*format!("req-{n}")));
                        assert_eq!(d.source, "docspace");
                    }
                    None => {
                        assert_eq!(d.source, "dropbox", "{b}");
                        assert_eq!(d.job_ids, vec![job_of_key["g1"]], "{b}");
                    }
                }
            }
            // g1's job was made or joined by deliveries 1, 5, …, 21 and the Dropbox one.
            let g1 = deliveries_of(&s, job_of_key["g1"]).await;
            assert_eq!(g1.len(), 7, "{b}");
        })
    })
    .await;
}

/// The deliveries the store names for job `id`, which exists.
async fn deliveries_of(s: &DynStore, id: i64) -> Vec<store::DeliveryRecord> {
    let job = s.get_job(id).await.expect("read").expect("the job exists");
    s.job_deliveries(&job).await.expect("deliveries")
}

/// Ingests DocSpace event `n` asking for the job of `key`; the id of the job it made or joined.
async fn deliver_event(s: DynStore, n: u32, key: &str) -> i64 {
    let delivery = Delivery {
        delivery_id: Some(format!("docspace:{n}")),
        jobs: vec![job(key)],
        received: Some(Received {
            source: "docspace".into(),
            event_id: Some(n.to_string()),
            ..Received::default()
        }),
    };
    s.ingest(delivery).await.expect("ingest").job_ids[0]
}

/// A job names the deliveries that made or joined it, however it was queued: by a delivery, by
/// the API (joined later), or again after it died. Deliveries outside the job's queued life
/// belong to other jobs.
#[tokio::test]
async fn a_job_names_the_deliveries_that_made_or_joined_it() {
    each_store(|s, b| {
        Box::pin(async move {
            let deliver = |n: u32, key: &'static str| deliver_event(s.clone(), n, key);
            let events = |id: i64| {
                let s = s.clone();
                async move {
                    let found = deliveries_of(&s, id).await.into_iter();
                    found
                        .map(|d| d.event_id.unwrap_or_default())
                        .collect::<Vec<_>>()
                }
            };
            let api = s.enqueue(vec![job("a")]).await.expect("enqueue").remove(0);
            assert_eq!(deliver(1, "a").await, api.id, "{b}");
            assert_eq!(deliver(2, "a").await, api.id, "{b}");
            let made = deliver(3, "m").await;
            let claimed = s
                .claim("w", 10, Duration::from_secs(30))
                .await
                .expect("claim");
            assert_eq!(claimed.len(), 2, "{b}");
            for c in &claimed {
                let outcome = JobOutcome::Dead {
                    error: "gone".into(),
                    result: None,
                };
                s.finish(&c.lease, outcome).await.expect("finish");
            }
            // A running or finished job takes no more deliveries: these make new jobs.
            let next = deliver(4, "a").await;
            assert_ne!(next, api.id, "{b}");
            // `made` died and is queued again; the next delivery about it joins it.
            s.retry_dead(made).await.expect("retry");
            assert_eq!(deliver(5, "m").await, made, "{b}");

            assert_eq!(events(api.id).await, vec!["2", "1"], "{b}");
            assert_eq!(events(made).await, vec!["5", "3"], "{b}");
            assert_eq!(events(next).await, vec!["4"], "{b}");
        })
    })
    .await;
}

/// A delivery the database refuses fails alone: deliveries committed with it in one
/// transaction are kept.
#[tokio::test]
async fn a_refused_delivery_fails_alone() {
    each_store(|s, b| {
        Box::pin(async move {
            let tasks: Vec<_> = (0..40)
                .map(|n| {
                    let s = s.clone();
                    // PostgreSQL refuses text with a NUL character; SQLite keeps it.
                    let id = if n == 20 {
                        "20\0".to_string()
                    } else {
                        n.to_string()
                    };
                    let d = Delivery {
                        delivery_id: Some(format!("docspace:{id}")),
                        jobs: vec![job(&format!("k{n}"))],
                        received: Some(store::Received {
                            source: "docspace".into(),
                            event_id: Some(id),
                            ..Default::default()
                        }),
                    };
                    tokio::spawn(async move { (n, s.ingest(d).await) })
                })
                .collect();
            let mut kept = 0;
            for t in tasks {
                let (n, out) = t.await.expect("task");
                match out {
                    Ok(out) => {
                        assert!(!out.duplicate, "{b}: {n}");
                        kept += 1;
                    }
                    Err(e) => assert!(n == 20 && b.starts_with("postgres"), "{b}: {n} failed: {e}"),
                }
            }
            let expected = if b.starts_with("postgres") { 39 } else { 40 };
            assert_eq!(kept, expected, "{b}");
            assert_eq!(
                s.queue_depth().await.expect("depth")[&JobState::Queued],
                expected as i64,
                "{b}"
            );
        })
    })
    .await;
}

/// Enqueues `n` jobs, claims them and ends each with `outcome`; returns their ids.
async fn finished_jobs(s: &DynStore, prefix: &str, n: usize, outcome: JobOutcome) -> Vec<i64> {
    let jobs: Vec<NewJob> = (0..n).map(|i| job(&format!("{prefix}{i}"))).collect();
    s.enqueue(jobs).await.expect("enqueue");
    let claimed = s
        .claim(prefix, n as u32, Duration::from_secs(30))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), n);
    for j in &claimed {
        assert!(s.finish(&j.lease, outcome.clone()).await.expect("finish"));
    }
    claimed.iter().map(|j| j.id).collect()
}

#[tokio::test]
async fn finished_jobs_are_pruned_after_their_retention_in_batches() {
    each_store(|s, b| {
        Box::pin(async move {
            let succeeded =
                finished_jobs(&s, "ok", 5, JobOutcome::Succeeded { result: json!({}) }).await;
            let dead = finished_jobs(
                &s,
                "dead",
                3,
                JobOutcome::Dead {
                    error: "path/malformed_path".into(),
                    result: None,
                },
            )
            .await;
            let retrying = finished_jobs(
                &s,
                "retry",
                1,
                JobOutcome::Retry {
                    error: "5xx".into(),
                    after: Duration::from_secs(60),
                },
            )
            .await;
            let queued = s
                .enqueue(vec![job("waiting")])
                .await
                .expect("enqueue")
                .remove(0);
            let running = s
                .enqueue(vec![job("busy")])
                .await
                .expect("enqueue")
                .remove(0);
            s.claim("busy", 1, Duration::from_secs(30))
                .await
                .expect("claim");

            let defaults = JobRetention::default();
            assert_eq!(defaults.succeeded, Duration::from_secs(7 * 86_400));
            assert_eq!(defaults.dead, Duration::from_secs(30 * 86_400));
            assert_eq!(s.prune_jobs(&defaults).await.expect("prune"), 0, "{b}");

            // Retention is compared at millisecond resolution: let one pass.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let succeeded_only = JobRetention {
                succeeded: Duration::from_millis(1),
                batch: 2,
                ..defaults
            };
            assert_eq!(
                s.prune_jobs(&succeeded_only).await.expect("prune"),
                5,
                "{b}"
            );
            for id in &succeeded {
                assert_eq!(s.get_job(*id).await.expect("get"), None, "{b}");
            }
            for id in &dead {
                assert!(s.get_job(*id).await.expect("get").is_some(), "{b}");
            }

            let everything = JobRetention {
                succeeded: Duration::ZERO,
                dead: Duration::ZERO,
                batch: 2,
            };
            assert_eq!(s.prune_jobs(&everything).await.expect("prune"), 3, "{b}");
            for id in &dead {
                assert_eq!(s.get_job(*id).await.expect("get"), None, "{b}");
            }
            // Jobs still to run are never pruned, however old.
            for id in [retrying[0], queued.id, running.id] {
                assert!(s.get_job(id).await.expect("get").is_some(), "{b}: job {id}");
            }
            let depth = s.queue_depth().await.expect("depth");
            assert_eq!(depth[&JobState::Succeeded], 0, "{b}");
            assert_eq!(depth[&JobState::Dead], 0, "{b}");
            assert_eq!(depth[&JobState::Failed], 1, "{b}");
            assert_eq!(depth[&JobState::Queued], 1, "{b}");
            assert_eq!(depth[&JobState::Running], 1, "{b}");
        })
    })
    .await;
}

/// An installation upgraded past migration 0009 (links between deliveries and jobs rebuilt in
/// delivery order) still shows which jobs each delivery made and which deliveries made each job,
/// and a pruned delivery still takes its links with it.
#[tokio::test]
async fn links_between_deliveries_and_jobs_survive_the_upgrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, pool) = crate::common::sqlite_before_migration(dir.path(), "0009").await;
    let now = Utc::now().timestamp_millis();
    for sql in [
        "INSERT INTO jobs (id, kind, state, attempts, dedupe_key, payload, run_at, created_at, updated_at)
         VALUES (7, 'group.sync', 'queued', 0, 'g', '{\"group_id\":\"g\"}', $1, $1, $1)",
        "INSERT INTO deliveries (id, dedupe_key, source, event_id, received_at)
         VALUES (1, 'docspace:41', 'docspace', '41', $1), (2, 'docspace:42', 'docspace', '42', $1)",
        "INSERT INTO delivery_jobs (delivery_id, job_id) VALUES (1, 7), (2, 7)",
    ] {
        sqlx::query(sql)
            .bind(now)
            .execute(&pool)
            .await
            .expect("old rows");
    }
    // A link whose delivery was deleted with foreign keys off is not carried over.
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::raw_sql(
        "PRAGMA foreign_keys = OFF; INSERT INTO delivery_jobs (delivery_id, job_id) VALUES (99, 7)",
    )
    .execute(&mut *conn)
    .await
    .expect("orphan link");
    drop(conn);
    pool.close().await;

    let s = store::connect(&url).await.expect("upgrade");
    let of_job: Vec<i64> = deliveries_of(&s, 7).await.iter().map(|d| d.id).collect();
    assert_eq!(of_job, vec![2, 1]);
    let listed = s
        .list_deliveries(&store::DeliveryFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|d| d.job_ids == vec![7]), "{listed:?}");
    // A delivery pruned takes its links with it.
    let pool = sqlx::SqlitePool::connect(&url).await.expect("pool");
    sqlx::query("DELETE FROM deliveries WHERE id = 1")
        .execute(&pool)
        .await
        .expect("delete");
    let links: Vec<(i64, i64)> = sqlx::query_as("SELECT delivery_id, job_id FROM delivery_jobs")
        .fetch_all(&pool)
        .await
        .expect("links");
    assert_eq!(links, vec![(2, 7)]);
}

/// On SQLite a job's deliveries are looked for by when they were received, around when the job
/// was created and last left `queued`: those times, not the present, bound the search. A job
/// that ran days ago still names the deliveries of its queued life, and none of the next job's.
#[tokio::test]
async fn a_job_of_days_ago_still_names_its_deliveries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let s = store::connect(&url).await.expect("store");
    let deliver = |n: u32| deliver_event(s.clone(), n, "g");
    let old = deliver(1).await;
    assert_eq!(deliver(2).await, old);
    let claimed = s
        .claim("w", 1, Duration::from_secs(30))
        .await
        .expect("claim");
    let outcome = JobOutcome::Succeeded { result: json!({}) };
    s.finish(&claimed[0].lease, outcome).await.expect("finish");
    // Everything so far happened three days ago; the job finished two days ago.
    let pool = sqlx::SqlitePool::connect(&url).await.expect("pool");
    let day = 86_400_000_i64;
    sqlx::raw_sql(&format!(
        "UPDATE jobs SET created_at = created_at - {three}, updated_at = updated_at - {two};
         UPDATE deliveries SET received_at = received_at - {three};",
        three = 3 * day,
        two = 2 * day,
    ))
    .execute(&pool)
    .await
    .expect("backdate");
    let new = deliver(3).await;
    assert_ne!(new, old);

    let ids = |id: i64| {
        let s = s.clone();
        async move {
            deliveries_of(&s, id)
                .await
                .iter()
                .map(|d| d.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(old).await, vec![2, 1]);
    assert_eq!(ids(new).await, vec![3]);
}

/// An installation upgraded past migration 0012 (at most one running job per dedupe key) that
/// had two jobs of one key running keeps the oldest running; the other is put back, failed and
/// due at once under no lease, and its worker's result then changes nothing.
#[tokio::test]
async fn two_running_jobs_of_one_key_are_made_one_by_the_upgrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, pool) = crate::common::sqlite_before_migration(dir.path(), "0012").await;
    let now = Utc::now().timestamp_millis();
    sqlx::query(
        "INSERT INTO jobs (id, kind, state, attempts, dedupe_key, payload, run_at, created_at,
                           updated_at, lease_owner, lease_token, lease_expires_at)
         VALUES (3, 'group.sync', 'running', 2, 'g', '{\"group_id\":\"g\"}', $1, $1, $1, 'a', 'ta', $2),
                (5, 'group.sync', 'running', 1, 'g', '{\"group_id\":\"g\"}', $1, $1, $1, 'b', 'tb', $2),
                (6, 'group.sync', 'running', 1, 'h', '{\"group_id\":\"h\"}', $1, $1, $1, 'b', 'th', $2)",
    )
    .bind(now)
    .bind(now + 60_000)
    .execute(&pool)
    .await
    .expect("old rows");
    pool.close().await;

    let s = store::connect(&url).await.expect("upgrade");
    let state = |id: i64| {
        let s = s.clone();
        async move { s.get_job(id).await.expect("get").expect("job") }
    };
    assert_eq!(state(3).await.state, JobState::Running);
    assert_eq!(state(6).await.state, JobState::Running, "another key's run");
    let put_back = state(5).await;
    assert_eq!(put_back.state, JobState::Failed, "{put_back:?}");
    assert!(put_back.run_at.timestamp_millis() <= Utc::now().timestamp_millis());
    let late = Lease {
        job_id: 5,
        token: "tb".into(),
    };
    let done = JobOutcome::Succeeded { result: json!({}) };
    assert!(
        !s.finish(&late, done).await.expect("finish"),
        "the put-back run's result finds no lease"
    );
    assert_eq!(state(5).await.state, JobState::Failed);
}

/// Jobs of an installation from before the shared group and change keys (SQLite 0013,
/// PostgreSQL 0012), written with `$1` now and `$2` a lease end.
const JOBS_BEFORE_SHARED_KEYS: &str =
    "INSERT INTO jobs (id, kind, state, attempts, dedupe_key, payload, run_at, created_at,
                       updated_at, lease_owner, lease_token, lease_expires_at)
     VALUES (1, 'group.sync', 'running', 1, 'group.sync:g', '{\"group_id\":\"g\"}', $1, $1, $1, 'a', 'ta', $2),
            (2, 'group.delete', 'running', 1, 'group.delete:g', '{\"group_id\":\"g\"}', $1, $1, $1, 'b', 'tb', $2),
            (3, 'group.sync', 'queued', 0, 'group.sync:g', '{\"group_id\":\"g\"}', $1, $1, $1, NULL, NULL, NULL),
            (4, 'group.delete', 'queued', 0, 'group.delete:g', '{\"group_id\":\"g\"}', $1, $1, $1, NULL, NULL, NULL),
            (5, 'dropbox.changes', 'queued', 0, 'dropbox.changes:self', '{}', $1, $1, $1, NULL, NULL, NULL),
            (6, 'dropbox.changes', 'queued', 0, 'dropbox.changes:dbid:a', '{\"account_id\":\"dbid:a\"}', $1, $1, $1, NULL, NULL, NULL),
            (7, 'group.delete', 'queued', 0, 'group.delete:h', '{\"group_id\":\"h\"}', $1, $1, $1, NULL, NULL, NULL),
            (8, 'group.sync', 'succeeded', 1, 'group.sync:g', '{\"group_id\":\"g\"}', $1, $1, $1, NULL, NULL, NULL)";

/// An installation upgraded past the shared keys gives `group.sync` and `group.delete` of a
/// group one key, and every `dropbox.changes` job one key; where that would make two queued or
/// two running jobs of a key, the newer waits as failed, and the claim runs them one at a time.
/// On SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set.
#[tokio::test]
async fn the_upgrade_gives_a_groups_sync_and_delete_one_key_and_runs_them_one_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now().timestamp_millis();
    let (url, pool) = crate::common::sqlite_before_migration(dir.path(), "0013").await;
    sqlx::query(JOBS_BEFORE_SHARED_KEYS)
        .bind(now)
        .bind(now + 60_000)
        .execute(&pool)
        .await
        .expect("old rows");
    pool.close().await;
    let mut urls = vec![url];
    if let Some((url, pool)) = crate::common::postgres_before_migration(dir.path(), "0012").await {
        sqlx::query(JOBS_BEFORE_SHARED_KEYS)
            .bind(now)
            .bind(now + 60_000)
            .execute(&pool)
            .await
            .expect("old rows");
        pool.close().await;
        urls.push(url);
    }
    for url in urls {
        upgraded_keys_run_one_at_a_time(&url).await;
    }
}

async fn upgraded_keys_run_one_at_a_time(url: &str) {
    let s = store::connect(url).await.expect("upgrade");
    let mut seen = Vec::new();
    for id in 1..=8 {
        let j = s.get_job(id).await.expect("get").expect("job");
        seen.push((j.state, j.dedupe_key.unwrap_or_default()));
    }
    let key = |k: &str| k.to_string();
    assert_eq!(
        seen,
        vec![
            (JobState::Running, key("group:g")),
            (JobState::Failed, key("group:g")),
            (JobState::Queued, key("group:g")),
            (JobState::Failed, key("group:g")),
            (JobState::Queued, key("dropbox.changes")),
            (JobState::Failed, key("dropbox.changes")),
            (JobState::Queued, key("group:h")),
            (JobState::Succeeded, key("group:g")),
        ],
        "{url}"
    );
    // While job 1 runs, no other job of `group:g` is claimed; of the change readings the
    // oldest goes first.
    let mut claimed: Vec<i64> = s
        .claim("w", 10, std::time::Duration::from_secs(60))
        .await
        .expect("claim")
        .iter()
        .map(|c| c.job.id)
        .collect();
    claimed.sort();
    assert_eq!(claimed, vec![5, 7], "{url}");
}

/// A path escaped in an `sqlite:` URL (a space as `%20`) names one file for every connection:
/// webhooks, committed on a connection of their own, land in the database the API reads.
#[tokio::test]
async fn an_escaped_sqlite_path_holds_webhooks_where_the_api_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("d x")).expect("mkdir");
    let url = format!("sqlite://{}/d%20x/bridge.db", dir.path().display());
    let s = store::connect(&url).await.expect("store opens");
    let id = deliver_event(s.clone(), 1, "group.sync:escaped").await;
    let job = s
        .get_job(id)
        .await
        .expect("read")
        .expect("the job is there");
    assert_eq!(job.dedupe_key.as_deref(), Some("group.sync:escaped"));
    assert!(dir.path().join("d x/bridge.db").exists());
    assert!(
        !dir.path().join("d%20x").exists(),
        "a second database was made"
    );
}

/// `mode=memory` makes an in-memory database of any path, which the connection that commits
/// webhooks could not share: refused like `sqlite::memory:`.
#[tokio::test]
async fn an_in_memory_sqlite_database_is_refused_however_it_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bridge.db");
    for url in [
        "sqlite::memory:".to_string(),
        format!("sqlite://{}?mode=memory", file.display()),
    ] {
        let refused = store::connect(&url).await.err().expect("refused");
        assert!(
            refused.to_string().contains("in-memory"),
            "{url}: {refused}"
        );
    }
    assert!(!file.exists(), "nothing was created");
}
