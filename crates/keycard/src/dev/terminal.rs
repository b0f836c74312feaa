//! Output of the example clients: [`Ui`] says where instructions go (stdout, or stderr with
//! `--json` so that stdout is only the JSON result), [`one_line`] makes text from the network fit
//! for a terminal line, [`print_tokens`] shows a token response.
//!
//! Adding output: a method on [`Ui`] (never `println!` directly, or `--json` output breaks), and
//! text from the network always through [`one_line`].

use super::jwt_claims;
use crate::clock::{Clock as _, SystemClock, rfc3339};
use serde_json::Value;
use std::fmt;
use std::io::{IsTerminal as _, Write as _};

/// Where instructions go: stdout, or stderr with `--json` (stdout is then only the JSON result).
pub(super) struct Ui {
    pub(super) json: bool,
    pub(super) tty: bool,
    pub(super) color: bool,
}

impl Ui {
    pub(super) fn new(json: bool) -> Ui {
        let tty = if json { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
        Ui { json, tty, color: tty && std::env::var_os("NO_COLOR").is_none() }
    }

    pub(super) fn line(&self, s: impl fmt::Display) {
        if self.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }

    /// Text without a newline (the progress line on a terminal).
    pub(super) fn partial(&self, s: &str) {
        if self.json {
            eprint!("{s}");
            let _ = std::io::stderr().flush();
        } else {
            print!("{s}");
            let _ = std::io::stdout().flush();
        }
    }

    pub(super) fn bold(&self, s: &str) -> String {
        if self.color { format!("\x1b[1m{s}\x1b[0m") } else { s.to_owned() }
    }
}

/// Text from the network, fit for one line of a terminal: no control characters, bounded.
pub(super) fn one_line(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect();
    if s.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// Shows a token response: the raw JSON with `--json`; else the access token, its expiry and
/// scope, whether a refresh token came, and the ID token's claims (decoded, NOT verified).
pub(super) fn print_tokens(tokens: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(tokens)?);
        return Ok(());
    }
    let s = |k: &str| tokens.get(k).and_then(Value::as_str);
    println!();
    println!("Signed in.");
    println!("access_token:  {}", s("access_token").unwrap_or("(none)"));
    println!("token_type:    {}", s("token_type").unwrap_or("(none)"));
    match tokens.get("expires_in").and_then(Value::as_i64) {
        Some(secs) => println!("expires_in:    {secs} s (at {})", rfc3339(SystemClock.now() + secs)),
        None => println!("expires_in:    (not given)"),
    }
    println!("scope:         {}", s("scope").unwrap_or("(as requested)"));
    println!(
        "refresh_token: {}",
        if s("refresh_token").is_some() { "issued (not shown; --json prints it)" } else { "none" }
    );
    if let Some(id_token) = s("id_token") {
        match jwt_claims(id_token) {
            Some(claims) => {
                println!("id_token claims (decoded, signature NOT verified):");
                for l in serde_json::to_string_pretty(&claims)?.lines() {
                    println!("  {l}");
                }
            }
            None => println!("id_token:      present but not a readable JWT"),
        }
    }
    Ok(())
}
