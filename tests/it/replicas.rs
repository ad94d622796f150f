//! Several replicas on one PostgreSQL database (runs when TEST_DATABASE_URL is set).

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_dedupe_and_never_run_a_job_twice() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL replica test skipped");
        return;
    };
    let a = spawn_world(|c| c.database_url = url.clone()).await;
    let b = spawn_app(|c| {
        use_fakes(c, &a.docspace, &a.dropbox);
        c.database_url = url.clone();
    })
    .await;

    let member = a
        .docspace
        .add_active_user("Ada", "Lovelace", "ada@example.com");
    let mut groups = Vec::new();
    for i in 0..20 {
        groups.push(
            a.docspace
                .create_group(&format!("Team {i}"), &[member])
                .expect("group"),
        );
    }
    // Every delivery reaches both replicas (DocSpace retrying through a load balancer).
    let sender_a = a.docspace_sender();
    let sender_b = bridge_fakes::webhooks::DocSpaceWebhookSender::new(
        format!("{}/webhooks/docspace", b.url),
        DOCSPACE_SECRET,
    );
    for g in &groups {
        let group = a.docspace.group(*g).expect("group exists");
        let d = sender_a
            .group_event("group.updated", &group)
            .await
            .expect("deliver to a");
        assert_eq!(d.status, 200);
        let again = sender_b.resend(&d).await.expect("deliver to b");
        assert_eq!(again.status, 200);
    }
    let jobs = a.settle(60).await;
    assert_eq!(jobs.len(), 20, "one job per delivery: {jobs:#?}");
    for j in &jobs {
        assert_eq!(j["state"], "succeeded", "{j}");
        assert_eq!(j["attempts"], 1, "ran once: {j}");
    }
    assert_eq!(
        a.dropbox.calls("sharing/share_folder"),
        20,
        "each folder shared by exactly one replica"
    );
    assert_eq!(a.dropbox.shared_folders().len(), 20);
}
