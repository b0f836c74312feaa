//! `keycard config check` and `keycard config dump`: validate a configuration file, and print the
//! effective configuration as TOML with secrets redacted (through [`toml_dump`], a small JSON → TOML
//! printer, so that the dependency tree stays lean).
//!
//! Adding a `config` subcommand: a variant of [`ConfigCmd`] with a doc comment (its `--help`
//! text), then its arm in `cli::run` (it runs after the configuration is loaded, unless, like
//! `check`, it must work on a configuration that does not load).

use crate::app;
use crate::config::Config;
use clap::Subcommand;
use std::path::PathBuf;

/// `keycard config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Check a configuration file (and the environment); exit 1 naming the bad key.
    Check {
        /// The file (default: --config, else ./keycard.toml).
        file: Option<PathBuf>,
    },
    /// Print the effective configuration as TOML, secrets redacted.
    Dump,
}

/// `keycard config check`: loads `file` (or the default places) and the environment; the error
/// names the bad key.
pub(super) fn check(file: Option<PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(file.as_deref())?;
    println!(
        "configuration OK{}: issuer {}, listening on {}, database {}",
        file.map(|f| format!(" ({})", f.display())).unwrap_or_default(),
        config.issuer,
        config.http.listen,
        app::redact_url(&config.database_url())
    );
    Ok(())
}

pub(super) fn toml_dump(config: &Config) -> anyhow::Result<String> {
    // Through JSON so that redacted secrets and None values serialise cleanly.
    let mut v = serde_json::to_value(config)?;
    fn strip_nulls(v: &mut serde_json::Value) {
        if let serde_json::Value::Object(m) = v {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
    }
    strip_nulls(&mut v);
    let t: toml_edit_lite::Table = toml_edit_lite::from_json(&v);
    Ok(t.0)
}

mod toml_edit_lite {
    //! A tiny JSON → TOML printer for `config dump` (keeps the dependency tree lean).
    use serde_json::Value;

    pub struct Table(pub String);

    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(serde_json::to_string(s).unwrap_or_default()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Array(a) if a.iter().all(|x| !x.is_object()) => {
                Some(format!("[{}]", a.iter().filter_map(scalar).collect::<Vec<_>>().join(", ")))
            }
            _ => None,
        }
    }

    fn write(prefix: &str, v: &Value, out: &mut String) {
        let Value::Object(m) = v else { return };
        for (k, x) in m {
            if let Some(s) = scalar(x) {
                out.push_str(&format!("{k} = {s}\n"));
            }
        }
        for (k, x) in m {
            let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match x {
                Value::Object(_) => {
                    out.push_str(&format!("\n[{name}]\n"));
                    write(&name, x, out);
                }
                Value::Array(a) if a.iter().any(Value::is_object) => {
                    for item in a {
                        out.push_str(&format!("\n[[{name}]]\n"));
                        write(&name, item, out);
                    }
                }
                _ => {}
            }
        }
    }

    pub fn from_json(v: &Value) -> Table {
        let mut s = String::new();
        write("", v, &mut s);
        Table(s)
    }
}
