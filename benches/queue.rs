//! Queue benchmark: jobs claimed and finished per second by 1 and by 3 replicas on one
//! PostgreSQL database, with no job work, to show that the queue scales out.
//!
//! Each replica is a process of its own (this bench started again with `--replica`) with its own
//! connection pool, doing what a worker does around a job: claim up to `--concurrency` due jobs
//! in one statement, then for each, concurrently, record the run in its history and its result
//! under its lease (one transaction). The database holds more queued jobs than the run can take.
//!
//! `cargo bench --bench queue [-- --seconds 5 --concurrency 8 --jobs 60000 --work-ms 0]`
//! `--work-ms N` makes each job wait N ms before it finishes (a provider call's latency).
//! Needs a PostgreSQL server: `BENCH_DATABASE_URL`, else `TEST_DATABASE_URL`. The SQLite store
//! (one process, by design) is measured the same way for reference.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use docspace_dropbox_bridge::store::{self, Attempt, DynStore, JobOutcome, NewJob};
use futures::future::join_all;
use serde_json::json;

#[path = "support/mod.rs"]
mod support;
use support::{arg, arg_str, drop_postgres, fresh_postgres, postgres_server};

const LEASE: Duration = Duration::from_secs(60);

/// Claims and finishes jobs until `secs` are over; the number finished, and the seconds it took
/// (less than `secs` if the queue ran dry).
async fn work(
    st: &DynStore,
    worker: &str,
    concurrency: u32,
    secs: u64,
    pause: Duration,
) -> (u64, f64) {
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut done = 0;
    while Instant::now() < end {
        let claimed = st.claim(worker, concurrency, LEASE).await.expect("claim");
        if claimed.is_empty() {
            eprintln!("the queue ran dry; raise --jobs");
            break;
        }
        let runs = claimed.iter().map(|c| async move {
            tokio::time::sleep(pause).await;
            let now = Utc::now();
            let attempt = Attempt {
                attempt: c.job.attempts,
                worker: worker.to_string(),
                started_at: now,
                finished_at: now,
                outcome: "succeeded".into(),
                error: None,
                duration_ms: 0,
            };
            st.finish_run(
                &c.lease,
                JobOutcome::Succeeded { result: json!({}) },
                &attempt,
            )
            .await
            .expect("finish")
        });
        done += join_all(runs).await.into_iter().filter(|ok| *ok).count() as u64;
    }
    (done, start.elapsed().as_secs_f64())
}

/// `--replica URL`: one replica's run; prints the jobs it finished.
async fn replica(url: &str) {
    let st = store::connect(url).await.expect("store");
    let worker = format!("replica-{}", std::process::id());
    let pause = Duration::from_millis(arg("--work-ms", 0));
    let (n, secs) = work(
        &st,
        &worker,
        arg("--concurrency", 8) as u32,
        arg("--seconds", 5),
        pause,
    )
    .await;
    println!("FINISHED {n} {secs}");
}

async fn fill(st: &DynStore, jobs: u64) {
    let all: Vec<NewJob> = (0..jobs)
        .map(|i| {
            NewJob::new(
                "bench.noop",
                Some(format!("bench.noop:{i}")),
                json!({ "i": i }),
            )
        })
        .collect();
    for chunk in all.chunks(500) {
        st.enqueue(chunk.to_vec()).await.expect("enqueue");
    }
}

/// Runs `replicas` processes on `url` at once; jobs finished by all of them, and their summed
/// rates (each replica's jobs over its own working time, start-up excluded).
fn run_replicas(
    url: &str,
    replicas: usize,
    secs: u64,
    concurrency: u64,
    work_ms: u64,
) -> (u64, f64) {
    let children: Vec<_> = (0..replicas)
        .map(|_| {
            Command::new(std::env::current_exe().expect("own path"))
                .args(["--replica", url])
                .args(["--seconds", &secs.to_string()])
                .args(["--concurrency", &concurrency.to_string()])
                .args(["--work-ms", &work_ms.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .expect("replica starts")
        })
        .collect();
    let (mut total, mut rate) = (0, 0.0);
    for c in children {
        let out = c.wait_with_output().expect("replica ends");
        let text = String::from_utf8_lossy(&out.stdout);
        let (n, took) = text
            .lines()
            .find_map(|l| l.strip_prefix("FINISHED "))
            .and_then(|l| l.split_once(' '))
            .and_then(|(n, s)| Some((n.parse::<u64>().ok()?, s.trim().parse::<f64>().ok()?)))
            .unwrap_or_else(|| panic!("a replica printed no count: {text}"));
        total += n;
        rate += n as f64 / took.max(1e-9);
    }
    (total, rate)
}

#[tokio::main]
async fn main() {
    if let Some(url) = arg_str("--replica") {
        return replica(&url).await;
    }
    let secs = arg("--seconds", 5);
    let concurrency = arg("--concurrency", 8);
    let jobs = arg("--jobs", 60_000);
    let work_ms = arg("--work-ms", 0);
    println!("queue benchmark: claim, then history entry + result in one transaction, {work_ms} ms of job work, {concurrency} jobs per claim, {secs} s per run");

    let dir = tempfile::tempdir().expect("tmp");
    let sqlite = format!("sqlite://{}", dir.path().join("queue.db").display());
    fill(&store::connect(&sqlite).await.expect("sqlite"), jobs).await;
    let (n, rate) = run_replicas(&sqlite, 1, secs, concurrency, work_ms);
    println!("SQLite, 1 process:        {rate:>8.0} jobs/s ({n} jobs)");

    let Some(server) = postgres_server() else {
        println!("PostgreSQL: skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL)");
        return;
    };
    let mut rates = Vec::new();
    for replicas in [1, 3] {
        let name = format!("bridge_bench_queue_{}_{replicas}", std::process::id());
        let url = fresh_postgres(&server, &name).await;
        fill(&store::connect(&url).await.expect("postgres"), jobs).await;
        let (n, rate) = run_replicas(&url, replicas, secs, concurrency, work_ms);
        println!("PostgreSQL, {replicas} replica(s):  {rate:>8.0} jobs/s ({n} jobs)");
        rates.push(rate);
        drop_postgres(&server, &name).await;
    }
    println!(
        "3 replicas / 1 replica on PostgreSQL = {:.2}",
        rates[1] / rates[0].max(1.0)
    );
}
