//! Ingest benchmark: signed DocSpace webhooks accepted per second (p50/p99) against the same
//! server's `/healthz`, under the same load generator, in one run.
//!
//! The bridge is the release binary (`serve`) in its own process with its production defaults:
//! `info` logs (written to a file, as a log collector would take them), SQLite with
//! `synchronous=FULL` in a temporary directory, workers off so only ingestion is measured. The
//! load comes from `wrk` (installed with apt-get when missing and this runs as root), so the load
//! generator is a lean C program rather than a second Tokio runtime competing for the cores.
//! Webhooks are distinct pre-signed `group.updated` deliveries over `--groups` groups; after the
//! runs every delivery wrk saw acknowledged must be in the database. It also prints the bridge's
//! CPU time and context switches per request of each target over all rounds, in all and by
//! thread, read from `/proc`: on a machine shared with other load those figures move far less
//! than the rates do, and the switches tell threads that sleep and wake per request. And it
//! prints how busy the machine was in the middle of each run (all cores, the bridge's and wrk's
//! share, idle and waiting on I/O), which tells a run bound by CPU from one bound by the commit's
//! fsync.
//!
//! Rounds alternate the two targets (`--rounds`, three by default), each round's webhooks its own
//! distinct deliveries, and it prints every round's rate ratio and their median: on a machine
//! whose other load comes and goes, one pair of runs can be far off.
//!
//! `cargo bench --bench ingest [-- --seconds 8 --connections 32 --deliveries 400000 --groups 5000 --rounds 3]`
//! (`--deliveries` per round)
//! `--rust-log warn` runs the bridge with that `RUST_LOG` instead of the default (`info`);
//! `TOKIO_WORKER_THREADS`, when set, is passed on to the bridge (its runtime's thread count).
//! With `--postgres`, the bridge runs on a fresh database on the PostgreSQL server of
//! `BENCH_DATABASE_URL` (else `TEST_DATABASE_URL`).

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docspace_dropbox_bridge::signature::sign_hex;
use sqlx::Connection as _;

#[path = "support/mod.rs"]
mod support;
use support::{arg, arg_str, drop_postgres, flag, fresh_postgres, postgres_server, write_back};

const SECRET: &str = "bench-webhook-secret";

/// Hands wrk's requests out from a file of `signature<TAB>body` lines (the second argument, if
/// any; else the URL's one request, formatted once like those), creates the file named by the
/// first argument once they are ready (the load starts right after), and prints one `RESULT`
/// line at the end (wrk's own summary has no machine-readable form).
const WRK_SCRIPT: &str = r#"
local reqs, i = {}, 0
function init(args)
  if args[2] ~= nil then
    for line in io.lines(args[2]) do
      local sig, body = line:match("^(%S+)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", "/webhooks/docspace",
        { ["Content-Type"] = "application/json; charset=utf-8", ["X-DocSpace-Signature-256"] = sig }, body)
    end
  else
    reqs[1] = wrk.format(nil, wrk.path)
  end
  io.open(args[1], "w"):close()
end
function request()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#;

struct Run {
    /// How busy the machine was in the middle of the run.
    machine: Usage,
    requests: u64,
    rate: f64,
    non2xx: u64,
    socket_errors: u64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Run {
    fn acknowledged(&self) -> u64 {
        self.requests - self.non2xx
    }
}

fn ensure_wrk() {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return;
    }
    eprintln!("wrk is not installed; installing it with apt-get");
    let ok = Command::new("sh")
        .args([
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "this benchmark needs wrk (apt-get install wrk)");
}

/// The machine's CPU over a stretch of time, as shares of all its cores, and the cores the
/// bridge and wrk used in it.
struct Usage {
    busy: f64,
    idle: f64,
    iowait: f64,
    bridge_cores: f64,
    wrk_cores: f64,
}

/// Clock ticks of the whole machine (`/proc/stat`: all, idle, iowait) and of processes `pids`.
fn ticks(pids: [u32; 2]) -> ([u64; 3], [u64; 2]) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let at = |i: usize| cpu.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let machine = [(0..8).map(at).sum(), at(3), at(4)];
    let process = pids.map(|pid| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        cpu_ticks(&text).map_or(0, |(_, used)| used)
    });
    (machine, process)
}

/// What the machine did over `span`, measured now.
fn usage(bridge: u32, wrk: u32, span: Duration) -> Usage {
    let (m0, p0) = ticks([bridge, wrk]);
    std::thread::sleep(span);
    let (m1, p1) = ticks([bridge, wrk]);
    let all = (m1[0] - m0[0]).max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let share = |i: usize| (m1[i] - m0[i]) as f64 / all;
    Usage {
        busy: 1.0 - share(1) - share(2),
        idle: share(1),
        iowait: share(2),
        bridge_cores: (p1[0] - p0[0]) as f64 / all * cores,
        wrk_cores: (p1[1] - p0[1]) as f64 / all * cores,
    }
}

fn wrk(
    url: &str,
    connections: u64,
    secs: u64,
    script: &std::path::Path,
    data: Option<&std::path::Path>,
    bridge: u32,
) -> Run {
    let ready = script.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{secs}s"),
        "--timeout",
        "10s",
    ])
    .arg("-s")
    .arg(script)
    .arg(url)
    .arg("--")
    .arg(&ready);
    if let Some(d) = data {
        cmd.arg(d);
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wrk runs");
    // The middle half of the load, once wrk has read its requests.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(secs * 250));
    let machine = usage(bridge, child.id(), Duration::from_millis(secs * 500));
    let out = child.wait_with_output().expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "wrk printed no result:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    let secs = field("duration_us") as f64 / 1e6;
    Run {
        machine,
        requests: field("requests"),
        rate: field("requests") as f64 / secs,
        non2xx: field("non2xx"),
        socket_errors: field("connect") + field("read") + field("write") + field("timeout"),
        p50_ms: field("p50_us") as f64 / 1e3,
        p99_ms: field("p99_us") as f64 / 1e3,
    }
}

/// The name and the CPU clock ticks used so far (user and system) of a `/proc/…/stat` line.
fn cpu_ticks(stat: &str) -> Option<(String, u64)> {
    // `pid (comm) state ...`: the name may hold spaces, so split around its parentheses.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12th and 13th after the name.
    let time = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some((stat[open + 1..close].to_string(), time(11) + time(12)))
}

/// What a thread name's threads have used: CPU seconds and context switches (voluntary and not).
#[derive(Clone, Copy, Default)]
struct Used {
    cpu: f64,
    switches: f64,
}

/// By thread name.
type ThreadCpu = std::collections::BTreeMap<String, Used>;

/// CPU seconds each thread name of process `pid` has used so far (`/proc/<pid>/task/*/stat`:
/// user and system time), and the context switches its threads have made
/// (`/proc/<pid>/task/*/status`). Read before and after a run, they tell what one request cost
/// the bridge, figures the machine's other load disturbs far less than a rate does; the switches
/// tell a thread that sleeps and wakes per request from one that keeps running.
fn thread_cpu(pid: u32) -> ThreadCpu {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut out = ThreadCpu::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((name, used)) = cpu_ticks(&stat) else {
            continue;
        };
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let switches: u64 = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        let entry = out.entry(name).or_default();
        entry.cpu += used as f64 / ticks;
        entry.switches += switches as f64;
    }
    out
}

/// Bridge CPU seconds and context switches by thread name, summed over the stretches between
/// pairs of [`thread_cpu`] readings.
#[derive(Default)]
struct Cpu(ThreadCpu);

impl Cpu {
    fn add(&mut self, before: &ThreadCpu, after: &ThreadCpu) {
        for (name, now) in after {
            let then = before.get(name).copied().unwrap_or_default();
            let entry = self.0.entry(name.clone()).or_default();
            entry.cpu += (now.cpu - then.cpu).max(0.0);
            entry.switches += (now.switches - then.switches).max(0.0);
        }
    }

    /// `figure` of what was used (CPU microseconds, say) per request of `requests`: in all and
    /// by thread name, largest first, threads with none left out.
    fn per_request(&self, requests: u64, figure: impl Fn(&Used) -> f64) -> String {
        let per = |v: f64| v / requests.max(1) as f64;
        let mut by_thread: Vec<(&String, f64)> = self
            .0
            .iter()
            .map(|(n, used)| (n, figure(used)))
            .filter(|(_, v)| *v > 0.0)
            .collect();
        by_thread.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = by_thread.iter().map(|(_, d)| d).sum();
        let parts: Vec<String> = by_thread
            .iter()
            .map(|(name, d)| format!("{name} {:.2}", per(*d)))
            .collect();
        format!("{:.2} ({})", per(total), parts.join(", "))
    }
}

/// The median of `sorted`: its middle value, or the mean of its two middle values.
fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// The mean of `bridge_store_group_commit_size` (deliveries per ingest transaction) read from
/// the bridge's `/metrics`.
async fn mean_commit_size(base: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("/metrics answers")
        .text()
        .await
        .expect("/metrics body");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    value("bridge_store_group_commit_size_sum")
        / value("bridge_store_group_commit_size_count").max(1.0)
}

/// A free port on 127.0.0.1 (bound and let go; the bridge binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The bridge binary running `subcommand` on `database_url`, with only the environment it needs:
/// webhooks signed with [`SECRET`], providers that are never called (workers and scheduler off).
fn bridge_command(subcommand: &str, database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"));
    cmd.arg(subcommand)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BRIDGE_DATABASE_URL", database_url)
        .env("BRIDGE_WORKERS", "false")
        .env("BRIDGE_SCHEDULER", "false")
        .env("DOCSPACE_URL", "http://127.0.0.1:9")
        .env("DOCSPACE_API_KEY", "sk-bench")
        .env("DOCSPACE_WEBHOOK_SECRET", SECRET)
        .env("DROPBOX_APP_KEY", "k")
        .env("DROPBOX_APP_SECRET", "s")
        .env("DROPBOX_ACCESS_TOKEN", "t");
    // The runtime's thread count, when the bench is given one (Tokio's own variable).
    if let Ok(threads) = std::env::var("TOKIO_WORKER_THREADS") {
        cmd.env("TOKIO_WORKER_THREADS", threads);
    }
    cmd
}

fn start_bridge(
    database_url: &str,
    port: u16,
    log: &std::path::Path,
    rust_log: Option<&str>,
) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    let mut cmd = bridge_command("serve", database_url);
    if let Some(level) = rust_log {
        cmd.env("RUST_LOG", level);
    }
    let child = cmd
        .env("BRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("the bridge starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the bridge did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` distinct signed deliveries with event ids from `first`, `signature<TAB>body` per line.
fn write_deliveries(path: &std::path::Path, first: u64, n: u64, groups: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("deliveries file"));
    for n in first..first + n {
        let g = n % groups;
        let body = format!(
            r#"{{"event":{{"id":{n},"createOn":"2026-05-20T10:15:30Z","createBy":"7c9e6679-7425-40de-944b-e07fc1f90ae7","trigger":"group.updated","triggerId":32}},"payload":{{"id":"0b5f3c3a-9d2e-4f6b-8a71-{g:012}","name":"Group {g}","authenticationType":"ASC"}},"webhook":{{"id":1,"name":"bridge","url":"https://bridge.example.com/webhooks/docspace","triggers":["*"]}}}}"#
        );
        let sig = sign_hex(SECRET.as_bytes(), body.as_bytes()).to_uppercase();
        writeln!(f, "sha256={sig}\t{body}").expect("write");
    }
    f.flush().expect("flush");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let secs = arg("--seconds", 8);
    let connections = arg("--connections", 32);
    let deliveries = arg("--deliveries", 400_000);
    let groups = arg("--groups", 5_000);
    let rounds = arg("--rounds", 3).max(1);
    let postgres = flag("--postgres");
    ensure_wrk();

    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("ingest.lua");
    std::fs::write(&script, WRK_SCRIPT).expect("script");
    // Each round sends deliveries of its own: one seen before would be answered as a duplicate.
    let data: Vec<_> = (0..rounds)
        .map(|r| {
            let path = dir.path().join(format!("deliveries-{r}.tsv"));
            write_deliveries(&path, r * deliveries, deliveries, groups);
            path
        })
        .collect();

    let (database_url, pg) = if postgres {
        let server =
            postgres_server().expect("--postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL");
        let name = format!("bridge_bench_{}", std::process::id());
        (fresh_postgres(&server, &name).await, Some((server, name)))
    } else {
        (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            None,
        )
    };
    // The schema exists before the clock starts.
    let status = bridge_command("migrate", &database_url)
        .stderr(Stdio::null())
        .status()
        .expect("migrate runs");
    assert!(status.success(), "migrate failed");

    let port = free_port();
    let log = dir.path().join("bridge.log");
    let rust_log = arg_str("--rust-log");
    let bridge = start_bridge(&database_url, port, &log, rust_log.as_deref());
    let base = format!("http://127.0.0.1:{port}");
    // Rounds alternate the two targets, so that a change in the machine's other load shows as a
    // spread of the rounds' ratios rather than as a difference between the targets.
    let load = |path: &str, data: Option<&std::path::Path>| {
        // Every round starts with nothing left for the kernel to write back: the load files and
        // the previous rounds' log lines would otherwise be written out in the middle of a later
        // round (30 s after they were written) and the database's fsyncs would queue behind them.
        write_back();
        wrk(
            &format!("{base}{path}"),
            connections,
            secs,
            &script,
            data,
            bridge.id(),
        )
    };
    let (mut health, mut ingest) = (Vec::new(), Vec::new());
    let (mut cpu_health, mut cpu_ingest) = (Cpu::default(), Cpu::default());
    for data in &data {
        let before = thread_cpu(bridge.id());
        health.push(load("/healthz", None));
        let between = thread_cpu(bridge.id());
        ingest.push(load("/webhooks/docspace", Some(data)));
        cpu_health.add(&before, &between);
        cpu_ingest.add(&between, &thread_cpu(bridge.id()));
    }
    let commit_size = mean_commit_size(&base).await;
    stop(bridge);
    let log_lines = std::fs::read_to_string(&log)
        .map(|s| s.lines().count())
        .unwrap_or(0);

    let stored: i64 = if let Some((server, name)) = &pg {
        let mut c = sqlx::PgConnection::connect(&database_url)
            .await
            .expect("postgres");
        let n = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
            .fetch_one(&mut c)
            .await
            .expect("count");
        c.close().await.ok();
        drop_postgres(server, name).await;
        n
    } else {
        let mut c = sqlx::SqliteConnection::connect(&database_url)
            .await
            .expect("sqlite");
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
            .fetch_one(&mut c)
            .await
            .expect("count")
    };

    let backend = if postgres {
        "PostgreSQL"
    } else {
        "SQLite (WAL, synchronous=FULL)"
    };
    let logs = match &rust_log {
        Some(level) => format!("RUST_LOG={level}"),
        None => "default (info) logs".into(),
    };
    println!("ingest benchmark: wrk -t1 -c{connections} -d{secs}s, {rounds} rounds, release binary, {logs}, {backend}, workers off");
    println!(
        "{:<5} {:<24} {:>9} {:>8} {:>7} {:>7} {:>7} {:>6}  machine: busy (bridge, wrk cores) idle I/O-wait",
        "round", "target", "requests", "req/s", "p50 ms", "p99 ms", "non-2xx", "socket"
    );
    let mut ratios = Vec::new();
    for (round, (h, w)) in health.iter().zip(&ingest).enumerate() {
        for (name, r) in [("GET /healthz", h), ("POST /webhooks/docspace", w)] {
            let m = &r.machine;
            println!(
                "{:<5} {:<24} {:>9} {:>8.0} {:>7.2} {:>7.2} {:>7} {:>6}  {:.0}% ({:.2}, {:.2}) {:.0}% {:.0}%",
                round + 1,
                name,
                r.requests,
                r.rate,
                r.p50_ms,
                r.p99_ms,
                r.non2xx,
                r.socket_errors,
                m.busy * 100.0,
                m.bridge_cores,
                m.wrk_cores,
                m.idle * 100.0,
                m.iowait * 100.0
            );
        }
        ratios.push(w.rate / h.rate.max(1.0));
    }
    let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "webhook rate / healthz rate by round: {}; median {:.2}",
        shown.join(", "),
        median(&ratios)
    );
    let sent: u64 = ingest.iter().map(|r| r.requests).sum();
    let acknowledged: u64 = ingest.iter().map(Run::acknowledged).sum();
    println!(
        "deliveries stored: {stored}; acknowledged by the bridge: {acknowledged}; log lines written: {log_lines}"
    );
    let health_requests = health.iter().map(|r| r.requests).sum();
    let (cpu_us, switches) = (|u: &Used| u.cpu * 1e6, |u: &Used| u.switches);
    println!(
        "bridge CPU per request over all rounds, µs: GET /healthz {}; webhook {}",
        cpu_health.per_request(health_requests, cpu_us),
        cpu_ingest.per_request(sent, cpu_us)
    );
    println!(
        "bridge context switches per request over all rounds: GET /healthz {}; webhook {}",
        cpu_health.per_request(health_requests, switches),
        cpu_ingest.per_request(sent, switches)
    );
    println!("deliveries per ingest transaction: {commit_size:.1} on average");
    assert!(
        ingest.iter().all(|r| r.requests <= deliveries),
        "wrk sent more than the {deliveries} distinct deliveries of a round; raise --deliveries"
    );
    assert!(
        stored as u64 >= acknowledged,
        "an acknowledged delivery is missing from the database"
    );
}
