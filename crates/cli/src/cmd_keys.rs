//! `generate-aes-key`, `store-aes-key`, `delete-aes-key`: the manager key tools (names of
//! VoIPmonitor's GUI `run.php` commands). They print the key as configuration lines, ready to
//! paste into `voipsensor.conf` or a client's environment.

use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use voipsensor_keystore::{ManagerKey, Store, generate_manager_key};

/// Options shared by the key tools.
#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    /// Configuration file naming the database (sqldriver, sqlitedb, mysql*).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The database of the configuration (or the built-in default).
pub(crate) fn open_store(config: Option<&std::path::Path>) -> anyhow::Result<Box<dyn Store>> {
    let loaded = voipsensor_config::load(config, &[])?;
    Ok(voipsensor_keystore::open(&loaded.config.database)?)
}

fn print_key(key: &ManagerKey) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "manager_aes_key = {}", key.key())?;
    writeln!(out, "manager_aes_iv = {}", key.iv())?;
    out.flush()?;
    Ok(())
}

/// `generate-aes-key`: prints a new key; stores nothing (a given config is only checked).
pub(crate) fn generate(args: KeyArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = args.config.as_deref() {
        voipsensor_config::load(Some(path), &[])?;
    }
    print_key(&generate_manager_key())?;
    Ok(ExitCode::SUCCESS)
}

/// `store-aes-key`: generates a key, stores it (replacing any), prints it.
pub(crate) fn store(args: KeyArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(args.config.as_deref())?;
    let key = generate_manager_key();
    store
        .replace_manager_key(&key)
        .with_context(|| format!("cannot store the key in {}", store.describe()))?;
    print_key(&key)?;
    eprintln!(
        "stored in {}; running sensors use it from their next request",
        store.describe()
    );
    Ok(ExitCode::SUCCESS)
}

/// `delete-aes-key`: removes the stored key and says whether there was one.
pub(crate) fn delete(args: KeyArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(args.config.as_deref())?;
    let existed = store
        .delete_manager_key()
        .with_context(|| format!("cannot delete the key in {}", store.describe()))?;
    if existed {
        println!("deleted the manager key from {}", store.describe());
        eprintln!(
            "encryption stays on: a running sensor keeps its key until it next reads the key, then stores and \
             uses a new one; to serve plaintext set manager_enable_unencrypted = yes"
        );
    } else {
        println!("no manager key was stored in {}", store.describe());
    }
    Ok(ExitCode::SUCCESS)
}
