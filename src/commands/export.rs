//! `export <file-id> [--folder PATH]`: one-shot export of one DocSpace file with the same job
//! code, store and clients as the service (no HTTP, no queue). Draws a byte progress bar with
//! rate and ETA on stderr, then prints the Dropbox path, rev and size on stdout.

use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ExportArgs;
use crate::config::Config;
use crate::docspace::FileInfo;
use crate::jobs::export::{self, Mode, Observer, Outcome};
use crate::jobs::{FileExport, JobError};

struct Bar(ProgressBar);

impl Observer for Bar {
    fn started(&self, file: &FileInfo, destination: &str) {
        if let Some(size) = file.size {
            self.0.set_length(size);
        }
        self.0
            .set_message(format!("{} → {destination}", file.title));
    }
    fn progress(&self, bytes: u64) {
        self.0.set_position(bytes);
    }
}

pub async fn run(config: Config, args: ExportArgs) -> ExitCode {
    let ctx = match super::open_context(config).await {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    let bar = crate::telemetry::progress(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg}\n{bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let observer: Arc<dyn Observer> = Arc::new(Bar(bar.clone()));
    // `--folder /` arrives empty: the default folder.
    let folder = args.folder.as_deref().filter(|f| !f.is_empty());
    let req = FileExport::manual(args.file_id.as_str(), folder);
    let outcome = export::export(&ctx, &req, Some(observer)).await;
    bar.finish_and_clear();
    match outcome {
        Ok(Outcome::Exported { record, mode }) => {
            println!("exported DocSpace file {} to Dropbox", record.file_id);
            println!("path: {}", record.dropbox_path);
            println!("rev:  {}", record.rev);
            println!("size: {} bytes", record.size);
            match mode {
                Mode::Add => {}
                Mode::Overwrite => println!("(new revision of the file exported earlier)"),
                Mode::Copy => {
                    println!("(a copy: later versions still go to the file's own export, not here)")
                }
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Unchanged { record }) => {
            println!(
                "DocSpace file {} version {} is already in Dropbox; nothing uploaded",
                record.file_id, record.docspace_version
            );
            println!("path: {}", record.dropbox_path);
            println!("rev:  {}", record.rev);
            println!("size: {} bytes", record.size);
            ExitCode::SUCCESS
        }
        Ok(Outcome::Skipped { reason }) if reason == export::FILE_GONE => {
            eprintln!("error: DocSpace file {}: {reason}", args.file_id);
            ExitCode::FAILURE
        }
        Ok(Outcome::Skipped { reason }) => {
            println!("skipped DocSpace file {}: {reason}", args.file_id);
            ExitCode::SUCCESS
        }
        Err(JobError::Retry { message, .. }) => {
            eprintln!("error (temporary, try again later): {message}");
            ExitCode::FAILURE
        }
        Err(JobError::Permanent { message, .. }) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
