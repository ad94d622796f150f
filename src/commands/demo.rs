//! `demo`: the whole flow with no accounts. Starts the stand-in DocSpace and Dropbox servers
//! (`bridge_fakes`, in this process) and the bridge itself on a temporary SQLite database, then
//! plays a short story through signed webhooks (groups, members, files, a member leaving, a
//! folder and a file deleted by hand in Dropbox) and prints what the bridge did, read back from
//! the stand-ins' state. Each file event names the person who made the change as DocSpace does
//! (`event.createBy`); one file is uploaded by the API key's own user, and is exported like any
//! other. Logging is off unless `RUST_LOG` is set, so the output is the story.
//!
//! With `--keep-running` everything stays up afterwards and the URLs (the status page's too) and
//! the API token are printed.
//! The temporary directory is removed on exit. This module only drives the bridge from the
//! outside (HTTP webhooks) and reads the stores for the story; it adds no behaviour.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bridge_fakes::docspace::{DocSpaceOptions, FakeDocSpace};
use bridge_fakes::dropbox::FakeDropbox;
use bridge_fakes::webhooks::{DocSpaceWebhookSender, DropboxWebhookSender};
use tokio::net::TcpListener;

use crate::app::Application;
use crate::cli::DemoArgs;
use crate::config::Config;
use crate::store::{self, DynStore, JobFilter, JobState};
use uuid::Uuid;

const WEBHOOK_SECRET: &str = "demo-webhook-secret";
/// How long one step may take before the demo gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(args: DemoArgs) -> ExitCode {
    init_quiet_logging();
    let dir = match TempDir::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    match walkthrough(&dir, args.keep_running).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Demo output is the story; the bridge's own logs only with `RUST_LOG`.
fn init_quiet_logging() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "off".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "docspace-dropbox-bridge-demo-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type DemoResult<T> = Result<T, String>;

struct Demo {
    app: Option<Application>,
    store: DynStore,
    url: String,
    docspace: FakeDocSpace,
    dropbox: FakeDropbox,
    ds_hooks: DocSpaceWebhookSender,
    /// `event.id` of the next file event (file events are sent by their author; see
    /// [`Demo::file_webhook`]).
    next_file_event: AtomicI64,
    db_hooks: DropboxWebhookSender,
    /// Bearer token of the demo's operator API (printed by `--keep-running`).
    token: String,
    /// Dead jobs already reported.
    dead_seen: usize,
}

async fn walkthrough(dir: &TempDir, keep_running: bool) -> DemoResult<()> {
    let started = Instant::now();
    println!(
        "docspace-dropbox-bridge demo: the bridge against built-in DocSpace and Dropbox stand-ins"
    );
    println!();
    let mut demo = Demo::start(dir).await?;
    let result = tokio::select! {
        r = demo.story() => r,
        _ = crate::app::wait_for_signal() => Err("interrupted".to_string()),
    };
    if result.is_ok() {
        println!();
        println!(
            "Done in {:.1}s. Every change reached the bridge as a signed webhook; what it did was \
             read back from the stand-ins.",
            started.elapsed().as_secs_f64()
        );
        if keep_running {
            demo.keep_running().await;
        } else {
            println!(
                "Run `docspace-dropbox-bridge demo --keep-running` to keep it up and try the API."
            );
        }
    }
    if let Some(app) = demo.app.take() {
        app.shutdown().await;
    }
    result
}

impl Demo {
    async fn start(dir: &TempDir) -> DemoResult<Self> {
        // The key holds exactly the permissions the jobs need, as the README asks of a real one.
        let docspace = FakeDocSpace::start(DocSpaceOptions {
            api_key_permissions: needed_docspace_permissions()
                .iter()
                .map(|p| p.to_string())
                .collect(),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("the DocSpace stand-in did not start: {e}"))?;
        let dropbox = FakeDropbox::start(Default::default())
            .await
            .map_err(|e| format!("the Dropbox stand-in did not start: {e}"))?;
        let o = dropbox.options().clone();
        let token = format!("demo-{}", uuid::Uuid::new_v4().simple());
        let db_url = format!("sqlite://{}", dir.0.join("bridge.db").display());
        let env: HashMap<String, String> = [
            ("BRIDGE_LISTEN", "127.0.0.1:0".to_string()),
            ("BRIDGE_DATABASE_URL", db_url),
            ("BRIDGE_API_TOKEN", token.clone()),
            ("DOCSPACE_URL", docspace.url()),
            ("DOCSPACE_API_KEY", docspace.api_key()),
            ("DOCSPACE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_string()),
            ("DROPBOX_APP_KEY", o.app_key.clone()),
            ("DROPBOX_APP_SECRET", o.app_secret.clone()),
            ("DROPBOX_REFRESH_TOKEN", o.refresh_token.clone()),
            ("DROPBOX_API_URL", dropbox.api_url()),
            ("DROPBOX_CONTENT_URL", dropbox.content_url()),
            ("LOG_FORMAT", "pretty".to_string()),
            ("BRIDGE_POLL_INTERVAL", "50ms".to_string()),
            ("BRIDGE_BACKOFF_BASE", "200ms".to_string()),
            ("BRIDGE_BACKOFF_MAX", "2s".to_string()),
            ("BRIDGE_SHUTDOWN_GRACE", "2s".to_string()),
            // The story drives every job through webhooks; no periodic reconcile in between.
            ("BRIDGE_SCHEDULER", "false".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let config = Config::from_map(&env).map_err(|e| e.to_string())?;
        let store = store::connect(&config.database_url)
            .await
            .map_err(|e| format!("cannot open the temporary database: {e}"))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        let app = Application::start_with(config, store.clone(), listener)
            .await
            .map_err(|e| format!("the bridge did not start: {e}"))?;
        let url = format!("http://{}", app.addr);
        let ds_hooks =
            DocSpaceWebhookSender::new(format!("{url}/webhooks/docspace"), WEBHOOK_SECRET);
        let db_hooks =
            DropboxWebhookSender::new(format!("{url}/webhooks/dropbox"), o.app_secret.clone());
        println!(
            "Started the DocSpace stand-in at {} (API key with {} only)",
            docspace.url(),
            needed_docspace_permissions().join(", ")
        );
        println!("Started the Dropbox stand-in at {}", dropbox.api_url());
        println!("Started the bridge at {url} (temporary SQLite database)");
        Ok(Self {
            app: Some(app),
            store,
            url,
            docspace,
            dropbox,
            ds_hooks,
            // Far from the group events' ids, which count up from the sender's start.
            next_file_event: AtomicI64::new(1_000_000),
            db_hooks,
            token,
            dead_seen: 0,
        })
    }

    async fn story(&mut self) -> DemoResult<()> {
        // Dropbox accounts for the people below, so invitations make them members.
        for email in ["alice@example.com", "bob@example.com", "carol@example.com"] {
            self.dropbox.add_user_auto(email);
        }
        let ds = &self.docspace;
        let alice = ds.add_active_user("Alice", "Archer", "alice@example.com");
        let bob = ds.add_active_user("Bob", "Baker", "bob@example.com");
        let carol = ds.add_active_user("Carol", "Cooper", "carol@example.com");
        let owner = self.dropbox.options().owner_account_id.clone();

        step(
            1,
            "Dropbox tells the bridge about its account (signed notification)",
        );
        self.notify_dropbox(&owner).await?;
        self.settle().await?;
        say("the bridge now tracks changes below /DocSpace Groups and /DocSpace Export");

        step(2, "DocSpace: groups \"Marketing\" (Alice, Bob) and \"Finance / Ops\" (Bob, Carol) are created");
        let marketing = self.group("Marketing", &[alice, bob])?;
        let finance = self.group("Finance / Ops", &[bob, carol])?;
        for g in [marketing, finance] {
            self.group_webhook("group.created", g).await?;
        }
        self.settle().await?;
        for g in [marketing, finance] {
            self.show_group_folder(g, "shared").await?;
        }

        step(
            3,
            "DocSpace: files are added to room \"Finance\", folder \"2026\"",
        );
        let room = self.docspace.create_room("Finance");
        let year = self
            .docspace
            .create_folder(room, "2026")
            .map_err(|e| format!("{e:?}"))?;
        let budget = self
            .docspace
            .create_file_by(year, "Budget.xlsx", 12 * 1024, alice)
            .map_err(|e| format!("{e:?}"))?;
        // Uploaded by the administrator whose API key the bridge uses: the bridge never writes
        // to DocSpace, so this is that person's own work, not an echo of the bridge.
        let report = self
            .docspace
            .create_file(year, "Report.docx", 300 * 1024)
            .map_err(|e| format!("{e:?}"))?;
        for f in [budget, report] {
            self.file_webhook("file.created", f).await?;
        }
        self.settle().await?;
        for f in [budget, report] {
            self.show_export(f, "exported").await?;
        }
        say(
            "Report.docx came from the API key's own user and is exported like any other file \
             (the bridge never writes to DocSpace, so its user's events are real work)",
        );

        step(4, "DocSpace: Report.docx gets a new version");
        let before = self.export_rev(report).await;
        self.docspace
            .new_version(report, 310 * 1024)
            .map_err(|e| format!("{e:?}"))?;
        self.file_webhook("file.updated", report).await?;
        self.settle().await?;
        let after = self.export_rev(report).await;
        self.show_export(report, "overwrote the same file").await?;
        if let (Some(b), Some(a)) = (before, after) {
            say(&format!("Dropbox keeps the history: revision {b} -> {a}"));
        }

        step(5, "DocSpace: Bob leaves \"Marketing\"");
        self.docspace
            .remove_group_member(marketing, bob)
            .map_err(|e| format!("{e:?}"))?;
        self.group_webhook("group.updated", marketing).await?;
        self.settle().await?;
        let path = self.group_path(marketing).await?;
        let still = self
            .dropbox
            .shared_folder_by_path(&path)
            .and_then(|s| s.access_of("bob@example.com"));
        match still {
            None => say(&format!("removed bob@example.com from {path}")),
            Some(_) => say(&format!(
                "bob@example.com is still a member of {path} (unexpected)"
            )),
        }
        self.show_group_folder(marketing, "now shared").await?;

        step(
            6,
            "Someone deletes the \"Marketing\" folder in Dropbox by hand",
        );
        let before = self
            .dropbox
            .shared_folder_by_path(&path)
            .map(|s| s.shared_folder_id);
        let invites = self.dropbox.calls("sharing/add_folder_member");
        self.dropbox.delete(&path);
        say(&format!(
            "{path} deleted; Dropbox only unmounts a shared folder and notifies the bridge"
        ));
        self.notify_dropbox(&owner).await?;
        self.settle().await?;
        match self.dropbox.shared_folder_by_path(&path) {
            Some(sf) if Some(&sf.shared_folder_id) == before.as_ref() => {
                self.show_group_folder(marketing, "restored").await?;
                let invited = self.dropbox.calls("sharing/add_folder_member") - invites;
                say(&format!(
                    "the same shared folder (id {}) was mounted back and moved home; \
                     {invited} invitation(s) sent",
                    sf.shared_folder_id
                ));
            }
            Some(sf) => say(&format!(
                "{path} is a new shared folder (id {}), not the same one mounted back \
                 (unexpected)",
                sf.shared_folder_id
            )),
            None => say(&format!("{path} was not restored (unexpected)")),
        }

        step(
            7,
            "Someone deletes the exported Budget.xlsx in Dropbox by hand",
        );
        let budget_path = self
            .store
            .export(&budget.to_string())
            .await
            .map_err(|e| e.to_string())?
            .map(|r| r.dropbox_path)
            .ok_or("Budget.xlsx was never exported")?;
        self.dropbox.delete(&budget_path);
        say(&format!(
            "{budget_path} deleted; Dropbox notifies the bridge"
        ));
        self.notify_dropbox(&owner).await?;
        self.settle().await?;
        if self.dropbox.file(&budget_path).is_some() {
            self.show_export(budget, "re-exported").await?;
        } else {
            say(&format!("{budget_path} was not re-exported (unexpected)"));
        }

        self.summary().await
    }

    fn group(&self, name: &str, members: &[uuid::Uuid]) -> DemoResult<uuid::Uuid> {
        self.docspace
            .create_group(name, members)
            .map_err(|e| format!("cannot create group {name}: {e:?}"))
    }

    async fn group_webhook(&self, trigger: &str, id: uuid::Uuid) -> DemoResult<()> {
        let group = self.docspace.group(id).ok_or("group vanished")?;
        let d = self
            .ds_hooks
            .group_event(trigger, &group)
            .await
            .map_err(|e| format!("webhook not delivered: {e}"))?;
        say(&format!(
            "webhook {trigger} \"{}\" -> bridge answered {}",
            group.name, d.status
        ));
        expect_ok(d.status)
    }

    /// A file event sent, as DocSpace does, with the person who made the change as
    /// `event.createBy`.
    async fn file_webhook(&self, trigger: &str, id: i64) -> DemoResult<()> {
        let file = self.docspace.file(id).ok_or("file vanished")?;
        let author = file.updated_by();
        let mut sender =
            DocSpaceWebhookSender::new(&self.ds_hooks.url, WEBHOOK_SECRET).with_actor(Some(author));
        sender.next_event_id = AtomicI64::new(self.next_file_event.fetch_add(1, Ordering::Relaxed));
        let d = sender
            .file_event(trigger, &file)
            .await
            .map_err(|e| format!("webhook not delivered: {e}"))?;
        say(&format!(
            "webhook {trigger} \"{}\" by {} -> bridge answered {}",
            file.title,
            self.person(author),
            d.status
        ));
        expect_ok(d.status)
    }

    /// Who a DocSpace user is, for the story.
    fn person(&self, id: Uuid) -> String {
        if id == self.docspace.self_user_id() {
            return "the API key's own user".to_string();
        }
        match self.docspace.user(id) {
            Some(u) => u.first_name,
            None => id.to_string(),
        }
    }

    async fn notify_dropbox(&self, account: &str) -> DemoResult<()> {
        let r = self
            .db_hooks
            .notify(&[account])
            .await
            .map_err(|e| format!("notification not delivered: {e}"))?;
        say(&format!(
            "Dropbox notification -> bridge answered {}",
            r.status
        ));
        expect_ok(r.status)
    }

    async fn group_path(&self, id: uuid::Uuid) -> DemoResult<String> {
        self.store
            .group_folder(&id.to_string())
            .await
            .map_err(|e| e.to_string())?
            .map(|g| g.path)
            .ok_or_else(|| "the bridge has no folder for this group".to_string())
    }

    async fn show_group_folder(&self, id: uuid::Uuid, verb: &str) -> DemoResult<()> {
        let path = self.group_path(id).await?;
        let Some(sf) = self.dropbox.shared_folder_by_path(&path) else {
            say(&format!("{path} is not a shared folder (unexpected)"));
            return Ok(());
        };
        let mut people: Vec<String> = sf
            .members
            .iter()
            .filter(|m| m.access != bridge_fakes::dropbox::AccessLevel::Owner)
            .map(|m| format!("{} ({})", m.email, m.access.tag()))
            .chain(
                sf.invitees
                    .iter()
                    .map(|i| format!("{} ({}, invited)", i.email, i.access.tag())),
            )
            .collect();
        people.sort();
        say(&format!(
            "{verb} {} with {}",
            sf.path_display,
            if people.is_empty() {
                "nobody".to_string()
            } else {
                people.join(", ")
            }
        ));
        Ok(())
    }

    async fn export_rev(&self, file_id: i64) -> Option<String> {
        let rec = self.store.export(&file_id.to_string()).await.ok()??;
        self.dropbox.file(&rec.dropbox_path).map(|f| f.rev)
    }

    async fn show_export(&self, file_id: i64, verb: &str) -> DemoResult<()> {
        let title = self
            .docspace
            .file(file_id)
            .map(|f| f.title)
            .unwrap_or_default();
        let rec = self
            .store
            .export(&file_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let Some(rec) = rec else {
            say(&format!("{title} was not exported (unexpected)"));
            return Ok(());
        };
        match self.dropbox.file(&rec.dropbox_path) {
            Some(f) => {
                let expected = u32::try_from(rec.docspace_version)
                    .ok()
                    .and_then(|v| self.docspace.dropbox_content_hash(file_id, v));
                let check = if expected.as_deref() == Some(f.content_hash.as_str()) {
                    "same content hash as in DocSpace"
                } else {
                    "content hash DIFFERS from DocSpace (unexpected)"
                };
                say(&format!(
                    "{title} (version {}) {verb} -> {} ({} KiB, {check})",
                    rec.docspace_version,
                    f.path_display,
                    f.size / 1024
                ));
            }
            None => say(&format!(
                "{} is missing in Dropbox (unexpected)",
                rec.dropbox_path
            )),
        }
        Ok(())
    }

    /// Waits until no job is queued, running or waiting for a retry; reports new dead jobs.
    async fn settle(&mut self) -> DemoResult<()> {
        let app = self.app.as_ref().ok_or("the bridge is not running")?;
        if tokio::time::timeout(STEP_TIMEOUT, app.wait_idle())
            .await
            .is_err()
        {
            return Err(format!(
                "the bridge did not finish its jobs within {}s",
                STEP_TIMEOUT.as_secs()
            ));
        }
        let dead = self
            .store
            .list_jobs(&JobFilter {
                state: Some(JobState::Dead),
                limit: 100,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        for job in dead.iter().skip(self.dead_seen) {
            say(&format!(
                "job {} {} failed: {}",
                job.id,
                job.kind,
                job.last_error.as_deref().unwrap_or("?")
            ));
        }
        self.dead_seen = self.dead_seen.max(dead.len());
        Ok(())
    }

    async fn summary(&self) -> DemoResult<()> {
        let depth = self.store.queue_depth().await.map_err(|e| e.to_string())?;
        let n = |s: JobState| depth.get(&s).copied().unwrap_or(0);
        println!();
        println!(
            "Jobs: {} succeeded, {} dead",
            n(JobState::Succeeded),
            n(JobState::Dead)
        );
        if n(JobState::Dead) > 0 {
            return Err("some jobs failed (see above)".into());
        }
        Ok(())
    }

    async fn keep_running(&self) {
        let o = self.dropbox.options();
        let t = &self.token;
        println!();
        println!("Everything keeps running; press Ctrl-C (or send SIGTERM) to stop.");
        println!("  bridge            {}", self.url);
        println!("  API token         {t}");
        println!(
            "  status page       {}/ (sign in with the API token)",
            self.url
        );
        println!(
            "  try               curl -H 'Authorization: Bearer {t}' {}/api/v1/jobs",
            self.url
        );
        println!(
            "  DocSpace stand-in {} (API key {})",
            self.docspace.url(),
            self.docspace.api_key()
        );
        println!(
            "  Dropbox stand-in  {} (content {}; control API under /_fake/)",
            self.dropbox.api_url(),
            self.dropbox.content_url()
        );
        println!(
            "  webhook secrets   DocSpace {WEBHOOK_SECRET}, Dropbox app secret {}",
            o.app_secret
        );
        // SIGTERM as well as Ctrl-C: either way the stand-ins stop and the temporary
        // directory is removed on the way out.
        crate::app::wait_for_signal().await;
        println!("stopping");
    }
}

/// The API-key permissions the jobs need (`check`'s optional profile permission left out).
fn needed_docspace_permissions() -> Vec<&'static str> {
    let mut scopes: Vec<&'static str> = Vec::new();
    for r in crate::docspace::ROUTES.iter().filter(|r| !r.optional) {
        if !scopes.contains(&r.scope) {
            scopes.push(r.scope);
        }
    }
    scopes
}

fn step(n: u32, what: &str) {
    println!();
    println!("[{n}/7] {what}");
}

fn say(line: &str) {
    println!("      {line}");
}

fn expect_ok(status: u16) -> DemoResult<()> {
    if status == 200 {
        Ok(())
    } else {
        Err(format!("the bridge answered {status} to a signed webhook"))
    }
}
