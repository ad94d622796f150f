//! `sync-groups` subcommand: a one-shot reconcile of every group (or of the `--group` ids) run
//! straight through the group job code, a few groups at a time, with a progress bar and a summary
//! table. `--dry-run` only reads: it prints the plan and calls no write route. It never goes
//! through the job queue or HTTP.

use std::fmt::Write as _;
use std::process::ExitCode;

use indicatif::ProgressStyle;

use crate::cli::SyncGroupsArgs;
use crate::config::Config;
use crate::jobs::check;
use crate::jobs::groups::{self, GroupRun, Report};

/// How long `--group` ids are checked with DocSpace before the run; ids not answered by then are
/// reconciled (their run finds out).
const UNKNOWN_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn run(config: Config, args: SyncGroupsArgs) -> ExitCode {
    let ctx = match super::open_context(config).await {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    let bar = crate::telemetry::progress(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} groups {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let ids = (!args.groups.is_empty()).then(|| crate::cli::distinct(&args.groups));
    // A named group DocSpace does not have (and that has no folder here) is refused, as the API
    // refuses it: reconciled, it would be reported as deleted in DocSpace.
    if let Some(ids) = &ids {
        let unknown = check::unknown_groups(&ctx, ids, UNKNOWN_CHECK_WAIT).await;
        if !unknown.is_empty() {
            eprintln!(
                "error: {}; nothing was reconciled",
                check::unknown_ids_message("group", &unknown)
            );
            return ExitCode::FAILURE;
        }
    }
    let result = groups::reconcile_groups(
        &ctx,
        ids,
        args.dry_run,
        groups::DEFAULT_CONCURRENCY,
        |n| bar.set_length(n as u64),
        |run| {
            bar.inc(1);
            if let Ok(r) = &run.result {
                bar.set_message(r.group.clone());
            }
        },
    )
    .await;
    bar.finish_and_clear();
    let mut runs = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot list DocSpace groups: {e}");
            return ExitCode::FAILURE;
        }
    };
    runs.sort_by_key(sort_key);
    if args.dry_run {
        print!("{}", render_plan(&runs));
    } else {
        print!("{}", render_changes(&runs));
    }
    print!("{}", render_summary(&runs, args.dry_run));
    if runs.iter().any(|r| r.result.is_err()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn sort_key(run: &GroupRun) -> (String, String) {
    let name = match &run.result {
        Ok(r) => r.group.to_lowercase(),
        Err(_) => String::new(),
    };
    (name, run.group_id.clone())
}

fn title(r: &Report) -> String {
    if r.group.is_empty() {
        r.group_id.clone()
    } else {
        format!("{} ({})", r.group, r.group_id)
    }
}

fn member_lines(out: &mut String, r: &Report, verbs: [&str; 3]) {
    for e in &r.added {
        let _ = writeln!(out, "    + {} {e}", verbs[0]);
    }
    for e in &r.removed {
        let _ = writeln!(out, "    - {} {e}", verbs[1]);
    }
    for u in &r.updated {
        let _ = writeln!(
            out,
            "    ~ {} {} ({} → {})",
            verbs[2], u.email, u.from, u.to
        );
    }
    for f in &r.errors {
        let _ = writeln!(out, "    ! {} ({})", f.email, f.tag);
    }
}

/// The dry-run plan, one block per group that would change.
fn render_plan(runs: &[GroupRun]) -> String {
    let mut out = String::from("Plan (dry run: nothing is changed)\n");
    let mut unchanged = 0;
    for run in runs {
        let r = match &run.result {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(out, "  {}: cannot plan: {e}", run.group_id);
                continue;
            }
        };
        let folder = r.folder.as_deref().unwrap_or("(no folder)");
        if r.deleted {
            let _ = writeln!(
                out,
                "  {}: deleted in DocSpace, ON_GROUP_DELETED={} on {folder}",
                title(r),
                r.policy.unwrap_or("?")
            );
        } else if r.created
            || r.mounted
            || r.moved_from.is_some()
            || !r.added.is_empty()
            || !r.removed.is_empty()
            || !r.updated.is_empty()
            || !r.errors.is_empty()
        {
            let _ = writeln!(out, "  {} → {folder}", title(r));
            if r.created {
                let _ = writeln!(out, "    * share the folder (created if absent)");
            }
            if r.mounted {
                let _ = writeln!(
                    out,
                    "    * mount the shared folder deleted in Dropbox again (same folder and members)"
                );
            }
            if let Some(from) = &r.moved_from {
                let _ = writeln!(out, "    * move from {from}");
            }
        } else {
            unchanged += 1;
            continue;
        }
        member_lines(&mut out, r, ["invite", "remove", "set access of"]);
    }
    if unchanged > 0 {
        let _ = writeln!(out, "  {unchanged} group(s) already in step");
    }
    out
}

/// What changed, one block per group that changed or failed.
fn render_changes(runs: &[GroupRun]) -> String {
    let mut out = String::new();
    for run in runs {
        match &run.result {
            Err(e) => {
                let _ = writeln!(out, "  {}: failed: {e}", run.group_id);
            }
            Ok(r) => {
                let changed = r.created
                    || r.mounted
                    || r.moved_from.is_some()
                    || !r.added.is_empty()
                    || !r.removed.is_empty()
                    || !r.updated.is_empty()
                    || !r.errors.is_empty()
                    || r.deleted;
                if !changed {
                    continue;
                }
                let folder = r.folder.as_deref().unwrap_or("(no folder)");
                let _ = writeln!(out, "  {} → {folder}", title(r));
                if r.deleted {
                    let _ = writeln!(
                        out,
                        "    * deleted in DocSpace (ON_GROUP_DELETED={})",
                        r.policy.unwrap_or("?")
                    );
                }
                if r.created {
                    let _ = writeln!(out, "    * folder shared");
                }
                if r.mounted {
                    let _ = writeln!(
                        out,
                        "    * shared folder mounted again (deleted in Dropbox)"
                    );
                }
                if let Some(c) = &r.clash {
                    let _ = writeln!(
                        out,
                        "    * {} belongs to group {}: fallback path used",
                        c.path, c.group_id
                    );
                }
                if let Some(from) = &r.moved_from {
                    let _ = writeln!(out, "    * moved from {from}");
                }
                member_lines(&mut out, r, ["invited", "removed", "access set for"]);
            }
        }
    }
    out
}

fn render_summary(runs: &[GroupRun], dry_run: bool) -> String {
    let ok: Vec<&Report> = runs.iter().filter_map(|r| r.result.as_ref().ok()).collect();
    let count = |f: &dyn Fn(&Report) -> usize| ok.iter().map(|r| f(r)).sum::<usize>();
    let rows = [
        ("groups", runs.len()),
        ("folders created", count(&|r| usize::from(r.created))),
        ("folders mounted", count(&|r| usize::from(r.mounted))),
        (
            "folders moved",
            count(&|r| usize::from(r.moved_from.is_some())),
        ),
        ("members added", count(&|r| r.added.len())),
        ("members removed", count(&|r| r.removed.len())),
        ("access updated", count(&|r| r.updated.len())),
        ("groups deleted", count(&|r| usize::from(r.deleted))),
        ("member errors", count(&|r| r.errors.len())),
        ("failed groups", runs.len() - ok.len()),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nSummary{}",
        if dry_run { " (dry run: would be)" } else { "" }
    );
    let _ = writeln!(out, "  {:<18} {:>7}", "", "count");
    for (label, n) in rows {
        let _ = writeln!(out, "  {label:<18} {n:>7}");
    }
    out
}
