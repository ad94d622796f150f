//! `jobs list [--state --kind --group --file --since --limit]`, `jobs list --event-id ID`,
//! `jobs show ID`, `jobs retry ID | --dead [--kind K]`: the operator API's job views, deliveries
//! and re-drives, straight on
//! the store (works while the service is down, and on a web-only replica's database alike).
//! Tables and details go to stdout; errors to stderr with exit code 1.

use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::cli::{JobsCommand, JobsListArgs, JobsRetryArgs};
use crate::config::{parse_when, Config};
use crate::store::{
    DeliveryFilter, DeliveryRecord, DynStore, Job, JobFilter, JobState, RetryFilter, StoreError,
};

pub async fn run(config: Config, command: JobsCommand) -> ExitCode {
    let store = match super::open_store(&config.database_url).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = match command {
        JobsCommand::List(args) => list(&store, args).await,
        JobsCommand::Show { id } => show(&store, id).await,
        JobsCommand::Retry(args) => retry(&store, args).await,
    };
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The first line of `s`, at most `max` characters.
fn short(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

fn store_error(e: StoreError) -> String {
    match e {
        StoreError::Conflict(m) | StoreError::Missing(m) => m,
        other => other.to_string(),
    }
}

async fn list(store: &DynStore, args: JobsListArgs) -> Result<String, String> {
    if let Some(event_id) = &args.event_id {
        return list_event(store, event_id).await;
    }
    let state = args
        .state
        .as_deref()
        .map(|s| {
            JobState::parse(s).ok_or_else(|| {
                "--state must be queued, running, succeeded, failed or dead".to_string()
            })
        })
        .transpose()?;
    if !(1..=500).contains(&args.limit) {
        return Err("--limit must be 1-500".into());
    }
    let since = args
        .since
        .as_deref()
        .map(|s| parse_when(s, Utc::now()).map_err(|e| format!("--since {e}")))
        .transpose()?;
    let jobs = store
        .list_jobs(&JobFilter {
            state,
            kind: args.kind,
            group_id: args.group_id,
            file_id: args.file_id,
            since,
            limit: args.limit,
            ..JobFilter::default()
        })
        .await
        .map_err(store_error)?;
    Ok(render_list(&jobs))
}

/// `jobs list --event-id ID`: the kept delivery of a DocSpace event, then each job it created or
/// coalesced into with its state and its last error or result.
async fn list_event(store: &DynStore, event_id: &str) -> Result<String, String> {
    let found = store
        .list_deliveries(&DeliveryFilter {
            event_id: Some(event_id.to_string()),
            limit: 1,
            ..DeliveryFilter::default()
        })
        .await
        .map_err(store_error)?;
    let Some(delivery) = found.into_iter().next() else {
        return Err(format!(
            "no delivery of DocSpace event {event_id} is kept (deliveries are kept for \
             BRIDGE_DELIVERY_RETENTION; duplicates and ignored triggers are not kept)"
        ));
    };
    let mut out = render_delivery(&delivery);
    let _ = writeln!(
        out,
        "{:>8}  {:<9}  {:<16}  {:>8}  {:<20}  LAST ERROR / RESULT",
        "ID", "STATE", "KIND", "ATTEMPTS", "UPDATED"
    );
    for id in &delivery.job_ids {
        match store.get_job(*id).await.map_err(store_error)? {
            Some(j) => {
                let outcome = match (&j.last_error, &j.result) {
                    (Some(e), _) => e.clone(),
                    (None, Some(r)) => r.to_string(),
                    (None, None) => String::new(),
                };
                let _ = writeln!(
                    out,
                    "{:>8}  {:<9}  {:<16}  {:>8}  {:<20}  {}",
                    j.id,
                    j.state.as_str(),
                    j.kind,
                    j.attempts,
                    time(j.updated_at),
                    short(&outcome, 80)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{id:>8}  pruned (finished longer ago than its retention)"
                );
            }
        }
    }
    Ok(out)
}

fn render_delivery(d: &DeliveryRecord) -> String {
    format!(
        "delivery {} of {} event {}: {}, received {}, request {}, {} job(s)\n",
        d.id,
        d.source,
        d.event_id.as_deref().unwrap_or("-"),
        d.trigger.as_deref().unwrap_or("-"),
        time(d.received_at),
        d.request_id.as_deref().unwrap_or("-"),
        d.job_ids.len()
    )
}

fn render_list(jobs: &[Job]) -> String {
    let mut out = String::new();
    if jobs.is_empty() {
        out.push_str("no jobs\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>8}  {:<9}  {:<16}  {:>8}  {:<20}  LAST ERROR",
        "ID", "STATE", "KIND", "ATTEMPTS", "UPDATED"
    );
    for j in jobs {
        let _ = writeln!(
            out,
            "{:>8}  {:<9}  {:<16}  {:>8}  {:<20}  {}",
            j.id,
            j.state.as_str(),
            j.kind,
            j.attempts,
            time(j.updated_at),
            short(j.last_error.as_deref().unwrap_or(""), 80)
        );
    }
    out
}

async fn show(store: &DynStore, id: i64) -> Result<String, String> {
    let job = store
        .get_job(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| format!("job {id} does not exist"))?;
    let attempts = store.attempts(id).await.map_err(store_error)?;
    let deliveries = store.job_deliveries(&job).await.map_err(store_error)?;
    let mut out = String::new();
    let _ = writeln!(out, "job {}: {} ({})", job.id, job.kind, job.state.as_str());
    let _ = writeln!(out, "  attempts:   {}", job.attempts);
    let _ = writeln!(
        out,
        "  dedupe key: {}",
        job.dedupe_key.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "  payload:    {}", job.payload);
    let _ = writeln!(out, "  created:    {}", time(job.created_at));
    let _ = writeln!(out, "  updated:    {}", time(job.updated_at));
    let _ = writeln!(out, "  run at:     {}", time(job.run_at));
    if let Some(e) = &job.last_error {
        let _ = writeln!(out, "  last error: {e}");
    }
    if let Some(r) = &job.result {
        let _ = writeln!(out, "  result:     {r}");
    }
    let _ = writeln!(out, "runs ({}):", attempts.len());
    for a in &attempts {
        let _ = writeln!(
            out,
            "  #{} {} {} ({} ms, {}){}",
            a.attempt,
            time(a.started_at),
            a.outcome,
            a.duration_ms,
            a.worker,
            a.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "deliveries ({}):", deliveries.len());
    for d in &deliveries {
        let _ = writeln!(
            out,
            "  #{} {} {} {} event {} request {}",
            d.id,
            time(d.received_at),
            d.source,
            d.trigger.as_deref().unwrap_or("-"),
            d.event_id.as_deref().unwrap_or("-"),
            d.request_id.as_deref().unwrap_or("-")
        );
    }
    Ok(out)
}

async fn retry(store: &DynStore, args: JobsRetryArgs) -> Result<String, String> {
    if let Some(id) = args.id {
        let job = store.retry_dead(id).await.map_err(|e| match e {
            StoreError::NotFound => format!("job {id} does not exist"),
            other => store_error(other),
        })?;
        return Ok(format!(
            "re-drove job {} ({}); it is {}\n",
            job.id,
            job.kind,
            job.state.as_str()
        ));
    }
    let ids = store
        .retry_dead_matching(&RetryFilter {
            kind: args.kind.clone(),
            ..RetryFilter::default()
        })
        .await
        .map_err(store_error)?;
    let what = match &args.kind {
        Some(k) => format!("dead {k} jobs"),
        None => "dead jobs".to_string(),
    };
    let listed: Vec<String> = ids.iter().map(i64::to_string).collect();
    Ok(if ids.is_empty() {
        format!("no {what} to re-drive\n")
    } else {
        format!("re-drove {} {what}: {}\n", ids.len(), listed.join(", "))
    })
}
