//! `bridge-fakes`: runs the fake DocSpace and the fake Dropbox until SIGTERM/Ctrl-C and prints
//! their URLs and credentials as `KEY=value` lines (ready to `source` or to feed the bridge), then
//! `FAKES_READY=1`. Both fakes expose an HTTP control API under `/_fake/`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use bridge_fakes::docspace::{DocSpaceOptions, FakeDocSpace};
use bridge_fakes::dropbox::{DropboxOptions, FakeDropbox};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "\
Usage: bridge-fakes [options]

Options (each also readable from the environment variable in brackets):
  --listen-host HOST          address to bind, e.g. 0.0.0.0 in a container [FAKES_LISTEN_HOST] (127.0.0.1)
  --public-host HOST          host name put in printed/handed-out URLs [FAKES_PUBLIC_HOST]
                              (the listen host; 127.0.0.1 when listening on 0.0.0.0)
  --docspace-port N           fake DocSpace portal port [FAKE_DOCSPACE_PORT] (0 = any)
  --docspace-foreign-port N   fake DocSpace foreign (storage) origin port [FAKE_DOCSPACE_FOREIGN_PORT]
  --dropbox-api-port N        fake Dropbox RPC host port [FAKE_DROPBOX_API_PORT]
  --dropbox-content-port N    fake Dropbox content host port [FAKE_DROPBOX_CONTENT_PORT]
  --docspace-api-key KEY      API key the fake DocSpace accepts [FAKE_DOCSPACE_API_KEY]
  --docspace-api-key-permissions LIST
                              comma-separated scopes of that key, e.g. files:read,rooms:read
                              [FAKE_DOCSPACE_API_KEY_PERMISSIONS] (empty = full access)
  --tz-offset-minutes N       DocSpace portal time zone for API dates [FAKE_DOCSPACE_TZ_OFFSET] (0)
  --seed                      create demo users, groups, rooms and files [FAKES_SEED=1]
  -h, --help                  this text
";

struct Args {
    listen_host: IpAddr,
    public_host: Option<String>,
    docspace_port: u16,
    docspace_foreign_port: u16,
    dropbox_api_port: u16,
    dropbox_content_port: u16,
    docspace_api_key: Option<String>,
    docspace_api_key_permissions: Vec<String>,
    tz_offset_minutes: i32,
    seed: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: invalid value {value:?}"))
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        listen_host: parse(
            "FAKES_LISTEN_HOST",
            &env("FAKES_LISTEN_HOST").unwrap_or_else(|| "127.0.0.1".into()),
        )?,
        public_host: env("FAKES_PUBLIC_HOST"),
        docspace_port: parse(
            "FAKE_DOCSPACE_PORT",
            &env("FAKE_DOCSPACE_PORT").unwrap_or("0".into()),
        )?,
        docspace_foreign_port: parse(
            "FAKE_DOCSPACE_FOREIGN_PORT",
            &env("FAKE_DOCSPACE_FOREIGN_PORT").unwrap_or("0".into()),
        )?,
        dropbox_api_port: parse(
            "FAKE_DROPBOX_API_PORT",
            &env("FAKE_DROPBOX_API_PORT").unwrap_or("0".into()),
        )?,
        dropbox_content_port: parse(
            "FAKE_DROPBOX_CONTENT_PORT",
            &env("FAKE_DROPBOX_CONTENT_PORT").unwrap_or("0".into()),
        )?,
        docspace_api_key: env("FAKE_DOCSPACE_API_KEY"),
        docspace_api_key_permissions: permissions(
            &env("FAKE_DOCSPACE_API_KEY_PERMISSIONS").unwrap_or_default(),
        ),
        tz_offset_minutes: parse(
            "FAKE_DOCSPACE_TZ_OFFSET",
            &env("FAKE_DOCSPACE_TZ_OFFSET").unwrap_or("0".into()),
        )?,
        seed: env("FAKES_SEED")
            .map(|v| v == "1" || v == "true")
            .unwrap_or(false),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--seed" => args.seed = true,
            "--listen-host" => args.listen_host = parse(&name, &value()?)?,
            "--public-host" => args.public_host = Some(value()?),
            "--docspace-port" => args.docspace_port = parse(&name, &value()?)?,
            "--docspace-foreign-port" => args.docspace_foreign_port = parse(&name, &value()?)?,
            "--dropbox-api-port" => args.dropbox_api_port = parse(&name, &value()?)?,
            "--dropbox-content-port" => args.dropbox_content_port = parse(&name, &value()?)?,
            "--docspace-api-key" => args.docspace_api_key = Some(value()?),
            "--docspace-api-key-permissions" => {
                args.docspace_api_key_permissions = permissions(&value()?)
            }
            "--tz-offset-minutes" => args.tz_offset_minutes = parse(&name, &value()?)?,
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Some(args))
}

/// `a, b,c` → `["a", "b", "c"]`.
fn permissions(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn url_host(args: &Args) -> String {
    match &args.public_host {
        Some(h) => h.clone(),
        None if args.listen_host.is_unspecified() => "127.0.0.1".into(),
        None => match args.listen_host {
            IpAddr::V6(v6) => format!("[{v6}]"),
            ip => ip.to_string(),
        },
    }
}

/// Exposes a fake that only binds loopback on a fixed `listen_host:port` by forwarding TCP to it.
/// Returns the URL to publish: the fake's own when no fixed port or public address is asked for.
async fn expose(args: &Args, port: u16, origin: String) -> Result<String, String> {
    let needs_forward = port != 0 || !args.listen_host.is_loopback();
    if !needs_forward {
        return Ok(origin);
    }
    let target: SocketAddr = origin
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("cannot parse fake origin {origin}: {e}"))?;
    let listener = TcpListener::bind((args.listen_host, port))
        .await
        .map_err(|e| format!("cannot bind {}:{port}: {e}", args.listen_host))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read bound address: {e}"))?;
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Ok(format!("http://{}:{}", url_host(args), bound.port()))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut ds_opts = DocSpaceOptions {
        listen_host: args.listen_host,
        port: args.docspace_port,
        foreign_port: args.docspace_foreign_port,
        public_host: args.public_host.clone(),
        tz_offset_minutes: args.tz_offset_minutes,
        api_key_permissions: args.docspace_api_key_permissions.clone(),
        seed_demo: args.seed,
        ..DocSpaceOptions::default()
    };
    if let Some(key) = &args.docspace_api_key {
        ds_opts.api_key = key.clone();
    }
    let docspace = FakeDocSpace::start(ds_opts)
        .await
        .map_err(|e| format!("fake DocSpace failed to start: {e}"))?;
    let dropbox_opts = DropboxOptions::default();
    let dropbox = FakeDropbox::start(dropbox_opts)
        .await
        .map_err(|e| format!("fake Dropbox failed to start: {e}"))?;
    let dropbox_api = expose(&args, args.dropbox_api_port, dropbox.api_url()).await?;
    let dropbox_content = expose(&args, args.dropbox_content_port, dropbox.content_url()).await?;
    let o = dropbox.options();
    let mut lines = vec![
        format!("DOCSPACE_URL={}", docspace.url()),
        format!("DOCSPACE_FOREIGN_URL={}", docspace.foreign_url()),
        format!("DOCSPACE_API_KEY={}", docspace.api_key()),
        format!("DOCSPACE_SELF_USER_ID={}", docspace.self_user_id()),
        format!("DROPBOX_API_URL={dropbox_api}"),
        format!("DROPBOX_CONTENT_URL={dropbox_content}"),
        format!("DROPBOX_APP_KEY={}", o.app_key),
        format!("DROPBOX_APP_SECRET={}", o.app_secret),
        format!("DROPBOX_REFRESH_TOKEN={}", o.refresh_token),
        format!("DROPBOX_ACCOUNT_ID={}", o.owner_account_id),
    ];
    if let Some(token) = o.static_access_tokens.first() {
        lines.push(format!("DROPBOX_ACCESS_TOKEN={token}"));
    }
    lines.push("FAKES_READY=1".into());
    // One write so a reader never sees half the block.
    println!("{}", lines.join("\n"));
    if args.seed {
        let s = docspace.groups();
        eprintln!(
            "bridge-fakes: seeded DocSpace with {} users, {} groups, {} files",
            docspace.users().len(),
            s.len(),
            docspace.files().len()
        );
    }
    eprintln!("bridge-fakes: running; control APIs under /_fake/ (SIGTERM or Ctrl-C to stop)");
    shutdown_signal().await;
    eprintln!("bridge-fakes: stopping");
    drop(docspace);
    dropbox.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bridge-fakes: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bridge-fakes: {e}");
            ExitCode::FAILURE
        }
    }
}
